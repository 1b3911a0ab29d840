"""Normalizers: turn a field's raw OCR text into its canonical form (FIELDS.md).

Each returns `(value, note)`: value None when nothing usable is in the text; note says
what was repaired (recorded in Field.reason) or why nothing could be read.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from functools import cache
from pathlib import Path

import yaml
from rapidfuzz.distance import Levenshtein

from pipeline.textnorm import fold, nfc, squash_spaces

Normalized = tuple[str | None, str | None]

# Letters Tesseract reads for digits inside a numeric field.
DIGIT_CONFUSIONS = {
    "O": "0",
    "o": "0",
    "Q": "0",
    "D": "0",
    "U": "0",
    "I": "1",
    "l": "1",
    "i": "1",
    "|": "1",
    "!": "1",
    "]": "1",
    "[": "1",
    "Z": "2",
    "z": "2",
    "S": "5",
    "s": "5",
    "B": "8",
    "G": "6",
    "b": "6",
    "g": "9",
    "q": "9",
}
_EDGE_PUNCT = " \t.,;:-–—_…/|\\'\"“”()[]*·•"
_LEADER = re.compile(r"[.…_·]{2,}")


def clean_text(raw: str) -> str:
    """NFC, dotted leaders removed, single spaces, separators stripped at both ends."""
    text = _LEADER.sub(" ", nfc(raw))
    return squash_spaces(text).strip(_EDGE_PUNCT)


def repair_digits(token: str) -> tuple[str, list[str]]:
    """Replace letters OCR confuses with digits; return the token and what was changed."""
    out, changes = [], []
    for ch in token:
        if ch in DIGIT_CONFUSIONS:
            out.append(DIGIT_CONFUSIONS[ch])
            changes.append(f"{ch}->{DIGIT_CONFUSIONS[ch]}")
        else:
            out.append(ch)
    return "".join(out), changes


def _repair_note(changes: list[str]) -> str | None:
    if not changes:
        return None
    return "repaired OCR confusions " + ", ".join(dict.fromkeys(changes))


_DIGITISH = re.compile(r"[0-9" + re.escape("".join(DIGIT_CONFUSIONS)) + r"]")


def _numeric_runs(text: str) -> list[tuple[str, list[str]]]:
    """Digit runs in `text`, spaces inside a run allowed ("001 219 012 345"), letters that
    OCR confuses with digits repaired when the run is mostly digits."""
    runs: list[tuple[str, list[str]]] = []
    for token in re.findall(r"[^\s,;:/()]+(?:[ .-][^\s,;:/()]+)*", text):
        parts = re.split(r"[ .-]", token)
        current: list[str] = []
        for part in [*parts, ""]:
            digits = sum(ch.isdigit() for ch in part)
            digitish = sum(bool(_DIGITISH.fullmatch(ch)) for ch in part)
            if part and digitish == len(part) and digits * 2 >= len(part):
                current.append(part)
                continue
            if current:
                repaired, changes = repair_digits("".join(current))
                runs.append((repaired, changes))
                current = []
    return runs


def normalize_id_number(raw: str) -> Normalized:
    """Digits only; the longest digit run is the number (labels and noise around it dropped)."""
    runs = _numeric_runs(nfc(raw))
    if not runs:
        return None, "no digits found"
    # A personal ID has 12 digits, an old identity card 9: prefer a run of such a length.
    value, changes = max(runs, key=lambda r: (len(r[0]) in (12, 9), len(r[0])))
    return value, _repair_note(changes)


def normalize_phone(raw: str) -> Normalized:
    text = re.sub(r"^\s*\+?84", "0", nfc(raw))
    return normalize_id_number(text)


SURNAMES_FILE = Path(__file__).parent / "data" / "surnames.yaml"


@cache
def surnames() -> dict[str, str]:
    """Folded family name -> the family name in capitals, for unambiguous folded forms."""
    names = [nfc(n).upper() for n in yaml.safe_load(SURNAMES_FILE.read_text(encoding="utf-8"))]
    by_fold: dict[str, set[str]] = {}
    for name in names:
        by_fold.setdefault(fold(name), set()).add(name)
    return {key: next(iter(v)) for key, v in by_fold.items() if len(v) == 1}


def normalize_name(raw: str) -> Normalized:
    """Upper-case NFC letters with single spaces; honorifics and trailing clauses dropped;
    the family name's marks restored when OCR lost them ("NGUYEN" -> "NGUYỄN")."""
    text = clean_text(raw).split(",")[0]
    text = re.sub(r"(?i)^(ông|bà|ong|ba)\b\s*(\(bà\)|/\s*bà)?\s*[:.]?\s*", "", text)
    # Letters only: not digits or punctuation, nor a tone mark OCR read on its own ("ˆ",
    # a modifier letter to Python's \w).
    letters = "".join(
        ch if ch.isspace() or (ch.isalpha() and unicodedata.category(ch) != "Lm") else " "
        for ch in text
    )
    value = squash_spaces(letters).upper()
    if not value:
        return None, "no name found"
    words = value.split(" ")
    known = surnames().get(fold(words[0])) or _lost_or_doubled_letter(words[0])
    if len(words) >= 2 and known and known != words[0]:
        note = f"restored family name {words[0]}->{known}"
        return " ".join([known, *words[1:]]), note
    return value, None


