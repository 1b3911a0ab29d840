"""Text normalization shared by extraction and both search backends."""

from __future__ import annotations

import re
import unicodedata

_SPACES = re.compile(r"\s+")


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def squash_spaces(text: str) -> str:
    return _SPACES.sub(" ", text).strip()


def fold(text: str) -> str:
    """Diacritic-folded, lower-cased copy: "NGUYỄN VĂN ĐỨC" -> "nguyen van duc".

    Computed in Python for both backends so neither needs an analysis plugin. `đ` has
    no combining mark in Unicode, so it is mapped explicitly.
    """
    text = text.replace("đ", "d").replace("Đ", "D")
    decomposed = unicodedata.normalize("NFD", text)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return unicodedata.normalize("NFC", stripped).lower()


def mask_id(number: str | None) -> str:
    """A citizen ID safe for info-level logs: only the last three digits shown."""
    if not number:
        return ""
    return "*" * max(len(number) - 3, 0) + number[-3:]
