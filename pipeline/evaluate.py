"""Extraction quality against ground truth: per document type, classification accuracy,
field precision/recall/F1 (exact match on normalized values) and CER of the text.

Ground truth is a `NAME.json` beside each sample file (format in samples/README.md);
produced documents are matched to it by source file and page range.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from rapidfuzz.distance import Levenshtein

from pipeline.config import Config
from pipeline.errors import BadInputError
from pipeline.model import Document, Page
from pipeline.textnorm import nfc, squash_spaces

ALL = "all"


@dataclass(frozen=True)
class TruthDocument:
    doc_type: str
    first_page: int
    last_page: int
    fields: Mapping[str, str]


@dataclass(frozen=True)
class Truth:
    """The ground truth of one sample file."""

    path: Path  # the JSON file
    file: str  # the sample's file name, beside the JSON
    pages: tuple[tuple[str, ...], ...]  # each page's text lines
    documents: tuple[TruthDocument, ...]

    @property
    def source(self) -> Path:
        return self.path.parent / self.file


def load_truth(path: Path) -> Truth:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        documents = tuple(
            TruthDocument(
                d["doc_type"],
                int(d["first_page"]),
                int(d["last_page"]),
                {k: str(v) for k, v in (d.get("fields") or {}).items() if v is not None},
            )
            for d in data["documents"]
        )
        pages = tuple(tuple(p.get("lines") or ()) for p in data.get("pages") or ())
        return Truth(path, str(data["file"]), pages, documents)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise BadInputError(
            f"Ground truth {path} cannot be read: {exc!r}.",
            hint="It must be JSON with 'file', 'pages' and 'documents' (see samples/README.md).",
        ) from None


def find_truths(directory: Path) -> list[Truth]:
    """Every ground-truth JSON in `directory` whose sample file is beside it."""
    truths = []
    for path in sorted(directory.glob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and "documents" in data and "file" in data:
            truth = load_truth(path)
            if truth.source.is_file():
                truths.append(truth)
    return truths


@dataclass
class TypeScores:
    doc_type: str
    documents: int = 0
    classified: int = 0  # documents found with the right page range and type
    true_positives: int = 0
    false_positives: int = 0
    false_negatives: int = 0
    cer_edits: int = 0
    cer_chars: int = 0
    errors: list[str] = field(default_factory=list)  # what went wrong, for the reader

    @property
    def accuracy(self) -> float:
        return self.classified / self.documents if self.documents else 0.0

    @property
    def precision(self) -> float:
        found = self.true_positives + self.false_positives
        return self.true_positives / found if found else 0.0

    @property
    def recall(self) -> float:
        wanted = self.true_positives + self.false_negatives
        return self.true_positives / wanted if wanted else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    @property
    def cer(self) -> float | None:
        return self.cer_edits / self.cer_chars if self.cer_chars else None

    def add(self, other: TypeScores) -> None:
        self.documents += other.documents
        self.classified += other.classified
        self.true_positives += other.true_positives
        self.false_positives += other.false_positives
        self.false_negatives += other.false_negatives
        self.cer_edits += other.cer_edits
        self.cer_chars += other.cer_chars

    def to_dict(self) -> dict[str, Any]:
        cer = self.cer
        return {
            "doc_type": self.doc_type,
            "documents": self.documents,
            "accuracy": round(self.accuracy, 4),
            "precision": round(self.precision, 4),
            "recall": round(self.recall, 4),
            "f1": round(self.f1, 4),
            "true_positives": self.true_positives,
            "false_positives": self.false_positives,
            "false_negatives": self.false_negatives,
            "cer": None if cer is None else round(cer, 4),
        }


def _page_text(lines: Iterable[str]) -> str:
    return "\n".join(squash_spaces(nfc(line)) for line in lines if line.strip())


def page_cer(truth_lines: Iterable[str], page: Page | None) -> tuple[int, int]:
    """(edits, reference characters) of a page's text against its ground-truth lines."""
    reference = _page_text(truth_lines)
    produced = _page_text(page.text.splitlines()) if page is not None else ""
    return Levenshtein.distance(reference, produced), len(reference)


