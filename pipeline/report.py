"""The processing-time reduction report managers asked for.

Every figure is measured: a fresh document's time is the sum of its stage timings; a
reused document's baseline is the measured fresh time of the document it reused (from
the reuse log), never an estimate.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from indexer.base import ReuseLogEntry

GROUPINGS = ("day", "procedure", "doc_type")


@dataclass
class ReportRow:
    group: str
    documents: int = 0
    pages: int = 0
    fresh: int = 0
    exact: int = 0
    near: int = 0
    identity: int = 0
    measured_seconds: float = 0.0
    baseline_seconds: float = 0.0

    @property
    def saved_seconds(self) -> float:
        return max(self.baseline_seconds - self.measured_seconds, 0.0)

    @property
    def reduction_percent(self) -> float:
        if self.baseline_seconds <= 0:
            return 0.0
        return 100.0 * self.saved_seconds / self.baseline_seconds

    @property
    def not_resubmitted(self) -> int:
        """Documents already on file: the citizen did not have to bring them again."""
        return self.exact + self.near + self.identity

    def add(self, kind: str, pages: int, measured: float, baseline: float) -> None:
        self.documents += 1
        self.pages += pages
        setattr(self, kind, getattr(self, kind) + 1)
        self.measured_seconds += measured
        self.baseline_seconds += baseline

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(
            measured_seconds=round(self.measured_seconds, 3),
            baseline_seconds=round(self.baseline_seconds, 3),
            saved_seconds=round(self.saved_seconds, 3),
            reduction_percent=round(self.reduction_percent, 1),
            not_resubmitted=self.not_resubmitted,
        )
        return data


@dataclass
class Report:
    by: str
    since: str | None
    until: str | None
    rows: list[ReportRow] = field(default_factory=list)
    total: ReportRow = field(default_factory=lambda: ReportRow("total"))

    @property
    def empty(self) -> bool:
        return self.total.documents == 0

    def to_json(self) -> dict[str, Any]:
        return {
            "by": self.by,
            "since": self.since,
            "until": self.until,
            "rows": [row.to_json() for row in self.rows],
            "total": self.total.to_json(),
        }


DocInfo = Callable[[str], tuple[str, int] | None]  # document id -> (doc_type, pages)


def build_report(
    processed: list[dict[str, Any]],
    reuse_log: list[ReuseLogEntry],
    doc_info: DocInfo,
    *,
    by: str = "day",
    since: str | None = None,
    until: str | None = None,
) -> Report:
    """Group processed documents and reuse decisions into rows (see module docstring).

    `processed` are the catalog's `processed_documents` rows; exact reuses create no new
    document, so they come from the reuse log.
    """
    if by not in GROUPINGS:
        raise ValueError(f"by must be one of {GROUPINGS}")
    baselines = {e.document_id: e.baseline_seconds for e in reuse_log if e.kind == "near"}
    report = Report(by=by, since=since, until=until)
    rows: dict[str, ReportRow] = {}

    def add(key: str | None, kind: str, pages: int, measured: float, baseline: float) -> None:
        name = key or "(none)"
        rows.setdefault(name, ReportRow(name)).add(kind, pages, measured, baseline)
        report.total.add(kind, pages, measured, baseline)

    def group_key(at: str, procedure: str | None, doc_type: str | None) -> str | None:
        return {"day": at[:10], "procedure": procedure, "doc_type": doc_type}[by]

    for doc in processed:
        measured = float(doc["seconds"] or 0.0)
        pages = doc["last_page"] - doc["first_page"] + 1
        kind = doc["reuse_kind"] if doc["status"] == "reused" else "fresh"
        baseline = measured
        if kind == "near":
            baseline = float(baselines.get(doc["id"]) or measured)
        key = group_key(doc["at"], doc["procedure"], doc["doc_type"])
        add(key, kind or "fresh", pages, measured, baseline)
    for entry in reuse_log:
        if entry.kind != "exact":
            continue
        info = doc_info(entry.document_id) or ("unknown", 1)
        measured = float(entry.seconds or 0.0)
        baseline = float(entry.baseline_seconds or measured)
        add(group_key(entry.at, entry.procedure, info[0]), "exact", info[1], measured, baseline)
    report.rows = [rows[k] for k in sorted(rows)]
    return report


def report_for(
    index: Any, *, since: str | None = None, until: str | None = None, by: str = "day"
) -> Report:
    """The report over a catalog for whole days [since, until] (ISO dates)."""
    import datetime as dt

    from pipeline.errors import BadInputError

    for name, value in (("since", since), ("until", until)):
        if value is None:
            continue
        try:
            dt.date.fromisoformat(value)
        except ValueError as exc:
            raise BadInputError(f"{value!r} is not a date like 2026-11-28 ({name}).") from exc
    if since and until and since > until:
        raise BadInputError(f"The range starts ({since}) after it ends ({until}).")
    if by not in GROUPINGS:
        raise BadInputError(f"Group by one of {', '.join(GROUPINGS)}, not {by!r}.")
    until_at = f"{until}T23:59:59.999999+99:99" if until else None  # the whole last day

    def doc_info(doc_id: str) -> tuple[str, int] | None:
        doc = index.get_document(doc_id)
        return (doc.doc_type, doc.page_count) if doc else None

    return build_report(
        index.processed_documents(since, until_at),
        index.reuse_log(since, until_at),
        doc_info,
        by=by,
        since=since,
        until=until,
    )


def render_chart(report: Report, path: Path) -> Path:
    """A slide-ready chart: processing time with and without reuse per group, and the
    reduction in percent. PNG, or HTML embedding the PNG with the table."""
    import base64
    import io
    from html import escape

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = report.rows
    labels = [row.group for row in rows]
    positions = range(len(rows))
    figure, axis = plt.subplots(figsize=(max(6.0, 1.1 * len(rows) + 3), 4.5), dpi=150)
    width = 0.38
    baseline = [row.baseline_seconds / 60 for row in rows]
    measured = [row.measured_seconds / 60 for row in rows]
    axis.bar(
        [p - width / 2 for p in positions], baseline, width, label="without reuse", color="#9aa5b1"
    )
    axis.bar(
        [p + width / 2 for p in positions], measured, width, label="with reuse", color="#1f6feb"
    )
    for p, row in zip(positions, rows, strict=True):
        if row.reduction_percent > 0:
            axis.annotate(
                f"-{row.reduction_percent:.0f}%",
                (p + width / 2, row.measured_seconds / 60),
                ha="center",
                va="bottom",
                fontsize=9,
            )
    tilted = len(rows) > 4
    axis.set_xticks(
        list(positions), labels, rotation=30 if tilted else 0, ha="right" if tilted else "center"
    )
    axis.set_ylabel("processing time (minutes)")
    total = report.total
    axis.set_title(
        f"Processing time by {report.by.replace('_', ' ')}\n"
        f"{total.reduction_percent:.0f}% saved; {total.not_resubmitted} of {total.documents} "
        "documents were already on file",
        fontsize=11,
    )
    axis.legend()
    axis.grid(axis="y", alpha=0.3)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    plt.close(figure)
    png = buffer.getvalue()
    if path.suffix.lower() in {".html", ".htm"}:
        encoded = base64.b64encode(png).decode()
        cells = "".join(
            f"<tr><td>{escape(r.group)}</td><td>{r.documents}</td><td>{r.not_resubmitted}</td>"
            f"<td>{r.baseline_seconds:.1f}</td><td>{r.measured_seconds:.1f}</td>"
            f"<td>{r.reduction_percent:.1f}%</td></tr>"
            for r in [*rows, total]
        )
        html = (
            "<!doctype html><meta charset='utf-8'><title>dossier: processing time</title>"
            f"<img alt='chart' src='data:image/png;base64,{encoded}'>"
            "<table border=1 cellpadding=4><tr><th>group</th><th>documents</th>"
            "<th>already on file</th><th>baseline s</th><th>measured s</th>"
            f"<th>reduction</th></tr>{cells}</table>"
        )
        path.write_text(html, encoding="utf-8")
    else:
        path.write_bytes(png)
    return path
