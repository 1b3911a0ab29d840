"""Diacritic-insensitive highlights computed in Python, so both backends mark the same
words: the query is matched in the folded text and the same spans are cut from the
original text (folding is character for character, so offsets line up)."""

from __future__ import annotations

import re
from functools import lru_cache

from pipeline.textnorm import fold, nfc

_TOKEN = re.compile(r"\w+", re.UNICODE)


def query_terms(query: str) -> list[str]:
    """Folded search terms of a free-text query."""
    return _TOKEN.findall(fold(query))


@lru_cache(maxsize=1 << 14)
def _fold_char(ch: str) -> str:
    folded = fold(ch)
    return folded if len(folded) == 1 else ch.lower()[:1] or ch


def fold_aligned(text: str) -> str:
    """fold() applied per character, keeping the string length (and so every offset).
    Cached per character: a page of hits is ~6,000 characters of a few hundred kinds."""
    return "".join(map(_fold_char, text))


def highlight(text: str, terms: list[str], width: int = 160, tag: str = "em") -> str:
    """A snippet of `text` around the first matched term, matched terms wrapped in
    <tag>..</tag>. Terms match whole words, diacritic- and case-insensitively."""
    flat = " ".join(nfc(text).split())
    if not terms:
        return flat[:width]
    folded = fold_aligned(flat)
    pattern = re.compile(r"\b(" + "|".join(re.escape(t) for t in terms) + r")\b")
    spans = [m.span() for m in pattern.finditer(folded)]
    if not spans:
        return flat[:width]
    start = max(spans[0][0] - width // 3, 0)
    end = min(start + width, len(flat))
    if start > 0:
        start = flat.rfind(" ", 0, start) + 1
    pieces, cursor = [], start
    for s, e in spans:
        if s < start or e > end:
            continue
        pieces.append(flat[cursor:s])
        pieces.append(f"<{tag}>{flat[s:e]}</{tag}>")
        cursor = e
    pieces.append(flat[cursor:end])
    prefix = "…" if start > 0 else ""
    suffix = "…" if end < len(flat) else ""
    return prefix + "".join(pieces) + suffix
