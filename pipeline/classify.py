"""Document-type classification: score each schema's title and keywords against the text.

Matching is on diacritic-folded, lower-cased text with rapidfuzz, so OCR that drops or
confuses Vietnamese marks still matches. Low scores and ties give "unknown", never a guess.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from rapidfuzz import fuzz

from pipeline.schemas import Schemas, TypeSchema
from pipeline.textnorm import fold

UNKNOWN = "unknown"
TITLE_MIN = 85.0  # a line this similar to a title is that title
KEYWORD_MIN = 85.0
TITLE_WEIGHT = 0.6  # of the score: the rest comes from keywords
TIE_MARGIN = 0.05  # the best type must beat the second by this much
HEADER_LINES = 14  # a title is looked for among a page's first lines


@lru_cache(maxsize=8192)  # schema titles, labels and keywords are folded again per document
def fold_line(text: str) -> str:
    """Folded, punctuation-free, single-spaced: what titles and keywords are matched on."""
    return " ".join(re.findall(r"[a-z0-9]+", fold(text)))


def title_similarity(title: str, line: str) -> float:
    """How much `line` (folded) reads as the title (folded): whole line, or the title
    followed by a subtitle ("to khai dang ky khai sinh" opens with "to khai")."""
    if not line or not title:
        return 0.0
    whole = fuzz.ratio(title, line)
    if len(line) > len(title) + 2 and line.startswith(title[:2]):
        head = line[: len(title)]
        # The head must end on a word boundary, or "giay chung nhan" swallows any certificate.
        if len(line) == len(title) or line[len(title)] == " ":
            whole = max(whole, fuzz.ratio(title, head) - 5)
    return whole


def best_title(schema: TypeSchema, lines: Sequence[str]) -> float:
    """Best similarity (0-100) of any of the schema's titles to any of `lines` (folded)."""
    best = 0.0
    # A long title often wraps: "GIẤY CHỨNG NHẬN" / "QUYỀN SỬ DỤNG ĐẤT".
    candidates = [*lines, *(f"{a} {b}" for a, b in zip(lines, lines[1:], strict=False))]
    for title in schema.titles:
        folded = fold_line(title)
        for line in candidates:
            best = max(best, title_similarity(folded, line))
    return best


def keyword_score(schema: TypeSchema, text: str) -> float:
    """Weighted share (0-1) of the schema's keywords found in `text` (folded)."""
    if not schema.keywords:
        return 0.0
    total = sum(k.weight for k in schema.keywords)
    found = 0.0
    for keyword in schema.keywords:
        phrase = fold_line(keyword.phrase)
        ratio = fuzz.partial_ratio(phrase, text) if text else 0.0
        if ratio >= KEYWORD_MIN:
            found += keyword.weight * ratio / 100
    return found / total


@dataclass(frozen=True)
class Classification:
    doc_type: str
    score: float
    scores: dict[str, float]


def score_types(schemas: Schemas, header_lines: Sequence[str], text: str) -> dict[str, float]:
    """Score (0-1) of every type for a document whose first-page header lines and full text
    (both folded with fold_line) are given."""
    scores = {}
    titled = 0
    for schema in schemas:
        title = best_title(schema, header_lines)
        title_part = title / 100 if title >= TITLE_MIN else 0.0
        titled += title_part > 0
        scores[schema.doc_type] = round(
            TITLE_WEIGHT * title_part + (1 - TITLE_WEIGHT) * keyword_score(schema, text), 4
        )
    if titled > 1:
        # Two types' titles in one header is contradictory evidence: let no title count.
        return score_types(schemas, [], text)
    return scores


def classify_lines(schemas: Schemas, lines: Sequence[str]) -> Classification:
    """Classify a document from its text lines in reading order (raw OCR text)."""
    folded = [fold_line(line) for line in lines]
    folded = [line for line in folded if line]
    scores = score_types(schemas, folded[:HEADER_LINES], " ".join(folded))
    if not scores:
        return Classification(UNKNOWN, 0.0, scores)
    ranked = sorted(scores.items(), key=lambda kv: kv[1], reverse=True)
    doc_type, best = ranked[0]
    second = ranked[1][1] if len(ranked) > 1 else 0.0
    if best < schemas[doc_type].min_score or best - second < TIE_MARGIN:
        return Classification(UNKNOWN, best, scores)
    return Classification(doc_type, best, scores)


def classify_text(schemas: Schemas, text: str) -> Classification:
    return classify_lines(schemas, text.splitlines())


def opening_type(schemas: Schemas, header_lines: Sequence[str]) -> str | None:
    """The type whose title stands among a page's first lines, if any: such a page opens a
    new document in a batch scan (the document's type is decided on its whole text)."""
    folded = [fold_line(line) for line in header_lines[:HEADER_LINES]]
    folded = [line for line in folded if line]
    ranked = sorted(
        ((best_title(schema, folded), schema.doc_type) for schema in schemas), reverse=True
    )
    if not ranked or ranked[0][0] < TITLE_MIN:
        return None
    return ranked[0][1]
