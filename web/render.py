"""What the pages show that needs more than a template: page images rendered from the
stored original, snippets made safe for HTML, files served only from inside the store,
and ID numbers masked in the server's log lines."""

from __future__ import annotations

import io
import logging
import re
from pathlib import Path

from markupsafe import Markup, escape
from PIL import Image

from pipeline.model import Document
from pipeline.textnorm import mask_id

PAGE_WIDTH = 1100  # pixels wide a page image is sent at: sharp on screen, small on the wire


def safe_highlight(snippet: str) -> Markup:
    """A backend snippet as HTML: the OCR text is escaped, and only the backend's
    <em>..</em> markers become tags (balanced), so `<script>` in a scan shows as text."""
    out: list[str] = []
    open_em = False
    for piece in re.split(r"(</?em>)", snippet):
        if piece == "<em>":
            if not open_em:
                out.append("<em>")
                open_em = True
        elif piece == "</em>":
            if open_em:
                out.append("</em>")
                open_em = False
        else:
            out.append(str(escape(piece)))
    if open_em:
        out.append("</em>")
    return Markup("".join(out))


def inside(store: Path, candidate: str | Path | None) -> Path | None:
    """`candidate` resolved, if it is an existing file inside the store; else None.

    Paths come from the catalog, but the catalog is data: a path that leads out of the
    store (.., a symlink) is never served."""
    if not candidate:
        return None
    root = store.resolve()
    path = Path(candidate)
    if not path.is_absolute():
        path = root / path
    try:
        resolved = path.resolve(strict=True)
    except (OSError, RuntimeError):
        return None
    if not resolved.is_relative_to(root) or not resolved.is_file():
        return None
    return resolved


def page_image(store: Path, doc: Document, position: int, width: int = PAGE_WIDTH) -> bytes:
    """PNG of the document's page at `position` (0-based within the document), rendered
    from the stored original (image frame or PDF page), `width` pixels wide.

    Raises LookupError when the page or the original is not there."""
    if not 0 <= position < len(doc.pages):
        raise LookupError(f"page {position + 1} is not in this document")
    original = inside(store, doc.outputs.get("original"))
    if original is None:
        raise LookupError("the original file is not in the store")
    index = doc.pages[position].index
    if doc.source.media_type == "application/pdf":
        image = _pdf_page(original, index, width)
    else:
        image = _image_frame(original, index)
    if image.width > width:
        image = image.resize((width, max(1, round(image.height * width / image.width))))
    buffer = io.BytesIO()
    image.convert("L" if image.mode in ("1", "L", "LA") else "RGB").save(
        buffer, format="PNG", optimize=False
    )
    return buffer.getvalue()


def _image_frame(path: Path, index: int) -> Image.Image:
    with Image.open(path) as source:
        source.seek(index)  # multi-page TIFF: one frame per page
        source.load()
        return source.copy()


def _pdf_page(path: Path, index: int, width: int) -> Image.Image:
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(str(path))
    try:
        page = pdf[index]
        scale = width / page.get_width()
        return page.render(scale=scale).to_pil()
    finally:
        pdf.close()


# A run of 9-12 digits standing alone: an old 9-digit CMND or a 12-digit CCCD number.
_ID_NUMBER = re.compile(r"(?<!\d)\d{9,12}(?!\d)")


def mask_ids(text: str) -> str:
    return _ID_NUMBER.sub(lambda m: mask_id(m.group(0)), text)


class MaskIdsFilter(logging.Filter):
    """Masks ID numbers in a log record's message and arguments (uvicorn's access log
    puts the request path with its query string in the arguments)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = mask_ids(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(mask_ids(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {
                k: mask_ids(v) if isinstance(v, str) else v for k, v in record.args.items()
            }
        return True


def uvicorn_log_config() -> dict:
    """uvicorn's logging, with ID numbers masked in every line it writes."""
    from uvicorn.config import LOGGING_CONFIG

    config = {**LOGGING_CONFIG}
    config["filters"] = {"mask_ids": {"()": MaskIdsFilter}}
    config["handlers"] = {
        name: {**handler, "filters": ["mask_ids"]}
        for name, handler in LOGGING_CONFIG["handlers"].items()
    }
    return config