def _lost_or_doubled_letter(word: str) -> str | None:
    """The one family name that `word` becomes by adding or removing one letter (a letter
    lost under a seal or signature, "HẠM" for "PHẠM"; a vowel read twice, "NGUYÊỄN").
    Never a changed letter: "TRẦM" is a family name of its own, not a misread "TRẦN"."""
    listed = set(surnames().values())
    if word in listed or len(word) < 3:
        return None
    near = [
        name
        for name in listed
        if abs(len(name) - len(word)) == 1
        and max(len(name), len(word)) >= 4  # "HOÀ" is not a misread "HÀ"
        and Levenshtein.distance(name, word) == 1
    ]
    return near[0] if len(near) == 1 else None


# Between day, month and year: a separator, or a word ("tháng", "năm", as OCR reads them:
# "thúng", "nam"), or spaces.
_DATE_SEP = r"(?:\s*[/.\-]\s*|\s*[a-z]{1,6}\s*|\s+)"
_DAY_MONTH_YEAR = re.compile(rf"(?<!\d)(\d{{1,2}}){_DATE_SEP}(\d{{1,2}}){_DATE_SEP}(\d{{4}})(?!\d)")


def normalize_date(raw: str) -> Normalized:
    """ISO YYYY-MM-DD from dd/mm/yyyy, dd-mm-yyyy, dd.mm.yyyy, 'ngày 27 tháng 7 năm 2023'.

    The value is produced even for a date that does not exist (31/02): the validator
    marks it invalid, so the reader sees what was printed.
    """
    text = nfc(raw)
    changes: list[str] = []
    # Repair confusions only in tokens that are mostly digits already ("2O19", "l5").
    tokens = []
    for tok in re.split(r"(\s+|[/.\-,])", text):
        if tok and sum(c.isdigit() for c in tok) * 2 >= len(tok) and _DIGITISH.fullmatch(tok[0]):
            fixed, ch = repair_digits(tok)
            if all(c.isdigit() for c in fixed):
                tok, changes = fixed, changes + ch
        tokens.append(tok)
    text = fold("".join(tokens))
    iso = re.search(r"\b(\d{4})-(\d{1,2})-(\d{1,2})\b", text)
    if iso:
        year, month, day = iso.groups()
    else:
        match = _DAY_MONTH_YEAR.search(text)
        if not match:
            return None, "no date found"
        day, month, year = match.groups()
    return f"{int(year):04d}-{int(month):02d}-{int(day):02d}", _repair_note(changes)


def normalize_sex(raw: str) -> Normalized:
    words = re.findall(r"[a-z]+", fold(nfc(raw)))
    for word in words:
        if word in ("nam", "male", "m"):
            return "Nam", None
        if word in ("nu", "female", "f", "nuu"):
            return "Nữ", None
    # Two values only: one misread letter ("Ni", "Nan") still tells them apart.
    for word in words[:1]:
        near = {
            v for v, key in (("Nam", "nam"), ("Nữ", "nu")) if Levenshtein.distance(word, key) <= 1
        }
        if len(near) == 1 and word[:1] == "n":
            value = near.pop()
            return value, f"read {word!r} as {value}"
    return None, "neither Nam nor Nữ"


def normalize_area(raw: str) -> Normalized:
    """A decimal number of square metres; Vietnamese writes 1.250,5 (dot thousands)."""
    match = re.search(r"\d[\d.,\s]*", nfc(raw).replace("O", "0"))
    if not match:
        return None, "no number found"
    number = re.sub(r"\s", "", match.group()).rstrip(".,")
    if "," in number and "." in number:
        number = number.replace(".", "").replace(",", ".")
    elif "," in number:
        number = number.replace(",", ".") if number.count(",") == 1 else number.replace(",", "")
    elif number.count(".") > 1 or re.fullmatch(r"\d{1,3}\.\d{3}", number):
        number = number.replace(".", "")
    try:
        value = Decimal(number)
    except InvalidOperation:
        return None, "no number found"
    text = format(value.normalize(), "f")
    return text, None


def normalize_number(raw: str) -> Normalized:
    runs = _numeric_runs(nfc(raw))
    if not runs:
        return None, "no number found"
    value, changes = runs[0]
    return value.lstrip("0") or "0", _repair_note(changes)


def normalize_doc_number(raw: str) -> Normalized:
    """'1234 / QĐ-UBND' -> '1234/QĐ-UBND', 'CS  01234' -> 'CS 01234': NFC, single spaces,
    none around '/' and '-', no edge punctuation."""
    text = clean_text(raw)
    text = re.sub(r"\s*([/\-])\s*", r"\1", text)
    text = text.strip(_EDGE_PUNCT)
    if not re.search(r"\d", text):
        return None, "no number found"
    head = re.match(r"^[0-9" + re.escape("".join(DIGIT_CONFUSIONS)) + r"]+(?=/|$)", text)
    changes: list[str] = []
    if head and any(c.isdigit() for c in head.group()):
        fixed, changes = repair_digits(head.group())
        text = fixed + text[head.end() :]
    return text, _repair_note(changes)


def normalize_text(raw: str) -> Normalized:
    value = clean_text(raw)
    return (value or None), (None if value else "empty")


NORMALIZE: dict[str, Callable[[str], Normalized]] = {
    "text": normalize_text,
    "place": normalize_text,
    "name": normalize_name,
    "date": normalize_date,
    "id_number": normalize_id_number,
    "doc_number": normalize_doc_number,
    "sex": normalize_sex,
    "area": normalize_area,
    "phone": normalize_phone,
    "number": normalize_number,
}


def normalize(kind: str, raw: str) -> Normalized:
    return NORMALIZE[kind](raw)
