"""The web interface through FastAPI's TestClient over a real store: documents ingested
with the real pipeline, real SQLite, real Argon2 hashes, real signed cookies."""

from __future__ import annotations

import io
import logging
import os
import sqlite3

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from pipeline.config import Config
from tests.e2e.webstore import (
    CITIZEN_ID,
    OTHER_ID,
    PASSWORD,
    USERS,
    WebStore,
    build_store,
    csrf_of,
)
from web.accounts import Accounts, accounts_path
from web.app import create_app
from web.render import MaskIdsFilter, inside, safe_highlight

pytestmark = pytest.mark.slow  # the module's store is made by real OCR (~10 s, once)


@pytest.fixture(scope="module")
def web_store(tmp_path_factory: pytest.TempPathFactory) -> WebStore:
    return build_store(tmp_path_factory.mktemp("web"))


@pytest.fixture(scope="module")
def app(web_store: WebStore):
    return create_app(Config(store=web_store.store), secure_cookies=False)


@pytest.fixture
def anonymous(app) -> TestClient:
    return TestClient(app, follow_redirects=False)


def sign_in(app, role: str) -> TestClient:
    client = TestClient(app, follow_redirects=False)
    form = client.get("/login")
    response = client.post(
        "/login",
        data={"name": USERS[role], "password": PASSWORD, "csrf_token": csrf_of(form.text)},
    )
    assert response.status_code == 303, response.text
    return client


@pytest.fixture
def clerk(app) -> TestClient:
    return sign_in(app, "clerk")


@pytest.fixture
def official(app) -> TestClient:
    return sign_in(app, "official")


@pytest.fixture
def manager(app) -> TestClient:
    return sign_in(app, "manager")


def doc_id(web_store: WebStore, name: str) -> str:
    return web_store.documents[name]["id"]


# -- sign-in ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    ["/", "/?q=nguyen", "/citizens?id=" + CITIZEN_ID, "/audit", "/report", "/documents/x"],
)
def test_pages_without_a_session_redirect_to_sign_in(anonymous, path):
    """GIVEN no session WHEN any page is asked for THEN the browser is sent to sign in,
    with the page to come back to."""
    response = anonymous.get(path)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?next=")


@pytest.mark.parametrize(
    "path", ["/api/search?q=an", "/api/me", "/api/audit", "/api/openapi.json", "/api/report"]
)
def test_api_without_a_session_is_401(anonymous, path):
    assert anonymous.get(path).status_code == 401


def test_files_and_images_need_a_session(anonymous, web_store):
    doc = doc_id(web_store, "khai-sinh-an.png")
    for path in (f"/documents/{doc}/files/pdf", f"/documents/{doc}/pages/1.png"):
        assert anonymous.get(path).status_code == 303


def test_wrong_password_and_unknown_user_are_refused(anonymous):
    """GIVEN the sign-in form WHEN a wrong password or an unknown name is sent
    THEN 401, the form again with a message, and no session cookie."""
    for name, password in ((USERS["clerk"], "wrong password"), ("nobody", PASSWORD)):
        form = anonymous.get("/login")
        response = anonymous.post(
            "/login", data={"name": name, "password": password, "csrf_token": csrf_of(form.text)}
        )
        assert response.status_code == 401
        assert "Wrong name or password" in response.text
        assert "dossier_session" not in response.cookies
    assert anonymous.get("/").status_code == 303


def test_sign_in_needs_the_forms_csrf_token(anonymous):
    anonymous.get("/login")
    response = anonymous.post(
        "/login", data={"name": USERS["clerk"], "password": PASSWORD, "csrf_token": "forged"}
    )
    assert response.status_code == 403