def compare_fields(
    truth: Mapping[str, str], produced: Document | None, names: set[str], scores: TypeScores
) -> None:
    """Count exact matches of normalized values; only canonical `names` are scored."""
    found: dict[str, str] = {}
    if produced is not None:
        for f in produced.fields:
            if f.value is not None and f.name in names and f.name not in found:
                found[f.name] = nfc(f.value)
    where = f"{produced.source.path if produced else '?'}"
    for name in sorted(names):
        want, got = truth.get(name), found.get(name)
        if want is not None and got == nfc(want):
            scores.true_positives += 1
            continue
        if want is not None:
            scores.false_negatives += 1
        if got is not None:
            scores.false_positives += 1
        if want is not None or got is not None:
            scores.errors.append(f"{where}: {name}: expected {want!r}, got {got!r}")


def evaluate(
    truths: Iterable[Truth], produced: Mapping[str, list[Document]]
) -> dict[str, TypeScores]:
    """Scores per ground-truth document type, plus "all".

    `produced` maps a sample's file name to the documents ingesting it produced. A document
    is classified right only when its page range and type both match the ground truth.
    """
    truths = list(truths)
    canonical: dict[str, set[str]] = {}
    for truth in truths:
        for doc in truth.documents:
            canonical.setdefault(doc.doc_type, set()).update(doc.fields)
    scores: dict[str, TypeScores] = {}
    for truth in truths:
        docs = produced.get(truth.file, [])
        by_range = {(d.first_page, d.last_page): d for d in docs}
        pages = {p.index: p for d in docs for p in d.pages}
        for want in truth.documents:
            s = scores.setdefault(want.doc_type, TypeScores(want.doc_type))
            s.documents += 1
            got = by_range.pop((want.first_page, want.last_page), None)
            if got is not None and got.doc_type == want.doc_type:
                s.classified += 1
            else:
                what = f"{got.doc_type}" if got else "no document with that page range"
                s.errors.append(
                    f"{truth.file} pages {want.first_page}-{want.last_page}: "
                    f"expected {want.doc_type}, got {what}"
                )
            compare_fields(want.fields, got, canonical.get(want.doc_type, set()), s)
            for index in range(want.first_page, want.last_page + 1):
                lines = truth.pages[index] if index < len(truth.pages) else ()
                edits, chars = page_cer(lines, pages.get(index))
                s.cer_edits += edits
                s.cer_chars += chars
        # A document the truth does not have (a wrong split): its fields are all wrong.
        for extra in by_range.values():
            s = scores.setdefault(extra.doc_type, TypeScores(extra.doc_type))
            compare_fields({}, extra, canonical.get(extra.doc_type, set()), s)
    total = TypeScores(ALL)
    for s in scores.values():
        total.add(s)
        total.errors.extend(s.errors)
    return {**dict(sorted(scores.items())), ALL: total}


def report_dict(scores: Mapping[str, TypeScores]) -> dict[str, Any]:
    return {
        "types": [s.to_dict() for k, s in scores.items() if k != ALL],
        "all": scores[ALL].to_dict(),
        "errors": scores[ALL].errors,
    }


def ingest_for_evaluation(truths: list[Truth], cfg: Config) -> dict[str, list[Document]]:
    """Ingest the truths' sample files into a throw-away store; their documents by file name."""
    from pipeline.batch import Batch
    from pipeline.catalog import open_index  # here: scoring alone needs no OCR machinery

    with tempfile.TemporaryDirectory(prefix="dossier-eval-") as tmp:
        cfg = replace(cfg, store=Path(tmp))
        index = open_index(cfg)
        try:
            Batch(cfg, index).run([t.source for t in truths])
            documents = list(index.iter_documents())
        finally:
            index.close()
    produced: dict[str, list[Document]] = {}
    for doc in documents:
        produced.setdefault(Path(doc.source.path).name, []).append(doc)
    return produced


def evaluate_directory(directory: Path, cfg: Config) -> dict[str, TypeScores]:
    """`dossier eval DIR`: every sample in DIR with ground truth beside it, scored."""
    truths = find_truths(directory)
    if not truths:
        raise BadInputError(
            f"No ground truth found in {directory}.",
            hint="Each sample needs a NAME.json beside it (see samples/README.md).",
        )
    return evaluate(truths, ingest_for_evaluation(truths, cfg))
