"""The Elasticsearch backend against a real Elasticsearch server (tests/es_server.sh).

Skipped only when DOSSIER_ES_URL is unset; when it is set, an unreachable server fails
the session. The same documents go into the SQLite backend too, and both must answer
the same. Every person here is invented.
"""

from __future__ import annotations

import os
import socket
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from elasticsearch import Elasticsearch

from indexer.base import SearchQuery
from indexer.elasticsearch import ElasticsearchIndex, split_credentials
from indexer.es_mappings import versioned
from indexer.sqlite import SqliteIndex
from pipeline.errors import BackendError, BackendUnavailableError, ExitCode
from pipeline.model import (
    Document,
    Field,
    Page,
    ReuseDecision,
    SourceFile,
    StageTiming,
    Word,
)

pytestmark = pytest.mark.elasticsearch

REPO = Path(__file__).resolve().parent.parent
TEST_PASSWORD = os.environ.get("DOSSIER_ES_TEST_PASSWORD", "dossier-test-secret")


# -- servers ------------------------------------------------------------------------


def _reachable(url: str, **auth: object) -> str | None:
    """None when the cluster answers _cluster/health, else why not."""
    client = Elasticsearch(url, request_timeout=5, max_retries=0, **auth)  # type: ignore[arg-type]
    try:
        client.cluster.health()
        return None
    except Exception as exc:  # any failure is reported to the user as is
        return f"{type(exc).__name__}: {exc}"
    finally:
        client.close()


@pytest.fixture(scope="session")
def es_url() -> str:
    """The main test server (security off). Skips only when DOSSIER_ES_URL is unset."""
    url = os.environ.get("DOSSIER_ES_URL")
    if not url:
        pytest.skip("DOSSIER_ES_URL is not set (make es-start, then export it)")
    problem = _reachable(url)
    if problem:
        pytest.fail(f"DOSSIER_ES_URL={url} is set but Elasticsearch does not answer: {problem}")
    return url


SECURE_CA = os.environ.get("DOSSIER_ES_SECURE_CA_FILE", str(REPO / ".es/secure-ca.crt"))


@pytest.fixture(scope="session")
def es_secure_url(es_url: str) -> Iterator[str]:
    """The second server, security and TLS on (its CA: SECURE_CA). Started here
    (tests/es_server.sh start secure) unless DOSSIER_ES_SECURE_URL names a running one;
    stopped again if started here."""
    url = os.environ.get("DOSSIER_ES_SECURE_URL")
    auth = {"basic_auth": ("elastic", TEST_PASSWORD), "ca_certs": SECURE_CA}
    started = False
    if not url:
        port = os.environ.get("DOSSIER_ES_SECURE_PORT", "9201")
        url = f"https://127.0.0.1:{port}"
        if not Path(SECURE_CA).is_file() or _reachable(url, **auth):
            subprocess.run([str(REPO / "tests/es_server.sh"), "start", "secure"], check=True)
            started = True
    problem = _reachable(url, **auth)
    if problem:
        pytest.fail(f"the secured Elasticsearch at {url} does not answer: {problem}")
    yield url
    if started:
        subprocess.run([str(REPO / "tests/es_server.sh"), "stop", "secure"], check=False)


def _prefix() -> str:
    return f"dossier-test-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def es(es_url: str) -> Iterator[ElasticsearchIndex]:
    index = ElasticsearchIndex(es_url, prefix=_prefix())
    yield index
    index.drop()
    index.close()


@pytest.fixture
def sqlite(tmp_path: Path) -> Iterator[SqliteIndex]:
    index = SqliteIndex(tmp_path / "catalog.sqlite")
    yield index
    index.close()


# -- invented documents ---------------------------------------------------------------


def _page(index: int, lines: list[str], phash: int | None) -> Page:
    words = [
        Word(text, (40 * i, 50 * line_id, 40 * i + 35, 50 * line_id + 30), 91.0, line_id)
        for line_id, line in enumerate(lines)
        for i, text in enumerate(line.split())
    ]
    return Page(index, 1654, 2339, 200, "ocr", words, phash=phash)


def _field(name: str, value: str, page: int = 0, valid: bool = True) -> Field:
    return Field(name, value, value, 90.0, page, (10, 10, 200, 40), "test", "1", valid)