def test_session_cookie_is_httponly_samesite_and_secure(web_store):
    """GIVEN the default (secure) settings WHEN a user signs in THEN the session cookie is
    HttpOnly, SameSite=Lax and Secure, and its value is signed (not the stored token)."""
    app = create_app(Config(store=web_store.store))
    client = TestClient(app, base_url="https://testserver", follow_redirects=False)
    form = client.get("/login")
    response = client.post(
        "/login",
        data={"name": USERS["clerk"], "password": PASSWORD, "csrf_token": csrf_of(form.text)},
    )
    cookie = next(
        v for k, v in response.headers.multi_items() if k == "set-cookie" and "session" in v
    )
    assert "HttpOnly" in cookie and "Secure" in cookie and "SameSite=lax" in cookie
    assert client.get("/").status_code == 200


def test_tampered_cookie_is_no_session(app, clerk):
    value = clerk.cookies.get("dossier_session")
    forged = TestClient(app, follow_redirects=False, cookies={"dossier_session": value + "x"})
    assert forged.get("/").status_code == 303


def test_sign_out_ends_the_session(app, clerk):
    page = clerk.get("/")
    cookie = clerk.cookies.get("dossier_session")
    assert clerk.post("/logout", data={"csrf_token": csrf_of(page.text)}).status_code == 303
    replay = TestClient(app, follow_redirects=False, cookies={"dossier_session": cookie})
    assert replay.get("/").status_code == 303


def test_no_open_redirect_after_sign_in(anonymous):
    form = anonymous.get("/login?next=//evil.example/x")
    response = anonymous.post(
        "/login",
        data={
            "name": USERS["clerk"],
            "password": PASSWORD,
            "csrf_token": csrf_of(form.text),
            "next": "//evil.example/x",
        },
    )
    assert response.headers["location"] == "/"


# -- roles -------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/audit", "/report", "/api/audit", "/api/report"])
def test_clerk_on_a_manager_page_is_403(clerk, path):
    assert clerk.get(path).status_code == 403


def test_clerk_cannot_correct_a_field(clerk, web_store):
    doc = doc_id(web_store, "khai-sinh-an.png")
    page = clerk.get(f"/documents/{doc}")
    assert "Lưu · Save" not in page.text  # no correction form shown
    response = clerk.post(
        f"/documents/{doc}/fields/full_name",
        data={"value": "NGUYỄN VĂN ANH", "csrf_token": csrf_of(page.text)},
    )
    assert response.status_code == 403


# -- search --------------------------------------------------------------------------------


def test_search_without_diacritics_highlights_and_counts(clerk, web_store):
    """GIVEN 'NGUYỄN VĂN AN' read by OCR WHEN a clerk searches 'nguyen van an' THEN the
    document is found, the words are highlighted, and the type facet counts it."""
    response = clerk.get("/", params={"q": "nguyen van an"})
    assert response.status_code == 200
    assert f'href="/documents/{doc_id(web_store, "khai-sinh-an.png")}"' in response.text
    assert "<em>" in response.text and "<strong>1</strong> document(s)" in response.text
    assert "birth_certificate" in response.text  # facet


def test_search_filters_and_paging_links(clerk):
    both = clerk.get("/api/search", params={"q": "giay khai sinh"}).json()
    assert both["total"] == 2
    only = clerk.get("/api/search", params={"citizen_id": OTHER_ID}).json()
    assert only["total"] == 1 and only["hits"][0]["fields"]["id_number"] == OTHER_ID
    none = clerk.get("/api/search", params={"q": "giay khai sinh", "type": "decision"}).json()
    assert none["total"] == 0
    page = clerk.get("/api/search", params={"q": "giay khai sinh", "limit": 1, "offset": 1})
    assert len(page.json()["hits"]) == 1
    bad = clerk.get("/", params={"q": "x", "date_from": "12/08/1990"})
    assert "is not a date" in bad.text


