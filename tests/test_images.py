"""Image decoding: OpenCV's fast path for plain PNG/JPEG scans gives Pillow's pixels, and
a damaged file is still refused."""

from __future__ import annotations

import io
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

import ocr.images as images
from bench import pages
from pipeline.errors import CorruptFileError


def _scan(mode: str) -> Image.Image:
    gray = pages.form_page(pages.AN)[:900, :700]
    image = Image.fromarray(gray)
    return (
        image if mode == "L" else Image.merge("RGB", (image, image.point(lambda v: v // 2), image))
    )


@pytest.mark.parametrize(
    ("mode", "fmt"), [("L", "PNG"), ("RGB", "PNG"), ("L", "JPEG"), ("RGB", "JPEG")]
)
def test_fast_decode_gives_pillows_pixels_and_resolution(tmp_path, monkeypatch, mode, fmt):
    path = tmp_path / f"scan.{fmt.lower()}"
    _scan(mode).save(path, format=fmt, dpi=(200, 200))
    with Image.open(path) as opened:
        assert images._decode_fast(opened, path, None) is not None  # the fast path applies
    fast, fast_dpi = images.load_frame(path, 0, 10**8)
    monkeypatch.setattr(images, "_decode_fast", lambda *args: None)
    slow, slow_dpi = images.load_frame(path, 0, 10**8)
    np.testing.assert_array_equal(fast, slow)
    assert fast_dpi == slow_dpi == 200


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_truncated_file_is_refused_not_decoded_half(tmp_path, fmt):
    buffer = io.BytesIO()
    _scan("RGB").save(buffer, format=fmt)
    path = tmp_path / f"cut.{fmt.lower()}"
    path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    with pytest.raises(CorruptFileError):
        images.load_frame(path, 0, 10**8)


def test_page_bytes_given_instead_of_a_path_decode_the_same(tmp_path):
    path = tmp_path / "scan.png"
    _scan("RGB").save(path)
    from_path, _ = images.load_frame(path, 0, 10**8)
    from_bytes, _ = images.load_frame(Path("elsewhere.png"), 0, 10**8, path.read_bytes())
    np.testing.assert_array_equal(from_path, from_bytes)


@pytest.mark.parametrize("mode", ["L", "RGB"])
def test_png_decoder_gives_opencvs_pixels(tmp_path, mode):
    """GIVEN an 8-bit gray or RGB PNG WHEN decoded by imagecodecs' libpng THEN the pixels
    are OpenCV's (BGR), byte for byte."""
    buffer = io.BytesIO()
    _scan(mode).save(buffer, format="PNG")
    raw = buffer.getvalue()
    want = cv2.imdecode(np.frombuffer(raw, np.uint8), cv2.IMREAD_UNCHANGED)
    got = images._decode_png(raw)
    assert got is not None and got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)


def test_png_decoder_leaves_other_pngs_to_opencv_and_pillow():
    """GIVEN a 16-bit PNG, and an 8-bit one whose pixel data is damaged WHEN given to the
    PNG decoder THEN it declines both (the general paths decode or refuse them)."""
    wide = io.BytesIO()
    Image.fromarray(np.full((40, 30), 1000, np.uint16)).save(wide, format="PNG")
    assert images._decode_png(wide.getvalue()) is None
    plain = io.BytesIO()
    _scan("L").save(plain, format="PNG")
    raw = bytearray(plain.getvalue())
    raw[60:200] = bytes(140)  # inside the first IDAT chunk
    assert images._decode_png(bytes(raw)) is None