def make_document(
    n: int,
    doc_type: str,
    pages: list[list[str]],
    fields: dict[str, str],
    *,
    phashes: list[int | None] | None = None,
    dossier: str | None = None,
    created_at: str | None = None,
) -> Document:
    sha = f"{n:02d}" + "ab" * 31
    source = SourceFile(f"/scans/{doc_type}-{n}.png", 1000 + n, "image/png", sha)
    phashes = phashes or [None] * len(pages)
    doc = Document(
        id=sha[:16],
        source=source,
        first_page=0,
        last_page=len(pages) - 1,
        doc_type=doc_type,
        doc_type_score=0.9,
        pages=[_page(i, lines, phashes[i]) for i, lines in enumerate(pages)],
        fields=[_field(k, v) for k, v in fields.items()],
        dossier_id=dossier,
        created_at=created_at or f"2026-01-{n:02d}T08:00:00+00:00",
    )
    doc.timings = [
        StageTiming(doc.id, "read", 1.5, "w1", 0),
        StageTiming(doc.id, "extract", 0.25, "w1"),
        StageTiming(doc.id, "store", 0.05, "w1"),
    ]
    return doc


PHASH_A = 0x9F3A_55C2_0E71_B4D8
PHASH_FAR = 0x1234_5678_9ABC_DEF0


def corpus() -> list[Document]:
    return [
        make_document(
            1,
            "birth_certificate",
            [["GIẤY KHAI SINH", "Họ, chữ đệm, tên: NGUYỄN VĂN AN", "Nơi sinh: Hà Nội"]],
            {
                "full_name": "NGUYỄN VĂN AN",
                "id_number": "001219004321",
                "registration_office": "UBND phường Dịch Vọng, quận Cầu Giấy",
                "registration_date": "2019-03-10",
            },
            phashes=[PHASH_A],
            dossier="HS-2026-0001",
        ),
        make_document(
            2,
            "cccd",
            [["CĂN CƯỚC CÔNG DÂN", "Họ và tên: TRẦN THỊ BÌNH", "Quê quán: Nghệ An"]],
            {
                "full_name": "TRẦN THỊ BÌNH",
                "id_number": "040190001234",
                "issue_date": "2021-06-15",
                "issuer": "Cục Cảnh sát quản lý hành chính về trật tự xã hội",
            },
            phashes=[PHASH_FAR],
            dossier="HS-2026-0001",
        ),
        make_document(
            3,
            "marriage_certificate",
            [
                ["GIẤY CHỨNG NHẬN KẾT HÔN", "Họ, chữ đệm, tên: LÊ VĂN CƯỜNG"],
                ["Vợ: PHẠM THỊ DUNG", "Nơi đăng ký: UBND xã Nghi Phú"],
            ],
            {
                "husband_name": "LÊ VĂN CƯỜNG",
                "wife_name": "PHẠM THỊ DUNG",
                "husband_id_number": "040088002345",
                "wife_id_number": "040190001234",
                "registration_office": "UBND xã Nghi Phú",
                "registration_date": "2015-11-20",
            },
            phashes=[0x0F0F_0F0F_0F0F_0F0F, 0xF0F0_F0F0_F0F0_F0F0],
        ),
        make_document(
            4,
            "decision",
            [["QUYẾT ĐỊNH", "Về việc cấp giấy phép xây dựng cho ông Nguyễn Văn An"]],
            {
                "doc_number": "1234/QĐ-UBND",
                "issuer": "UBND phường Dịch Vọng, quận Cầu Giấy",
                "issue_date": "2023-07-27",
                "signer": "HOÀNG MINH ĐỨC",
            },
            dossier="HS-2026-0002",
        ),
        make_document(
            5,
            "unknown",
            [["Một trang viết tay không rõ loại giấy tờ", "đơn xin nghỉ phép"]],
            {},
        ),
        rescan_of_first(),
    ]


def rescan_of_first() -> Document:
    """A re-scan of the first document (near reuse): stored, but one paper is one hit."""
    doc = make_document(
        6,
        "birth_certificate",
        [["GIẤY KHAI SINH", "Họ, chữ đệm, tên: NGUYỄN VĂN AN", "Nơi sinh: Hà Nội"]],
        {"full_name": "NGUYỄN VĂN AN", "id_number": "001219004321"},
        phashes=[PHASH_A ^ (1 << 63)],
    )
    doc.status = "reused"
    doc.reuse = ReuseDecision("near", of=f"{1:02d}" + "ab" * 7, evidence={"distance": 1})
    return doc


# -- connection, errors -----------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_url_is_backend_unavailable() -> None:
    """GIVEN no server on a port WHEN the backend opens THEN BackendUnavailableError
    with the URL and what to do, exit code 5."""
    url = f"http://127.0.0.1:{_free_port()}"
    with pytest.raises(BackendUnavailableError) as caught:
        ElasticsearchIndex(url, prefix=_prefix(), max_retries=0)
    assert url in str(caught.value)
    assert "make es-start" in str(caught.value)
    assert caught.value.exit_code == ExitCode.backend_unavailable


def test_credentials_in_url_never_shown() -> None:
    clean, user, password = split_credentials("https://elastic:s3cr%21t@es.example:9243/x")
    assert clean == "https://es.example:9243/x"
    assert user == "elastic"
    assert password == "s3cr!t"
    with pytest.raises(BackendUnavailableError) as caught:
        ElasticsearchIndex(f"http://elastic:hunter22@127.0.0.1:{_free_port()}", max_retries=0)
    assert "hunter22" not in str(caught.value)
    assert "hunter22" not in repr(caught.value.__cause__)


