"""`dossier bench`: a controlled measurement of what reuse saves, on the user's own files.

In a fresh temporary store: ingest PATH (fresh processing), ingest it again in another
dossier (a resubmission: exact reuse), and optionally a folder of re-scans (near reuse).
Per-document medians and their ratios, side by side, in one run; `repeat` runs the whole
measurement again in fresh stores and pools the documents (single runs on a shared
machine move by tens of percent).
"""

from __future__ import annotations

import re
import statistics
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from indexer.sqlite import SqliteIndex
from pipeline.batch import Batch, BatchSummary
from pipeline.config import Config
from pipeline.reuse import dossier_request

RESCAN_NAME = re.compile(r"^(?P<stem>.+)_rescan\d+$")


@dataclass
class Phase:
    name: str
    documents: int
    seconds: list[float]  # per document, measured stage time
    wall_seconds: float

    @property
    def median(self) -> float | None:
        return statistics.median(self.seconds) if self.seconds else None

    def to_json(self) -> dict[str, Any]:
        median = self.median
        return {
            "documents": self.documents,
            "median_seconds": round(median, 5) if median is not None else None,
            "total_seconds": round(sum(self.seconds), 3),
            "wall_seconds": round(self.wall_seconds, 3),
        }


def _phase(name: str, summaries: list[BatchSummary], kind: str | None) -> Phase:
    """The documents of one phase, pooled over the runs: fresh ("new") or reused by kind."""
    seconds: list[float] = []
    for summary in summaries:
        if kind is None:
            picked = [r for r in summary.results if r.status == "new"]
        else:
            picked = [r for r in summary.results if r.reuse is not None and r.reuse.kind == kind]
        seconds += [r.seconds for r in picked]
    wall = sum(s.seconds for s in summaries)
    return Phase(name, len(seconds) // max(len(summaries), 1), seconds, wall)


def _ratio(slow: float | None, fast: float | None) -> float | None:
    if slow is None or fast is None or fast <= 0:
        return None
    return round(slow / fast, 1)


@dataclass
class _Run:
    fresh: BatchSummary
    again: BatchSummary
    near: BatchSummary | None
    sources: dict[str, str]  # document id -> stem of the file it was read from


def _run_once(path: Path, cfg: Config, rescans: Path | None) -> _Run:
    """Fresh, resubmission and re-scan phases in a fresh temporary store."""
    with tempfile.TemporaryDirectory(prefix="dossier-bench-") as tmp:
        bench_cfg = replace(cfg, store=Path(tmp) / "store")
        index = SqliteIndex(bench_cfg.catalog_path)
        try:
            fresh = Batch(bench_cfg, index, dossier=dossier_request("BENCH", None, ["1"]))
            fresh_summary = fresh.run([path])
            sources = {r.id: Path(r.source).stem for r in fresh_summary.results if r.id}
            again = Batch(bench_cfg, index, dossier=dossier_request("BENCH", None, ["2"]))
            again_summary = again.run([path])
            near_summary = None
            if rescans is not None:
                near_batch = Batch(bench_cfg, index, dossier=dossier_request("BENCH", None, ["3"]))
                near_summary = near_batch.run([rescans])
        finally:
            index.close()
    return _Run(fresh_summary, again_summary, near_summary, sources)


def _summary(path: Path, runs: list[_Run]) -> dict[str, Any]:
    """Per-document medians over the runs' documents, pooled, and their ratios."""
    fresh = _phase("fresh", [r.fresh for r in runs], None)
    exact = _phase("exact", [r.again for r in runs], "exact")
    result: dict[str, Any] = {
        "path": str(path),
        "failed": runs[0].fresh.failed,
        "fresh": fresh.to_json(),
        "exact": exact.to_json(),
        "exact_speedup": _ratio(fresh.median, exact.median),
    }
    if runs[0].near is not None:
        near = _phase("near", [r.near for r in runs if r.near is not None], "near")
        result["near"] = near.to_json()
        result["near_speedup"] = _ratio(fresh.median, near.median)
        quality = [_near_quality(r.near, r.sources) for r in runs if r.near is not None]
        result.update(quality[0])
        result["false_reuses"] = sum(q["false_reuses"] for q in quality)
        result["false_reuse_details"] = [d for q in quality for d in q["false_reuse_details"]]
    if fresh.seconds:
        result["exact_reduction_percent"] = round(
            100 * (1 - sum(exact.seconds) / sum(fresh.seconds)), 1
        )
    return result


def run_bench(
    path: Path, cfg: Config, rescans: Path | None = None, repeat: int = 1
) -> dict[str, Any]:
    """The measurement, `repeat` times in fresh stores: medians over every run's documents
    (a shared machine's noise moves single runs by tens of percent), and with more than
    one run, each run's own figures under "runs"."""
    runs = [_run_once(path, cfg, rescans) for _ in range(max(1, repeat))]
    result = _summary(path, runs)
    if len(runs) > 1:
        keys = ("fresh", "exact", "exact_speedup", "near", "near_speedup", "rescan_recall")
        result["repeat"] = len(runs)
        result["runs"] = [
            {k: v for k, v in _summary(path, [run]).items() if k in keys} for run in runs
        ]
    return result


def _near_quality(summary: BatchSummary, sources: dict[str, str]) -> dict[str, Any]:
    """Re-scan recall and false reuses, from the re-scans' names (`STEM_rescanN.ext`
    re-scans the file `STEM.*`): a reuse of any other file's document is false."""
    rescans = reused = false = 0
    unexpected = []
    for result in summary.results:
        match = RESCAN_NAME.match(Path(result.source).stem)
        if match is None or result.status == "failed":
            continue
        rescans += 1
        if result.reuse is None or result.reuse.kind != "near":
            continue
        if sources.get(result.reuse.of or "") == match["stem"]:
            reused += 1
        else:
            false += 1
            unexpected.append({"rescan": result.source, "reused": result.reuse.of})
    return {
        "rescans": rescans,
        "rescan_recall": round(reused / rescans, 3) if rescans else None,
        "false_reuses": false,
        "false_reuse_details": unexpected,
    }
