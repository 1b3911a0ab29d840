"""The `Index` protocol: what every catalog/search backend offers (SQLite embedded,
Elasticsearch). Backends store and find; they do not decide reuse policy."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from pipeline.model import Document

PHASH_CHUNKS = 8  # 64-bit hash in 8 chunks of 8 bits: any page within distance 7 shares one


def phash_chunks(phash: int, chunks: int = PHASH_CHUNKS) -> list[int]:
    """Split a 64-bit hash into `chunks` values; chunk i is tagged with i in its top bits
    so equal bits at different positions never match."""
    width = 64 // chunks
    mask = (1 << width) - 1
    return [(i << width) | ((phash >> (i * width)) & mask) for i in range(chunks)]


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


class Index(Protocol):
    def close(self) -> None: ...

    # -- documents
    def find_by_sha256(self, sha256: str) -> list[str]:
        """Ids of stored documents cut from the file with this SHA-256."""
        ...

    def put_document(self, doc: Document) -> None:
        """Insert or replace a document with its pages, fields and timings, atomically."""
        ...

    def get_document(self, doc_id: str) -> Document | None: ...

    def iter_documents(self) -> Iterator[Document]: ...

    # -- search
    def search(self, query: SearchQuery) -> SearchResult: ...

    def stats(self) -> dict[str, Any]: ...
