"""End to end in a real browser: Debian's Chromium driven by Playwright against a real
`dossier serve` process over a store of documents ingested by the real pipeline.
Screenshots go to tests/artifacts/ (git-ignored)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.webstore import CITIZEN_ID, PASSWORD, USERS, WebStore, build_store

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (make setup)"),
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def web_store(tmp_path_factory: pytest.TempPathFactory) -> WebStore:
    return build_store(tmp_path_factory.mktemp("e2e"))


@pytest.fixture(scope="module")
def server(web_store: WebStore, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """`dossier serve` as its own process on a free port; its log kept for inspection."""
    port = free_port()
    log_path = tmp_path_factory.mktemp("serve") / "server.log"
    dossier = Path(sys.executable).with_name("dossier")
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOSSIER_")}
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [str(dossier), "--store", str(web_store.store), "serve"]
            + ["--host", "127.0.0.1", "--port", str(port), "--insecure-cookies"],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/login", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, "dossier serve did not start"
            time.sleep(0.2)
        yield {"url": url, "log": log_path, "store": web_store}
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def browser_page(tmp_path: Path):
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),  # a fresh user data dir per test
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 1000},
        )
        try:
            yield context.new_page()
        finally:
            context.close()


def sign_in(page, url: str, role: str) -> None:
    page.fill("input[name=name]", USERS[role])
    page.fill("input[name=password]", PASSWORD)
    page.click("form.login button[type=submit]")
    page.wait_for_load_state()
    assert "/login" not in page.url, page.content()


def wait_loaded(image, timeout: float = 20.0) -> None:
    """Until the image has arrived (polled from Python: the pages' CSP forbids eval, so
    Playwright's string predicates cannot run in them)."""
    deadline = time.monotonic() + timeout
    while not image.evaluate("img => img.complete && img.naturalWidth > 0"):
        assert time.monotonic() < deadline, "image did not load"
        time.sleep(0.1)


def right(box: dict) -> float:
    return box["x"] + box["width"]


def bottom(box: dict) -> float:
    return box["y"] + box["height"]


def shot(page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"web-{name}.png"), full_page=True)


def test_official_searches_opens_corrects_and_manager_sees_audit(server, browser_page):
    """GIVEN a running server and an official in Chromium
    WHEN they sign in, search 'nguyen van an' without diacritics, open the document,
    see the field boxes over the page, and correct the name
    THEN the correction is shown, and a manager finds it in the audit log."""
    page, url = browser_page, server["url"]

    page.goto(url + "/")
    assert "/login" in page.url  # no session: sent to sign in
    shot(page, "1-login")
    sign_in(page, url, "official")

    page.fill("input[name=q]", "nguyen van an")
    page.press("input[name=q]", "Enter")
    page.wait_for_selector("li.hit")
    assert page.locator("li.hit").count() == 1
    assert "NGUYỄN" in page.locator("li.hit .snippet em").first.inner_text()
    shot(page, "2-search")

    page.click("li.hit a.hit-title")
    page.wait_for_selector("svg.overlay rect.field-box")
    image = page.locator(".page-frame img").first
    wait_loaded(image)
    frame = image.bounding_box()
    boxes = page.locator("svg.overlay rect.field-box")
    assert boxes.count() >= 3
    for i in range(boxes.count()):  # every box is drawn over the page image
        box = boxes.nth(i).bounding_box()
        assert box and box["width"] > 5 and box["height"] > 5
        assert (
            frame["x"] - 1 <= box["x"]
            and box["x"] + box["width"] <= frame["x"] + frame["width"] + 1
        )
        assert (
            frame["y"] - 1 <= box["y"]
            and box["y"] + box["height"] <= frame["y"] + frame["height"] + 1
        )
    name_row = page.locator("tr.field-row", has=page.locator("th", has_text="full_name"))
    number = name_row.get_attribute("data-field")
    page.hover(f"rect.field-box[data-field='{number}']")
    assert "hot" in (name_row.get_attribute("class") or "")
    shot(page, "3-document")

    name_row.locator("input[name=value]").fill("Nguyễn Văn Anh")
    name_row.locator("button[type=submit]").click()
    page.wait_for_selector("p.notice")
    assert "Saved full_name = NGUYỄN VĂN ANH" in page.locator("p.notice").inner_text()
    assert "NGUYỄN VĂN AN" in page.locator("table.corrections").inner_text()  # old value kept
    shot(page, "4-corrected")

    page.click("form.who button")
    page.wait_for_url("**/login")
    sign_in(page, url, "manager")
    page.goto(url + "/audit?user=" + USERS["official"])
    entry = page.locator("tr.audit-entry[data-action=correct_field]").first
    assert "NGUYỄN VĂN ANH" in entry.inner_text()
    assert page.locator("tr.audit-entry[data-action=search]").count() >= 1
    shot(page, "5-audit")


def test_citizen_and_report_pages_and_masked_server_log(server, browser_page):
    page, url = browser_page, server["url"]
    page.goto(url + f"/citizens?id={CITIZEN_ID}&procedure=BSKS")
    sign_in(page, url, "manager")  # back to the citizen page after signing in
    assert "/citizens" in page.url
    assert "birth_certificate" in page.locator("ul.have").inner_text()
    assert "cccd" in page.locator("ul.missing").inner_text()
    shot(page, "6-citizen")

    page.goto(url + "/report?by=doc_type")
    wait_loaded(page.locator("img.chart"))
    shot(page, "7-report")

    log = server["log"].read_text()
    assert "/citizens?id=" in log  # the access log has the request...
    assert CITIZEN_ID not in log  # ...with the ID number masked
