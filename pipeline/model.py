"""The data model: the words every part of dossier uses (see DESIGN.md, "Data model").

Plain dataclasses only. `ocr/` and `indexer/` receive and return these; nothing here
does I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any, Literal

BBox = tuple[int, int, int, int]  # x0, y0, x1, y1 in page pixels

ReadMethod = Literal["text_layer", "ocr", "empty"]
DocumentStatus = Literal["new", "present", "reused", "failed"]
ReuseKind = Literal["exact", "near", "identity", "none"]

PERSON_ID_FIELDS = ("id_number", "holder_id_number", "applicant_id_number")
MAIN_DATE_FIELDS = ("issue_date", "registration_date", "date")
OFFICE_FIELDS = ("issuer", "registration_office", "recipient")


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
    binarization: str = "none"  # "otsu" | "adaptive" | "normalized" (noisy: gray kept) | "none"
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
    phash: int | None = None  # 64-bit perceptual hash of the cleaned page (pipeline.near)
    cleanup: CleanupMetrics | None = None
    # 2x3 affine from this page's pixels to its stored comparison image (pipeline.near),
    # so field boxes can be found on a re-scan; None when no comparison image is kept.
    compare_transform: list[list[float]] | None = None
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
        """The first valid value of a field, or None."""
        for f in self.fields:
            if f.name == name and f.valid:
                return f.value
        return None

    def first_value(self, names: tuple[str, ...]) -> str | None:
        for name in names:
            value = self.field_value(name)
            if value:
                return value
        return None

    @property
    def person_id(self) -> str | None:
        """The personal ID number this document is about (FIELDS.md, identity keys)."""
        return self.first_value(PERSON_ID_FIELDS)

    @property
    def main_date(self) -> str | None:
        """The date a search's date range applies to: when the document was issued."""
        return self.first_value(MAIN_DATE_FIELDS)

    @property
    def office(self) -> str | None:
        return self.first_value(OFFICE_FIELDS)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (as stored in sidecars and catalogs); see plain()."""
        return plain(self)


def document_id(sha256: str, first_page: int, last_page: int, page_count: int) -> str:
    """Content-derived id: a whole file is its hash prefix; a slice adds its page range.

    Re-running a batch therefore produces the same ids (idempotent by construction).
    """
    base = sha256[:16]
    if first_page == 0 and last_page == page_count - 1:
        return base
    return f"{base}-p{first_page + 1}-{last_page + 1}"


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}
_SCALARS = (str, int, float, bool, type(None))


def plain(obj: Any) -> Any:
    """dataclasses.asdict without its deep copies (10x faster on word-heavy pages, which
    matters at bulk rates); tuples become lists, as in JSON."""
    cls = type(obj)
    if cls in _SCALARS:
        return obj
    if cls is Word:  # most of a document's objects: spelled out for speed
        return {
            "text": obj.text,
            "bbox": list(obj.bbox),
            "confidence": obj.confidence,
            "line_id": obj.line_id,
        }
    names = _FIELD_NAMES.get(cls)
    if names is None and is_dataclass(obj):
        names = _FIELD_NAMES[cls] = tuple(f.name for f in fields(obj))
    if names is not None:
        return {name: plain(getattr(obj, name)) for name in names}
    if cls is list or cls is tuple:
        return [plain(value) for value in obj]
    if cls is dict:
        return {key: plain(value) for key, value in obj.items()}
    return obj


def _bbox(value: Any) -> BBox | None:
    return tuple(int(v) for v in value) if value is not None else None  # type: ignore[return-value]


def page_from_dict(data: dict[str, Any]) -> Page:
    cleanup = data.get("cleanup")
    return Page(
        index=data["index"],
        width=data["width"],
        height=data["height"],
        dpi=data["dpi"],
        method=data["method"],
        words=[
            Word(w["text"], _bbox(w["bbox"]), w["confidence"], w["line_id"])  # type: ignore[arg-type]
            for w in data.get("words", [])
        ],
        phash=data.get("phash"),
        cleanup=CleanupMetrics(**cleanup) if cleanup else None,
        compare_transform=data.get("compare_transform"),
        warnings=list(data.get("warnings", [])),
        timings=dict(data.get("timings", {})),
    )


def field_from_dict(data: dict[str, Any]) -> Field:
    return Field(**{**data, "bbox": _bbox(data.get("bbox"))})


def document_from_dict(data: dict[str, Any]) -> Document:
    """Inverse of Document.to_dict (as stored in sidecars and catalogs)."""
    reuse = data.get("reuse")
    return Document(
        id=data["id"],
        source=SourceFile(**data["source"]),
        first_page=data["first_page"],
        last_page=data["last_page"],
        doc_type=data.get("doc_type", "unknown"),
        doc_type_score=data.get("doc_type_score", 0.0),
        pages=[page_from_dict(p) for p in data.get("pages", [])],
        fields=[field_from_dict(f) for f in data.get("fields", [])],
        status=data.get("status", "new"),
        error=data.get("error"),
        reuse=ReuseDecision(**reuse) if reuse else None,
        outputs=dict(data.get("outputs", {})),
        timings=[StageTiming(**t) for t in data.get("timings", [])],
        created_at=data.get("created_at"),
        dossier_id=data.get("dossier_id"),
    )
