"""Results-page latency of the web interface at scale: N synthetic documents written
straight through the catalog's `put_documents` (no OCR), then `dossier serve` as a real
process, and the search results page (HTML, as an official sees it) timed over HTTP.

    .venv/bin/python -m bench.web_bench --documents 100000 --requests 300

Prints median and 95th percentile per query kind and overall (target: p95 < 200 ms).
"""

from __future__ import annotations

import argparse
import json
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from indexer.sqlite import SqliteIndex
from pipeline.model import Document, Field, Page, SourceFile, Word
from web.accounts import Accounts, accounts_path

SURNAMES = ["NGUYỄN", "TRẦN", "LÊ", "PHẠM", "HOÀNG", "HUỲNH", "PHAN", "VŨ", "VÕ", "ĐẶNG", "BÙI"]
MIDDLE = ["VĂN", "THỊ", "HỮU", "ĐỨC", "NGỌC", "MINH", "THANH", "QUỐC", "XUÂN", "THU"]
GIVEN = ["AN", "BÌNH", "CƯỜNG", "DŨNG", "HÀ", "HẢI", "HOA", "HÙNG", "LAN", "LINH", "MAI"]
GIVEN += ["NAM", "NGA", "PHƯƠNG", "QUANG", "SƠN", "THẢO", "TRANG", "TUẤN", "VIỆT", "YẾN"]
PROVINCES = ["001", "031", "038", "040", "046", "048", "079", "092"]
OFFICES = [
    "UBND phường Bến Nghé, Quận 1",
    "UBND xã Nghi Phú, thành phố Vinh",
    "UBND phường Hàng Bạc, quận Hoàn Kiếm",
    "Công an phường Thạch Thang",
    "Sở Tài nguyên và Môi trường tỉnh Nghệ An",
    "UBND thị trấn Phố Châu, huyện Hương Sơn",
]
TYPES = {
    "birth_certificate": "GIẤY KHAI SINH",
    "residence_confirmation": "GIẤY XÁC NHẬN THÔNG TIN VỀ CƯ TRÚ",
    "marriage_certificate": "GIẤY CHỨNG NHẬN KẾT HÔN",
    "application_form": "TỜ KHAI ĐĂNG KÝ THƯỜNG TRÚ",
    "decision": "QUYẾT ĐỊNH",
}


def synthetic_document(number: int, rng: random.Random) -> Document:
    """One plausible document: header, title, person, ID, dates, office, some prose."""
    doc_type = rng.choice(list(TYPES))
    name = f"{rng.choice(SURNAMES)} {rng.choice(MIDDLE)} {rng.choice(GIVEN)}"
    year = rng.randint(1950, 2020)
    person = (
        f"{rng.choice(PROVINCES)}{rng.choice('0123')}{year % 100:02d}{rng.randint(0, 999999):06d}"
    )
    issued = f"{rng.randint(2000, 2025)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    office = rng.choice(OFFICES)
    lines = [
        "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
        "Độc lập - Tự do - Hạnh phúc",
        TYPES[doc_type],
        f"Số: {number}/{year}",
        f"Họ, chữ đệm, tên: {name}",
        f"Ngày, tháng, năm sinh: {rng.randint(1, 28):02d}/{rng.randint(1, 12):02d}/{year}",
        f"Số định danh cá nhân: {person}",
        f"Nơi đăng ký: {office}",
        f"Ngày đăng ký: {issued[8:]}/{issued[5:7]}/{issued[:4]}",
        "Nơi cư trú: số " + str(rng.randint(1, 300)) + " đường Lê Lợi, " + office.split(",")[-1],
    ]
    words = [
        Word(line, (100, 80 + 60 * i, 100 + 20 * len(line), 120 + 60 * i), 95.0, i)
        for i, line in enumerate(lines)
    ]
    sha = f"{number:064x}"

    def field(field_name: str, value: str, line: int) -> Field:
        return Field(field_name, value, value, 95.0, 0, words[line].bbox, "bench", "1", True)

    return Document(
        id=sha[-16:],
        source=SourceFile(f"/scans/{number}.png", 100_000, "image/png", sha),
        first_page=0,
        last_page=0,
        doc_type=doc_type,
        pages=[Page(0, 1654, 2339, 200, "ocr", words)],
        fields=[
            field("doc_number", f"{number}/{year}", 3),
            field("full_name", name, 4),
            field("id_number", person, 6),
            field("registration_office", office, 7),
            field("registration_date", issued, 8),
        ],
    )


