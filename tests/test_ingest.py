"""Ingest end to end with real Tesseract, real SQLite and real files: every input kind,
the read path each page takes, the outputs, re-runs and search."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pdfplumber
import pytest
from PIL import Image

from tests.conftest import BIRTH_LINES, json_lines, render_page, write_image_pdf, write_text_pdf


def ingest_json(cli, *paths: Path, extra: tuple[str, ...] = ()) -> tuple[list[dict], dict, int]:
    result = cli("ingest", *map(str, paths), "--jobs", "2", "--json", *extra)
    rows = json_lines(result.stdout)
    summary = rows[-1]["summary"]
    return rows[:-1], summary, result.exit_code


def test_image_is_ocred_and_searchable_without_diacritics(cli, tmp_path, page_image):
    """GIVEN a scanned birth certificate as PNG
    WHEN it is ingested
    THEN it is OCRed, stored with a searchable PDF, and found by 'nguyen van an'."""
    source = tmp_path / "khai-sinh.png"
    page_image.save(source)
    rows, summary, code = ingest_json(cli, source)
    assert code == 0
    assert summary["new"] == 1 and summary["failed"] == 0 and summary["pages"] == 1
    (row,) = rows
    contract = {"id", "source", "sha256", "status", "doc_type", "pages", "error", "seconds"}
    assert contract <= set(row)
    assert row["status"] == "new"

    shown = json_lines(cli("show", row["id"], "--json").stdout)[0]
    assert {"id", "source", "sha256", "doc_type", "text", "pages", "fields", "outputs"} <= set(
        shown
    )
    assert shown["pages"][0]["method"] == "ocr"
    assert "KHAI SINH" in shown["text"]
    pdf_path = Path(shown["outputs"]["pdf"])
    with pdfplumber.open(pdf_path) as pdf:
        pdf_text = pdf.pages[0].extract_text()
    assert "KHAI" in pdf_text and "SINH" in pdf_text

    found = json_lines(cli("search", "nguyen van an", "--json").stdout)[0]
    assert found["total"] == 1
    assert found["hits"][0]["id"] == row["id"]
    assert "<em>" in found["hits"][0]["highlight"]
    assert json_lines(cli("search", "tran thi binh", "--json").stdout)[0]["total"] == 0


def test_rerun_reports_present_and_adds_nothing(cli, tmp_path, page_image):
    """GIVEN a file already ingested WHEN the same batch runs again (even under another
    name) THEN it is 'present', not read again, and the catalog holds one document."""
    source = tmp_path / "a.png"
    page_image.save(source)
    first, _, _ = ingest_json(cli, source)
    copy = tmp_path / "copy-of-a.png"
    shutil.copy(source, copy)
    again, summary, code = ingest_json(cli, source, copy)
    assert code == 0
    assert [r["status"] for r in again] == ["present", "present"]
    assert {r["id"] for r in again} == {first[0]["id"]}
    assert summary["present"] == 2 and summary["new"] == 0
    stats = json_lines(cli("stats", "--json").stdout)[0]
    assert stats["documents"] == 1


def test_born_digital_pdf_uses_text_layer_never_ocr(cli, tmp_path):
    """GIVEN a PDF with a real text layer THEN its pages are read with pdfplumber."""
    continuation = ["Trang 2", "Nơi đăng ký: Ủy ban nhân dân phường Láng Hạ"]
    source = write_text_pdf(tmp_path / "birth.pdf", [BIRTH_LINES, continuation])
    rows, summary, code = ingest_json(cli, source)
    assert code == 0 and summary["pages"] == 2
    shown = json_lines(cli("show", rows[0]["id"], "--json").stdout)[0]
    assert [p["method"] for p in shown["pages"]] == ["text_layer", "text_layer"]
    assert "NGUYỄN VĂN AN" in shown["text"]  # exact text, diacritics intact


def test_mixed_pdf_reads_each_page_its_own_way(cli, tmp_path, page_image):
    """GIVEN a PDF whose first page has text and whose second is a scan
    THEN page 1 is read from the text layer and page 2 is OCRed, and the searchable PDF
    has text on both."""
    from pypdf import PdfReader, PdfWriter

    text_pdf = write_text_pdf(tmp_path / "t.pdf", [BIRTH_LINES])
    scan_pdf = write_image_pdf(
        tmp_path / "s.pdf",
        [render_page(["Trang 2", "Nơi đăng ký: Ủy ban nhân dân phường Láng Hạ"])],
    )
    writer = PdfWriter()
    for part in (text_pdf, scan_pdf):
        for page in PdfReader(part).pages:
            writer.add_page(page)
    mixed = tmp_path / "mixed.pdf"
    with mixed.open("wb") as handle:
        writer.write(handle)
    rows, _, code = ingest_json(cli, mixed)
    assert code == 0
    shown = json_lines(cli("show", rows[0]["id"], "--json").stdout)[0]
    assert [p["method"] for p in shown["pages"]] == ["text_layer", "ocr"]
    with pdfplumber.open(shown["outputs"]["pdf"]) as pdf:
        texts = [page.extract_text() or "" for page in pdf.pages]
    assert "KHAI SINH" in texts[0]
    assert "Trang 2" in texts[1]


def test_multipage_tiff_and_unusual_image_modes(cli, tmp_path, page_image):
    """GIVEN a 2-page TIFF, an RGBA PNG, a palette PNG, a 16-bit PNG and a CMYK JPEG
    THEN all are read (OCRmyPDF refuses alpha; we must not)."""
    tiff = tmp_path / "stack.tif"
    second = render_page(["GIẤY XÁC NHẬN THÔNG TIN VỀ CƯ TRÚ", "Họ, chữ đệm và tên: LÊ THỊ HOA"])
    page_image.save(tiff, save_all=True, append_images=[second], compression="tiff_lzw")

    rgba = page_image.convert("RGBA")
    alpha = np.array(rgba)
    alpha[..., 3] = 255
    alpha[:40, :40, 3] = 0  # a transparent corner
    Image.fromarray(alpha, "RGBA").save(tmp_path / "rgba.png")
    page_image.convert("P").save(tmp_path / "palette.png")
    wide = (np.asarray(page_image, dtype=np.uint16) * 257).astype(np.uint16)
    Image.fromarray(wide).save(tmp_path / "sixteen.png")
    page_image.convert("CMYK").save(tmp_path / "cmyk.jpg", quality=90)

    rows, summary, code = ingest_json(cli, tmp_path)
    assert code == 0, rows
    assert summary["failed"] == 0
    by_name = {Path(r["source"]).name: r for r in rows}
    assert by_name["stack.tif"]["pages"] == 2
    for name in ("rgba.png", "palette.png", "sixteen.png", "cmyk.jpg"):
        shown = json_lines(cli("show", by_name[name]["id"], "--json").stdout)[0]
        assert "NGUY" in shown["text"], name


def test_type_is_sniffed_from_bytes_not_extension(cli, tmp_path, page_image):
    """GIVEN a PNG named .pdf and a JPEG named .txt passed explicitly THEN both are read."""
    page_image.save(tmp_path / "scan.pdf", format="PNG")
    page_image.save(tmp_path / "photo.txt", format="JPEG")
    rows, summary, code = ingest_json(cli, tmp_path / "scan.pdf", tmp_path / "photo.txt")
    assert code == 0 and summary["new"] == 2
    assert {r["status"] for r in rows} == {"new"}


@pytest.mark.slow
def test_samples_ingest(cli):
    """GIVEN the committed samples THEN every one is ingested and none fails."""
    from tests.conftest import SAMPLES

    if not any(SAMPLES.glob("*.json")):
        pytest.skip("samples not generated yet")
    rows, summary, code = ingest_json(cli, SAMPLES)
    assert code == 0, [r for r in rows if r["status"] == "failed"]
    assert summary["failed"] == 0
    assert summary["documents"] >= len(list(SAMPLES.glob("*.json")))
