"""The embedded catalog and search index: one SQLite file (WAL) in the store.

The whole Document is kept as JSON (the catalog is the source of truth, any search
index can be rebuilt from it); columns and side tables hold what is filtered or looked
up: fields, page hashes in chunks (near-duplicate candidates by index, not by scan),
timings, failures, and an FTS5 table over the diacritic-folded text.
"""

from __future__ import annotations

import json
import re
import sqlite3
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import lru_cache
from itertools import chain
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from indexer.base import (
    GENESIS_HASH,
    PHASH_CHUNKS,
    REUSE_COLUMNS,
    PageMatch,
    ReuseLogEntry,
    SearchHit,
    SearchQuery,
    SearchResult,
    apply_correction,
    batches,
    fold_words,
    phash_chunks,
    reuse_entry_hash,
)
from indexer.highlight import highlight, query_terms
from pipeline.errors import BackendError, BackendUnavailableError
from pipeline.model import Document, document_from_dict, plain

SCHEMA_VERSION = 2

_SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    id TEXT PRIMARY KEY,
    sha256 TEXT NOT NULL,
    source_path TEXT NOT NULL,
    media_type TEXT NOT NULL,
    first_page INTEGER NOT NULL,
    last_page INTEGER NOT NULL,
    doc_type TEXT NOT NULL,
    status TEXT NOT NULL,
    person_id TEXT,
    doc_number TEXT,
    expiry_date TEXT,
    main_date TEXT,
    office TEXT,
    dossier_id TEXT,
    created_at TEXT NOT NULL,
    seconds REAL,
    reuse_kind TEXT
);
-- The wide columns live apart, so filters and facets scan narrow rows.
CREATE TABLE IF NOT EXISTS document_bodies (
    id TEXT PRIMARY KEY,
    text TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS documents_sha256 ON documents(sha256);
CREATE INDEX IF NOT EXISTS documents_person ON documents(person_id);
CREATE INDEX IF NOT EXISTS documents_created ON documents(created_at);
CREATE TABLE IF NOT EXISTS pages (
    document_id TEXT NOT NULL,
    page_index INTEGER NOT NULL,
    method TEXT NOT NULL,
    phash INTEGER,
    PRIMARY KEY (document_id, page_index)
);
CREATE TABLE IF NOT EXISTS phash_chunks (
    chunk INTEGER NOT NULL,
    document_id TEXT NOT NULL,
    page_index INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS phash_chunks_chunk ON phash_chunks(chunk);
CREATE INDEX IF NOT EXISTS phash_chunks_doc ON phash_chunks(document_id);
CREATE TABLE IF NOT EXISTS fields (
    document_id TEXT NOT NULL,
    name TEXT NOT NULL,
    value TEXT,
    valid INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS fields_name_value ON fields(name, value);
CREATE INDEX IF NOT EXISTS fields_doc ON fields(document_id);
CREATE INDEX IF NOT EXISTS fields_value ON fields(value);  -- citizen ID look-ups
CREATE TABLE IF NOT EXISTS timings (
    document_id TEXT NOT NULL,
    stage TEXT NOT NULL,
    page INTEGER,
    seconds REAL NOT NULL,
    worker TEXT
);
CREATE INDEX IF NOT EXISTS timings_doc ON timings(document_id);
CREATE TABLE IF NOT EXISTS failures (
    path TEXT NOT NULL,
    sha256 TEXT NOT NULL DEFAULT '',
    reason TEXT NOT NULL,
    at TEXT NOT NULL,
    PRIMARY KEY (path, sha256)
);
CREATE INDEX IF NOT EXISTS documents_identity ON documents(doc_type, person_id, doc_number);
CREATE TABLE IF NOT EXISTS dossiers (
    id TEXT PRIMARY KEY,
    procedure TEXT,
    citizen_id TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS dossiers_citizen ON dossiers(citizen_id);
CREATE TABLE IF NOT EXISTS dossier_documents (
    dossier_id TEXT NOT NULL,
    document_id TEXT NOT NULL,
    status TEXT NOT NULL,
    reuse_kind TEXT,
    added_at TEXT NOT NULL,
    PRIMARY KEY (dossier_id, document_id)
);
CREATE INDEX IF NOT EXISTS dossier_documents_doc ON dossier_documents(document_id);
CREATE TABLE IF NOT EXISTS reuse_log (
    seq INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    document_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    of TEXT,
    dossier_id TEXT,
    procedure TEXT,
    evidence TEXT NOT NULL,
    seconds REAL,
    baseline_seconds REAL,
    prev_hash TEXT NOT NULL,
    entry_hash TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS reuse_log_at ON reuse_log(at);
CREATE INDEX IF NOT EXISTS reuse_log_document ON reuse_log(document_id);
CREATE INDEX IF NOT EXISTS reuse_log_of ON reuse_log(of);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS documents_dossier ON documents(dossier_id);
CREATE INDEX IF NOT EXISTS documents_type_date ON documents(doc_type, main_date);
-- Folded words of the text and fields. The issuing office has an index of its own: the
-- office filter is a full-text match, not a LIKE scan of every row, and relevance
-- scores of the text (bm25 counts every column of a row) stay the text's alone.
CREATE VIRTUAL TABLE IF NOT EXISTS documents_fts USING fts5(
    folded, tokenize = 'unicode61 remove_diacritics 2'
);
CREATE VIRTUAL TABLE IF NOT EXISTS offices_fts USING fts5(
    office, tokenize = 'unicode61 remove_diacritics 2'
);
-- What a result list needs of every match, in narrow rows (a search touching a fifth of
-- the catalog reads these, not the wide documents rows): the facets as small integer
-- codes (facet_values), grouped in one pass, and the keys of the newest-first order.
CREATE TABLE IF NOT EXISTS search_rows (
    rid INTEGER PRIMARY KEY,  -- documents.rowid
    type_code INTEGER NOT NULL,
    office_code INTEGER,
    year_code INTEGER,
    created_at TEXT NOT NULL,
    id TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS search_rows_newest ON search_rows(created_at DESC, id);
CREATE TABLE IF NOT EXISTS facet_values (
    code INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,  -- doc_type | office | year
    value TEXT NOT NULL,
    UNIQUE (kind, value)
);
DROP INDEX IF EXISTS documents_type;  -- schema 1: documents_type_date leads with doc_type
"""

# Schema 1 -> 2: fill the facet codes and search rows from the documents.
_BACKFILL = """
INSERT OR IGNORE INTO facet_values (kind, value)
    SELECT DISTINCT 'doc_type', doc_type FROM documents;
INSERT OR IGNORE INTO facet_values (kind, value)
    SELECT DISTINCT 'office', office FROM documents WHERE office IS NOT NULL;
INSERT OR IGNORE INTO facet_values (kind, value)
    SELECT DISTINCT 'year', substr(main_date, 1, 4) FROM documents WHERE main_date IS NOT NULL;
INSERT OR REPLACE INTO search_rows (rid, type_code, office_code, year_code, created_at, id)
    SELECT d.rowid, t.code, o.code, y.code, d.created_at, d.id FROM documents d
    JOIN facet_values t ON t.kind = 'doc_type' AND t.value = d.doc_type
    LEFT JOIN facet_values o ON o.kind = 'office' AND o.value = d.office
    LEFT JOIN facet_values y ON y.kind = 'year' AND y.value = substr(d.main_date, 1, 4);
"""

FACETS = ("doc_type", "office", "year")
FACET_SIZE = 20
# Indexes only searches and look-ups read (put_documents finds stored rows by id and
# document_id through others; search_rows_newest is named by the search): a bulk load
# drops them and builds each once at the end from sorted keys, instead of inserting
# every row into each (a fifth of its CPU).
LOOKUP_INDEXES = ("documents_sha256", "documents_person", "documents_created",
                  "documents_identity", "documents_dossier", "documents_type_date",
                  "fields_name_value", "fields_value", "phash_chunks_chunk")  # fmt: skip
_CREATE_INDEX = {
    name: re.search(rf"CREATE INDEX IF NOT EXISTS {name} ON [^;]*;", _SCHEMA)[0]
    for name in LOOKUP_INDEXES
}
# Documents written per round within put_documents' one transaction (also bounds its SQL
# variables): a 1,000-page file of one-page documents is never all in memory at once.
PUT_CHUNK = 100
PAGE_SIZE = 16384  # bytes, for new catalogs
CACHE_KB = 65536  # SQLite's page cache for searches
WRITE_CACHE_KB = 4096  # ... and while put_documents writes more than PUT_CHUNK documents
WRITER_SWITCH_INTERVAL = 1e-4  # seconds; sys.setswitchinterval while a writer thread runs


def document_json(doc: Document) -> str:
    """The stored form of a Document (what document_from_dict reads back)."""
    body = document_json_utf8(doc)
    return body.decode() if isinstance(body, bytes) else body


def document_json_utf8(doc: Document) -> bytes | str:
    """document_json as orjson writes it, UTF-8 bytes (SQLite stores them as text through
    a CAST: neither decoded here nor encoded again when bound). orjson walks the
    dataclasses in C, 9x faster than json.dumps(plain(doc)); anything it cannot encode
    (a numpy scalar, a non-str key) takes the plain path, a str."""
    try:
        return orjson.dumps(doc, option=orjson.OPT_SERIALIZE_NUMPY)
    except TypeError:
        return json.dumps(plain(doc), ensure_ascii=False)


def load_document(body: str) -> Document:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:  # written by json.dumps with NaN in it
        data = json.loads(body)
    return document_from_dict(data)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _signed64(value: int) -> int:
    """SQLite integers are signed 64-bit; store the unsigned hash bit for bit."""
    return value - (1 << 64) if value >= (1 << 63) else value


def _unsigned64(value: int) -> int:
    return value + (1 << 64) if value < 0 else value


# -- writing documents ---------------------------------------------------------------
# A chunk of documents is written with one multi-row INSERT per table: SQLite then runs
# the whole chunk's rows in one call, with the GIL released, so a writer thread can do
# it while the calling thread prepares the next chunk (put_documents). Rows that follow
# from rows already written (facet codes, search rows, dossier links, page hash chunks)
# are derived in SQL from the chunk's row-id range.

# rowid, id, sha256, source_path, media_type, first_page, last_page, doc_type, status,
# person_id, doc_number, expiry_date, main_date, office, dossier_id, created_at, seconds,
# reuse_kind
_INSERT = {
    "documents": "INSERT INTO documents (rowid, id, sha256, source_path, media_type,"
    " first_page, last_page, doc_type, status, person_id, doc_number, expiry_date,"
    " main_date, office, dossier_id, created_at, seconds, reuse_kind)",
    "bodies": "INSERT INTO document_bodies (id, text, body)",
    "texts": "INSERT INTO documents_fts (rowid, folded)",
    "offices": "INSERT INTO offices_fts (rowid, office)",
    "pages": "INSERT INTO pages (document_id, page_index, method, phash)",
    "fields": "INSERT INTO fields (document_id, name, value, valid)",
    "timings": "INSERT INTO timings (document_id, stage, page, seconds, worker)",
}
_ROW = {
    table: f"({','.join('?' * width)})"
    for table, width in (("documents", 18), ("texts", 2), ("offices", 2), ("pages", 4),
                         ("fields", 4), ("timings", 5))
} | {"bodies": "(?,?,CAST(? AS TEXT))"}  # fmt: skip
# The chunks of a page hash as phash_chunks() cuts them (chunk i: i in the top bits,
# then bits 8i.. 8i+7 of the hash; SQLite's >> keeps the sign, the mask drops it).
_CHUNK_BITS = 64 // PHASH_CHUNKS
_DERIVED = f"""
INSERT OR IGNORE INTO facet_values (kind, value)
    SELECT 'doc_type', doc_type FROM documents WHERE rowid BETWEEN ?1 AND ?2
    UNION ALL SELECT 'office', office FROM documents
        WHERE rowid BETWEEN ?1 AND ?2 AND office IS NOT NULL
    UNION ALL SELECT 'year', substr(main_date, 1, 4) FROM documents
        WHERE rowid BETWEEN ?1 AND ?2 AND main_date IS NOT NULL;
INSERT INTO search_rows (rid, type_code, office_code, year_code, created_at, id)
    SELECT d.rowid, t.code, o.code, y.code, d.created_at, d.id FROM documents d
    JOIN facet_values t ON t.kind = 'doc_type' AND t.value = d.doc_type
    LEFT JOIN facet_values o ON o.kind = 'office' AND o.value = d.office
    LEFT JOIN facet_values y ON y.kind = 'year' AND y.value = substr(d.main_date, 1, 4)
    WHERE d.rowid BETWEEN ?1 AND ?2 ORDER BY d.rowid;
INSERT OR REPLACE INTO dossier_documents (dossier_id, document_id, status, reuse_kind, added_at)
    SELECT dossier_id, id, status, reuse_kind, created_at FROM documents
    WHERE rowid BETWEEN ?1 AND ?2 AND dossier_id IS NOT NULL ORDER BY rowid;
INSERT INTO phash_chunks (chunk, document_id, page_index)
    SELECT (c.i << {_CHUNK_BITS}) | ((p.phash >> (c.i * {_CHUNK_BITS})) & {(1 << _CHUNK_BITS) - 1}),
        p.document_id, p.page_index
    FROM documents d JOIN pages p ON p.document_id = d.id
    CROSS JOIN (SELECT value AS i FROM json_each('{list(range(PHASH_CHUNKS))}')) c
    WHERE d.rowid BETWEEN ?1 AND ?2 AND p.phash IS NOT NULL;
"""
_DERIVED_STATEMENTS = [sql.strip() for sql in _DERIVED.split(";") if sql.strip()]


@lru_cache(maxsize=256)
def _values(table: str, rows: int) -> str:
    return ",".join([_ROW[table]] * rows)


def _prepare_rows(docs: list[Document], first_rowid: int) -> dict[str, Any]:
    """The rows of documents not stored, with row ids from first_rowid on: what the
    calling thread does (Python work) before _write_rows hands them to SQLite."""
    rows: dict[str, list[tuple[Any, ...]]] = {table: [] for table in _INSERT}
    documents, bodies, texts = rows["documents"], rows["bodies"], rows["texts"]
    offices, pages, fields, timings = (
        rows["offices"],
        rows["pages"],
        rows["fields"],
        rows["timings"],
    )
    for rowid, doc in enumerate(docs, start=first_rowid):
        if doc.created_at is None:
            doc.created_at = _now()
        text = doc.text
        office = doc.office
        reuse_kind = doc.reuse.kind if doc.reuse else None
        documents.append((
            rowid, doc.id, doc.source.sha256, doc.source.path, doc.source.media_type,
            doc.first_page, doc.last_page, doc.doc_type, doc.status, doc.person_id,
            doc.field_value("doc_number"), doc.field_value("expiry_date"), doc.main_date,
            office, doc.dossier_id, doc.created_at,
            sum(t.seconds for t in doc.timings if t.page is None), reuse_kind,
        ))  # fmt: skip
        bodies.append((doc.id, text, document_json_utf8(doc)))
        if reuse_kind != "near":
            # A re-scan carries the text of the paper it re-scans: one paper, one hit.
            folded = fold_words(" ".join([text, *(f.value or "" for f in doc.fields)]))
            texts.append((rowid, folded))
            if office:
                offices.append((rowid, fold_words(office)))
        for position, page in enumerate(doc.pages):
            phash = _signed64(page.phash) if page.phash is not None else None
            pages.append((doc.id, position, page.method, phash))
        fields += [(doc.id, f.name, f.value, int(f.valid)) for f in doc.fields]
        timings += [(doc.id, t.stage, t.page, t.seconds, t.worker) for t in doc.timings]
    return {"first": first_rowid, "last": first_rowid + len(docs) - 1, "rows": rows}


def _write_rows(conn: sqlite3.Connection, prepared: dict[str, Any]) -> None:
    """Write rows made by _prepare_rows: a few statements, each a whole chunk's rows (or
    as many as SQLite takes variables for: documents of many pages)."""
    limit = conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    for table, rows in prepared["rows"].items():
        step = max(1, limit // _ROW[table].count("?"))
        for start in range(0, len(rows), step):
            part = rows[start : start + step]
            conn.execute(
                f"{_INSERT[table]} VALUES {_values(table, len(part))}",
                list(chain.from_iterable(part)),
            )
    span = (prepared["first"], prepared["last"])
    for sql in _DERIVED_STATEMENTS:
        conn.execute(sql, span)


# Above this many text matches, ranking by relevance costs more than it tells (the
# words are in most documents): such results come newest first.
RANK_LIMIT = 5000


def fts_query(text: str) -> str | None:
    """An FTS5 MATCH expression: every folded term must occur (quoted, so no operator in
    user input is interpreted)."""
    terms = query_terms(text)
    if not terms:
        return None
    return " ".join(f'"{t}"' for t in terms)


def _names_d(where: list[str]) -> bool:
    return any("d." in clause for clause in where)


def _integers(conn: sqlite3.Connection, sql: str, width: int) -> np.ndarray:
    """The rows of an all-integer query as an int64 array of `width` columns."""
    return np.array(conn.execute(sql).fetchall(), dtype=np.int64).reshape(-1, width)


class _SearchRows:
    """What a result list needs of every catalog row, in arrays indexed by row id: the
    facet codes (type, office, year; -1 for none) and the position in newest-first
    order (created_at DESC, id). Counting and paging 20,000 matches here takes a
    millisecond, where SQLite's GROUP BY and ORDER BY sort them (tens of ms)."""

    def __init__(self, version: tuple[int, int], codes: list[np.ndarray], by_rank: np.ndarray):
        self.version = version
        self.codes = codes
        self.by_rank = by_rank  # row ids, newest first
        self.rank = np.full(len(codes[0]), -1, dtype=np.int64)  # -1: no row with this id
        self.rank[by_rank] = np.arange(len(by_rank))
        self.all_rids = np.sort(by_rank)

    @classmethod
    def load(cls, conn: sqlite3.Connection, version: tuple[int, int]) -> _SearchRows:
        size = (conn.execute("SELECT MAX(rid) FROM search_rows").fetchone()[0] or 0) + 1
        table = _integers(
            conn,
            "SELECT rid, type_code, IFNULL(office_code, -1), IFNULL(year_code, -1)"
            " FROM search_rows",
            4,
        )
        codes = []
        for column in (1, 2, 3):
            values = np.full(size, -1, dtype=np.int64)
            values[table[:, 0]] = table[:, column]
            codes.append(values)
        newest = _integers(
            conn,
            "SELECT rid FROM search_rows INDEXED BY search_rows_newest"
            " ORDER BY created_at DESC, id",
            1,
        ).reshape(-1)
        return cls(version, codes, newest)

    def newest(self, rids: np.ndarray, offset: int, limit: int) -> list[int]:
        """The row ids among rids at positions offset.. offset+limit, newest first."""
        wanted = offset + limit
        ranks = self.rank[rids]
        if 0 < wanted < len(ranks):
            ranks = ranks[np.argpartition(ranks, wanted - 1)[:wanted]]
        return self.by_rank[np.sort(ranks)[offset:wanted]].tolist()

    def covers(self, rids: np.ndarray) -> bool:
        """Whether every row id has its row here (a commit may have slipped in between
        the snapshot and data_version)."""
        return not len(rids) or (
            int(rids.max()) < len(self.rank) and bool((self.rank[rids] >= 0).all())
        )


_switches = {"users": 0, "saved": 0.0}  # writers running, and the interval before the first
_switches_lock = threading.Lock()


def _short_switches(on: bool) -> None:
    """WRITER_SWITCH_INTERVAL while any writer thread runs (the interval is the process's:
    two catalogs writing at once must not restore it under each other)."""
    with _switches_lock:
        if on:
            if _switches["users"] == 0:
                _switches["saved"] = sys.getswitchinterval()
                sys.setswitchinterval(WRITER_SWITCH_INTERVAL)
            _switches["users"] += 1
        else:
            _switches["users"] -= 1
            if _switches["users"] == 0:
                sys.setswitchinterval(_switches["saved"])


class _Writer:
    """Runs put_documents' chunk writes one after another: the first in the calling
    thread, later ones on a thread of their own, at most one behind the caller (so at
    most two chunks' rows are in memory). Leaving waits for the last write and raises
    its error, if any."""

    def __init__(self) -> None:
        self._pool: ThreadPoolExecutor | None = None
        self._pending: Future[None] | None = None
        self._started = False

    def submit(self, write: Callable[..., None], *args: Any) -> None:
        if not self._started:
            self._started = True
            write(*args)  # the first chunk (a whole ingest file, usually): no thread
            return
        if self._pool is None:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="sqlite-writer")
            # The writer takes the GIL back after each statement; by default a busy
            # caller would keep it for up to 5 ms each time.
            _short_switches(True)
        self._wait()
        self._pending = self._pool.submit(write, *args)

    def _wait(self) -> None:
        if self._pending is not None:
            pending, self._pending = self._pending, None
            pending.result()

    def __enter__(self) -> _Writer:
        return self

    def __exit__(self, exc_type: object, *_: object) -> None:
        try:
            if exc_type is None:
                self._wait()
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=True)  # (on an error, the caller's error goes on)
                _short_switches(False)


class _Checkpointer:
    """A thread with a connection of its own that checkpoints the WAL after each commit
    it is woken for (PASSIVE: it never waits for, nor blocks, the writer)."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._wanted = threading.Event()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="sqlite-checkpoint", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        self._wanted.set()

    def stop(self) -> None:
        self._stopping = True
        self._wanted.set()
        self._thread.join()

    def _run(self) -> None:
        conn = sqlite3.connect(str(self._path), timeout=30.0)
        try:
            while True:
                self._wanted.wait()
                self._wanted.clear()
                if self._stopping:
                    return
                conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        finally:
            conn.close()


class SqliteIndex:
    """The Index protocol over one SQLite file. One writer process; readers any time."""

    def __init__(self, path: Path, *, readonly: bool = False):
        self.path = path
        self._writes = 0  # commits by this connection (data_version counts the others')
        self._bulk_loading = False  # inside bulk_mode(): memory is not the concern there
        self._checkpointer: _Checkpointer | None = None  # inside bulk_mode()
        self._search_rows: _SearchRows | None = None
        try:
            if readonly:
                # Worker processes only look things up; the batch process is the writer.
                self.conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30.0)
                return
            path.parent.mkdir(parents=True, exist_ok=True)
            # put_documents writes from a thread of its own, never alongside this one.
            self.conn = sqlite3.connect(str(path), timeout=30.0, check_same_thread=False)
            # A new catalog's pages hold a document's body (~6 KB) whole: with the default
            # 4 KB pages it spills into overflow pages, a fifth of its bytes wasted, all
            # of them written twice (WAL, checkpoint). An existing catalog keeps its size.
            self.conn.execute(f"PRAGMA page_size={PAGE_SIZE}")
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=NORMAL")
            self.conn.execute("PRAGMA temp_store=MEMORY")
            # A bulk transaction touches many index pages: the default 2 MB cache spills
            # them to the WAL during the transaction and reads them back.
            self.conn.execute(f"PRAGMA cache_size=-{CACHE_KB}")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise BackendUnavailableError(
                f"The catalog {path} cannot be opened: {exc}.",
                hint="Check the --store folder; if the file is damaged, restore it from backup.",
            ) from exc
        except OSError as exc:
            raise BackendUnavailableError(
                f"The store folder {path.parent} is not usable: {exc}."
            ) from exc

    def _migrate(self) -> None:
        version = self.conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise BackendError(
                f"The catalog {self.path} was written by a newer dossier (schema {version}).",
                hint="Upgrade dossier to read it.",
            )
        with self.conn:
            self.conn.executescript(_SCHEMA)
            if version < 2:
                self.conn.executescript(_BACKFILL)
            self.conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def close(self) -> None:
        self.conn.close()

    @contextmanager
    def bulk_mode(self) -> Iterator[None]:
        """For a large load (reindex, benchmarks): the look-up indexes are dropped, then
        built again once at the end, even on error. Searches meanwhile are correct but
        slow. If the process dies in between, the next open builds them (_migrate runs
        the schema, which creates what is missing). Meanwhile a thread of its own copies
        committed pages from the WAL into the catalog (a checkpoint, with its fsync), not
        the committing call."""
        with self.transaction() as conn:
            for name in LOOKUP_INDEXES:
                conn.execute(f"DROP INDEX IF EXISTS {name}")
        self._bulk_loading = True
        autocheckpoint = self.conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0]
        self.conn.execute("PRAGMA wal_autocheckpoint=0")
        self._checkpointer = _Checkpointer(self.path)
        try:
            yield
        finally:
            self._checkpointer.stop()
            self._checkpointer = None
            self.conn.execute(f"PRAGMA wal_autocheckpoint={autocheckpoint}")
            self._bulk_loading = False
            with self.transaction() as conn:
                for sql in _CREATE_INDEX.values():
                    conn.execute(sql)

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """All or nothing: a killed process leaves no half-written document."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.rollback()
            raise
        else:
            self.conn.commit()
            self._writes += 1
            if self._checkpointer is not None:
                self._checkpointer.wake()

    # -- documents ---------------------------------------------------------------

    def find_by_sha256(self, sha256: str) -> list[str]:
        rows = self.conn.execute(
            "SELECT id FROM documents WHERE sha256 = ? ORDER BY first_page", (sha256,)
        )
        return [row[0] for row in rows]

    def put_document(self, doc: Document) -> None:
        with self.transaction() as conn:
            self._delete(conn, doc.id)
            self._insert_many(conn, [doc])

    def put_documents(
        self, docs: Iterable[Document], reuse_entries: Iterable[dict[str, Any]] = ()
    ) -> None:
        """Several documents (e.g. all documents of one batch scan) and the reuse
        decisions made about them, in one transaction. Drawn PUT_CHUNK at a time, so a
        long file's documents need not all be in memory at once. From the second chunk
        on, a writer thread has SQLite write chunk k while this thread prepares chunk
        k+1 (SQLite releases the GIL while it runs a statement)."""
        rounds = 0
        try:
            with self.transaction() as conn:
                rowid = (conn.execute("SELECT MAX(rowid) FROM documents").fetchone()[0] or 0) + 1
                with _Writer() as writer:
                    for chunk in batches(docs, PUT_CHUNK):
                        rounds += 1
                        # The last copy of an id wins, in its place, one insert-or-replace
                        # after another (a copy in an earlier chunk is deleted like a
                        # stored one).
                        last = {doc.id: position for position, doc in enumerate(chunk)}
                        chunk = [
                            doc for position, doc in enumerate(chunk) if last[doc.id] == position
                        ]
                        prepared = _prepare_rows(chunk, rowid)
                        rowid += len(chunk)
                        writer.submit(self._write_chunk, conn, prepared, rounds)
                for entry in reuse_entries:
                    self._append_reuse(conn, entry)
        finally:
            if rounds >= 2 and not self._bulk_loading:  # searches use the full cache again
                self.conn.execute(f"PRAGMA cache_size=-{CACHE_KB}")

    def _write_chunk(self, conn: sqlite3.Connection, prepared: dict[str, Any], round_: int) -> None:
        """Replace what is stored under the chunk's ids by its rows (in the writer)."""
        if round_ == 2 and not self._bulk_loading:
            # A long ingest transaction keeps every page it writes in the cache (64 MB:
            # +57 MB RSS for 1,000 one-page documents); a small one spills them to the WAL
            # as it goes (+24 MB, as for ~100).
            conn.execute(f"PRAGMA cache_size=-{WRITE_CACHE_KB}")
        ids = [row[1] for row in prepared["rows"]["documents"]]
        marks = ",".join("?" * len(ids))
        stored = conn.execute(f"SELECT id FROM documents WHERE id IN ({marks})", ids)
        for (doc_id,) in stored.fetchall():
            self._delete(conn, doc_id)
        _write_rows(conn, prepared)

    def has_pages(self) -> bool:
        return self.conn.execute("SELECT 1 FROM pages LIMIT 1").fetchone() is not None

    def _delete(self, conn: sqlite3.Connection, doc_id: str) -> None:
        row = conn.execute("SELECT rowid FROM documents WHERE id = ?", (doc_id,)).fetchone()
        if row is None:
            return
        conn.execute("DELETE FROM documents_fts WHERE rowid = ?", (row[0],))
        conn.execute("DELETE FROM offices_fts WHERE rowid = ?", (row[0],))
        conn.execute("DELETE FROM search_rows WHERE rid = ?", (row[0],))
        for table in ("pages", "phash_chunks", "fields", "timings"):
            conn.execute(f"DELETE FROM {table} WHERE document_id = ?", (doc_id,))
        conn.execute("DELETE FROM document_bodies WHERE id = ?", (doc_id,))
        conn.execute("DELETE FROM documents WHERE id = ?", (doc_id,))

    def _insert_many(self, conn: sqlite3.Connection, docs: list[Document]) -> None:
        """Insert documents that are not stored, with row ids after the last one."""
        last = conn.execute("SELECT MAX(rowid) FROM documents").fetchone()[0] or 0
        _write_rows(conn, _prepare_rows(docs, last + 1))

    def get_document(self, doc_id: str) -> Document | None:
        row = self.conn.execute(
            "SELECT body FROM document_bodies WHERE id = ?", (doc_id,)
        ).fetchone()
        if row is None:
            # Accept an unambiguous id prefix, as clerks copy short ids.
            rows = self.conn.execute(
                "SELECT b.body FROM documents d JOIN document_bodies b ON b.id = d.id"
                " WHERE d.id LIKE ? LIMIT 2",
                (doc_id + "%",),
            ).fetchall()
            if len(rows) != 1:
                return None
            row = rows[0]
        return load_document(row[0])

    def iter_documents(self) -> Iterator[Document]:
        cursor = self.conn.execute(
            "SELECT b.body FROM documents d JOIN document_bodies b ON b.id = d.id ORDER BY d.rowid"
        )
        for (body,) in cursor:
            yield load_document(body)

    def count_documents(self) -> int:
        return self.conn.execute("SELECT COUNT(*) FROM documents").fetchone()[0]

    # -- identity and people -----------------------------------------------------

    def find_by_identity(
        self, doc_type: str, person_id: str, doc_number: str | None
    ) -> list[Document]:
        """Stored documents with this identity key, newest first (FIELDS.md)."""
        rows = self.conn.execute(
            "SELECT b.body FROM documents d JOIN document_bodies b ON b.id = d.id"
            " WHERE d.doc_type = ? AND d.person_id = ?"
            " AND d.doc_number IS ? ORDER BY COALESCE(d.main_date, '') DESC, d.created_at DESC",
            (doc_type, person_id, doc_number),
        )
        return [load_document(body) for (body,) in rows]

    def documents_of_person(self, person_id: str) -> list[Document]:
        """Every stored document about this personal ID number, newest first."""
        rows = self.conn.execute(
            "SELECT b.body FROM documents d JOIN document_bodies b ON b.id = d.id"
            " WHERE d.person_id = ? OR d.id IN ("
            " SELECT f.document_id FROM fields f WHERE f.value = ? AND f.valid = 1"
            " AND f.name LIKE '%id_number')"
            " ORDER BY COALESCE(d.main_date, '') DESC, d.created_at DESC",
            (person_id, person_id),
        )
        return [load_document(body) for (body,) in rows]

    # -- dossiers ----------------------------------------------------------------

    def put_dossier(self, dossier_id: str, procedure: str | None, citizen_id: str | None) -> None:
        with self.transaction() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO dossiers (id, procedure, citizen_id, created_at)"
                " VALUES (?,?,?,?)",
                (dossier_id, procedure, citizen_id, _now()),
            )

    def dossier_has(self, dossier_id: str, doc_id: str) -> bool:
        row = self.conn.execute(
            "SELECT 1 FROM dossier_documents WHERE dossier_id = ? AND document_id = ?",
            (dossier_id, doc_id),
        ).fetchone()
        return row is not None

    def dossiers(self) -> list[dict[str, Any]]:
        """Every registered dossier, oldest first (what `reindex` copies)."""
        rows = self.conn.execute(
            "SELECT id, procedure, citizen_id, created_at FROM dossiers ORDER BY created_at, id"
        )
        keys = ("id", "procedure", "citizen_id", "created_at")
        return [dict(zip(keys, row, strict=True)) for row in rows]

    def dossiers_of(self, doc_id: str) -> list[str]:
        rows = self.conn.execute(
            "SELECT dossier_id FROM dossier_documents WHERE document_id = ? ORDER BY added_at",
            (doc_id,),
        )
        return [row[0] for row in rows]

    def link_reuse(self, entry: dict[str, Any], link: tuple[str, str] | None) -> ReuseLogEntry:
        """Append a reuse decision to the tamper-evident log and, when it puts a stored
        document into a dossier, link it there: one transaction."""
        with self.transaction() as conn:
            if link is not None:
                dossier_id, doc_id = link
                conn.execute(
                    "INSERT OR REPLACE INTO dossier_documents"
                    " (dossier_id, document_id, status, reuse_kind, added_at)"
                    " VALUES (?,?,?,?,?)",
                    (dossier_id, doc_id, "reused", entry["kind"], _now()),
                )
            return self._append_reuse(conn, entry)

    def append_reuse(self, entry: dict[str, Any]) -> ReuseLogEntry:
        with self.transaction() as conn:
            return self._append_reuse(conn, entry)

    def _append_reuse(self, conn: sqlite3.Connection, entry: dict[str, Any]) -> ReuseLogEntry:
        last = conn.execute(
            "SELECT seq, entry_hash FROM reuse_log ORDER BY seq DESC LIMIT 1"
        ).fetchone()
        seq, prev_hash = (last[0] + 1, last[1]) if last else (1, GENESIS_HASH)
        record = {**entry, "seq": seq, "at": entry.get("at") or _now(), "prev_hash": prev_hash}
        record["entry_hash"] = reuse_entry_hash(record)
        conn.execute(
            "INSERT INTO reuse_log (seq, at, document_id, kind, of, dossier_id, procedure,"
            " evidence, seconds, baseline_seconds, prev_hash, entry_hash)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                seq,
                record["at"],
                record["document_id"],
                record["kind"],
                record.get("of"),
                record.get("dossier_id"),
                record.get("procedure"),
                json.dumps(record.get("evidence", {}), sort_keys=True, ensure_ascii=False),
                record.get("seconds"),
                record.get("baseline_seconds"),
                prev_hash,
                record["entry_hash"],
            ),
        )
        conn.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES ('reuse_log_head', ?)",
            (f"{seq}:{record['entry_hash']}",),
        )
        return ReuseLogEntry(**{k: record.get(k) for k in ReuseLogEntry.__dataclass_fields__})

    def reuse_log(
        self, since: str | None = None, until: str | None = None, document: str | None = None
    ) -> list[ReuseLogEntry]:
        where, args = "at >= COALESCE(?, '') AND at <= COALESCE(?, '9999')", [since, until]
        if document is not None:  # one document's history, through the two indexes
            where += " AND (document_id = ? OR of = ?)"
            args += [document, document]
        rows = self.conn.execute(
            "SELECT seq, at, document_id, kind, of, dossier_id, procedure, evidence, seconds,"
            f" baseline_seconds, prev_hash, entry_hash FROM reuse_log WHERE {where} ORDER BY seq",
            args,
        )
        entries = []
        for row in rows:
            values = dict(zip(REUSE_COLUMNS, row, strict=True))
            values["evidence"] = json.loads(values["evidence"])
            entries.append(ReuseLogEntry(**values))
        return entries

    def reuse_log_head(self) -> tuple[int, str] | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key = 'reuse_log_head'").fetchone()
        if row is None:
            return None
        seq, _, entry_hash = row[0].partition(":")
        return int(seq), entry_hash

    # -- processing records for reports -------------------------------------------

    def processed_documents(
        self, since: str | None = None, until: str | None = None
    ) -> list[dict[str, Any]]:
        """Documents stored in [since, until] with their measured processing time."""
        rows = self.conn.execute(
            "SELECT d.id, d.doc_type, d.status, d.created_at, d.first_page, d.last_page,"
            " (SELECT SUM(t.seconds) FROM timings t WHERE t.document_id = d.id),"
            " (SELECT s.procedure FROM dossier_documents dd JOIN dossiers s"
            "  ON s.id = dd.dossier_id WHERE dd.document_id = d.id ORDER BY dd.added_at LIMIT 1),"
            " d.reuse_kind"
            " FROM documents d WHERE d.created_at >= COALESCE(?, '')"
            " AND d.created_at <= COALESCE(?, '9999') ORDER BY d.created_at",
            (since, until),
        )
        keys = (
            "id",
            "doc_type",
            "status",
            "at",
            "first_page",
            "last_page",
            "seconds",
            "procedure",
            "reuse_kind",
        )
        return [dict(zip(keys, row, strict=True)) for row in rows]

    def processing_seconds(self, doc_id: str) -> float | None:
        row = self.conn.execute(
            "SELECT SUM(seconds) FROM timings WHERE document_id = ?", (doc_id,)
        ).fetchone()
        return row[0] if row and row[0] is not None else None

    # -- failures ----------------------------------------------------------------

    def record_failure(self, path: str, sha256: str | None, reason: str) -> None:
        with self.transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO failures (path, sha256, reason, at) VALUES (?,?,?,?)",
                (path, sha256 or "", reason, _now()),
            )

    def clear_failure(self, path: str) -> None:
        with self.transaction() as conn:
            conn.execute("DELETE FROM failures WHERE path = ?", (path,))

    def failures(self) -> list[dict[str, str]]:
        rows = self.conn.execute("SELECT path, sha256, reason, at FROM failures ORDER BY at")
        return [dict(zip(("path", "sha256", "reason", "at"), row, strict=True)) for row in rows]

    # -- near-duplicate candidates -----------------------------------------------

    def find_pages_by_phash(self, phash: int, max_distance: int) -> list[PageMatch]:
        """Stored pages within `max_distance` bits: candidates come from the chunk index
        (any page within distance < number of chunks shares a chunk), then the exact
        distance is checked."""
        chunks = phash_chunks(phash)
        placeholders = ",".join("?" * len(chunks))
        rows = self.conn.execute(
            "SELECT DISTINCT p.document_id, p.page_index, p.phash FROM phash_chunks c"
            " JOIN pages p ON p.document_id = c.document_id AND p.page_index = c.page_index"
            f" WHERE c.chunk IN ({placeholders})",
            chunks,
        ).fetchall()
        matches = []
        for doc_id, page_index, stored in rows:
            distance = (_unsigned64(stored) ^ phash).bit_count()
            if distance <= max_distance:
                matches.append(PageMatch(doc_id, page_index, _unsigned64(stored), distance))
        return sorted(matches, key=lambda m: (m.distance, m.document_id, m.page_index))

    # -- search ------------------------------------------------------------------

    def _filters(self, query: SearchQuery, text_match: bool) -> tuple[list[str], list[Any]]:
        """WHERE clauses over documents d (joined only when a clause names it) and the
        row id, written "r.rid"."""
        where: list[str] = []
        args: list[Any] = []
        if query.doc_type and not text_match:  # (with a text, the type is a row code)
            where.append("d.doc_type = ?")
            args.append(query.doc_type)
        if query.citizen_id:
            # IN over the fields_value index, not a correlated EXISTS per document.
            where.append(
                "(d.person_id = ? OR d.id IN (SELECT f.document_id FROM fields f"
                " WHERE f.value = ? AND f.name LIKE '%id_number'))"
            )
            args += [query.citizen_id, query.citizen_id]
        for name, value in sorted(query.fields.items()):
            where.append(
                "d.id IN (SELECT f.document_id FROM fields f WHERE f.name = ? AND f.value = ?)"
            )
            args += [name, value]
        if query.date_from:
            where.append("d.main_date >= ?")
            args.append(query.date_from)
        if query.date_to:
            where.append("d.main_date <= ?")
            args.append(query.date_to)
        if query.office:
            office = fts_query(query.office)
            where.append("r.rid IN (SELECT rowid FROM offices_fts WHERE offices_fts MATCH ?)")
            args.append(office or '""')  # only punctuation: matches nothing
        if query.dossier:
            where.append("d.dossier_id = ?")
            args.append(query.dossier)
        return where, args

    def _stored_code(self, kind: str, value: str) -> int | None:
        row = self.conn.execute(
            "SELECT code FROM facet_values WHERE kind = ? AND value = ?", (kind, value)
        ).fetchone()
        return row[0] if row else None

    def search(self, query: SearchQuery) -> SearchResult:
        """SQL finds the matching row ids (no sort, no grouping); the count, the facets
        and the newest-first page come from per-row arrays held in memory (_rows). Pages
        of text matches are ranked by bm25 when the words are in at most RANK_LIMIT
        documents, else newest first."""
        match = fts_query(query.text)
        if match is None and query.text.strip():
            return SearchResult(total=0, hits=[])  # only punctuation: nothing can match
        where, args = self._filters(query, match is not None)
        # With a text, the type is checked on the row codes (no join, no index fight).
        type_code = None
        if match is not None and query.doc_type:
            type_code = self._stored_code("doc_type", query.doc_type)
            type_code = -1 if type_code is None else type_code  # never stored: no hit
        self.conn.execute("BEGIN")  # one snapshot for the arrays and every query below
        try:
            self.conn.execute("SELECT 1 FROM search_rows LIMIT 1").fetchall()  # snapshot starts
            rows = self._rows()
            if match is None and not where:
                rids = rows.all_rids
            else:
                rids = self._row_ids(match, where, args)
                if not rows.covers(rids):
                    rows = self._rows(force=True)
            if type_code is not None:
                rids = rids[rows.codes[0][rids] == type_code]
            facets = self._facets(rows, rids)
            if match is not None and not self._broad(match):
                joins = " CROSS JOIN documents d ON d.rowid = r.rid" if _names_d(where) else ""
                if type_code is not None:
                    where, args = ["r.type_code = ?", *where], [type_code, *args]
                page = self.conn.execute(
                    "SELECT r.rid, -bm25(documents_fts) AS score FROM documents_fts"
                    f" CROSS JOIN search_rows r ON r.rid = documents_fts.rowid{joins}"
                    f" WHERE documents_fts MATCH ?{''.join(f' AND {w}' for w in where)}"
                    " ORDER BY score DESC, r.created_at DESC, r.id LIMIT ? OFFSET ?",
                    [match, *args, query.limit, query.offset],
                ).fetchall()
            else:
                page = [(rid, 0.0) for rid in rows.newest(rids, query.offset, query.limit)]
            hits = self._hits(page, query.text)
        except sqlite3.OperationalError as exc:
            raise BackendError(f"The search could not run: {exc}.") from exc
        finally:
            self.conn.execute("COMMIT")
        return SearchResult(total=len(rids), hits=hits, facets=facets)

    def _row_ids(self, match: str | None, where: list[str], args: list[Any]) -> np.ndarray:
        """Row ids of the matches, in no order: SQLite joins them into one string, read
        by numpy (a tuple per row costs more than finding them)."""
        if match is not None:
            # The unary + keeps an IN on the row id from reaching FTS5 as a constraint
            # (it would evaluate the MATCH once per listed row: 100x slower).
            rid, table, args = "+documents_fts.rowid", "documents_fts", [match, *args]
            where = ["documents_fts MATCH ?", *where]
            if _names_d(where):
                table += " CROSS JOIN documents d ON d.rowid = documents_fts.rowid"
        elif _names_d(where):
            rid, table = "d.rowid", "documents d"  # the filters pick rows through d's indexes
        else:
            rid, table = "r.rid", "search_rows r"
        clause = " AND ".join(w.replace("r.rid", rid) for w in where)
        joined = self.conn.execute(
            f"SELECT group_concat({rid}, ' ') FROM {table} WHERE {clause}", args
        ).fetchone()[0]
        return np.fromstring(joined or "", dtype=np.int64, sep=" ")

    def _rows(self, *, force: bool = False) -> _SearchRows:
        """The per-row arrays, rebuilt when the catalog changed (a commit by this
        connection, or data_version: by another one). Called inside the read snapshot."""
        version = (self.conn.execute("PRAGMA data_version").fetchone()[0], self._writes)
        if force or self._search_rows is None or self._search_rows.version != version:
            self._search_rows = _SearchRows.load(self.conn, version)
        return self._search_rows

    def _facets(self, rows: _SearchRows, rids: np.ndarray) -> dict[str, dict[str, int]]:
        """Per facet the FACET_SIZE most frequent values, ties by value (as SQL's
        ORDER BY COUNT(*) DESC, value)."""
        counted = {}
        for kind, column in zip(FACETS, rows.codes, strict=True):
            codes = column[rids]
            codes, counts = np.unique(codes[codes >= 0], return_counts=True)
            counted[kind] = dict(zip(codes.tolist(), counts.tolist(), strict=True))
        wanted = sorted({code for counts in counted.values() for code in counts})
        values: dict[int, str] = {}
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            marks = ",".join("?" * len(chunk))
            found = self.conn.execute(
                f"SELECT code, value FROM facet_values WHERE code IN ({marks})", chunk
            )
            values.update(found.fetchall())
        facets = {}
        for kind, counts in counted.items():
            ordered = sorted((-count, values[code]) for code, count in counts.items())
            facets[kind] = {value: -count for count, value in ordered[:FACET_SIZE]}
        return facets

    def _hits(self, page: list[tuple[int, float]], text: str) -> list[SearchHit]:
        """The page's documents, their valid field values and highlights (three queries
        for the whole page)."""
        if not page:
            return []
        rids = [rid for rid, _ in page]
        marks = ",".join("?" * len(rids))
        rows = self.conn.execute(
            "SELECT d.rowid, d.id, d.doc_type, d.source_path, b.text FROM documents d"
            f" JOIN document_bodies b ON b.id = d.id WHERE d.rowid IN ({marks})",
            rids,
        ).fetchall()
        by_rid = {row[0]: row[1:] for row in rows}
        values: dict[str, dict[str, str]] = {row[1]: {} for row in rows}
        found = self.conn.execute(
            "SELECT document_id, name, value FROM fields WHERE document_id IN"
            f" ({','.join('?' * len(values))}) AND valid = 1 AND value IS NOT NULL ORDER BY rowid",
            list(values),
        )
        for doc_id, name, value in found:
            values[doc_id].setdefault(name, value)  # the first valid value of a field
        terms = query_terms(text)
        hits = []
        for rid, score in page:
            doc_id, doc_type, source_path, body_text = by_rid[rid]
            hits.append(
                SearchHit(
                    id=doc_id,
                    score=round(float(score), 4),
                    doc_type=doc_type,
                    highlight=highlight(body_text, terms),
                    source=source_path,
                    fields=values[doc_id],
                )
            )
        return hits

    def _broad(self, match: str) -> bool:
        """More than RANK_LIMIT text matches: ranking them costs more than it tells (the
        words are in most documents), so such results come newest first."""
        found = self.conn.execute(
            "SELECT COUNT(*) FROM (SELECT 1 FROM documents_fts WHERE documents_fts MATCH ?"
            " LIMIT ?)",
            (match, RANK_LIMIT + 1),
        ).fetchone()[0]
        return found > RANK_LIMIT

    # -- statistics --------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        one = self.conn.execute
        by_type = dict(one("SELECT doc_type, COUNT(*) FROM documents GROUP BY doc_type"))
        by_method = dict(one("SELECT method, COUNT(*) FROM pages GROUP BY method"))
        stages = {
            stage: {"count": count, "seconds": round(total or 0.0, 3)}
            for stage, count, total in one(
                "SELECT stage, COUNT(*), SUM(seconds) FROM timings GROUP BY stage ORDER BY stage"
            )
        }
        return {
            "documents": one("SELECT COUNT(*) FROM documents").fetchone()[0],
            "files": one("SELECT COUNT(DISTINCT sha256) FROM documents").fetchone()[0],
            "pages": one("SELECT COUNT(*) FROM pages").fetchone()[0],
            "failed_files": one("SELECT COUNT(*) FROM failures").fetchone()[0],
            "by_doc_type": by_type,
            "pages_by_method": by_method,
            "stages": stages,
        }

    # -- corrections (an official fixes a field through the web interface) -------------

    _CORRECTIONS = """
    CREATE TABLE IF NOT EXISTS corrections (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        document_id TEXT NOT NULL,
        name TEXT NOT NULL,
        old_value TEXT,
        new_value TEXT NOT NULL,
        user TEXT NOT NULL,
        at TEXT NOT NULL
    );
    CREATE INDEX IF NOT EXISTS corrections_doc ON corrections(document_id);
    """

    def correct_field(
        self,
        doc_id: str,
        name: str,
        value: str,
        user: str,
        *,
        valid: bool = True,
        reason: str | None = None,
    ) -> str | None:
        """Set a field to a value typed by `user`: the document, its fields and its
        search text are rewritten in one transaction, and the old value is kept in the
        corrections table with who and when. Returns the old value."""
        from pipeline.errors import NotFoundError

        self.conn.executescript(self._CORRECTIONS)
        with self.transaction() as conn:
            row = conn.execute(
                "SELECT body FROM document_bodies WHERE id = ?", (doc_id,)
            ).fetchone()
            if row is None:
                raise NotFoundError(f"No document with id {doc_id!r}.")
            doc = load_document(row[0])
            old = apply_correction(doc, name, value, valid=valid, reason=reason)
            self._delete(conn, doc_id)
            self._insert_many(conn, [doc])
            conn.execute(
                "INSERT INTO corrections (document_id, name, old_value, new_value, user, at)"
                " VALUES (?,?,?,?,?,?)",
                (doc_id, name, old, value, user, _now()),
            )
        return old

    def corrections(self, doc_id: str) -> list[dict[str, Any]]:
        """The corrections of a document, oldest first."""
        try:
            rows = self.conn.execute(
                "SELECT seq, name, old_value, new_value, user, at FROM corrections"
                " WHERE document_id = ? ORDER BY seq",
                (doc_id,),
            ).fetchall()
        except sqlite3.OperationalError:  # no correction was ever made in this catalog
            return []
        keys = ("seq", "name", "old_value", "new_value", "user", "at")
        return [dict(zip(keys, row, strict=True)) for row in rows]