def test_ocr_text_with_markup_is_shown_escaped(clerk, web_store):
    """GIVEN a document whose text contains <script> and <img onerror> WHEN it appears in
    results and on its page THEN the markup is escaped, only the highlight is a tag."""
    results = clerk.get("/", params={"q": "xss alert onerror"})
    assert "alert" in results.text
    assert "<script>alert" not in results.text and "<img src=x" not in results.text
    assert "&lt;script&gt;<em>alert</em>" in results.text and "&lt;img src=x" in results.text
    document = clerk.get(f"/documents/{doc_id(web_store, 'khai-sinh-binh.pdf')}")
    assert "&lt;script&gt;alert(&#39;xss&#39;)&lt;/script&gt;" in document.text
    assert "<script>alert" not in document.text
    assert "script-src 'self'" in document.headers["content-security-policy"]


def test_search_query_with_markup_is_escaped(clerk):
    response = clerk.get("/", params={"q": '"><script>alert(1)</script>'})
    assert response.status_code == 200
    assert "<script>alert(1)" not in response.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in response.text


def test_safe_highlight_keeps_only_balanced_em_tags():
    html = safe_highlight("a <em>NGUYỄN</em> <script>x</script> <em>open")
    assert str(html) == "a <em>NGUYỄN</em> &lt;script&gt;x&lt;/script&gt; <em>open</em>"


# -- documents -------------------------------------------------------------------------------


def test_document_page_draws_each_fields_box_over_the_page(clerk, web_store):
    doc = doc_id(web_store, "khai-sinh-an.png")
    data = clerk.get(f"/api/documents/{doc}").json()
    boxed = [f for f in data["fields"] if f["bbox"]]
    assert boxed, "the scanned birth certificate should have fields with boxes"
    html = clerk.get(f"/documents/{doc}").text
    assert html.count('class="field-box') == len(boxed)
    page = data["pages"][0]
    assert f'viewBox="0 0 {page["width"]} {page["height"]}"' in html
    name = next(f for f in boxed if f["name"] == "full_name")
    x0, y0, x1, y1 = name["bbox"]
    assert f'x="{x0}" y="{y0}" width="{x1 - x0}" height="{y1 - y0}"' in html
    assert "full_name: NGUYỄN VĂN AN" in html


@pytest.mark.parametrize("name", ["khai-sinh-an.png", "khai-sinh-binh.pdf"])
def test_page_image_is_rendered_from_the_original(clerk, web_store, name):
    doc = doc_id(web_store, name)
    page = clerk.get(f"/api/documents/{doc}").json()["pages"][0]
    response = clerk.get(f"/documents/{doc}/pages/1.png")
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    image = Image.open(io.BytesIO(response.content))
    assert image.width <= 1100
    assert abs(image.width / image.height - page["width"] / page["height"]) < 0.01
    assert clerk.get(f"/documents/{doc}/pages/2.png").status_code == 404


def test_searchable_pdf_download(clerk, web_store):
    response = clerk.get(f"/documents/{doc_id(web_store, 'khai-sinh-an.png')}/files/pdf")
    assert response.status_code == 200 and response.content.startswith(b"%PDF")


@pytest.mark.parametrize(
    "kind", ["../../catalog.sqlite", "..%2F..%2Fweb.sqlite", "original", "json", "%2e%2e"]
)
def test_download_kinds_outside_the_list_are_404(clerk, web_store, kind):
    doc = doc_id(web_store, "khai-sinh-an.png")
    assert clerk.get(f"/documents/{doc}/files/{kind}").status_code == 404


def test_catalog_path_leading_out_of_the_store_is_not_served(clerk, web_store, tmp_path):
    """GIVEN a catalog entry whose PDF path climbs out of the store (.., absolute, or a
    symlink inside the store pointing out) WHEN it is downloaded THEN 404, nothing read."""
    from pipeline.catalog import open_index

    secret = tmp_path / "secret.pdf"
    secret.write_bytes(b"%PDF-1.4 not yours")
    link = web_store.store / "documents" / "link.pdf"
    os.symlink(secret, link)
    index = open_index(Config(store=web_store.store))
    original = index.get_document(doc_id(web_store, "khai-sinh-an.png"))
    try:
        for path in (str(web_store.store / ".." / ".." / secret.name), str(secret), str(link)):
            forged = original.__class__(**{**original.__dict__, "id": "forged0000000000"})
            forged.outputs = {**original.outputs, "pdf": path}
            index.put_document(forged)
            assert clerk.get("/documents/forged0000000000/files/pdf").status_code == 404
    finally:
        with index.transaction() as conn:
            index._delete(conn, "forged0000000000")
        index.close()
        link.unlink()
    assert inside(web_store.store, web_store.store / "catalog.sqlite") is not None
    assert inside(web_store.store, "/etc/passwd") is None


