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