def test_missing_ca_file_is_clear(es_url: str, tmp_path: Path) -> None:
    with pytest.raises(BackendError, match="CA file"):
        ElasticsearchIndex(es_url, prefix=_prefix(), ca_file=str(tmp_path / "nope.pem"))


def test_mapping_version_mismatch_asks_for_reindex(es_url: str) -> None:
    """GIVEN an index written by an older mapping version WHEN the backend opens THEN a
    BackendError tells the user to run dossier reindex, and nothing is written."""
    prefix = _prefix()
    client = Elasticsearch(es_url)
    old = versioned("documents")
    old["_meta"] = {**old["_meta"], "mapping_version": 0}
    client.indices.create(index=f"{prefix}-documents", mappings=old)
    try:
        with pytest.raises(BackendError, match="dossier reindex") as caught:
            ElasticsearchIndex(es_url, prefix=prefix)
        assert caught.value.exit_code == ExitCode.backend_error
        assert client.count(index=f"{prefix}-documents")["count"] == 0
        assert set(client.indices.get(index=f"{prefix}-*")) == {f"{prefix}-documents"}
    finally:
        client.indices.delete(index=f"{prefix}-*")
        client.close()


@pytest.mark.slow
def test_red_index_is_a_clear_error(es_url: str) -> None:
    """GIVEN a dossier index whose primary shard cannot be allocated (red) WHEN the
    backend opens THEN a BackendError says the cluster is red."""
    prefix = _prefix()
    client = Elasticsearch(es_url)
    client.indices.create(
        index=f"{prefix}-documents",
        mappings=versioned("documents"),
        settings={
            "number_of_shards": 1,
            "number_of_replicas": 0,
            "index.routing.allocation.require._name": "no-such-node",
        },
        wait_for_active_shards="0",
    )
    try:
        with pytest.raises(BackendError, match="is red") as caught:
            ElasticsearchIndex(es_url, prefix=prefix, health_timeout="2s")
        assert caught.value.exit_code == ExitCode.backend_error
    finally:
        client.indices.delete(index=f"{prefix}-*")
        client.close()


# -- security ---------------------------------------------------------------------------


@pytest.mark.slow
def test_security_right_password_works_wrong_one_is_clear(es_secure_url: str) -> None:
    """GIVEN a cluster with security on WHEN the right password is used THEN documents
    are written and found; WHEN a wrong one is used THEN a clear error without it."""
    prefix = _prefix()
    index = ElasticsearchIndex(
        es_secure_url, prefix=prefix, username="elastic", password=TEST_PASSWORD, ca_file=SECURE_CA
    )
    try:
        index.put_document(corpus()[0])
        assert index.search(SearchQuery(text="nguyen van an")).total == 1
    finally:
        index.drop()
        index.close()

    wrong = "not-the-password-42"
    with pytest.raises(BackendError) as caught:
        ElasticsearchIndex(
            es_secure_url, prefix=prefix, username="elastic", password=wrong, ca_file=SECURE_CA
        )
    message = str(caught.value)
    assert "rejected the credentials" in message
    assert "DOSSIER_ES_PASSWORD" in message
    assert wrong not in message
    assert caught.value.__cause__ is None or wrong not in str(caught.value.__cause__)

    with pytest.raises(BackendError, match="rejected the credentials"):
        ElasticsearchIndex(es_secure_url, prefix=prefix, ca_file=SECURE_CA)  # no credentials


@pytest.mark.slow
def test_security_read_only_user_cannot_write(es_secure_url: str) -> None:
    """GIVEN a user allowed only to read dossier-* (file realm, tests/es_server.sh) WHEN
    it searches THEN it works; WHEN it writes or creates indices THEN a clear 403 error.

    (API keys need the .security index, which the test distribution cannot create; the
    client sends them the same way as a password, as an Authorization header.)"""
    prefix = _prefix()
    admin = ElasticsearchIndex(
        es_secure_url, prefix=prefix, username="elastic", password=TEST_PASSWORD, ca_file=SECURE_CA
    )
    try:
        admin.put_document(corpus()[1])
        reader = ElasticsearchIndex(
            es_secure_url,
            prefix=prefix,
            username="dossier_reader",
            password=TEST_PASSWORD,
            ca_file=SECURE_CA,
        )
        try:
            assert reader.search(SearchQuery(text="binh")).total == 1
            with pytest.raises(BackendError, match="does not allow this user") as caught:
                reader.put_document(corpus()[0])
            assert "privileges" in str(caught.value)
            assert TEST_PASSWORD not in str(caught.value)
        finally:
            reader.close()
        with pytest.raises(BackendError, match="does not allow this user"):
            ElasticsearchIndex(
                es_secure_url,
                prefix=_prefix(),
                username="dossier_reader",
                password=TEST_PASSWORD,
                ca_file=SECURE_CA,
            )
    finally:
        admin.drop()
        admin.close()