def test_unknown_document_is_404(clerk):
    assert clerk.get("/documents/ffffffffffffffff").status_code == 404
    assert clerk.get("/api/documents/ffffffffffffffff").status_code == 404


# -- citizens -----------------------------------------------------------------------------


def test_citizen_page_lists_documents_on_file_and_what_to_bring(clerk, web_store):
    """GIVEN a birth certificate on file for a citizen WHEN a clerk opens the citizen's
    page for the birth-registration copy procedure THEN the certificate is on file and the
    application form and CCCD are still to bring (pipeline/reuse.py's answer)."""
    response = clerk.get("/citizens", params={"id": CITIZEN_ID, "procedure": "BSKS"})
    assert response.status_code == 200
    assert doc_id(web_store, "khai-sinh-an.png") in response.text
    assert doc_id(web_store, "khai-sinh-binh.pdf") not in response.text
    data = clerk.get(f"/api/citizens/{CITIZEN_ID}", params={"procedure": "BSKS"}).json()
    assert data["on_file"] == {"birth_certificate": doc_id(web_store, "khai-sinh-an.png")}
    assert data["missing"] == ["application_form", "cccd"]
    assert "not a valid personal ID" in clerk.get("/citizens", params={"id": "12ab"}).text
    assert clerk.get("/api/citizens/123").status_code == 400
    assert clerk.get(f"/api/citizens/{CITIZEN_ID}?procedure=NOPE").status_code == 404


def test_report_page_with_chart(manager):
    page = manager.get("/report", params={"by": "doc_type"})
    assert page.status_code == 200 and "birth_certificate" in page.text
    chart = manager.get("/report/chart.png", params={"by": "doc_type"})
    assert chart.status_code == 200 and chart.content.startswith(b"\x89PNG")
    data = manager.get("/api/report", params={"by": "doc_type"}).json()
    assert data["total"]["documents"] >= 2
    assert manager.get("/api/report", params={"since": "yesterday"}).status_code == 400


# -- corrections --------------------------------------------------------------------------


def test_official_corrects_a_field(official, manager, web_store):
    """GIVEN an official on a document WHEN a field is corrected THEN the value is
    normalized and stored, the old value kept with who/when, search finds the new value,
    and the audit log has the correction."""
    doc = doc_id(web_store, "khai-sinh-binh.pdf")
    page = official.get(f"/documents/{doc}")
    old = official.get(f"/api/documents/{doc}").json()
    old_name = next(f["value"] for f in old["fields"] if f["name"] == "full_name")
    response = official.post(
        f"/documents/{doc}/fields/full_name",
        data={"value": "  trần thị   bình an ", "csrf_token": csrf_of(page.text)},
    )
    assert response.status_code == 303
    assert "Saved" in official.get(response.headers["location"]).text
    after = official.get(f"/api/documents/{doc}").json()
    field = next(f for f in after["fields"] if f["name"] == "full_name")
    assert field["value"] == "TRẦN THỊ BÌNH AN" and field["valid"]
    (correction,) = [c for c in after["corrections"] if c["name"] == "full_name"]
    assert correction["old_value"] == old_name and correction["user"] == USERS["official"]
    assert official.get("/api/search", params={"q": "tran thi binh an"}).json()["total"] == 1
    audit = manager.get("/api/audit", params={"user": USERS["official"]}).json()
    assert any(
        e["action"] == "correct_field" and e["detail"]["new"] == field["value"]
        for e in audit["entries"]
    )


