"""The Tesseract wrapper: the page file it writes and what Tesseract reads from it.

Real Tesseract on pages rendered with Pillow (bench/pages.py)."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pdfplumber
import pytest

from bench import pages
from ocr.tesseract import limit_threads, ocr_image, write_page_image


@pytest.fixture(scope="module")
def binary_form() -> np.ndarray:
    gray = pages.form_page(pages.AN)
    _, binary = cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    return binary


def test_two_tone_page_is_written_as_one_bit_pbm(tmp_path, binary_form):
    """GIVEN a binarized page WHEN it is written for Tesseract THEN it is a 1-bit PBM
    whose pixels read back exactly (black stays black: PBM's 1 is ink)."""
    path = write_page_image(binary_form, tmp_path / "page")
    assert path.suffix == ".pbm"
    assert path.read_bytes().startswith(b"P4\n")
    back = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    np.testing.assert_array_equal(back, binary_form)


def test_gray_and_colour_pages_are_written_uncompressed(tmp_path):
    gray = np.tile(np.arange(256, dtype=np.uint8), (20, 1))
    colour = np.dstack([gray, gray[:, ::-1], gray])
    assert write_page_image(gray, tmp_path / "g").suffix == ".pgm"
    assert write_page_image(colour, tmp_path / "c").suffix == ".ppm"
    np.testing.assert_array_equal(cv2.imread(str(tmp_path / "g.pgm"), 0), gray)
    np.testing.assert_array_equal(cv2.imread(str(tmp_path / "c.ppm")), colour)


@pytest.mark.slow
def test_one_bit_page_reads_like_the_eight_bit_one_and_pdf_text_extracts(binary_form):
    """GIVEN the same binarized page as 8-bit gray with one stray gray pixel (so it is
    written as PGM) and as a two-tone page (written as PBM)
    WHEN Tesseract reads both
    THEN the words are the same, and the 1-bit page's searchable PDF yields them to
    pdfplumber."""
    limit_threads()
    gray = binary_form.copy()
    gray[0, 0] = 254  # paper-white to the eye, but no longer two-tone
    one_bit = ocr_image(binary_form, lang="vie", dpi=300, timeout=120)
    eight_bit = ocr_image(gray, lang="vie", dpi=300, timeout=120, want_pdf=False)
    assert [w.text for w in one_bit.words] == [w.text for w in eight_bit.words]
    assert len(one_bit.words) > 20
    assert one_bit.pdf is not None
    with pdfplumber.open(io.BytesIO(one_bit.pdf)) as pdf:
        text = pdf.pages[0].extract_text()
    assert "NGUYỄN" in text


def test_inverted_lines_are_read_only_when_asked():
    """GIVEN a page whose title line is printed white on a black band
    WHEN Tesseract reads it with and without its second, inverted reading of
    low-confidence lines
    THEN only the default reading gets the title; the other lines read the same
    (the pipeline turns the second reading off for cleaned pages: dark ink on paper)."""
    limit_threads()
    lines = [("GIẤY XÁC NHẬN THÔNG TIN VỀ CƯ TRÚ", True), ("Họ và tên: NGUYỄN VĂN AN", False)]
    page = pages.render_page(lines, dpi=300)[:700]
    rows = np.flatnonzero((page < 128).any(axis=1))
    title_end = rows[np.flatnonzero(np.diff(rows) > 20)[0]]  # the gap after the title
    page[rows[0] - 20 : title_end + 20] = 255 - page[rows[0] - 20 : title_end + 20]

    def words(try_inverted: bool) -> list[str]:
        result = ocr_image(
            page, lang="vie", dpi=300, timeout=60, want_pdf=False, try_inverted=try_inverted
        )
        return [w.text for w in result.words]

    default, plain = words(True), words(False)
    assert "XÁC" in default and "NHẬN" in default
    assert "XÁC" not in plain and "NHẬN" not in plain
    assert plain[-5:] == default[-5:] == ["và", "tên:", "NGUYỄN", "VĂN", "AN"]
