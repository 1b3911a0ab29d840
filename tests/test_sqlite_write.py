"""SQLite writes: a put_documents of several chunks (written by a writer thread while the
next chunk is prepared) stores the same rows as documents put one at a time; the rows
derived in SQL (page hash chunks, facet codes, dossier links) match their Python
definitions; a write failing on the writer thread leaves nothing behind."""

from __future__ import annotations

import dataclasses
import sqlite3
import sys
import threading
import time
from pathlib import Path

import pytest

import indexer.sqlite as sqlite_backend
from bench.index_bench import documents
from indexer.base import SearchQuery, phash_chunks
from indexer.sqlite import SqliteIndex, document_json

DOCS = list(documents(95))
TABLES = {
    "documents": "SELECT * FROM documents ORDER BY id",
    "document_bodies": "SELECT * FROM document_bodies ORDER BY id",
    "pages": "SELECT * FROM pages ORDER BY document_id, page_index",
    "phash_chunks": "SELECT * FROM phash_chunks ORDER BY document_id, page_index, chunk",
    "fields": "SELECT * FROM fields ORDER BY document_id, rowid",
    "timings": "SELECT * FROM timings ORDER BY document_id, rowid",
    "dossier_documents": "SELECT * FROM dossier_documents ORDER BY dossier_id, document_id",
    "search_rows": "SELECT d.id, t.value, o.value, y.value, r.created_at FROM search_rows r"
    " JOIN documents d ON d.rowid = r.rid JOIN facet_values t ON t.code = r.type_code"
    " LEFT JOIN facet_values o ON o.code = r.office_code"
    " LEFT JOIN facet_values y ON y.code = r.year_code ORDER BY d.id",
}


def _rows(index: SqliteIndex) -> dict[str, list[tuple]]:
    rows = {table: index.conn.execute(sql).fetchall() for table, sql in TABLES.items()}
    # Row ids differ between the two ways of writing; what they stand for must not.
    rows["documents"] = [row[1:] for row in rows["documents"]]
    return rows


def test_chunked_put_stores_what_single_puts_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GIVEN 95 documents, a few of them repeated
    WHEN they are put in one call of 10-document chunks (a writer thread from the second
    chunk on) into one catalog, and one by one into another
    THEN both catalogs hold the same rows and answer searches alike, the page hash chunks
    are phash_chunks() of each page, the search rows carry each document's facets, the
    bodies are text as document_json writes it, and the switch interval is given back."""
    monkeypatch.setattr(sqlite_backend, "PUT_CHUNK", 10)
    interval = sys.getswitchinterval()
    chunked = SqliteIndex(tmp_path / "chunked.sqlite")
    single = SqliteIndex(tmp_path / "single.sqlite")
    try:
        chunked.put_documents([*DOCS[:30], *DOCS])  # the first 30 replaced in later chunks
        assert sys.getswitchinterval() == interval
        for doc in DOCS:
            single.put_document(doc)
        got = _rows(chunked)
        assert got == _rows(single)
        assert len(got["documents"]) == len(DOCS)
        assert got["phash_chunks"] == sorted(
            ((chunk, doc.id, 0) for doc in DOCS for chunk in phash_chunks(doc.pages[0].phash)),
            key=lambda row: (row[1], row[2], row[0]),
        )
        assert got["search_rows"] == sorted(
            (doc.id, doc.doc_type, doc.office, doc.main_date[:4], doc.created_at) for doc in DOCS
        )
        assert len(got["dossier_documents"]) == len(DOCS)
        # Bodies are bound as UTF-8 bytes and stored as text, as document_json writes them.
        bodies = dict(chunked.conn.execute("SELECT id, body FROM document_bodies"))
        assert all(bodies[doc.id] == document_json(doc) for doc in DOCS)
        for query in (SearchQuery(text="nguyen van"), SearchQuery(office="dich vong")):
            assert chunked.search(query) == single.search(query)
        assert chunked.find_pages_by_phash(DOCS[40].pages[0].phash, 4)[0].document_id == (
            DOCS[40].id
        )
    finally:
        chunked.close()
        single.close()


def test_a_failing_chunk_on_the_writer_thread_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GIVEN a put of several chunks whose fourth holds a page hash SQLite cannot store
    WHEN it is put THEN the error reaches the caller, nothing of the earlier chunks is
    stored, the switch interval is given back, and the catalog takes the next put."""
    monkeypatch.setattr(sqlite_backend, "PUT_CHUNK", 10)
    interval = sys.getswitchinterval()
    bad = list(documents(40))
    bad[35].pages[0].phash = 1 << 70  # more than 64 bits
    index = SqliteIndex(tmp_path / "catalog.sqlite")
    try:
        with pytest.raises(OverflowError):
            index.put_documents(bad)
        assert sys.getswitchinterval() == interval
        assert index.count_documents() == 0
        assert index.conn.execute("SELECT COUNT(*) FROM fields").fetchone()[0] == 0
        index.put_documents(DOCS)
        assert index.count_documents() == len(DOCS)
    finally:
        index.close()


