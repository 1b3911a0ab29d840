"""Page OCR in-process (tesserocr, loaded once per thread) and through the Tesseract
program: both give words with boxes and a searchable PDF of the same page size.

Real Tesseract on a page rendered with Pillow (bench/pages.py)."""

from __future__ import annotations

import io
import shutil

import cv2
import numpy as np
import pytest
from pypdf import PdfReader

from bench import pages
from ocr import tesseract
from ocr.tesseract import detect_orientation, limit_threads, ocr_image


@pytest.fixture(scope="module")
def binary_form() -> np.ndarray:
    gray = pages.form_page(pages.AN)
    _, binary = cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    return binary


def _page_points(pdf: bytes) -> tuple[float, float]:
    box = PdfReader(io.BytesIO(pdf)).pages[0].mediabox
    return float(box.width), float(box.height)


@pytest.mark.slow
def test_library_and_program_read_the_same_page_alike(binary_form):
    """GIVEN a binarized form page
    WHEN it is read by the default (in-process library, loaded once and reused) and by
    the Tesseract program named explicitly
    THEN both find the name, and both PDFs are the page's size at the given dpi."""
    limit_threads()
    program = shutil.which("tesseract")
    assert program is not None
    first = ocr_image(binary_form, lang="vie", dpi=300, timeout=120)
    assert tesseract._library("vie", 3, True, "tesseract") is not None, "tesserocr loads"
    again = ocr_image(binary_form, lang="vie", dpi=300, timeout=120)
    by_program = ocr_image(binary_form, lang="vie", dpi=300, timeout=120, cmd=program)
    assert [w.text for w in first.words] == [w.text for w in again.words]
    for result in (first, by_program):
        texts = [w.text for w in result.words]
        assert "NGUYỄN" in texts and len(texts) > 20
        assert all(w.bbox[2] > w.bbox[0] and w.bbox[3] > w.bbox[1] for w in result.words)
        assert len({w.line_id for w in result.words}) > 5
        height, width = binary_form.shape
        points = _page_points(result.pdf)
        assert points == pytest.approx((width * 72 / 300, height * 72 / 300), abs=0.5)


def test_a_configured_program_is_run_not_the_library():
    """GIVEN a Tesseract program other than the default WHEN a page is read THEN no
    in-process Tesseract is used for it (the configuration is obeyed)."""
    assert tesseract._library("vie", 3, True, "/nonexistent/tesseract") is None


@pytest.mark.slow
def test_orientation_in_process_answers_as_the_program(binary_form):
    """GIVEN a form page turned by each quarter turn
    WHEN OSD runs in-process and through the Tesseract program
    THEN both give the same clockwise turn back to upright, and the same confidence to
    the program's two decimals."""
    limit_threads()
    program = shutil.which("tesseract")
    small = cv2.resize(binary_form, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
    for turns in range(4):
        page = np.ascontiguousarray(np.rot90(small, -turns))  # clockwise quarter turns
        library = detect_orientation(page)
        assert library == detect_orientation(page, cmd=program)
        assert library[0] == (360 - 90 * turns) % 360