def fill(store: Path, count: int, seed: int = 7, batch: int = 2000) -> float:
    """Write `count` synthetic documents; returns seconds taken."""
    rng = random.Random(seed)
    index = SqliteIndex(store / "catalog.sqlite")
    started = time.perf_counter()
    try:
        have = index.count_documents()
        for start in range(have, count, batch):
            docs = [synthetic_document(n, rng) for n in range(start, min(start + batch, count))]
            index.put_documents(docs)
            print(f"  {start + len(docs)} documents", file=sys.stderr, end="\r")
    finally:
        index.close()
    print(file=sys.stderr)
    return time.perf_counter() - started


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


QUERIES = {
    "common name": {"q": "nguyen van"},
    "full name": {"q": "tran thi lan"},
    "name + type": {"q": "le minh hung", "type": "birth_certificate"},
    "name + dates": {"q": "pham", "date_from": "2010-01-01", "date_to": "2015-12-31"},
    "office": {"q": "giay khai sinh", "office": "ben nghe"},
    "citizen ID": {"citizen_id": None},  # filled with a stored ID
    "page 5": {"q": "hoang", "page": "5"},
}


def measure(url: str, password: str, requests: int, citizen_id: str) -> dict[str, list[float]]:
    client = httpx.Client(base_url=url, timeout=30)
    client.post("/api/login", json={"name": "bench", "password": password}).raise_for_status()
    timings: dict[str, list[float]] = {kind: [] for kind in QUERIES}
    kinds = list(QUERIES)
    for kind in kinds:  # warm the page cache once per kind
        client.get("/", params={k: v or citizen_id for k, v in QUERIES[kind].items()})
    for i in range(requests):
        kind = kinds[i % len(kinds)]
        params = {k: v or citizen_id for k, v in QUERIES[kind].items()}
        started = time.perf_counter()
        response = client.get("/", params=params)
        elapsed = time.perf_counter() - started
        response.raise_for_status()
        assert "document(s)" in response.text
        timings[kind].append(elapsed * 1000)
    return timings


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--store", type=Path, help="Reuse (and top up) this store.")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    temporary = None
    if args.store is None:
        temporary = tempfile.TemporaryDirectory(prefix="web-bench-")
        args.store = Path(temporary.name) / "store"
    fill_seconds = fill(args.store, args.documents)
    password = "bench password"
    accounts = Accounts(accounts_path(args.store))
    accounts.add_user("bench", "official", password, replace=True)
    accounts.close()
    index = SqliteIndex(args.store / "catalog.sqlite")
    citizen_id = index.conn.execute("SELECT person_id FROM documents LIMIT 1").fetchone()[0]
    total_docs = index.count_documents()
    index.close()

    port = free_port()
    dossier = Path(sys.executable).with_name("dossier")
    server = subprocess.Popen(
        [str(dossier), "-q", "--store", str(args.store), "serve", "--port", str(port)]
        + ["--insecure-cookies"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(150):
            try:
                httpx.get(url + "/login", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.2)
        timings = measure(url, password, args.requests, citizen_id)
    finally:
        server.terminate()
        server.wait(timeout=10)
        if temporary is not None:
            temporary.cleanup()

    every = [t for values in timings.values() for t in values]
    result = {
        "documents": total_docs,
        "fill_seconds": round(fill_seconds, 1),
        "requests": len(every),
        "median_ms": round(statistics.median(every), 1),
        "p95_ms": round(percentile(every, 95), 1),
        "by_query": {
            kind: {
                "median_ms": round(statistics.median(values), 1),
                "p95_ms": round(percentile(values, 95), 1),
            }
            for kind, values in timings.items()
        },
    }
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
        return
    print(f"{total_docs} documents (written in {result['fill_seconds']} s)")
    print(f"results page over HTTP, {len(every)} requests:")
    for kind, row in result["by_query"].items():
        print(f"  {kind:<14} median {row['median_ms']:7.1f} ms   p95 {row['p95_ms']:7.1f} ms")
    print(f"  {'all':<14} median {result['median_ms']:7.1f} ms   p95 {result['p95_ms']:7.1f} ms")


if __name__ == "__main__":
    main()
