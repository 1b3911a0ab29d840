"""`dossier bench`: a controlled measurement of what reuse saves, on the user's own files.

In a fresh temporary store: ingest PATH (fresh processing), ingest it again in another
dossier (a resubmission: exact reuse), and optionally a folder of re-scans (near reuse).
Per-document medians and their ratios, side by side, in one run.
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


def _phase(name: str, summary: BatchSummary, kind: str | None) -> Phase:
    if kind is None:
        picked = [r for r in summary.results if r.status == "new"]
    else:
        picked = [r for r in summary.results if r.reuse is not None and r.reuse.kind == kind]
    return Phase(name, len(picked), [r.seconds for r in picked], summary.seconds)


def _ratio(slow: float | None, fast: float | None) -> float | None:
    if slow is None or fast is None or fast <= 0:
        return None
    return round(slow / fast, 1)


def run_bench(path: Path, cfg: Config, rescans: Path | None = None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="dossier-bench-") as tmp:
        bench_cfg = replace(cfg, store=Path(tmp) / "store")
        index = SqliteIndex(bench_cfg.catalog_path)
        try:
            fresh = Batch(bench_cfg, index, dossier=dossier_request("BENCH", None, ["1"]))
            fresh_summary = fresh.run([path])
            sources = {r.id: Path(r.source).stem for r in fresh_summary.results if r.id}
            again = Batch(bench_cfg, index, dossier=dossier_request("BENCH", None, ["2"]))
            again_summary = again.run([path])
            result: dict[str, Any] = {
                "path": str(path),
                "failed": fresh_summary.failed,
                "fresh": _phase("fresh", fresh_summary, None).to_json(),
                "exact": _phase("exact", again_summary, "exact").to_json(),
            }
            result["exact_speedup"] = _ratio(
                result["fresh"]["median_seconds"], result["exact"]["median_seconds"]
            )
            if rescans is not None:
                near_batch = Batch(bench_cfg, index, dossier=dossier_request("BENCH", None, ["3"]))
                near_summary = near_batch.run([rescans])
                result["near"] = _phase("near", near_summary, "near").to_json()
                result["near_speedup"] = _ratio(
                    result["fresh"]["median_seconds"], result["near"]["median_seconds"]
                )
                result.update(_near_quality(near_summary, sources))
        finally:
            index.close()
    fresh_total = result["fresh"]["total_seconds"]
    exact_total = result["exact"]["total_seconds"]
    if fresh_total:
        result["exact_reduction_percent"] = round(100 * (1 - exact_total / fresh_total), 1)
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
