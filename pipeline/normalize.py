"""Normalizers: turn a field's raw OCR text into its canonical form (FIELDS.md).

Each returns `(value, note)`: value None when nothing usable is in the text; note says
what was repaired (recorded in Field.reason) or why nothing could be read.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
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


# Words that open an address part or name an office's level. OCR confuses their marks
# ("Tính", "Phương", "TÍNH"); where one is expected, the folded word tells which it is.
UNIT_WORDS = ("Tỉnh", "Thành phố", "Huyện", "Quận", "Thị xã", "Thị trấn", "Phường", "Xã")
PROVINCES_FILE = Path(__file__).parent / "data" / "provinces.yaml"


@cache
def _province_names() -> dict[tuple[str, ...], str]:
    """Folded words of each province's name -> the name as written."""
    data = yaml.safe_load(PROVINCES_FILE.read_text(encoding="utf-8"))
    return {tuple(fold(nfc(name)).split()): nfc(name) for name in data.values()}


def _bare(word: str) -> str:
    return fold(word.strip(_EDGE_PUNCT))


def _in_case_of(canonical: str, written: list[str]) -> str:
    """`canonical` in the letter case of the words it replaces (UPPER, Title or lower)."""
    letters = "".join(written)
    if letters.isupper():
        return canonical.upper()
    if written[0][:1].islower():
        return canonical.lower()
    return canonical


def _swap(words: list[str], start: int, size: int, canonical: str) -> tuple[str, str] | None:
    """Replace words[start:start+size] by `canonical` (their edge punctuation kept)."""
    old = words[start : start + size]
    core = [w.strip(_EDGE_PUNCT) for w in old]
    lead = old[0][: len(old[0]) - len(old[0].lstrip(_EDGE_PUNCT))]
    trail = old[-1][len(old[-1].rstrip(_EDGE_PUNCT)) :]
    new = _in_case_of(canonical, core).split(" ")
    if new == core:
        return None
    new[0], new[-1] = lead + new[0], new[-1] + trail
    words[start : start + size] = new
    return " ".join(core), " ".join(new).strip(_EDGE_PUNCT)


def _match_at(
    words: list[str], i: int, names: Sequence[tuple[tuple[str, ...], str]]
) -> tuple[int, str] | None:
    # Each word folded once for all the names (not once per name: ~60 provinces).
    bare: list[str] = []
    for folded, canonical in names:
        n = len(folded)
        while len(bare) < n and i + len(bare) < len(words):
            bare.append(_bare(words[i + len(bare)]))
        if tuple(bare[:n]) == folded:
            return n, canonical
    return None


def normalize_place(raw: str) -> Normalized:
    """An address or an office, as text, with the marks of its administrative-unit words
    and of a province's name put right where OCR got them wrong: a unit word opening an
    address part ("..., Phương Lê Lợi" -> "Phường"), before a province ("TÍNH QUẢNG
    NINH"), and a province name ending the text or following its unit word ("Dak Lak")."""
    value, note = normalize_text(raw)
    if value is None:
        return value, note
    words = value.split(" ")
    units = [(tuple(fold(u).split()), u) for u in UNIT_WORDS]
    provinces = sorted(_province_names().items(), key=lambda kv: -len(kv[0]))
    changes = []
    part_start = True
    i = 0
    while i < len(words):
        unit = _match_at(words, i, units)
        after = i + unit[0] if unit else i
        province = _match_at(words, after, provinces)
        is_last = province is not None and after + province[0] == len(words)
        ends_part = province is not None and words[after + province[0] - 1].endswith(",")
        if unit and (part_start or (province and fold(unit[1]) == "tinh")):
            changes.append(_swap(words, i, *unit))
        if province and (
            unit
            and fold(unit[1]) in ("tinh", "thanh pho")
            or ((part_start or unit) and (is_last or ends_part))
        ):
            changes.append(_swap(words, after, *province))
        part_start = words[i].endswith(",")
        i += 1
    done = [f"{a}->{b}" for a, b in filter(None, changes)]
    return " ".join(words), ("restored marks " + ", ".join(done)) if done else None


NORMALIZE: dict[str, Callable[[str], Normalized]] = {
    "text": normalize_text,
    "place": normalize_place,
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