@pytest.mark.slow
def test_tls_is_verified_against_the_ca_file(es_secure_url: str) -> None:
    """GIVEN a server whose certificate comes from a private CA WHEN the CA file is not
    given, or is another CA THEN the connection is refused as unverified, with a hint
    naming DOSSIER_ES_CA_FILE and without the password."""
    public_cas = "/etc/ssl/certs/ca-certificates.crt"  # valid CAs, none of them ours
    for ca_file in (None, public_cas):
        with pytest.raises(BackendUnavailableError, match="TLS") as caught:
            ElasticsearchIndex(
                es_secure_url,
                prefix=_prefix(),
                username="elastic",
                password=TEST_PASSWORD,
                ca_file=ca_file,
                max_retries=0,
            )
        assert "DOSSIER_ES_CA_FILE" in str(caught.value)
        assert TEST_PASSWORD not in str(caught.value)


# -- writes and reads -------------------------------------------------------------------


def test_put_get_roundtrip_and_idempotent(es: ElasticsearchIndex) -> None:
    """GIVEN documents written twice (a rerun) THEN each is stored once and reads back
    equal to what was written."""
    docs = corpus()
    assert es.put_documents(docs) == len(docs)
    assert es.put_documents(corpus()) == len(docs)
    assert es.count_documents() == len(docs)
    for doc in docs:
        assert es.get_document(doc.id) == doc
    assert es.get_document(docs[2].id[:10]) == docs[2]  # an unambiguous prefix
    assert es.get_document("ffff") is None
    assert es.find_by_sha256(docs[0].source.sha256) == [docs[0].id]
    assert es.find_by_sha256("0" * 64) == []
    assert [d.id for d in es.iter_documents(page_size=2)] == [d.id for d in docs]


def test_replacing_a_document_drops_its_extra_pages(es: ElasticsearchIndex) -> None:
    doc = corpus()[2]
    es.put_document(doc)
    assert es.stats()["pages"] == 2
    doc.pages = doc.pages[:1]
    doc.last_page = 0
    es.put_document(doc)
    assert es.stats()["pages"] == 1
    assert es.find_pages_by_phash(0xF0F0_F0F0_F0F0_F0F0, 7) == []


def test_document_stored_again_under_another_dossier_stays_in_both(
    es: ElasticsearchIndex, sqlite: SqliteIndex
) -> None:
    """GIVEN a document stored in one dossier WHEN it is written again under another
    (its own dossier is implied by its dossier_id) THEN it is in both, oldest first, as
    in SQLite; written again under the same one, nothing changes."""
    for index in (es, sqlite):
        doc = corpus()[0]
        index.put_document(doc)
        doc.dossier_id, doc.created_at = "HS-2026-0009", "2026-03-01T08:00:00+00:00"
        index.put_document(doc)
        index.put_document(doc)
    for index in (es, sqlite):
        assert index.dossiers_of(doc.id) == ["HS-2026-0001", "HS-2026-0009"]
        assert index.dossier_has("HS-2026-0001", doc.id)
        assert index.dossier_has("HS-2026-0009", doc.id)
        assert not index.dossier_has("HS-2026-0002", doc.id)
    assert es.dossiers_of("ffffffffffffffff") == []


def test_strict_mapping_rejects_unknown_fields(es: ElasticsearchIndex) -> None:
    from elasticsearch import BadRequestError

    with pytest.raises(BadRequestError, match="strict_dynamic_mapping"):
        es.client.index(index=es.names["documents"], document={"surprise": 1})


def test_failures_record_and_clear(es: ElasticsearchIndex, sqlite: SqliteIndex) -> None:
    for index in (es, sqlite):
        index.record_failure("/scans/bad.pdf", "ee" * 32, "encrypted PDF")
        index.record_failure("/scans/bad.pdf", "ee" * 32, "encrypted PDF")
        index.record_failure("/scans/worse.png", None, "not an image")
    assert [(f["path"], f["reason"]) for f in es.failures()] == [
        (f["path"], f["reason"]) for f in sqlite.failures()
    ]
    es.clear_failure("/scans/bad.pdf")
    assert [f["path"] for f in es.failures()] == ["/scans/worse.png"]


# -- search, parity with SQLite ---------------------------------------------------------


