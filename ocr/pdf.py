"""Read PDF pages: the text layer through pdfplumber (words with boxes, never OCRed when
usable) and, for pages that must be OCRed, the scan itself: decoded from its JPEG when the
page is nothing but that (what scanners write), rasterized through pdfium otherwise.

Coordinates are returned in pixels at the requested resolution, so text-layer words and
OCR words share one coordinate system ("page pixels").
"""

from __future__ import annotations

import gc
import io
import logging
import unicodedata
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.errors import CorruptFileError, EncryptedPdfError
from pipeline.model import Word

log = logging.getLogger(__name__)

# A text layer is "usable" when it has enough characters and nearly all of them are real
# text: fonts without a Unicode map come out as "(cid:123)" or private-use glyphs.
MIN_TEXT_CHARS = 20
MIN_GOOD_CHAR_RATIO = 0.9


@dataclass
class TextLayer:
    words: list[Word]
    chars: int
    good_ratio: float

    @property
    def usable(self) -> bool:
        return self.chars >= MIN_TEXT_CHARS and self.good_ratio >= MIN_GOOD_CHAR_RATIO


def _good_char(ch: str) -> bool:
    category = unicodedata.category(ch)
    return category[0] in "LNPS" and category != "Co"


def _encrypted(path: Path) -> EncryptedPdfError:
    return EncryptedPdfError(
        f"{path}: the PDF is protected by a password.",
        hint="Ask the sender for an unprotected copy, or print it to a new PDF.",
    )


def _corrupt(path: Path, exc: Exception) -> CorruptFileError:
    return CorruptFileError(
        f"{path}: the PDF is damaged and cannot be read ({type(exc).__name__}).",
        hint="Get the original file again or rescan the paper.",
    )


class PdfSource:
    """One open PDF, for reading many of its pages: the file at `path`, or `data` (its
    bytes, e.g. one page shipped to a cluster worker; `path` then only names it)."""

    def __init__(self, path: Path, data: bytes | None = None):
        # Imported here, not with the module: a worker process (and the forkserver that
        # preloads the page code) reading only images never pays for them (~0.2 s CPU).
        import pdfplumber
        import pypdfium2 as pdfium
        from pdfminer.pdfdocument import PDFPasswordIncorrect
        from pdfminer.pdfparser import PDFSyntaxError

        self.path = path
        try:
            self._pdfium = pdfium.PdfDocument(str(path) if data is None else data)
        except pdfium.PdfiumError as exc:
            if "password" in str(exc).lower():
                raise _encrypted(path) from exc
            raise _corrupt(path, exc) from exc
        try:
            self._plumber = pdfplumber.open(str(path) if data is None else io.BytesIO(data))
            self.page_count = len(self._pdfium)
        except PDFPasswordIncorrect as exc:
            self.close()
            raise _encrypted(path) from exc
        except (PDFSyntaxError, Exception) as exc:  # pdfminer raises many kinds
            self.close()
            raise _corrupt(path, exc) from exc
        if self.page_count == 0:
            self.close()
            raise CorruptFileError(f"{path}: the PDF has no pages.")

    def close(self) -> None:
        for handle in ("_plumber", "_pdfium"):
            obj = getattr(self, handle, None)
            if obj is not None:
                obj.close()
                setattr(self, handle, None)

    def page_size_points(self, index: int) -> tuple[float, float]:
        width, height = self._pdfium[index].get_size()
        return float(width), float(height)

    def text_layer(self, index: int, dpi: int) -> TextLayer:
        """Words of the page's own text layer, in pixels at `dpi`."""
        page = self._plumber.pages[index]
        try:
            scale = dpi / 72.0
            raw = page.extract_words(keep_blank_chars=False, use_text_flow=False)
            text = "".join(w["text"] for w in raw)
            chars = len(text)
            good = sum(1 for ch in text if _good_char(ch))
            if "(cid:" in text:
                good = 0
            words = _lines_to_words(raw, scale)
        finally:
            page.flush_cache()
            # pdfplumber keeps parsed pages; drop them so memory stays flat on long PDFs.
            page.close()
        return TextLayer(words=words, chars=chars, good_ratio=(good / chars) if chars else 0.0)

    def rasterize(self, index: int, dpi: int, max_pixels: int) -> tuple[np.ndarray, int]:
        """BGR pixels of the page (gray for a gray scan stored as one JPEG); the resolution
        is lowered for absurdly large pages."""
        import pypdfium2 as pdfium  # loaded by __init__ already

        width_pt, height_pt = self.page_size_points(index)
        pixels = (width_pt * dpi / 72.0) * (height_pt * dpi / 72.0)
        if pixels > max_pixels:
            dpi = max(int(dpi * (max_pixels / pixels) ** 0.5), 36)
        scan = self.embedded_scan(index, dpi)
        if scan is not None:
            return scan, dpi
        page = self._pdfium[index]
        try:
            bitmap = page.render(scale=dpi / 72.0, grayscale=False)
            array = bitmap.to_numpy()
        except pdfium.PdfiumError as exc:
            raise _corrupt(self.path, exc) from exc
        finally:
            page.close()
        if array.ndim == 3 and array.shape[2] == 4:
            array = array[:, :, :3]
        return np.ascontiguousarray(array), dpi

    def embedded_scan(self, index: int, dpi: int) -> np.ndarray | None:
        """The page's scan decoded from the JPEG stored in the PDF, when the page is
        nothing else: one upright 8-bit gray or RGB JPEG without mask or decode array,
        covering the page exactly, at `dpi` (what scanners write). Those are the pixels
        rendering would draw, without drawing them (~44 ms a 300-dpi page against ~18 ms
        to decode) and without widening a gray scan to three channels. None for any other
        page, which is rendered."""
        import pypdfium2.raw as pdfium_c
        from pdfminer.pdftypes import PDFStream, resolve1

        page = self._pdfium[index]
        try:
            objects = list(page.get_objects(max_depth=1))
            if page.get_rotation() or len(objects) != 1:
                return None
            image = objects[0]
            if image.type != pdfium_c.FPDF_PAGEOBJ_IMAGE:
                return None
            a, b, c, d, e, f = image.get_matrix().get()
            width_pt, height_pt = page.get_size()
        finally:
            page.close()
        if b or c or abs(e) > 0.5 or abs(f) > 0.5:  # turned, flipped or moved
            return None
        if abs(a - width_pt) > 0.5 or abs(d - height_pt) > 0.5:  # not the whole page
            return None
        resources = resolve1(self._plumber.pages[index].page_obj.resources) or {}
        streams = [resolve1(x) for x in (resolve1(resources.get("XObject")) or {}).values()]
        if len(streams) != 1 or not isinstance(streams[0], PDFStream):
            return None
        attrs = streams[0].attrs
        plain = not any(k in attrs for k in ("SMask", "Mask", "Decode", "ImageMask"))
        filters = resolve1(attrs.get("Filter"))
        space = resolve1(attrs.get("ColorSpace"))
        name = getattr(space, "name", None)
        if (
            not plain
            or getattr(filters, "name", None) != "DCTDecode"
            or attrs.get("BitsPerComponent") != 8
        ):
            return None
        if name not in ("DeviceGray", "DeviceRGB"):
            return None
        width, height = attrs.get("Width"), attrs.get("Height")
        if not isinstance(width, int) or not isinstance(height, int):
            return None
        # At the resolution asked for (a 600-dpi scan is still rendered down to it).
        if (
            abs(width * 72.0 / width_pt - dpi) > 0.01 * dpi
            or abs(height * 72.0 / height_pt - dpi) > 0.01 * dpi
        ):
            return None
        import cv2

        pixels = cv2.imdecode(
            np.frombuffer(streams[0].get_rawdata(), np.uint8), cv2.IMREAD_UNCHANGED
        )
        want = (height, width) if name == "DeviceGray" else (height, width, 3)
        if pixels is None or pixels.dtype != np.uint8 or pixels.shape != want:
            return None  # a JPEG that does not decode as declared: pdfium judges it
        return pixels