def test_correction_without_csrf_token_is_refused(official, web_store):
    doc = doc_id(web_store, "khai-sinh-an.png")
    response = official.post(f"/documents/{doc}/fields/full_name", data={"value": "X"})
    assert response.status_code == 403
    api = official.post(f"/api/documents/{doc}/fields/full_name", json={"value": "X"})
    assert api.status_code == 403


def test_api_correction_with_header_and_validation(official, web_store):
    doc = doc_id(web_store, "khai-sinh-an.png")
    token = official.get("/api/me").json()["csrf_token"]
    headers = {"X-CSRF-Token": token}
    bad = official.post(
        f"/api/documents/{doc}/fields/date_of_birth", json={"value": "no date"}, headers=headers
    )
    assert bad.status_code == 400
    done = official.post(
        f"/api/documents/{doc}/fields/date_of_birth", json={"value": "5/3/2019"}, headers=headers
    )
    assert done.status_code == 200, done.text
    assert done.json()["value"] == "2019-03-05"


# -- audit --------------------------------------------------------------------------------


def test_searches_and_citizen_views_are_audited(clerk, manager):
    clerk.get("/", params={"q": "audit probe", "citizen_id": CITIZEN_ID})
    clerk.get("/citizens", params={"id": CITIZEN_ID})
    entries = manager.get("/api/audit", params={"target": CITIZEN_ID}).json()["entries"]
    actions = [(e["user"], e["action"]) for e in entries]
    assert (USERS["clerk"], "search") in actions and (USERS["clerk"], "view_citizen") in actions
    search = next(e for e in entries if e["action"] == "search")
    assert search["detail"]["q"] == "audit probe"
    page = manager.get("/audit", params={"target": CITIZEN_ID})
    assert page.status_code == 200 and "view_citizen" in page.text


def test_audit_log_refuses_update_and_delete(web_store):
    accounts = Accounts(accounts_path(web_store.store))
    accounts.audit("someone", "probe")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        accounts.conn.execute("UPDATE audit SET user = 'other'")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        accounts.conn.execute("DELETE FROM audit")
    accounts.close()


# -- logs, users, API description ---------------------------------------------------------


def test_access_log_lines_mask_citizen_ids():
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", f"/citizens?id={CITIZEN_ID}&x=1", "1.1", 200),
        None,
    )
    MaskIdsFilter().filter(record)
    line = record.getMessage()
    assert CITIZEN_ID not in line and "*********345" in line


def test_users_cli_adds_and_lists(store):
    from click.testing import CliRunner

    from cli import main

    def cli(*args: str, password: str = ""):
        return CliRunner().invoke(main, ["--store", str(store), *args], input=password + "\n")

    result = cli("users", "add", "thu", "--role", "official", password="a long password")
    assert result.exit_code == 0, result.output
    assert "thu" in cli("users", "list").stdout
    again = cli("users", "add", "thu", "--role", "clerk", password="a long password")
    assert again.exit_code != 0 and "exists already" in again.output
    assert cli("users", "add", "x", "--role", "clerk", password="short").exit_code != 0
    accounts = Accounts(accounts_path(store))
    assert accounts.verify("thu", "a long password").role == "official"
    assert accounts.verify("thu", "a long passwore") is None
    assert (
        accounts.conn.execute("SELECT password_hash FROM users")
        .fetchone()[0]
        .startswith("$argon2id$")
    )
    accounts.close()