QUERIES = [
    SearchQuery(text="nguyen van an"),
    SearchQuery(text="NGUYỄN VĂN AN"),
    SearchQuery(text="Nguyễn"),
    SearchQuery(text="giay khai sinh"),
    SearchQuery(text="nghe an"),
    SearchQuery(text="1234"),
    SearchQuery(text="không có từ này"),
    SearchQuery(text="!!!"),
    SearchQuery(),
    SearchQuery(doc_type="cccd"),
    SearchQuery(citizen_id="040190001234"),
    SearchQuery(fields={"registration_office": "UBND xã Nghi Phú"}),
    SearchQuery(date_from="2019-01-01", date_to="2022-12-31"),
    SearchQuery(date_from="2020-01-01"),
    SearchQuery(office="dich vong"),
    SearchQuery(office="Dịch Vọng", text="nguyen"),
    SearchQuery(dossier="HS-2026-0001"),
    SearchQuery(text="thi", limit=1, offset=1),
]


@pytest.mark.parametrize("query", QUERIES, ids=lambda q: repr(q)[12:60])
def test_search_same_answers_as_sqlite(
    query: SearchQuery, es: ElasticsearchIndex, sqlite: SqliteIndex
) -> None:
    """GIVEN the same documents in both backends WHEN the same query runs THEN the
    totals, the hit sets, the fields, the highlights and the facets are the same."""
    es.put_documents(corpus())
    sqlite.put_documents(corpus())
    got, want = es.search(query), sqlite.search(query)
    assert got.total == want.total
    if query.limit >= want.total:  # a full page: the same set (ties may order apart)
        assert {h.id for h in got.hits} == {h.id for h in want.hits}
    assert len(got.hits) == len(want.hits)
    by_id = {h.id: h for h in want.hits}
    for hit in got.hits:
        if hit.id in by_id:
            assert hit.highlight == by_id[hit.id].highlight
            assert hit.fields == by_id[hit.id].fields
            assert hit.doc_type == by_id[hit.id].doc_type
            assert hit.source == by_id[hit.id].source
    assert got.facets == want.facets


def test_search_folds_diacritics_and_highlights(es: ElasticsearchIndex) -> None:
    es.put_documents(corpus())
    result = es.search(SearchQuery(text="nguyen van an"))
    assert {h.id for h in result.hits} == {corpus()[0].id, corpus()[3].id}
    birth = next(h for h in result.hits if h.doc_type == "birth_certificate")
    assert "<em>NGUYỄN</em> <em>VĂN</em> <em>AN</em>" in birth.highlight
    assert birth.fields["id_number"] == "001219004321"
    assert result.facets["doc_type"] == {"birth_certificate": 1, "decision": 1}
    assert result.facets["year"] == {"2019": 1, "2023": 1}
    # The exact spelling ranks the document written with those diacritics first.
    exact = es.search(SearchQuery(text="Nguyễn Văn An"))
    assert exact.total == 2


def test_near_duplicate_pages_same_as_sqlite(es: ElasticsearchIndex, sqlite: SqliteIndex) -> None:
    """GIVEN stored page hashes WHEN a hash within 7 bits is looked up THEN the page is
    a candidate with its distance; a far hash finds nothing; both backends agree."""
    es.put_documents(corpus())
    sqlite.put_documents(corpus())
    near = PHASH_A ^ 0b1010_0000_0000_0001_0000_0000_0100_0000_0000_0001  # 5 bits flipped
    for max_distance in (4, 7):
        assert es.find_pages_by_phash(near, max_distance) == sqlite.find_pages_by_phash(
            near, max_distance
        )
    found = es.find_pages_by_phash(near, 7)
    assert [(m.document_id, m.page_index, m.distance) for m in found] == [
        (corpus()[0].id, 0, 5),
        (corpus()[5].id, 0, 6),  # the re-scan, its top bit flipped (signed storage)
    ]
    assert found[0].phash == PHASH_A
    assert es.find_pages_by_phash(~PHASH_A & (2**64 - 1), 7) == []
    # A hash with its top bit set survives the signed 64-bit storage.
    top = es.find_pages_by_phash(0xF0F0_F0F0_F0F0_F0F0, 0)
    assert [(m.document_id, m.page_index, m.phash) for m in top] == [
        (corpus()[2].id, 1, 0xF0F0_F0F0_F0F0_F0F0)
    ]


def test_stats_same_as_sqlite(es: ElasticsearchIndex, sqlite: SqliteIndex) -> None:
    es.put_documents(corpus())
    sqlite.put_documents(corpus())
    es.record_failure("/scans/bad.pdf", None, "corrupt")
    sqlite.record_failure("/scans/bad.pdf", None, "corrupt")
    assert es.stats() == sqlite.stats()