def _lines_to_words(raw: list[dict], scale: float) -> list[Word]:
    """pdfplumber words -> Words grouped into lines by vertical overlap, reading order."""
    ordered = sorted(raw, key=lambda w: (round(w["top"]), w["x0"]))
    words: list[Word] = []
    line_id = -1
    line_top = line_bottom = None
    for w in ordered:
        top, bottom = float(w["top"]), float(w["bottom"])
        middle = (top + bottom) / 2
        if line_top is None or not (line_top <= middle <= line_bottom):
            line_id += 1
            line_top, line_bottom = top, bottom
        bbox = (
            int(w["x0"] * scale),
            int(top * scale),
            int(round(w["x1"] * scale)),
            int(round(bottom * scale)),
        )
        words.append(Word(w["text"], bbox, 100.0, line_id))
    # Within a line, left to right.
    words.sort(key=lambda word: (word.line_id, word.bbox[0]))
    return words


_cache: OrderedDict[str, tuple[PdfSource, int]] = OrderedDict()
_CACHE_SIZE = 2
# pdfminer and pdfium both keep every object they parsed (a scanned page's image among
# them: measured +0.33 MB per page read), so a long PDF is reopened every so many pages.
REOPEN_EVERY = 32


def open_pdf(path: Path) -> PdfSource:
    """A cached open PDF: a worker reading page after page of a long PDF opens it once
    per REOPEN_EVERY pages, so memory stays flat whatever the page count."""
    key = str(path)
    source, uses = _cache.pop(key, (None, 0))
    if source is not None and uses >= REOPEN_EVERY:
        source.close()
        source = None
        # pdfminer's parsed objects refer to each other in cycles, which only a full
        # collection frees, and one rarely runs on its own: without it a worker grew
        # ~0.15 MB per text-layer page read, reopening or not (flat with it).
        gc.collect()
    if source is None:
        source, uses = PdfSource(path), 0
    _cache[key] = (source, uses + 1)
    while len(_cache) > _CACHE_SIZE:
        _, (old, _) = _cache.popitem(last=False)
        old.close()
    return source


def close_all() -> None:
    while _cache:
        _, (source, _) = _cache.popitem()
        source.close()
