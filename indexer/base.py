"""The `Index` protocol: what every catalog/search backend offers (SQLite embedded,
Elasticsearch). Backends store and find; they do not decide reuse policy."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from pipeline.model import Document, ReuseDecision

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
    seq: int
    at: str  # ISO timestamp
    document_id: str  # the new document
    decision: ReuseDecision
    dossier_id: str | None
    procedure: str | None
    prev_hash: str
    entry_hash: str


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
