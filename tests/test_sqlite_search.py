"""SQLite search over its narrow search rows: totals, facets and newest-first order
checked against a plain Python reading of the same invented documents, on both page
strategies (sorting the matches, walking the newest-first index); and a schema 1 catalog
gains its search rows when opened."""

from __future__ import annotations

import sqlite3
from collections import Counter
from pathlib import Path

import pytest

import indexer.sqlite as sqlite_backend
from bench.index_bench import documents
from indexer.base import SearchQuery
from indexer.highlight import query_terms
from indexer.sqlite import SqliteIndex
from pipeline.model import Document
from pipeline.textnorm import fold

DOCS = list(documents(300))


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> SqliteIndex:
    index = SqliteIndex(tmp_path_factory.mktemp("catalog") / "catalog.sqlite")
    for start in range(0, len(DOCS), 70):  # several transactions, codes reused across them
        index.put_documents(DOCS[start : start + 70])
    return index


def _matches(doc: Document, query: SearchQuery) -> bool:
    words = set(query_terms(" ".join([doc.text, *(f.value or "" for f in doc.fields)])))
    if not set(query_terms(query.text)) <= words:
        return False
    if query.doc_type and doc.doc_type != query.doc_type:
        return False
    if query.date_from and not (doc.main_date and doc.main_date >= query.date_from):
        return False
    return not query.office or fold(query.office) in fold(doc.office or "")


def _expected(query: SearchQuery) -> tuple[int, list[str], dict[str, dict[str, int]]]:
    found = [d for d in DOCS if _matches(d, query)]
    newest = sorted(found, key=lambda d: d.id)
    newest.sort(key=lambda d: d.created_at or "", reverse=True)
    facets = {}
    for kind, key in (
        ("doc_type", lambda d: d.doc_type),
        ("office", lambda d: d.office),
        ("year", lambda d: d.main_date[:4] if d.main_date else None),
    ):
        counts = Counter(key(d) for d in found if key(d) is not None)
        top = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:20]
        facets[kind] = dict(top)
    ids = [d.id for d in newest[query.offset : query.offset + query.limit]]
    return len(found), ids, facets


QUERIES = [
    SearchQuery(text="giay khai sinh"),
    SearchQuery(text="cam doan", doc_type="decision", limit=7, offset=3),
    SearchQuery(text="nguyen", date_from="2015-01-01"),
    SearchQuery(doc_type="cccd", date_from="2012-01-01"),
    SearchQuery(office="dich vong"),
    SearchQuery(text="ubnd", office="ben thanh", limit=20),
    SearchQuery(),
    SearchQuery(offset=290),
]


