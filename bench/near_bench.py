"""Near-duplicate reuse benchmark: hash distances, false reuses, re-scan recall and the
cost of a confirmation, on generated papers (invented people) re-scanned many ways and
on trick pages built to fool the check (tests/reuse_fixtures.py).

    python -m bench.near_bench [--types cccd,...] [--no-fields] [--cache DIR] [--json]

For each document type one paper is scanned cleanly and ingested with the real CLI into
a temporary store (cleanup, OCR, field extraction, catalog), so the key-field boxes are
the ones `dossier ingest` finds. Every query page (13 re-scan kinds; each trick page
printed clean and re-scanned) goes through the real cleanup plan and `page_comparison`,
then `near.confirm` against the stored comparison image with those boxes, as
pipeline/nearmatch.py does. Reported: hash distances by group, false reuses (must be 0),
recall per document type and per re-scan kind, trick pages confirmed on the ink alone
(no key fields, as for a paper whose fields were not found), confirm time median/p95 (wall and CPU).
A script that reports, never a test that asserts timings. Results go to
bench/out/near_bench.json.
"""

from __future__ import annotations

import argparse
import json
import pickle
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import cv2
import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from indexer.sqlite import SqliteIndex  # noqa: E402
from pipeline import near, store  # noqa: E402
from pipeline.cleanup import plan_cleanup  # noqa: E402
from pipeline.nearmatch import field_boxes  # noqa: E402
from tests.reuse_fixtures import (  # noqa: E402
    RESCANS,
    impostors,
    non_key_changes,
    paper,
    render,
    rescan,
)

# One paper per type (seed): a form, a certificate with a red seal, a card with a photo.
TYPES = {"application_form": 4, "residence_confirmation": 2, "birth_certificate": 1, "cccd": 3}
TRICK_SCANS = ("clean", "light")  # each trick page printed clean, and re-scanned


def _prepare(image: np.ndarray) -> np.ndarray:
    return near.page_comparison(plan_cleanup(image, dpi_hint=300))[0]


def _stored(doc_type: str, seed: int, work: Path) -> tuple[np.ndarray, list[near.FieldBox]]:
    """The stored page as `dossier ingest` keeps it: comparison image and key-field boxes."""
    scan = rescan(render(paper(doc_type, seed)), "clean", seed)
    path = work / f"{doc_type}.png"
    cv2.imwrite(str(path), scan)
    root = work / f"store-{doc_type}"
    command = [sys.executable, "-m", "cli", "--store", str(root), "ingest", str(path)]
    out = subprocess.run(
        [*command, "--json", "--jobs", "1", "--no-near"],
        capture_output=True, text=True, check=True, cwd=REPO,
    )  # fmt: skip
    line = next(json.loads(x) for x in out.stdout.splitlines() if x.startswith('{"id"'))
    index = SqliteIndex(root / "catalog.sqlite", readonly=True)
    doc = index.get_document(line["id"])
    comparison = near.load_comparison(store.comparison_path(root, doc.id, 0))
    return comparison, field_boxes(doc, 0)


def _queries(doc_type: str, seed: int) -> list[tuple[str, str, np.ndarray]]:
    """(group, kind, comparison image): group "rescan" must be reused; "trick" (changes
    in key fields) and "nonkey" (one digit elsewhere) never."""
    spec = paper(doc_type, seed)
    clean = render(spec)
    out = [("rescan", kind, _prepare(rescan(clean, kind, seed))) for kind in RESCANS]
    return out + _tricks("trick", impostors(spec, seed)) + _tricks("nonkey", non_key_changes(spec))


def _tricks(group: str, specs: dict[str, dict[str, Any]]) -> list[tuple[str, str, np.ndarray]]:
    out = []
    for name, trick in specs.items():
        printed = render(trick)
        for scan in TRICK_SCANS:
            image = (
                np.asarray(printed.convert("L")) if scan == "clean" else rescan(printed, scan, 9)
            )
            out.append((group, f"{name}/{scan}", _prepare(image)))
    return out


def _case(doc_type: str, seed: int, cache: Path | None) -> dict[str, Any]:
    """Stored page, boxes and prepared queries of one type (from the cache when asked:
    the pages are deterministic, and preparing them is most of a run)."""
    file = cache / f"{doc_type}-{seed}.pkl" if cache else None
    if file is not None and file.exists():
        case = pickle.loads(file.read_bytes())
        have = {kind.split("/")[0] for group, kind, _ in case["queries"] if group == "nonkey"}
        missing = {
            name: trick
            for name, trick in non_key_changes(paper(doc_type, seed)).items()
            if name not in have
        }  # cases added since the cache was written
        if missing:
            case["queries"] += _tricks("nonkey", missing)
            file.write_bytes(pickle.dumps(case))
        return case
    with tempfile.TemporaryDirectory() as tmp:
        stored, boxes = _stored(doc_type, seed, Path(tmp))
    case = {"stored": stored, "boxes": boxes, "queries": _queries(doc_type, seed)}
    if file is not None:
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_bytes(pickle.dumps(case))
    return case


