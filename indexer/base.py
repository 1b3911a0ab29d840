"""The `Index` protocol: what every catalog/search backend offers (SQLite embedded,
Elasticsearch). Backends store and find; they do not decide reuse policy."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import islice
from typing import Any, Protocol, TypeVar

from pipeline.model import Document
from pipeline.textnorm import fold

PHASH_CHUNKS = 8  # 64-bit hash in 8 chunks of 8 bits: any page within distance 7 shares one


def phash_chunks(phash: int, chunks: int = PHASH_CHUNKS) -> list[int]:
    """Split a 64-bit hash into `chunks` values; chunk i is tagged with i in its top bits
    so equal bits at different positions never match."""
    width = 64 // chunks
    mask = (1 << width) - 1
    return [(i << width) | ((phash >> (i * width)) & mask) for i in range(chunks)]


T = TypeVar("T")


def batches(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """Consecutive lists of `size` items (the last one shorter), drawn as they are needed:
    how the backends take a stream of documents that need not fit in memory."""
    stream = iter(items)
    while batch := list(islice(stream, size)):
        yield batch


@lru_cache(maxsize=1 << 16)
def _fold_word(word: str) -> str:
    return fold(word)


def fold_words(text: str) -> str:
    """fold(text) word by word through a cache: a catalog repeats a few thousand
    syllables, so bulk indexing folds each once (5x faster). fold never crosses
    whitespace; runs of whitespace become one space, which no tokenizer tells apart."""
    return " ".join(map(_fold_word, text.split()))


@dataclass
class SearchQuery:
    text: str = ""
    doc_type: str | None = None
    citizen_id: str | None = None  # matches any *id_number field
    fields: dict[str, str] = field(default_factory=dict)  # exact normalized field values
    date_from: str | None = None  # ISO dates; compared with the document's main date field
    date_to: str | None = None
    office: str | None = None  # issuing/registration office, folded substring
    dossier: str | None = None
    limit: int = 10
    offset: int = 0


@dataclass
class SearchHit:
    id: str
    score: float
    doc_type: str
    highlight: str
    source: str
    fields: dict[str, str] = field(default_factory=dict)


@dataclass
class SearchResult:
    total: int
    hits: list[SearchHit]
    facets: dict[str, dict[str, int]] = field(default_factory=dict)


@dataclass
class PageMatch:
    """A stored page whose perceptual hash is near a query hash."""

    document_id: str
    page_index: int  # 0-based, within the document
    phash: int
    distance: int


@dataclass
class ReuseLogEntry:
    """One line of the tamper-evident reuse log: each entry's hash covers its content and
    the previous entry's hash, so an edit or a removal breaks the chain from there on."""

    seq: int
    at: str  # ISO timestamp
    document_id: str  # the document submitted (or, for exact reuse, the one reused)
    kind: str  # exact | near | identity
    of: str | None  # the stored document reused
    dossier_id: str | None
    procedure: str | None
    evidence: dict[str, Any]
    seconds: float | None  # measured time to answer this submission
    baseline_seconds: float | None  # measured fresh processing time of the reused document
    prev_hash: str
    entry_hash: str


REUSE_COLUMNS = tuple(ReuseLogEntry.__dataclass_fields__)
GENESIS_HASH = "0" * 64
_HASHED = (
    "seq",
    "at",
    "document_id",
    "kind",
    "of",
    "dossier_id",
    "procedure",
    "evidence",
    "seconds",
    "baseline_seconds",
    "prev_hash",
)


def reuse_entry_hash(entry: dict[str, Any] | ReuseLogEntry) -> str:
    """SHA-256 over the entry's canonical JSON (every column but the hash itself)."""
    values = entry if isinstance(entry, dict) else entry.__dict__
    content = {key: values.get(key) for key in _HASHED}
    canonical = json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def apply_correction(
    doc: Document, name: str, value: str, *, valid: bool, reason: str | None
) -> str | None:
    """Set the document's field `name` to a value an official typed; returns the old
    value. The same rule for both backends' correct_field."""
    from pipeline.errors import NotFoundError

    target = next((f for f in doc.fields if f.name == name), None)
    if target is None:
        raise NotFoundError(f"The document {doc.id} has no field {name!r}.")
    old = target.value
    target.value, target.valid, target.reason = value, valid, reason
    target.confidence, target.extractor = 100.0, "correction"
    return old


class Index(Protocol):
    """What the pipeline, the CLI and the web layer may ask of a catalog backend.
    indexer/sqlite.py is the reference; indexer/elasticsearch.py mirrors it (tests run
    the same suite against both)."""

    def close(self) -> None: ...

    # -- documents
    def find_by_sha256(self, sha256: str) -> list[str]:
        """Ids of stored documents cut from the file with this SHA-256."""
        ...

    def put_documents(self, docs: list[Document], reuse_entries: list[dict[str, Any]] = ()) -> None:
        """Insert or replace documents (pages, fields, timings, dossier links) and append
        the reuse decisions about them, all or nothing."""
        ...

    def get_document(self, doc_id: str) -> Document | None: ...

    def iter_documents(self) -> Iterator[Document]: ...

    def count_documents(self) -> int: ...

    def has_pages(self) -> bool: ...

    # -- reuse look-ups
    def find_pages_by_phash(self, phash: int, max_distance: int) -> list[PageMatch]:
        """Pages within max_distance bits, found through the chunk index (no scan)."""
        ...

    def find_by_identity(
        self, doc_type: str, person_id: str, doc_number: str | None
    ) -> list[Document]:
        """Documents with this identity key, newest first."""
        ...

    def documents_of_person(self, person_id: str) -> list[Document]: ...

    def processing_seconds(self, doc_id: str) -> float | None: ...

    # -- dossiers and the reuse log
    def put_dossier(
        self, dossier_id: str, procedure: str | None, citizen_id: str | None
    ) -> None: ...

    def dossier_has(self, dossier_id: str, doc_id: str) -> bool: ...

    def link_reuse(self, entry: dict[str, Any], link: tuple[str, str] | None) -> ReuseLogEntry:
        """Append to the hash-chained reuse log (and link a reused document into a
        dossier) in one write."""
        ...

    def reuse_log(
        self, since: str | None = None, until: str | None = None, document: str | None = None
    ) -> list[ReuseLogEntry]: ...

    def reuse_log_head(self) -> tuple[int, str] | None: ...

    def processed_documents(
        self, since: str | None = None, until: str | None = None
    ) -> list[dict[str, Any]]: ...

    # -- failures
    def record_failure(self, path: str, sha256: str | None, reason: str) -> None: ...

    def clear_failure(self, path: str) -> None: ...

    def failures(self) -> list[dict[str, str]]: ...

    # -- search
    def search(self, query: SearchQuery) -> SearchResult: ...

    def stats(self) -> dict[str, Any]: ...
