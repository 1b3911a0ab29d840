"""Catalog benchmark: bulk indexing rate and search latency of the SQLite and the
Elasticsearch backends side by side, on the same synthetic documents (invented people).

    python -m bench.index_bench --docs 100000 [--es-url http://127.0.0.1:9200]

Goals (issue 5): at 100,000 documents, p95 search under 50 ms on both backends and bulk
indexing of at least 3,000 documents per second. A script that reports, never a test
that asserts timings. Results go to bench/out/index_bench.json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from indexer.base import SearchQuery
from pipeline.model import Document, Field, Page, SourceFile, StageTiming, Word

FAMILY = ["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng",
          "Bùi", "Đỗ", "Hồ", "Ngô", "Dương", "Lý"]  # fmt: skip
MIDDLE = ["Văn", "Thị", "Hữu", "Minh", "Thanh", "Ngọc", "Đức", "Quang", "Thu", "Xuân"]
GIVEN = ["An", "Bình", "Cường", "Dung", "Hà", "Hải", "Hạnh", "Hùng", "Lan", "Linh", "Long",
         "Mai", "Nam", "Nga", "Phúc", "Quân", "Sơn", "Tâm", "Thảo", "Trang", "Tuấn", "Việt",
         "Yến", "Khoa", "Đạt", "Giang", "Hiếu", "Khánh", "Lộc", "Nhung"]  # fmt: skip
WARDS = ["Dịch Vọng", "Nghi Phú", "Bến Thành", "Hòa Khánh", "Trường Thi", "Vĩnh Ninh",
         "Phú Hội", "Hưng Dũng", "Quán Bàu", "Lê Lợi", "Cửa Nam", "Hà Huy Tập"]  # fmt: skip
PROVINCES = {"001": "Hà Nội", "040": "Nghệ An", "079": "TP. Hồ Chí Minh", "048": "Đà Nẵng",
             "046": "Thừa Thiên Huế"}  # fmt: skip
# Boilerplate of Vietnamese civil-status forms, the bulk of a page's words.
FILLER = """căn cứ luật hộ tịch ngày tháng năm đăng ký theo quy định của pháp luật người
yêu cầu cam đoan những nội dung khai trên đây là đúng sự thật và chịu trách nhiệm trước
pháp luật về cam đoan của mình bản sao được cấp từ sổ gốc""".split()  # noqa: SIM905
TYPES = ["birth_certificate", "cccd", "residence_confirmation", "decision", "application_form"]
TITLES = {
    "birth_certificate": "GIẤY KHAI SINH",
    "cccd": "CĂN CƯỚC CÔNG DÂN",
    "residence_confirmation": "GIẤY XÁC NHẬN THÔNG TIN VỀ CƯ TRÚ",
    "decision": "QUYẾT ĐỊNH",
    "application_form": "TỜ KHAI ĐĂNG KÝ",
}


def synthetic_document(n: int, rng: random.Random) -> Document:
    """One invented one-page document with typical fields and about 60 words of text."""
    doc_type = TYPES[n % len(TYPES)]
    name = f"{rng.choice(FAMILY)} {rng.choice(MIDDLE)} {rng.choice(GIVEN)}".upper()
    province = rng.choice(list(PROVINCES))
    id_number = f"{province}{rng.randrange(10**9):09d}"
    date = f"{rng.randrange(2005, 2026)}-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}"
    office = f"UBND phường {rng.choice(WARDS)}, {PROVINCES[province]}"
    lines = [
        "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
        TITLES[doc_type],
        f"Họ và tên: {name}",
        f"Số định danh cá nhân: {id_number}",
        f"Nơi đăng ký: {office}",
        " ".join(rng.choices(FILLER, k=30)),
    ]
    words = [
        Word(text, (30 * i, 40 * line, 30 * i + 25, 40 * line + 30), 90.0, line)
        for line, text_line in enumerate(lines)
        for i, text in enumerate(text_line.split())
    ]
    sha = f"{n:012x}" + f"{rng.getrandbits(208):052x}"
    doc = Document(
        id=sha[:16],
        source=SourceFile(f"/scans/{n:06d}.png", 200_000, "image/png", sha),
        first_page=0,
        last_page=0,
        doc_type=doc_type,
        doc_type_score=0.9,
        pages=[Page(0, 1654, 2339, 200, "ocr", words, phash=rng.getrandbits(64))],
        fields=[
            Field(fname, value, value, 90.0, 0, None, "bench", "1", True)
            for fname, value in (
                ("full_name", name),
                ("id_number", id_number),
                ("registration_office" if n % 2 else "issuer", office),
                ("registration_date" if n % 2 else "issue_date", date),
            )
        ],
        dossier_id=f"HS-{n // 5:06d}",
        created_at=f"2026-01-01T{n // 3600 % 24:02d}:{n // 60 % 60:02d}:{n % 60:02d}+00:00",
    )
    doc.timings = [StageTiming(doc.id, "read", 2.0, "w1", 0), StageTiming(doc.id, "store", 0.01)]
    return doc


# Documents per put_documents call, as `dossier reindex` sends them (indexer.reindex).
BATCH = 5000


def documents(count: int, seed: int = 20261128) -> Iterator[Document]:
    rng = random.Random(seed)
    for n in range(count):
        yield synthetic_document(n, rng)


def query_mix(seed: int = 7) -> list[SearchQuery]:
    """A fixed mix of what officials type: names with and without diacritics, ID numbers,
    filters alone and combined."""
    rng = random.Random(seed)
    queries: list[SearchQuery] = []
    for _ in range(5):
        family, middle, given = rng.choice(FAMILY), rng.choice(MIDDLE), rng.choice(GIVEN)
        queries.append(SearchQuery(text=f"{family} {middle} {given}"))
        queries.append(SearchQuery(text=f"{family} {given}".lower()))
    queries += [
        SearchQuery(text="giay khai sinh", doc_type="birth_certificate"),
        SearchQuery(text="quyết định"),
        SearchQuery(doc_type="cccd", date_from="2020-01-01", date_to="2022-12-31"),
        SearchQuery(office="dich vong"),
        SearchQuery(text="nguyen", office="nghi phu", date_from="2015-01-01"),
        SearchQuery(dossier="HS-000123"),
        SearchQuery(fields={"full_name": "NGUYỄN VĂN AN"}),
        SearchQuery(text="cam doan su that", limit=20),
    ]
    return queries


def describe(query: SearchQuery) -> str:
    """A short label for a query: its non-default parts."""
    default = SearchQuery()
    parts = [f"{k}={v!r}" for k, v in vars(query).items() if v != getattr(default, k)]
    return " ".join(parts) or "all"


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def server_cpu_seconds(index: Any) -> float:
    """CPU time the Elasticsearch node has used so far (0 for the embedded backend, whose
    work is in this process)."""
    client = getattr(index, "client", None)
    if client is None:
        return 0.0
    stats = client.nodes.stats(node_id="_local", metric="process")
    node = next(iter(stats["nodes"].values()))
    return node["process"]["cpu"]["total_in_millis"] / 1000


def server_index_seconds(index: Any) -> float:
    """Time the Elasticsearch node spent indexing, merging, refreshing and flushing this
    benchmark's indices (its own, unlike server_cpu_seconds, which counts whatever else
    the shared node does meanwhile); 0 for the embedded backend."""
    client = getattr(index, "client", None)
    if client is None:
        return 0.0
    stats = client.indices.stats(index=f"{index.prefix}-*", metric="indexing,merge,refresh,flush")
    total = stats["_all"]["total"]
    return (
        total["indexing"]["index_time_in_millis"]
        + total["merges"]["total_time_in_millis"]
        + total["refresh"]["total_time_in_millis"]
        + total["flush"]["total_time_in_millis"]
    ) / 1000


def run_backend(name: str, index: Any, count: int, repeat: int) -> dict[str, Any]:
    """Bulk-index `count` documents, then time the query mix `repeat` times. Wall times
    depend on what else the machine runs; CPU seconds (this process plus the server) do
    not, so both are reported."""
    server_before = server_cpu_seconds(index)
    started, cpu_started = time.perf_counter(), time.process_time()
    # Making the synthetic documents is not the backend's time (wall or CPU).
    generating = generating_cpu = 0.0
    # As `dossier reindex` loads a catalog: batches through put_documents (SQLite: one
    # transaction each) in the backend's bulk mode (Elasticsearch: no periodic refresh,
    # one at the end; SQLite: look-up indexes built once at the end), its end timed too.
    with index.bulk_mode():
        batch: list[Document] = []
        stream = documents(count)
        while True:
            t0, c0 = time.perf_counter(), time.process_time()
            doc = next(stream, None)
            generating += time.perf_counter() - t0
            generating_cpu += time.process_time() - c0
            if doc is None:
                break
            batch.append(doc)
            if len(batch) == BATCH:
                index.put_documents(batch)
                batch = []
        if batch:
            index.put_documents(batch)
    seconds = time.perf_counter() - started - generating
    write_cpu = time.process_time() - cpu_started - generating_cpu  # with any sender thread
    server_cpu = server_cpu_seconds(index) - server_before
    server_indexing = server_index_seconds(index)
    index_cpu = write_cpu + server_cpu
    print(f"{name}: {count} documents in {seconds:.1f} s", file=sys.stderr)

    queries = query_mix()
    for query in queries:  # warm caches once, as a running server would be
        index.search(query)
    latencies: list[float] = []
    per_query: dict[str, list[float]] = {}
    totals = []
    server_before, cpu_before = server_cpu_seconds(index), time.process_time()
    for _ in range(repeat):
        for query in queries:
            t0 = time.perf_counter()
            result = index.search(query)
            latencies.append((time.perf_counter() - t0) * 1000)
            per_query.setdefault(describe(query), []).append(latencies[-1])
            totals.append(result.total)
    search_cpu = time.process_time() - cpu_before + server_cpu_seconds(index) - server_before
    return {
        "documents": count,
        "index_seconds": round(seconds, 2),
        "docs_per_second": round(count / seconds, 1),
        "index_cpu_seconds": round(index_cpu, 2),
        "docs_per_cpu_second": round(count / index_cpu, 1),
        # Where the CPU went: this process (client) and the Elasticsearch node (server).
        "index_client_cpu_us_per_doc": round(write_cpu * 1e6 / count),
        "index_server_cpu_us_per_doc": round(server_cpu * 1e6 / count),
        "index_server_indexing_us_per_doc": round(server_indexing * 1e6 / count),
        "load_average_after_indexing": os.getloadavg()[0],
        "search_queries": len(latencies),
        "search_ms_median": round(statistics.median(latencies), 2),
        "search_ms_p95": round(percentile(latencies, 0.95), 2),
        "search_ms_max": round(max(latencies), 2),
        "search_cpu_ms_per_query": round(search_cpu * 1000 / len(latencies), 2),
        "mean_hits": round(statistics.mean(totals), 1),
        "query_ms_median": {q: round(statistics.median(v), 2) for q, v in per_query.items()},
        "load_average": os.getloadavg()[0],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=10, help="runs of the query mix")
    parser.add_argument("--backends", default="sqlite,elasticsearch")
    parser.add_argument(
        "--es-url", default=os.environ.get("DOSSIER_ES_URL", "http://127.0.0.1:9200")
    )
    parser.add_argument("--out", type=Path, default=Path("bench/out/index_bench.json"))
    args = parser.parse_args(argv)

    results: dict[str, Any] = {}
    for backend in args.backends.split(","):
        if backend == "sqlite":
            from indexer.sqlite import SqliteIndex

            with tempfile.TemporaryDirectory() as tmp:
                index = SqliteIndex(Path(tmp) / "catalog.sqlite")
                try:
                    results["sqlite"] = run_backend("sqlite", index, args.docs, args.repeat)
                finally:
                    index.close()
        elif backend == "elasticsearch":
            from indexer.elasticsearch import ElasticsearchIndex

            index = ElasticsearchIndex(args.es_url, prefix=f"dossier-bench-{os.getpid()}")
            try:
                results["elasticsearch"] = run_backend(
                    "elasticsearch", index, args.docs, args.repeat
                )
            finally:
                index.drop()
                index.close()
        else:
            parser.error(f"unknown backend {backend!r}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(
        f"{'backend':<15}{'docs/s':>10}{'docs/cpu-s':>12}{'median ms':>12}{'p95 ms':>10}"
        f"{'cpu ms/q':>10}"
    )
    for backend, r in results.items():
        print(
            f"{backend}: CPU per document {r['index_client_cpu_us_per_doc']} us here,"
            f" {r['index_server_cpu_us_per_doc']} us in the server"
            f" ({r['index_server_indexing_us_per_doc']} us indexing these indices)",
            file=sys.stderr,
        )
        print(
            f"{backend:<15}{r['docs_per_second']:>10}{r['docs_per_cpu_second']:>12}"
            f"{r['search_ms_median']:>12}{r['search_ms_p95']:>10}{r['search_cpu_ms_per_query']:>10}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