def test_stats_of_any_stage_name_same_as_sqlite(
    es: ElasticsearchIndex, sqlite: SqliteIndex
) -> None:
    """GIVEN stages whose names are no plain field name (a dot, capitals, diacritics) and
    a stage timed twice in one document
    THEN the per-stage counts and seconds (flat fields, not nested objects) are SQLite's."""
    docs = corpus()
    for doc in docs:
        doc.timings += [
            StageTiming(doc.id, "ocr.vie", 0.125, "w2", 0),
            StageTiming(doc.id, "Đọc", 0.5),
            StageTiming(doc.id, "read", 0.75, "w2", 1),
        ]
    es.put_documents(docs)
    sqlite.put_documents(docs)
    stages = es.stats()["stages"]
    assert stages == sqlite.stats()["stages"]
    assert stages["read"]["count"] == 2 * len(docs) and "ocr.vie" in stages and "Đọc" in stages


def test_stage_keys_are_field_names_that_read_back() -> None:
    from indexer.elasticsearch import stage_key, stage_name

    for stage in ["read", "near_check", "ocr.vie", "Đọc", "x-1", "", " "]:
        key = stage_key(stage)
        assert stage_name(key) == stage
        assert key and "." not in key


def test_indexed_body_is_the_documents_json() -> None:
    """The fast converter (pipeline.model.plain, used for every stored body) gives exactly
    the JSON of dataclasses.asdict, the reference (no server needed)."""
    import json
    from dataclasses import asdict

    from pipeline.model import plain

    for doc in corpus():
        assert json.dumps(plain(doc), sort_keys=True) == json.dumps(asdict(doc), sort_keys=True)


def _catalog_story(index: Any) -> dict[str, Any]:
    """Dossiers, reuse decisions, identity look-ups, reports and a correction, told to
    one backend; returns everything it can be asked afterwards."""
    docs = corpus()
    index.put_dossier("HS-2026-0001", "birth_registration", "001219004321")
    index.put_dossier("HS-2026-0001", "something_else", None)  # the first one stays
    index.put_dossier("HS-2026-0003", "land_transfer", "040190001234")
    identity = {
        "document_id": docs[1].id,
        "kind": "identity",
        "of": docs[1].id,
        "dossier_id": "HS-2026-0001",
        "procedure": "birth_registration",
        "evidence": {"fields": ["id_number", "doc_type"], "score": 0.97},
        "seconds": 0.42,
        "baseline_seconds": 12.5,
        "at": "2026-02-01T09:00:00+00:00",
    }
    index.put_documents(docs, [identity])
    exact = {
        **identity,
        "kind": "exact",
        "dossier_id": "HS-2026-0003",
        "procedure": "land_transfer",
        "evidence": {"sha256": docs[1].source.sha256},
        "at": "2026-02-02T09:00:00+00:00",
    }
    index.link_reuse(exact, ("HS-2026-0003", docs[1].id))
    old = index.correct_field(docs[3].id, "signer", "HOÀNG MINH ĐẠT", "clerk01")
    return {
        "identity": [d.id for d in index.find_by_identity("cccd", "040190001234", None)],
        "identity_numbered": [
            d.id for d in index.find_by_identity("decision", "040190001234", "1234/QĐ-UBND")
        ],
        "person": [d.id for d in index.documents_of_person("040190001234")],
        "person_unknown": index.documents_of_person("999999999999"),
        "seconds": [index.processing_seconds(d.id) for d in docs],
        "seconds_missing": index.processing_seconds("ffffffffffffffff"),
        "has": [
            index.dossier_has("HS-2026-0001", docs[0].id),
            index.dossier_has("HS-2026-0003", docs[1].id),
            index.dossier_has("HS-2026-0003", docs[0].id),
        ],
        "dossiers_of": index.dossiers_of(docs[1].id),
        "log": [e.__dict__ for e in index.reuse_log()],
        "log_since": [e.seq for e in index.reuse_log(since="2026-02-02")],
        "log_of_document": [e.seq for e in index.reuse_log(document=docs[1].id)],
        "log_of_unrelated": [e.seq for e in index.reuse_log(document=docs[2].id)],
        "log_of_since": [e.seq for e in index.reuse_log("2026-02-02", document=docs[1].id)],
        "head": index.reuse_log_head(),
        "processed": index.processed_documents(),
        "processed_until": [r["id"] for r in index.processed_documents(until="2026-01-03")],
        "has_pages": index.has_pages(),
        "old": old,
        "corrected": index.get_document(docs[3].id).field_value("signer"),
        "found_after_correction": [h.id for h in index.search(SearchQuery(text="minh dat")).hits],
        "corrections": [
            {k: v for k, v in c.items() if k != "at"} for c in index.corrections(docs[3].id)
        ],
        "stats": index.stats(),
    }