@pytest.mark.parametrize("query", QUERIES, ids=lambda q: repr(q)[12:70])
def test_unranked_results_are_the_plain_reading(
    catalog: SqliteIndex, query: SearchQuery, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GIVEN 300 invented documents and a rank limit below every text query's matches
    WHEN searching (filters alone, text and filters, paging)
    THEN total, page order (newest first, ties by id) and facets are what a plain
    reading of the documents gives."""
    monkeypatch.setattr(sqlite_backend, "RANK_LIMIT", 5)
    total, ids, facets = _expected(query)
    result = catalog.search(query)
    assert result.total == total
    assert [h.id for h in result.hits] == ids
    assert result.facets == facets
    assert all(h.score == 0.0 for h in result.hits)


def test_writes_by_this_and_other_connections_are_searched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GIVEN a searcher whose per-row arrays are built
    WHEN documents are added by the same index and by another connection (a batch
    process while the web server searches), and one is replaced without an office
    THEN the next searches count them, facet them and page them."""
    monkeypatch.setattr(sqlite_backend, "RANK_LIMIT", 5)  # pages newest first
    path = tmp_path / "catalog.sqlite"
    reader, writer = SqliteIndex(path), SqliteIndex(path)
    try:
        reader.put_documents(DOCS[:40])
        assert reader.search(SearchQuery()).total == 40
        writer.put_documents(DOCS[40:90])
        result = reader.search(SearchQuery(text="ubnd", limit=5))
        assert result.total == 90
        assert [h.id for h in result.hits] == _expected_ids(DOCS[:90], 5)
        moved = documents(1).__next__()
        moved.fields = [f for f in moved.fields if f.name not in ("registration_office", "issuer")]
        writer.put_documents([moved])
        facets = reader.search(SearchQuery(dossier=moved.dossier_id)).facets  # 5 documents
        assert sum(facets["office"].values()) == 4
        assert sum(facets["doc_type"].values()) == 5
        assert reader.search(SearchQuery()).total == 90
    finally:
        reader.close()
        writer.close()


def _expected_ids(docs: list[Document], limit: int) -> list[str]:
    ordered = sorted(docs, key=lambda d: d.id)
    ordered.sort(key=lambda d: d.created_at or "", reverse=True)
    return [d.id for d in ordered[:limit]]


def test_ranked_hits_carry_fields_and_highlights(catalog: SqliteIndex) -> None:
    """GIVEN a name query with few matches (ranked by bm25)
    THEN every hit has its valid field values and the name marked in its highlight."""
    doc = DOCS[17]
    name = doc.field_value("full_name")
    result = catalog.search(SearchQuery(text=name))
    assert doc.id in [h.id for h in result.hits]
    hit = next(h for h in result.hits if h.id == doc.id)
    assert hit.fields["full_name"] == name
    assert "<em>" in hit.highlight and hit.score > 0
    scores = [h.score for h in result.hits]
    assert scores == sorted(scores, reverse=True)


def test_schema_1_catalog_gains_search_rows(tmp_path: Path) -> None:
    """GIVEN a catalog written before the search rows existed (schema 1)
    WHEN it is opened
    THEN its search rows and facet codes are filled and searches answer as before."""
    path = tmp_path / "catalog.sqlite"
    index = SqliteIndex(path)
    index.put_documents(DOCS[:80])
    queries = [SearchQuery(text="giay khai sinh"), SearchQuery(office="nghi phu"), SearchQuery()]
    before = [index.search(q) for q in queries]
    index.close()
    conn = sqlite3.connect(path)
    conn.executescript("DROP TABLE search_rows; DROP TABLE facet_values; PRAGMA user_version = 1;")
    conn.close()
    index = SqliteIndex(path)
    try:
        assert [index.search(q) for q in queries] == before
        assert index.conn.execute("PRAGMA user_version").fetchone()[0] == 2
    finally:
        index.close()


def test_replaced_document_leaves_no_stale_search_row(tmp_path: Path) -> None:
    """GIVEN a stored document WHEN it is stored again with another type
    THEN it is counted once, under its new type."""
    index = SqliteIndex(tmp_path / "catalog.sqlite")
    try:
        doc = DOCS[0]
        index.put_documents([doc])
        doc2 = documents(1).__next__()
        doc2.doc_type = "decision"
        index.put_documents([doc2, doc2])  # the same id twice in one batch: the last wins
        result = index.search(SearchQuery())
        assert result.total == 1
        assert result.facets["doc_type"] == {"decision": 1}
    finally:
        index.close()


def _indexes(index: SqliteIndex) -> set[str]:
    rows = index.conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")
    return {name for (name,) in rows}


def test_bulk_mode_rebuilds_lookup_indexes_with_the_same_answers(
    catalog: SqliteIndex, tmp_path: Path
) -> None:
    """GIVEN documents loaded in bulk mode, one batch failing half way WHEN it ends THEN the
    look-up indexes are back (dropped while loading), and every query answers as on the
    catalog loaded outside bulk mode (ranked or not); a process dying in bulk mode leaves a catalog
    whose next open builds them again."""
    index = SqliteIndex(tmp_path / "bulk.sqlite")
    every = _indexes(index)
    with pytest.raises(RuntimeError), index.bulk_mode():
        assert not _indexes(index) & set(sqlite_backend.LOOKUP_INDEXES)
        index.put_documents(DOCS[:200])
        index.put_documents(DOCS[200:])
        raise RuntimeError("the source went away")
    assert _indexes(index) == every
    assert index.find_by_sha256(DOCS[7].source.sha256) == [DOCS[7].id]
    for query in [*QUERIES, SearchQuery(citizen_id=DOCS[3].person_id)]:
        assert index.search(query) == catalog.search(query)

    dying = SqliteIndex(tmp_path / "dying.sqlite")
    with dying.bulk_mode():
        dying.put_documents(DOCS[:10])
        # The process dies here: what the catalog file holds, seen by another connection.
        left = sqlite3.connect(tmp_path / "dying.sqlite")
        assert not {n for (n,) in left.execute("SELECT name FROM sqlite_master")} & set(
            sqlite_backend.LOOKUP_INDEXES
        )
        left.close()
        reopened = SqliteIndex(tmp_path / "dying.sqlite")
        assert _indexes(reopened) == every
        reopened.close()
    dying.close()
    index.close()
