"""Scanned PDF pages: the stored JPEG is decoded directly when the page is nothing else,
any other page is rendered (ocr.pdf.PdfSource)."""

from __future__ import annotations

import io
from pathlib import Path

import cv2
import numpy as np
import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
from PIL import Image, ImageDraw

from ocr.pdf import PdfSource


def _scan(mode: str = "L") -> Image.Image:
    """A small 'scan' with print on it (600 x 800 px: 2 x 2.67 in at 300 dpi)."""
    image = Image.new(mode, (600, 800), "white")
    draw = ImageDraw.Draw(image)
    for row in range(8):
        draw.rectangle((60, 80 + 80 * row, 540, 100 + 80 * row), fill="black")
    draw.ellipse((380, 560, 560, 740), outline=(200, 30, 30) if mode == "RGB" else 90, width=8)
    return image


def _pdf(tmp_path: Path, image: Image.Image, dpi: int = 300, name: str = "scan.pdf") -> Path:
    path = tmp_path / name
    image.save(path, "PDF", resolution=dpi)  # Pillow stores L and RGB pages as DCTDecode
    return path


def _jpeg_in(path: Path) -> np.ndarray:
    """The pixels of the JPEG stream stored in the PDF, decoded by OpenCV."""
    data = path.read_bytes()
    start = data.index(b"\xff\xd8\xff")
    end = data.index(b"\xff\xd9", start) + 2
    return cv2.imdecode(np.frombuffer(data[start:end], np.uint8), cv2.IMREAD_UNCHANGED)


def _read(path: Path, dpi: int = 300) -> tuple[np.ndarray, int]:
    source = PdfSource(path)
    try:
        return source.rasterize(0, dpi, 200_000_000)
    finally:
        source.close()


def test_a_page_that_is_one_jpeg_is_decoded_not_rendered(tmp_path):
    """GIVEN a gray and a colour scan saved as PDF pages (one JPEG each) WHEN the pages are
    read at the scan's resolution THEN the pixels are the stored JPEG's, gray staying
    gray, and they show what rendering the page shows."""
    for mode in ("L", "RGB"):
        path = _pdf(tmp_path, _scan(mode), name=f"{mode}.pdf")
        pixels, dpi = _read(path)
        assert dpi == 300
        assert np.array_equal(pixels, _jpeg_in(path))
        assert pixels.ndim == (2 if mode == "L" else 3)
        document = pdfium.PdfDocument(str(path))
        rendered = document[0].render(scale=300 / 72).to_numpy()[:, :600, :3]
        document.close()
        gray = pixels if pixels.ndim == 2 else cv2.cvtColor(pixels, cv2.COLOR_BGR2GRAY)
        drawn = cv2.cvtColor(np.ascontiguousarray(rendered), cv2.COLOR_BGR2GRAY)
        assert drawn.shape == gray.shape
        assert np.mean(np.abs(drawn.astype(int) - gray.astype(int))) < 6


def test_other_pages_are_rendered(tmp_path):
    """GIVEN pages that are not one upright full-page JPEG at the resolution asked for
    (a different resolution, a turned page, a page with text drawn over the scan, a
    lossless image) WHEN they are read THEN they are rendered, as three-channel pixels of
    the page's size at that resolution."""
    scan = _scan()
    cases = {}
    cases["150 dpi asked"] = (_pdf(tmp_path, scan, name="a.pdf"), 150)
    cases["200 dpi scan"] = (_pdf(tmp_path, scan, dpi=200, name="b.pdf"), 300)
    document = pdfium.PdfDocument(str(_pdf(tmp_path, scan, name="c.pdf")))
    document[0].set_rotation(90)
    turned = tmp_path / "turned.pdf"
    document.save(str(turned))
    document.close()
    cases["turned"] = (turned, 300)
    buffer = io.BytesIO()
    scan.save(buffer, "PNG")
    lossless = tmp_path / "lossless.pdf"
    Image.open(io.BytesIO(buffer.getvalue())).convert("1").save(lossless, "PDF", resolution=300)
    cases["one-bit image"] = (lossless, 300)
    document = pdfium.PdfDocument(str(_pdf(tmp_path, scan, name="d.pdf")))
    page = document[0]
    mark = pdfium_c.FPDFPageObj_CreateNewRect(10, 10, 50, 20)  # a black box over the scan
    pdfium_c.FPDFPageObj_SetFillColor(mark, 0, 0, 0, 255)
    pdfium_c.FPDFPath_SetDrawMode(mark, pdfium_c.FPDF_FILLMODE_ALTERNATE, False)
    pdfium_c.FPDFPage_InsertObject(page, mark)
    pdfium_c.FPDFPage_GenerateContent(page)
    drawn_over = tmp_path / "drawn_over.pdf"
    document.save(str(drawn_over))
    document.close()
    cases["drawn over"] = (drawn_over, 300)
    for name, (path, dpi) in cases.items():
        pixels, got = _read(path, dpi)
        document = pdfium.PdfDocument(str(path))
        width_pt, height_pt = document[0].get_size()
        document.close()
        assert got == dpi, name
        assert pixels.ndim == 3, name
        assert abs(pixels.shape[1] - width_pt * dpi / 72) <= 1, name
        assert abs(pixels.shape[0] - height_pt * dpi / 72) <= 1, name
