"""A store with real ingested documents (real Tesseract, real PDF text layer) and one
user per role, shared by the web tests and the browser tests."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from click.testing import CliRunner

from tests.conftest import BIRTH_LINES, json_lines, render_page, write_text_pdf

CITIZEN_ID = "001219012345"  # invented: Hà Nội (001), male born 2019
OTHER_ID = "079190004321"
PASSWORD = "correct horse battery"
USERS = {"clerk": "lan", "official": "minh", "manager": "hoa"}

SCANNED_BIRTH = [*BIRTH_LINES, f"Số định danh cá nhân: {CITIZEN_ID}"]
# A born-digital page whose text holds markup: it must be shown as text, never run.
INJECTION_PDF = [
    "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
    "GIẤY KHAI SINH",
    "Họ, chữ đệm, tên: TRẦN THỊ BÌNH",
    "Ngày, tháng, năm sinh: 12/08/1990",
    "Giới tính: Nữ",
    f"Số định danh cá nhân: {OTHER_ID}",
    "Ghi chú: <script>alert('xss')</script> <b>đậm</b> & <img src=x onerror=alert(1)>",
]


@dataclass
class WebStore:
    store: Path
    documents: dict[str, dict]  # source file name -> ingest JSON line


def build_store(root: Path) -> WebStore:
    """Ingest a scanned PNG and a born-digital PDF with the real pipeline, add users."""
    from cli import main
    from web.accounts import Accounts, accounts_path

    store = root / "store"
    inputs = root / "inputs"
    inputs.mkdir(parents=True)
    render_page(SCANNED_BIRTH).save(inputs / "khai-sinh-an.png")
    write_text_pdf(inputs / "khai-sinh-binh.pdf", [INJECTION_PDF])
    result = CliRunner().invoke(
        main,
        ["--store", str(store), "ingest", str(inputs), "--jobs", "2", "--json"],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    rows = [row for row in json_lines(result.stdout) if "summary" not in row]
    accounts = Accounts(accounts_path(store))
    for role, name in USERS.items():
        accounts.add_user(name, role, PASSWORD)
    accounts.close()
    return WebStore(store, {Path(row["source"]).name: row for row in rows})


_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    match = _CSRF.search(html)
    assert match, "no CSRF token in the page"
    return match.group(1)
