"""Reindex rate, SQLite -> Elasticsearch: `copy_catalog` under the target's bulk mode (one
refresh at the end) side by side with a refresh after every batch, on the same synthetic
documents (invented people), alternating, medians reported.

    python -m bench.reindex_bench --docs 5000 --es-url http://127.0.0.1:9200
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from bench.index_bench import documents
from indexer import reindex
from indexer.sqlite import SqliteIndex
from pipeline.catalog import open_index
from pipeline.config import Config


class _PerBatchRefresh:
    """The target without its bulk mode: copy_catalog then refreshes after every batch."""

    def __init__(self, index):
        self._index = index

    def __getattr__(self, name: str):
        if name == "bulk_mode":
            raise AttributeError(name)
        return getattr(self._index, name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--es-url", default="http://127.0.0.1:9200")
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="bench-reindex-"))
    source = SqliteIndex(folder / "catalog.sqlite")
    batch = []
    for doc in documents(args.docs):
        batch.append(doc)
        if len(batch) == 1000:
            source.put_documents(batch)
            batch = []
    if batch:
        source.put_documents(batch)

    seconds: dict[str, list[float]] = {"refresh per batch": [], "bulk mode": []}
    for round_no in range(args.rounds):
        for label in seconds:
            cfg = Config(
                store=folder,
                index="elasticsearch",
                es_url=args.es_url,
                es_index_prefix=f"bench-reindex-{round_no}-{label.split()[0]}",
            )
            target = open_index(cfg)
            target.drop()
            target = open_index(cfg)
            started = time.perf_counter()
            copied = reindex.copy_catalog(
                source, _PerBatchRefresh(target) if label == "refresh per batch" else target
            )
            seconds[label].append(time.perf_counter() - started)
            assert copied["documents"] == args.docs, copied
            target.drop()
    for label, values in seconds.items():
        median = statistics.median(values)
        print(f"{label:18} median {median:6.1f} s  {args.docs / median:7.0f} docs/s")


if __name__ == "__main__":
    main()
