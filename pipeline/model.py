"""The data model: the words every part of dossier uses (see DESIGN.md, "Data model").

Plain dataclasses only. `ocr/` and `indexer/` receive and return these; nothing here
does I/O.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

BBox = tuple[int, int, int, int]  # x0, y0, x1, y1 in page pixels

ReadMethod = Literal["text_layer", "ocr", "empty"]
DocumentStatus = Literal["new", "present", "reused", "failed"]
ReuseKind = Literal["exact", "near", "identity", "none"]


@dataclass(frozen=True)
class SourceFile:
    """One input file, identified by its content."""

    path: str
    size: int
    media_type: str  # sniffed from the bytes: image/png, image/jpeg, image/tiff, application/pdf
    sha256: str


@dataclass
class Word:
    text: str
    bbox: BBox
    confidence: float  # 0-100; 100 for a PDF text layer
    line_id: int  # words with the same line_id on a page are one text line, in reading order


@dataclass
class PageText:
    """What the read stage produced for one page."""

    index: int  # 0-based index of the page in its source file
    width: int
    height: int
    dpi: int
    method: ReadMethod
    words: list[Word] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        """The page's text, one line per OCR line, words joined by single spaces."""
        lines: dict[int, list[str]] = {}
        for word in self.words:
            lines.setdefault(word.line_id, []).append(word.text)
        return "\n".join(" ".join(parts) for parts in lines.values())

    @property
    def mean_confidence(self) -> float | None:
        if not self.words:
            return None
        return sum(w.confidence for w in self.words) / len(self.words)


@dataclass
class CleanupMetrics:
    """What the OpenCV cleanup measured and did to a page."""

    skew_angle: float = 0.0  # degrees the page was rotated to straighten it
    rotation: int = 0  # 0/90/180/270: coarse orientation fix applied
    scale: float = 1.0  # resize factor applied so text reaches Tesseract's preferred size
    x_height: float | None = None  # measured median x-height before rescaling, pixels
    binarization: str = "none"  # "otsu" | "adaptive" | "none"
    denoise: str = "none"
    border_removed: bool = False
    contrast: float | None = None  # standard deviation of gray levels
    noise: float | None = None  # estimated noise level


@dataclass
class Page:
    """One page of a document, after cleanup and reading."""

    index: int  # 0-based index in the source file
    width: int
    height: int
    dpi: int
    method: ReadMethod
    words: list[Word] = field(default_factory=list)
    phash: int | None = None  # 64-bit perceptual hash of the cleaned page
    cleanup: CleanupMetrics | None = None
    warnings: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)  # stage -> seconds

    def as_page_text(self) -> PageText:
        return PageText(self.index, self.width, self.height, self.dpi, self.method, self.words)

    @property
    def text(self) -> str:
        return self.as_page_text().text

    @property
    def mean_confidence(self) -> float | None:
        return self.as_page_text().mean_confidence


@dataclass
class Field:
    """One structured value read from a document, with where it was read."""

    name: str  # canonical name from FIELDS.md
    value: str | None  # normalized; None when nothing usable was read
    raw: str  # the text as read
    confidence: float  # 0-100
    page: int  # 0-based page index within the document
    bbox: BBox | None
    extractor: str
    extractor_version: str
    valid: bool
    reason: str | None = None  # why it is invalid, or what was repaired


@dataclass
class ReuseDecision:
    kind: ReuseKind
    of: str | None = None  # id of the stored document reused
    evidence: dict[str, Any] = field(default_factory=dict)
    seconds_saved: float | None = None


@dataclass
class StageTiming:
    document_id: str
    stage: str  # intake | cleanup | read | extract | reuse | store | ...
    seconds: float
    worker: str = ""
    page: int | None = None  # None for document-level stages


@dataclass
class Document:
    """One logical document: a whole file, or a page range of a batch scan."""

    id: str
    source: SourceFile
    first_page: int  # 0-based, inclusive, in the source file
    last_page: int  # inclusive
    doc_type: str = "unknown"
    doc_type_score: float = 0.0
    pages: list[Page] = field(default_factory=list)
    fields: list[Field] = field(default_factory=list)
    status: DocumentStatus = "new"
    error: str | None = None
    reuse: ReuseDecision | None = None
    outputs: dict[str, str] = field(default_factory=dict)  # pdf/text/json/original -> path
    timings: list[StageTiming] = field(default_factory=list)
    created_at: str | None = None  # ISO timestamp, set by the catalog
    dossier_id: str | None = None

    @property
    def text(self) -> str:
        return "\n\n".join(p.text for p in self.pages)

    @property
    def page_count(self) -> int:
        return self.last_page - self.first_page + 1

    def field_value(self, name: str) -> str | None:
        for f in self.fields:
            if f.name == name and f.valid:
                return f.value
        return None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def document_id(sha256: str, first_page: int, last_page: int, page_count: int) -> str:
    """Content-derived id: a whole file is its hash prefix; a slice adds its page range.

    Re-running a batch therefore produces the same ids (idempotent by construction).
    """
    base = sha256[:16]
    if first_page == 0 and last_page == page_count - 1:
        return base
    return f"{base}-p{first_page + 1}-{last_page + 1}"
