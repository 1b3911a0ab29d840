"""One page's work, run in a worker process: load the pixels (or the PDF text layer),
clean up, read, and write the page's searchable PDF part.

Bytes and paths in, plain data out, so the same function runs in a local process pool
or on a cluster worker. A bad file becomes an error in the outcome, never an exception
that would take the batch down.
"""

from __future__ import annotations

import io
import os
import socket
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np
from PIL import Image

from ocr import images, pdf, tesseract
from pipeline import memory, near
from pipeline.cleanup import finish_cleanup, plan_cleanup, to_gray
from pipeline.config import Config
from pipeline.errors import BadInputError
from pipeline.model import BBox, Page, SourceFile, Word

if TYPE_CHECKING:
    from pipeline.nearmatch import NearMatch

# A text-layer page is also rasterized, only for its perceptual hash.
PHASH_DPI = 150


@dataclass(frozen=True)
class PageTask:
    source: SourceFile
    index: int  # 0-based page index in the source file
    work_dir: str  # where this page's one-page PDF is written
    # The page alone (a one-page PDF or a one-frame image), for a worker that cannot see
    # source.path (a cluster worker); None: read page `index` of source.path.
    data: bytes | None = None
    # Look for a stored page this one re-scans before OCR (the catalog has pages).
    near_check: bool = False


@dataclass
class PageOutcome:
    index: int
    page: Page | None = None
    pdf_part: str | None = None  # one-page searchable PDF; None: copy the source PDF page
    pdf_data: bytes | None = None  # that PDF's bytes, when the worker could not write it
    compare_part: str | None = None  # the page's comparison image (PNG), for near reuse
    compare_data: bytes | None = None  # its bytes, when the worker could not write it
    near: NearMatch | None = None  # the stored page this page re-scans; not OCRed then
    error: str | None = None  # why the whole file must be set aside
    worker: str = ""
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def init_worker() -> None:
    """Process-pool initializer: one core per worker, for Tesseract and for OpenCV (whose
    own threads would compete with the other workers' Tesseract); freed page images kept
    for the next page (pipeline.memory)."""
    tesseract.limit_threads()
    cv2.setNumThreads(1)
    memory.keep_freed_memory()


def count_pages(source: SourceFile, cfg: Config) -> int:
    path = Path(source.path)
    if source.media_type == "application/pdf":
        document = pdf.PdfSource(path)  # not the workers' cache: this is the batch process
        try:
            return document.page_count
        finally:
            document.close()
    return images.frame_count(path, cfg.max_pixels)


def _map_boxes(boxes: list[BBox], inverse: np.ndarray, width: int, height: int) -> list[BBox]:
    """Boxes in cleaned-image pixels -> the smallest boxes around them in original pixels
    (all at once: a page has a few hundred words)."""
    if not boxes:
        return []
    b = np.asarray(boxes, dtype=np.float64)
    xs = np.stack([b[:, 0], b[:, 2], b[:, 0], b[:, 2]], axis=1)
    ys = np.stack([b[:, 1], b[:, 1], b[:, 3], b[:, 3]], axis=1)
    mx = inverse[0, 0] * xs + inverse[0, 1] * ys + inverse[0, 2]
    my = inverse[1, 0] * xs + inverse[1, 1] * ys + inverse[1, 2]
    x0 = np.maximum(0, np.floor(mx.min(axis=1))).astype(int)
    y0 = np.maximum(0, np.floor(my.min(axis=1))).astype(int)
    x1 = np.minimum(width, np.ceil(mx.max(axis=1))).astype(int)
    y1 = np.minimum(height, np.ceil(my.max(axis=1))).astype(int)
    return list(zip(x0.tolist(), y0.tolist(), x1.tolist(), y1.tolist(), strict=True))


def _at(task: PageTask) -> int:
    """The page's index in what the worker reads: the whole file, or the page alone."""
    return task.index if task.data is None else 0