def test_catalog_story_same_as_sqlite(es: ElasticsearchIndex, sqlite: SqliteIndex) -> None:
    """GIVEN the same dossiers, documents, reuse decisions and correction in both backends
    THEN every look-up the pipeline, the reports and the web layer make answers the same,
    and the reuse log is the same hash chain."""
    from indexer.base import GENESIS_HASH, reuse_entry_hash

    assert es.reuse_log_head() is None and not es.has_pages()
    got, want = _catalog_story(es), _catalog_story(sqlite)
    for key in want:
        assert got[key] == want[key], key
    assert got["identity"] == [corpus()[1].id]
    assert got["person"] and got["dossiers_of"] == ["HS-2026-0001", "HS-2026-0003"]
    log = es.reuse_log()
    assert [e.seq for e in log] == [1, 2]
    assert got["log_of_document"] == [1, 2] and got["log_of_unrelated"] == []
    assert got["log_of_since"] == [2]
    assert log[0].prev_hash == GENESIS_HASH and log[1].prev_hash == log[0].entry_hash
    assert all(reuse_entry_hash(e) == e.entry_hash for e in log)


# -- the server stops in the middle of an ingest -----------------------------------------


@pytest.fixture
def es_chaos_url(es_url: str) -> Iterator[str]:
    """A third server of its own (tests/es_server.sh chaos), which the test may stop."""
    port = os.environ.get("DOSSIER_ES_CHAOS_PORT", "9202")
    subprocess.run([str(REPO / "tests/es_server.sh"), "start", "chaos"], check=True)
    yield f"http://127.0.0.1:{port}"
    subprocess.run([str(REPO / "tests/es_server.sh"), "stop", "chaos"], check=False)


@pytest.mark.slow
def test_server_stopped_mid_ingest_loses_nothing(es_chaos_url: str) -> None:
    """GIVEN a bulk ingest of 1,500 documents (groups of 500, the next one prepared while
    one is sent) WHEN the server stops once the input is drawn past the second group THEN
    the write fails with BackendUnavailableError (nothing silently dropped), the first
    group survives the restart with its pages (the second was in flight: whole or not at
    all), and sending everything again completes the catalog with no duplicates."""
    from bench.index_bench import documents

    script = str(REPO / "tests/es_server.sh")
    prefix = _prefix()
    index = ElasticsearchIndex(es_chaos_url, prefix=prefix, max_retries=1, request_timeout=10)

    def stream() -> Iterator[Document]:
        for n, doc in enumerate(documents(1500)):
            if n == 1000:  # group 1 is acknowledged by now, group 2 may be in flight
                subprocess.run([script, "stop", "chaos"], check=True)
            yield doc

    with pytest.raises(BackendUnavailableError, match="cannot be reached"):
        index.put_documents(stream())
    index.close()

    subprocess.run([script, "start", "chaos"], check=True)
    index = ElasticsearchIndex(es_chaos_url, prefix=prefix)
    try:
        index.refresh()
        stored = index.count_documents()
        assert stored in (500, 1000)
        # A visible document always has its pages (they are inside it).
        assert index.stats()["pages"] == stored
        index.put_documents(documents(1500))  # the rerun
        assert index.count_documents() == 1500
        stats = index.stats()
        assert stats["files"] == 1500 and stats["pages"] == 1500
    finally:
        index.drop()
        index.close()


# -- reindex ------------------------------------------------------------------------------


def _snapshot(index: Any) -> dict[str, Any]:
    """What a catalog answers, for comparing a copy with its original."""
    return {
        "documents": sorted(index.iter_documents(), key=lambda d: d.id),
        "searches": [
            (r.total, sorted(h.id for h in r.hits), r.facets)
            for r in (index.search(q) for q in QUERIES)
        ],
        "log": index.reuse_log(),
        "head": index.reuse_log_head(),
        "stats": index.stats(),
        "failures": [(f["path"], f["reason"]) for f in index.failures()],
        "dossiers_of": index.dossiers_of(corpus()[1].id),
        "processed": [
            {k: v for k, v in row.items() if k != "procedure"}
            for row in index.processed_documents()
        ],
    }


def test_reindex_both_ways_idempotent(es: ElasticsearchIndex, es_url: str, tmp_path: Path) -> None:
    """GIVEN a catalog in Elasticsearch WHEN it is reindexed into SQLite and that copy back
    into a fresh Elasticsearch index, twice THEN every copy answers like the original and
    the second run duplicates nothing (the reuse log is the same hash chain)."""
    from indexer.reindex import copy_catalog

    _catalog_story(es)
    es.record_failure("/scans/bad.pdf", None, "encrypted PDF")
    original = _snapshot(es)

    copy = SqliteIndex(tmp_path / "copy.sqlite")
    back = ElasticsearchIndex(es_url, prefix=_prefix())
    try:
        counts = copy_catalog(es, copy, batch_size=4)
        assert counts == {"documents": 6, "dossiers": 2, "failures": 1, "reuse_log": 2}
        assert _snapshot(copy) == original
        assert copy.processed_documents() == es.processed_documents()  # procedures too

        copy_catalog(copy, back)
        again = copy_catalog(copy, back)  # a rerun (or the resumption of a killed run)
        assert again["reuse_log"] == 0
        assert _snapshot(back) == original
    finally:
        copy.close()
        back.drop()
        back.close()