def test_disabling_a_user_ends_their_sessions_and_refuses_sign_in(app, web_store):
    """GIVEN an official signed in to the web interface
    WHEN a manager disables the account with 'dossier users disable'
    THEN the open session stops working at once, signing in again is refused, the change
    is in the audit log, and 'users enable' lets the user back in."""
    from click.testing import CliRunner

    from cli import main

    def cli(*args: str):
        return CliRunner().invoke(main, ["--store", str(web_store.store), *args])

    accounts = Accounts(accounts_path(web_store.store))
    accounts.add_user("tam", "official", PASSWORD)

    def sign_in_as_tam() -> tuple[TestClient, int]:
        client = TestClient(app, follow_redirects=False)
        form = client.get("/login")
        data = {"name": "tam", "password": PASSWORD, "csrf_token": csrf_of(form.text)}
        return client, client.post("/login", data=data).status_code

    client, status = sign_in_as_tam()
    assert status == 303 and client.get("/").status_code == 200

    result = cli("users", "disable", "tam")
    assert result.exit_code == 0, result.output
    assert client.get("/").status_code == 303  # back to the sign-in page
    assert sign_in_as_tam()[1] != 303
    assert "(disabled)" in cli("users", "list").stdout
    _total, entries = accounts.audit_entries(target="tam")
    assert [e.action for e in entries][:1] == ["disable user"]

    assert cli("users", "enable", "tam").exit_code == 0
    assert sign_in_as_tam()[1] == 303
    missing = cli("users", "disable", "nobody")
    assert missing.exit_code == 7 and "No user 'nobody'" in missing.output
    accounts.close()


def test_document_reuse_history_lists_only_that_documents_reuses(tmp_path):
    """GIVEN a born-digital birth certificate stored, then submitted again (same file) in a
    birth-registration dossier, and another document never reused
    THEN the reused document's API answer carries the exact-reuse entry of the reuse log,
    and the other document's history is empty (the log is asked for one document)."""
    from click.testing import CliRunner

    from cli import main
    from tests.conftest import json_lines, write_text_pdf
    from tests.e2e.webstore import INJECTION_PDF

    inputs = tmp_path / "in"
    inputs.mkdir()
    reused = write_text_pdf(inputs / "binh.pdf", [INJECTION_PDF])
    other_lines = [line.replace("TRẦN THỊ BÌNH", "LÊ VĂN CƯỜNG") for line in INJECTION_PDF]
    write_text_pdf(inputs / "cuong.pdf", [other_lines])
    store = tmp_path / "store"

    def ingest(*args: str) -> list[dict]:
        result = CliRunner().invoke(main, ["--store", str(store), "ingest", *args, "--json"])
        assert result.exit_code == 0, result.output
        return [row for row in json_lines(result.stdout) if "summary" not in row]

    first = {row["source"]: row for row in ingest(str(inputs))}
    again = ingest(str(reused), "--procedure", "DKKH", "--citizen-id", OTHER_ID)
    assert again[0]["status"] == "reused"
    Accounts(accounts_path(store)).add_user("lan", "clerk", PASSWORD)
    client = TestClient(create_app(Config(store=store), secure_cookies=False))
    form = client.get("/login")
    client.post(
        "/login", data={"name": "lan", "password": PASSWORD, "csrf_token": csrf_of(form.text)}
    )

    reused_id = first[str(reused)]["id"]
    history = client.get(f"/api/documents/{reused_id}").json()["reuse_history"]
    assert [(e["kind"], e["of"]) for e in history] == [("exact", reused_id)]
    other_id = first[str(inputs / "cuong.pdf")]["id"]
    assert client.get(f"/api/documents/{other_id}").json()["reuse_history"] == []
    assert "exact" in client.get(f"/documents/{reused_id}").text


def test_openapi_description_behind_sign_in(clerk):
    spec = clerk.get("/api/openapi.json").json()
    assert "/api/search" in spec["paths"]
    assert "/api/documents/{doc_id}/fields/{name}" in spec["paths"]


def test_json_sign_in(app):
    client = TestClient(app)
    assert client.post("/api/login", json={"name": "hoa", "password": "nope"}).status_code == 401
    me = client.post("/api/login", json={"name": USERS["manager"], "password": PASSWORD}).json()
    assert me["role"] == "manager" and client.get("/api/report").status_code == 200