def _percentile(values: list[float], p: float) -> float:
    return float(np.percentile(values, p)) if values else 0.0


def run(types: dict[str, int], use_fields: bool, cache: Path | None) -> dict[str, Any]:
    rows = []
    for doc_type, seed in types.items():
        case = _case(doc_type, seed, cache)
        stored, boxes = case["stored"], case["boxes"] if use_fields else []
        stored_hash = near.page_hash(stored)
        print(f"{doc_type}: key fields {[b.name for b in boxes]}", file=sys.stderr)
        for group, kind, query in case["queries"]:
            distance = (near.page_hash(query) ^ stored_hash).bit_count()
            wall, cpu = time.perf_counter(), time.process_time()
            result = near.confirm(query, stored, boxes)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            # A paper whose key fields were not found is confirmed on the ink alone: trick
            # pages must be refused that way too (a missing tilde once got through).
            bare = bool(group != "rescan" and boxes and near.confirm(query, stored, []).same)
            rows.append({
                "doc_type": doc_type, "group": group, "kind": kind, "distance": distance,
                "candidate": distance <= near.NEAR_MAX_DISTANCE, "same": result.same,
                "reused": result.same and distance <= near.NEAR_MAX_DISTANCE,
                "score": result.score, "reason": result.reason, "same_without_fields": bare,
                "wall": round(wall, 4), "cpu": round(cpu, 4),
            })  # fmt: skip
    return _summary(rows)


def _summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    rescans = [r for r in rows if r["group"] == "rescan"]
    tricks = [r for r in rows if r["group"] == "trick"]
    nonkey = [r for r in rows if r["group"] == "nonkey"]

    def recall(key: str) -> dict[str, str]:
        groups: dict[str, list[bool]] = defaultdict(list)
        for r in rescans:
            groups[r[key]].append(r["reused"])
        return {k: f"{sum(v)}/{len(v)}" for k, v in groups.items()}

    walls, cpus = [r["wall"] for r in rows], [r["cpu"] for r in rows]
    return {
        "false_reuses": [f"{r['doc_type']}:{r['kind']}" for r in tricks if r["reused"]],
        "false_confirmations": [f"{r['doc_type']}:{r['kind']}" for r in tricks if r["same"]],
        "false_confirmations_without_fields": [
            f"{r['doc_type']}:{r['kind']}" for r in tricks + nonkey if r["same_without_fields"]
        ],
        "tricks": len(tricks),
        "nonkey_reuses": [f"{r['doc_type']}:{r['kind']}" for r in nonkey if r["reused"]],
        "nonkey": len(nonkey),
        "recall": f"{sum(r['reused'] for r in rescans)}/{len(rescans)}",
        "recall_by_type": recall("doc_type"),
        "recall_by_kind": recall("kind"),
        "distance_rescans": sorted(r["distance"] for r in rescans),
        "distance_tricks": sorted(r["distance"] for r in tricks),
        "distance_nonkey": sorted(r["distance"] for r in nonkey),
        "confirm_wall_median": round(statistics.median(walls), 3),
        "confirm_wall_p95": round(_percentile(walls, 95), 3),
        "confirm_cpu_median": round(statistics.median(cpus), 3),
        "confirm_cpu_p95": round(_percentile(cpus, 95), 3),
        # Accepted pages pay the key-field re-reading (one Tesseract run) on top.
        "confirm_wall_accepted_median": round(
            statistics.median([r["wall"] for r in rows if r["same"]] or [0.0]), 3
        ),
        "missed": [
            f"{r['doc_type']}:{r['kind']} d={r['distance']} ({r['reason']})"
            for r in rescans
            if not r["reused"]
        ],  # fmt: skip
        "rows": rows,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--types", default=",".join(TYPES), help="comma-separated doc types")
    parser.add_argument("--no-fields", action="store_true", help="confirm on ink only")
    parser.add_argument("--cache", type=Path, help="keep prepared pages here between runs")
    parser.add_argument("--json", action="store_true", help="print the full JSON")
    args = parser.parse_args()
    types = {t: TYPES[t] for t in args.types.split(",")}
    result = run(types, not args.no_fields, args.cache)
    out = REPO / "bench" / "out"
    out.mkdir(exist_ok=True)
    (out / "near_bench.json").write_text(json.dumps(result, indent=1, ensure_ascii=False))
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
        return
    for key, value in result.items():
        if key == "rows":
            continue
        if key == "missed":
            print("missed re-scans:")
            for line in value:
                print("  ", line)
            continue
        print(f"{key}: {value}")


if __name__ == "__main__":
    main()