def _open_pdf(task: PageTask) -> pdf.PdfSource:
    if task.data is None:
        return pdf.open_pdf(Path(task.source.path))
    return pdf.PdfSource(Path(task.source.path), task.data)


def _read_text_layer(source: pdf.PdfSource, task: PageTask, cfg: Config) -> PageOutcome | None:
    """The page's own text when usable (born-digital pages are never OCRed)."""
    started = time.perf_counter()
    layer = source.text_layer(_at(task), cfg.dpi)
    if not layer.usable:
        return None
    width_pt, height_pt = source.page_size_points(_at(task))
    read_seconds = time.perf_counter() - started
    started = time.perf_counter()
    small, _ = source.rasterize(_at(task), PHASH_DPI, cfg.max_pixels)
    phash = near.page_hash(near.comparison_image(to_gray(small)))
    page = Page(
        index=task.index,
        width=round(width_pt * cfg.dpi / 72),
        height=round(height_pt * cfg.dpi / 72),
        dpi=cfg.dpi,
        method="text_layer",
        words=layer.words,
        phash=phash,
        timings={"read": read_seconds, "hash": time.perf_counter() - started},
    )
    return PageOutcome(index=task.index, page=page)


def _load_pixels(
    task: PageTask, cfg: Config, source: pdf.PdfSource | None
) -> tuple[np.ndarray, int | None]:
    if source is not None:
        pixels, dpi = source.rasterize(_at(task), cfg.dpi, cfg.max_pixels)
        return pixels, dpi
    return images.load_frame(Path(task.source.path), _at(task), cfg.max_pixels, task.data)


def _ocr_page(task: PageTask, cfg: Config, source: pdf.PdfSource | None) -> PageOutcome:
    timings: dict[str, float] = {}
    started = time.perf_counter()
    pixels, dpi_hint = _load_pixels(task, cfg, source)
    height, width = pixels.shape[:2]
    timings["load"] = time.perf_counter() - started

    started = time.perf_counter()
    plan = plan_cleanup(pixels, dpi_hint=dpi_hint, enabled=cfg.cleanup, lang_cmd=cfg.tesseract_cmd)
    del pixels
    timings["cleanup"] = time.perf_counter() - started

    started = time.perf_counter()
    # Made from the cleanup's plan, before the page is cleaned at full resolution: a
    # re-scan found on file skips that cleaning altogether.
    comparison, to_compare = near.page_comparison(plan)
    page_hash = near.page_hash(comparison)
    compare_transform = to_compare.tolist()  # original pixels -> comparison pixels
    timings["hash"] = time.perf_counter() - started
    if task.near_check:
        # Imported on the first re-scan check, not with this module: the forkserver that
        # preloads the page code then skips the catalog, store and PDF writer modules
        # (~0.3 s CPU before any worker can start), which a batch into a catalog without
        # pages never uses.
        from pipeline.nearmatch import prepare

        # The worker's first check opens the catalog and loads the key-field reader's
        # models: a one-time process cost, kept out of this page's near stage.
        matcher = prepare(cfg)
        started = time.perf_counter()
        match = matcher.match(comparison, page_hash) if matcher is not None else None
        timings["near"] = time.perf_counter() - started
        if match is not None:
            started = time.perf_counter()
            compare_data = near.encode_comparison(comparison)
            timings["hash"] += time.perf_counter() - started
            page = Page(
                index=task.index,
                width=width,
                height=height,
                dpi=dpi_hint or plan.dpi,
                method="empty",
                phash=page_hash,
                cleanup=plan.metrics,
                compare_transform=compare_transform,
                timings=timings,
            )
            outcome = PageOutcome(
                index=task.index, page=page, compare_data=compare_data, near=match
            )
            return outcome if task.data is not None else save_part(outcome, task.work_dir)

    started = time.perf_counter()
    # Stored with what every near check against it would otherwise derive from it again.
    compare_data = near.encode_comparison(comparison, near.StoredPage(comparison))
    timings["hash"] += time.perf_counter() - started

    started = time.perf_counter()
    clean = finish_cleanup(plan)
    del plan
    timings["cleanup"] += time.perf_counter() - started

    started = time.perf_counter()
    result = tesseract.ocr_image(
        clean.image,
        lang=cfg.lang,
        dpi=clean.dpi,
        timeout=cfg.page_timeout,
        want_pdf=True,
        cmd=cfg.tesseract_cmd,
        try_inverted=not cfg.cleanup,  # an uncleaned page may hold white-on-dark print
    )
    timings["read"] = time.perf_counter() - started

    inverse = cv2.invertAffineTransform(np.asarray(clean.transform, dtype=np.float64))
    boxes = _map_boxes([w.bbox for w in result.words], inverse, width, height)
    words = [
        Word(w.text, box, w.confidence, w.line_id)
        for w, box in zip(result.words, boxes, strict=True)
    ]
    # Tesseract gave up: the page still goes into the PDF, as an image without text.
    pdf_bytes = result.pdf or _image_pdf(clean.image, clean.dpi)
    page = Page(
        index=task.index,
        width=width,
        height=height,
        dpi=dpi_hint or clean.dpi,
        method="ocr" if words else "empty",
        words=words,
        phash=page_hash,
        cleanup=clean.metrics,
        compare_transform=compare_transform,
        warnings=list(result.warnings),
        timings=timings,
    )
    outcome = PageOutcome(
        index=task.index, page=page, pdf_data=pdf_bytes, compare_data=compare_data
    )
    # A cluster worker cannot see the store: the submitting process writes the part.
    return outcome if task.data is not None else save_part(outcome, task.work_dir)