def _threads() -> set[str]:
    return {thread.name for thread in threading.enumerate()}


def test_bulk_mode_checkpoints_on_a_thread_of_its_own(tmp_path: Path) -> None:
    """GIVEN a catalog in bulk mode (no checkpoint by the committing connection)
    WHEN documents are put THEN a thread of its own copies them from the WAL into the
    catalog file; after bulk mode the thread is gone and commits checkpoint again."""
    path = tmp_path / "catalog.sqlite"
    index = SqliteIndex(path)
    try:
        before = path.stat().st_size
        with index.bulk_mode():
            assert index.conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
            assert "sqlite-checkpoint" in _threads()
            index.put_documents(DOCS)
            deadline = time.monotonic() + 20
            while path.stat().st_size == before and time.monotonic() < deadline:
                time.sleep(0.05)
            assert path.stat().st_size > before
        assert "sqlite-checkpoint" not in _threads()
        assert index.conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 1000
        assert index.count_documents() == len(DOCS)
    finally:
        index.close()


def test_new_catalogs_have_large_pages_and_old_ones_keep_theirs(tmp_path: Path) -> None:
    """GIVEN a catalog file made with 4 KB pages WHEN opened THEN it keeps them (and its
    documents); a new catalog gets PAGE_SIZE pages, which hold a document's body whole."""
    old = tmp_path / "old.sqlite"
    conn = sqlite3.connect(old)
    conn.execute("PRAGMA page_size=4096")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.close()
    index = SqliteIndex(old)
    index.put_documents(DOCS[:5])
    index.close()
    index = SqliteIndex(old)
    new = SqliteIndex(tmp_path / "new.sqlite")
    try:
        assert index.conn.execute("PRAGMA page_size").fetchone()[0] == 4096
        assert index.count_documents() == 5
        assert new.conn.execute("PRAGMA page_size").fetchone()[0] == sqlite_backend.PAGE_SIZE
        assert len(document_json(DOCS[0]).encode()) < sqlite_backend.PAGE_SIZE // 2
    finally:
        index.close()
        new.close()


def test_two_catalogs_writing_at_once_give_the_switch_interval_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GIVEN two catalogs, each put many chunks from a thread of its own, at once
    WHEN both are done THEN both hold their documents and the process's switch interval
    is what it was (neither restored it under the other)."""
    monkeypatch.setattr(sqlite_backend, "PUT_CHUNK", 5)
    interval = sys.getswitchinterval()
    indexes = [SqliteIndex(tmp_path / f"{n}.sqlite") for n in range(2)]
    try:
        threads = [threading.Thread(target=index.put_documents, args=(DOCS,)) for index in indexes]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert [index.count_documents() for index in indexes] == [len(DOCS)] * 2
        assert sys.getswitchinterval() == interval
    finally:
        for index in indexes:
            index.close()


def test_chunks_with_more_values_than_sqlite_takes_at_once(tmp_path: Path) -> None:
    """GIVEN a catalog whose SQLite takes at most 50 variables per statement (the build
    limit can be as low as 999; a chunk of long documents has thousands of page rows)
    WHEN documents with 30 pages each are put THEN every page and field is stored."""
    docs = list(documents(12))
    for doc in docs:
        doc.pages = [dataclasses.replace(doc.pages[0], index=n) for n in range(30)]
    index = SqliteIndex(tmp_path / "catalog.sqlite")
    try:
        index.conn.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 50)
        index.put_documents(docs)
        one = index.conn.execute
        assert one("SELECT COUNT(*) FROM pages").fetchone()[0] == 12 * 30
        assert one("SELECT COUNT(*) FROM phash_chunks").fetchone()[0] == 12 * 30 * 8
        assert one("SELECT COUNT(*) FROM fields").fetchone()[0] == 12 * 4
        assert index.get_document(docs[3].id) == docs[3]
    finally:
        index.close()