def test_reindex_refuses_a_foreign_reuse_log(es: ElasticsearchIndex, sqlite: SqliteIndex) -> None:
    from indexer.reindex import copy_catalog

    sqlite.append_reuse({"document_id": "x", "kind": "identity", "evidence": {}, "at": "2026"})
    es.append_reuse({"document_id": "y", "kind": "identity", "evidence": {}, "at": "2026"})
    with pytest.raises(BackendError, match="differs"):
        copy_catalog(sqlite, es)
    assert es.count_documents() == 0


def test_an_overlong_field_value_does_not_fail_the_document(es: ElasticsearchIndex) -> None:
    """A field read as a whole page of text (past Lucene's term limit) is stored, not
    indexed as a filter value, and the document is still written and found."""
    doc = corpus()[4]
    doc.fields.append(
        Field("subject", "Về việc " + "rất dài " * 5000, "", 50.0, 0, None, "t", "1", True)
    )
    es.put_document(doc)
    assert es.get_document(doc.id) == doc
    assert es.search(SearchQuery(text="nghỉ phép")).total == 1


def test_folded_terms_are_the_query_terms() -> None:
    """The cached word-by-word folding gives exactly the SQLite backend's terms."""
    import unicodedata

    from indexer.elasticsearch import folded_terms
    from indexer.highlight import query_terms

    samples = [doc.text for doc in corpus()] + [
        unicodedata.normalize("NFD", "NGUYỄN VĂN ĐỨC, số 1234/QĐ-UBND"),
        "ΟΔΥΣΣΕΥΣ Σ\\tđường\\n\\nphố  a_b 12.5 \\u0301x",
        "",
    ]
    for text in samples:
        assert folded_terms(text) == " ".join(query_terms(text))


def test_bulk_mode_restores_refresh_even_on_error(es: ElasticsearchIndex) -> None:
    """GIVEN a bulk load that fails half way
    THEN the refresh interval and translog durability are what they were before, and what
    was written is searchable."""

    def settings() -> tuple[str | None, str | None]:
        got = es.client.indices.get_settings(
            index=es.names["documents"], name="index.*", flat_settings=True
        )
        # (a setting never set explicitly is left out of the answer)
        found = got.body.get(es.names["documents"], {}).get("settings", {})
        return found.get("index.refresh_interval"), found.get("index.translog.durability")

    before = settings()
    docs = corpus()
    with pytest.raises(RuntimeError), es.bulk_mode():
        es.put_documents(docs, refresh=False)
        assert settings() == ("-1", "async")
        raise RuntimeError("the source went away")
    assert settings() == before
    assert es.search(SearchQuery()).total == len(docs)


def test_bulk_mode_raises_a_group_refused_in_flight(es: ElasticsearchIndex) -> None:
    """GIVEN a bulk load whose last group (still in flight when put_documents returns) is
    refused by the server WHEN the load ends THEN the refusal is raised, nothing is left
    sending, and the groups before it are written."""
    bad = corpus()[0]
    bad.created_at = "not a date"
    with pytest.raises(BackendError, match="refused 1 item"), es.bulk_mode():
        es.put_documents(corpus()[1:])
        assert es.put_documents([bad]) == 1  # taken, not yet acknowledged
    assert es.count_documents() == len(corpus()) - 1


def test_writes_refused_as_overloaded_are_sent_again(es: ElasticsearchIndex) -> None:
    """GIVEN an index refusing writes with HTTP 429 (the disk flood-stage block) WHEN
    documents are written and the block is lifted a moment later THEN their items are
    sent again with back-off, and written."""
    import threading

    block = "index.blocks.read_only_allow_delete"
    name = es.names["documents"]
    es.client.indices.put_settings(index=name, settings={block: True})
    lift = threading.Timer(1.5, es.client.indices.put_settings, (), {"index": name,
                           "settings": {block: None}})  # fmt: skip
    lift.start()
    try:
        assert es.put_documents(corpus()) == len(corpus())
    finally:
        lift.join()
    assert es.count_documents() == len(corpus())


def test_body_packed_reads_back_as_the_document() -> None:
    """The compressed body the index stores reads back as the same Document."""
    from indexer.elasticsearch import pack_body, unpack_body

    for doc in corpus():
        assert unpack_body(pack_body(doc)) == doc


def test_stored_body_json_is_the_plain_json() -> None:
    """The JSON both backends write for a Document (orjson walking the dataclasses) reads
    back as the JSON of pipeline.model.plain, the reference."""
    import json

    import orjson

    from indexer.sqlite import document_json, load_document
    from pipeline.model import plain

    for doc in corpus():
        assert json.loads(orjson.dumps(doc)) == json.loads(json.dumps(plain(doc)))
        assert plain(load_document(document_json(doc))) == plain(doc)
