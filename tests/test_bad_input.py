"""Every bad input becomes one failed record with a reason a clerk understands, the batch
goes on, and the exit code says some files failed."""

from __future__ import annotations

import io
import os
import shutil
import struct
import zlib
from pathlib import Path

import pytest
from pypdf import PdfReader, PdfWriter

from pipeline.errors import ExitCode
from tests.conftest import json_lines, write_text_pdf


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height pixels, with a tiny data stream."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 16))
        + chunk(b"IEND", b"")
    )


@pytest.fixture
def bad_folder(tmp_path: Path, page_image) -> Path:
    folder = tmp_path / "in"
    folder.mkdir()
    good = folder / "good.png"
    page_image.save(good)

    (folder / "empty.jpg").write_bytes(b"")
    buffer = io.BytesIO()
    page_image.save(buffer, format="JPEG")
    (folder / "truncated.jpg").write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 3])
    (folder / "truncated.png").write_bytes(good.read_bytes()[:5000])
    text_pdf = write_text_pdf(tmp_path / "t.pdf", [["Hello"]])
    (folder / "corrupt.pdf").write_bytes(text_pdf.read_bytes()[:400])
    writer = PdfWriter()
    writer.append(PdfReader(str(text_pdf)))
    writer.encrypt(user_password="secret", owner_password="owner")
    with (folder / "locked.pdf").open("wb") as handle:
        writer.write(handle)
    (folder / "notes.pdf").write_text("Danh sách hồ sơ cần nộp\n", encoding="utf-8")
    shutil.copy("/bin/true", folder / "program.pdf")
    (folder / "bomb.png").write_bytes(_png_header_only(100_000, 100_000))
    os.symlink(folder / "gone.tif", folder / "dangling.tif")
    return folder


def test_each_bad_file_is_set_aside_and_the_batch_goes_on(cli, bad_folder):
    """GIVEN a folder of one good scan and every kind of bad file
    WHEN it is ingested THEN the good one is stored, each bad one is one failed record
    with a readable reason, and the exit code is 'some files failed'."""
    result = cli("ingest", str(bad_folder), "--json", "--jobs", "2")
    assert result.exit_code == ExitCode.some_files_failed
    rows = json_lines(result.stdout)
    summary = rows.pop()["summary"]
    by_name = {Path(r["source"]).name: r for r in rows}
    assert by_name["good.png"]["status"] == "new"
    expected = {
        "empty.jpg": "empty",
        "truncated.jpg": "damaged",
        "truncated.png": "damaged",
        "corrupt.pdf": "damaged",
        "locked.pdf": "password",
        "notes.pdf": "text file",
        "program.pdf": "program",
        "bomb.png": "100000 x 100000",
        "dangling.tif": "does not exist",
    }
    for name, phrase in expected.items():
        row = by_name[name]
        assert row["status"] == "failed", name
        assert phrase in row["error"], (name, row["error"])
        assert "Traceback" not in row["error"]
    assert summary["failed"] == len(expected)
    assert summary["new"] == 1
    # The failures are recorded in the catalog too, with their reasons.
    stats = json_lines(cli("stats", "--json").stdout)[0]
    assert stats["failed_files"] == len(expected)
    assert stats["documents"] == 1


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_file(cli, tmp_path, page_image):
    source = tmp_path / "secret.png"
    page_image.save(source)
    source.chmod(0)
    result = cli("ingest", str(source), "--json")
    assert result.exit_code == ExitCode.some_files_failed
    assert "permission denied" in json_lines(result.stdout)[0]["error"]


def test_missing_language_pack_names_installed_ones_and_the_package(cli, tmp_path, page_image):
    page_image.save(tmp_path / "a.png")
    result = cli("ingest", str(tmp_path / "a.png"), "--lang", "vie+khm")
    assert result.exit_code == ExitCode.missing_dependency
    assert "khm" in result.stderr and "installed: " in result.stderr
    assert "tesseract-ocr-khm" in result.stderr


def test_missing_tesseract_is_a_clear_error(cli, tmp_path, page_image):
    page_image.save(tmp_path / "a.png")
    result = cli(
        "ingest", str(tmp_path / "a.png"), env={"DOSSIER_TESSERACT_CMD": "/nonexistent/tesseract"}
    )
    assert result.exit_code == ExitCode.missing_dependency
    assert "Tesseract is not installed" in result.stderr


def test_tesseract_timeout_degrades_to_an_empty_page_with_a_warning(cli, tmp_path, page_image):
    """GIVEN a page timeout far too short for Tesseract THEN the document is still stored,
    its page empty with a warning, and its PDF still has the page image."""
    page_image.save(tmp_path / "a.png")
    result = cli("ingest", str(tmp_path / "a.png"), "--json", env={"DOSSIER_PAGE_TIMEOUT": "0.01"})
    assert result.exit_code == 0
    doc_id = json_lines(result.stdout)[0]["id"]
    shown = json_lines(cli("show", doc_id, "--json").stdout)[0]
    page = shown["pages"][0]
    assert page["method"] == "empty"
    assert any("gave up" in w for w in page["warnings"])
    assert Path(shown["outputs"]["pdf"]).stat().st_size > 1000


def test_show_unknown_id_is_not_found(cli):
    result = cli("show", "doesnotexist")
    assert result.exit_code == ExitCode.not_found
    assert "No document" in result.stderr
