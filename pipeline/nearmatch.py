"""Find the stored page a freshly cleaned page re-scans, in a worker, before any OCR.

The catalog proposes candidates through the chunked page-hash index (an indexed look-up,
never a scan); pipeline.near proves or refuses each one against the stored comparison
image, re-reading the stored document's key fields where they were found. The catalog
is opened read-only: the batch process stays the only writer.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pipeline import near, store
from pipeline.catalog import catalog_exists, open_index
from pipeline.config import Config
from pipeline.model import Document

# Fields whose re-reading proves the paper is the same one: who it is about and its number.
KEY_FIELDS = (
    "id_number",
    "holder_id_number",
    "applicant_id_number",
    "husband_id_number",
    "wife_id_number",
    "doc_number",
    "full_name",
    "holder_name",
    "applicant_name",
    "husband_name",
    "wife_name",
)
MAX_CANDIDATES = 3
# Stored pages kept per worker, decoded and with what confirmations derive from them
# alone (near.StoredPage, ~7 MB each): pages of one template keep proposing the same
# stored pages, and reading one costs ~2 ms, its alignment copies and text zones ~20.
STORED_CACHE = 8


@dataclass
class NearMatch:
    document_id: str
    page_index: int  # 0-based within the stored document
    distance: int  # Hamming distance of the page hashes
    score: float  # the confirmation's agreement score
    reason: str
    seconds: float


def field_boxes(doc: Document, page_index: int) -> list[near.FieldBox]:
    """The document's valid key fields on that page, boxed in comparison-image pixels."""
    page = doc.pages[page_index]
    if page.compare_transform is None:
        return []
    matrix = np.asarray(page.compare_transform, dtype=np.float64)
    boxes = []
    for f in doc.fields:
        if f.page != page_index or not f.valid or f.bbox is None or not f.value:
            continue
        if f.name not in KEY_FIELDS:
            continue
        x0, y0, x1, y1 = f.bbox
        corners = np.array([[x0, y0, 1], [x1, y1, 1], [x0, y1, 1], [x1, y0, 1]], np.float64)
        mapped = corners @ matrix.T
        box = (
            int(mapped[:, 0].min()),
            int(mapped[:, 1].min()),
            int(np.ceil(mapped[:, 0].max())),
            int(np.ceil(mapped[:, 1].max())),
        )
        boxes.append(near.FieldBox(f.name, f.value, box))
    return boxes


class NearMatcher:
    def __init__(self, store_dir: Path, index: Any):
        self.store_dir = store_dir
        self.index = index
        self._stored: OrderedDict[tuple[str, int], near.StoredPage] = OrderedDict()

    def _stored_image(self, path: Path) -> near.StoredPage | None:
        """The stored comparison image, decoded and prepared once while it stays among the
        recent ones (keyed by its modification time too: a re-ingested document rewrites it)."""
        try:
            key = (str(path), path.stat().st_mtime_ns)
        except OSError:
            return None  # a page read from a PDF text layer keeps no comparison image
        image = self._stored.get(key)
        if image is None:
            image = near.load_stored_page(path)
            if image is None:
                return None
            self._stored[key] = image
            if len(self._stored) > STORED_CACHE:
                self._stored.popitem(last=False)
        else:
            self._stored.move_to_end(key)
        return image

    def match(self, comparison: np.ndarray, page_hash: int) -> NearMatch | None:
        started = time.perf_counter()
        candidates = self.index.find_pages_by_phash(page_hash, near.NEAR_MAX_DISTANCE)
        for candidate in candidates[:MAX_CANDIDATES]:
            path = store.stored_comparison(
                self.store_dir, candidate.document_id, candidate.page_index
            )
            stored = self._stored_image(path)
            if stored is None:
                continue
            doc = self.index.get_document(candidate.document_id)
            if doc is None:
                continue
            proof = near.confirm(comparison, stored, field_boxes(doc, candidate.page_index))
            if proof.same:
                return NearMatch(
                    document_id=candidate.document_id,
                    page_index=candidate.page_index,
                    distance=candidate.distance,
                    score=proof.score,
                    reason=proof.reason,
                    seconds=time.perf_counter() - started,
                )
        return None


_matchers: dict[str, NearMatcher] = {}


def matcher_for(cfg: Config) -> NearMatcher | None:
    """This worker's matcher for a configuration (None while there is no catalog yet)."""
    key = f"{cfg.store}|{cfg.index}|{cfg.es_url}"
    if key not in _matchers:
        if not catalog_exists(cfg):
            return None
        _matchers[key] = NearMatcher(cfg.store, open_index(cfg, readonly=True))
    return _matchers[key]


def prepare(cfg: Config) -> NearMatcher | None:
    """This worker's matcher with everything its first check would otherwise load inside a
    page's near stage (the catalog, the key-field reader's models): a one-time process
    cost, not a per-page one, so it is paid before the page's timed near stage."""
    matcher = matcher_for(cfg)
    if matcher is not None:
        near.reader_ready()
    return matcher