def _write(path: Path, data: bytes) -> str:
    temporary = path.with_suffix(".tmp")
    temporary.write_bytes(data)
    os.replace(temporary, path)
    return str(path)


def save_part(outcome: PageOutcome, work_dir: str) -> PageOutcome:
    """Write the outcome's one-page PDF and comparison image into the file's work folder
    (atomically)."""
    folder = Path(work_dir)
    if outcome.pdf_data is not None:
        outcome.pdf_part = _write(folder / f"page-{outcome.index:05d}.pdf", outcome.pdf_data)
        outcome.pdf_data = None
    if outcome.compare_data is not None:
        path = folder / f"compare-{outcome.index:05d}.zst"
        outcome.compare_part = _write(path, outcome.compare_data)
        outcome.compare_data = None
    return outcome


def _image_pdf(image: np.ndarray, dpi: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PDF", resolution=float(dpi))
    return buffer.getvalue()


def process_page(task: PageTask, cfg: Config) -> PageOutcome:
    """Read one page, from source.path (a local worker) or from task.data (a cluster
    worker). Never raises for a bad input: the outcome carries the reason."""
    started = time.perf_counter()
    source = None
    try:
        outcome = None
        source = _open_pdf(task) if task.source.media_type == "application/pdf" else None
        if source is not None:
            outcome = _read_text_layer(source, task, cfg)
        if outcome is None:
            outcome = _ocr_page(task, cfg, source)
    except BadInputError as exc:
        outcome = PageOutcome(index=task.index, error=str(exc))
    except MemoryError:
        outcome = PageOutcome(index=task.index, error="the page is too large to process")
    except Exception as exc:  # a library failing on strange input must not stop the batch
        detail = traceback.format_exception_only(type(exc), exc)[-1].strip()
        outcome = PageOutcome(
            index=task.index, error=f"page {task.index + 1} could not be read ({detail})"
        )
    finally:
        if source is not None and task.data is not None:
            source.close()  # opened for this page alone (the local cache keeps its own)
    outcome.worker = worker_name()
    outcome.seconds = time.perf_counter() - started
    if outcome.page is not None:
        outcome.timings = dict(outcome.page.timings)
    return outcome
