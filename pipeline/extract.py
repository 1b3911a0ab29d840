"""Field extraction: split a file's pages into documents, classify each, and read its fields
from the OCR words' geometry (value right of its label, or on the next line), with provenance.

Everything type-specific lives in the schema files (pipeline/schemas/*.yaml).
"""

from __future__ import annotations

import datetime as dt
import re
import statistics
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from rapidfuzz import fuzz

from pipeline.classify import UNKNOWN, classify_lines, fold_line, opening_type
from pipeline.model import BBox, Field, Page, Word
from pipeline.normalize import normalize
from pipeline.schemas import FieldSpec, Schemas, TypeSchema
from pipeline.textnorm import nfc
from pipeline.validate import validate_fields

EXTRACTOR = "dossier.extract.schema-geometry"
EXTRACTOR_VERSION = "1.0"

# A horizontal gap wider than this many word heights separates columns (a word space is
# about 0.35 of a word's height; column gaps in forms measured 2 and more).
COLUMN_GAP = 1.4
MOTTO = ("cong hoa xa hoi chu nghia viet nam", "doc lap tu do hanh phuc")
HEADER_FRACTION = 0.3  # the header block is the top 30% of a page


@dataclass
class DocumentAnalysis:
    first_page: int  # index into the `pages` list given (0-based, inclusive)
    last_page: int
    doc_type: str  # a FIELDS.md type or "unknown"
    doc_type_score: float
    fields: list[Field]  # Field.page is 0-based WITHIN the document


# ---------------------------------------------------------------- text and lines


@lru_cache(maxsize=4096)  # a page repeats a few hundred characters thousands of times
def _strip_char(ch: str, lower: bool) -> str:
    """One character without its marks (đ -> d), always one character long, so spans in
    the stripped text are spans in the original."""
    if ch in "đĐ":
        base = "d" if ch == "đ" else "D"
    else:
        base = "".join(c for c in unicodedata.normalize("NFD", ch) if not unicodedata.combining(c))
    base = base.lower() if lower else base
    return base if len(base) == 1 else (base[:1] or " ")


def strip_marks(text: str, lower: bool = True) -> str:
    """Length-preserving diacritic folding of NFC text (case kept when lower=False)."""
    return "".join(_strip_char(ch, lower) for ch in text)


@dataclass
class Token:
    text: str  # folded alphanumeric run
    word: int  # index of its word in the line
    end: int  # end offset of the run in the word's text


@dataclass
class Line:
    page: int  # 0-based page within the document
    words: list[Word]
    order: int = 0  # reading order within the document
    tokens: list[Token] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.words.sort(key=lambda w: w.bbox[0])
        for i, word in enumerate(self.words):
            for m in re.finditer(r"[a-z0-9]+", strip_marks(word.text)):
                self.tokens.append(Token(m.group(), i, m.end()))

    @property
    def top(self) -> int:
        return min(w.bbox[1] for w in self.words)

    @property
    def bottom(self) -> int:
        return max(w.bbox[3] for w in self.words)

    @property
    def height(self) -> float:
        return statistics.median(w.bbox[3] - w.bbox[1] for w in self.words) or 1.0

    @property
    def text(self) -> str:
        return " ".join(w.text for w in self.words)


def _rotation(page: Page) -> int:
    return (page.cleanup.rotation if page.cleanup is not None else 0) % 360


def upright_box(box: BBox, rotation: int, width: int, height: int) -> BBox:
    """A box in the page's pixels (as scanned) -> the same box on the page turned upright
    (`rotation` degrees clockwise, as cleanup turned it before OCR). Geometry (left of,
    below) only means something upright: a page scanned upside down reads bottom to top."""
    x0, y0, x1, y1 = box
    if rotation == 90:
        return (height - y1, x0, height - y0, x1)
    if rotation == 180:
        return (width - x1, height - y1, width - x0, height - y0)
    if rotation == 270:
        return (y0, width - x1, y1, width - x0)
    return box


def page_box(box: BBox, rotation: int, width: int, height: int) -> BBox:
    """The inverse of upright_box: an upright box back in the page's own pixels."""
    if rotation == 90:
        return upright_box(box, 270, height, width)
    if rotation == 270:
        return upright_box(box, 90, height, width)
    return upright_box(box, rotation, width, height)


def build_lines(page: Page, page_no: int) -> list[Line]:
    """Text lines of a page by geometry: Tesseract's lines, merged when they share a row
    (a label and its value printed far apart land in different OCR blocks). Boxes are
    those of the upright page (see upright_box)."""
    rotation = _rotation(page)
    groups: dict[int, list[Word]] = {}
    tall = [w.bbox[3] - w.bbox[1] for w in page.words if len(w.text.strip()) >= 3]
    debris = 0.45 * statistics.median(tall) if tall else 0.0
    for word in page.words:
        if word.text and word.text.strip():
            text = word.text.strip()
            if len(text) <= 2 and word.bbox[3] - word.bbox[1] < debris and re.search(r"\w", text):
                # A tone mark or speck Tesseract read on its own as a letter ("Ấ" over
                # a word): it would pose as a value or break a line.
                continue
            # A copy in NFC: token offsets index the NFC text; the caller's page is untouched.
            box = upright_box(word.bbox, rotation, page.width, page.height)
            copy = Word(nfc(text), box, word.confidence, word.line_id)
            groups.setdefault(word.line_id, []).append(copy)
    rows: list[list[Word]] = []
    for words in sorted(groups.values(), key=lambda ws: _center(ws)):
        for row in rows:
            if _same_row(row, words):
                row.extend(words)
                break
        else:
            rows.append(list(words))
    lines = [Line(page_no, row) for row in rows]
    lines.sort(key=lambda line: (line.top + line.bottom) / 2)
    return lines


def _center(words: list[Word]) -> float:
    return (min(w.bbox[1] for w in words) + max(w.bbox[3] for w in words)) / 2


def _same_row(row: list[Word], words: list[Word]) -> bool:
    top_a, bot_a = min(w.bbox[1] for w in row), max(w.bbox[3] for w in row)
    top_b, bot_b = min(w.bbox[1] for w in words), max(w.bbox[3] for w in words)
    overlap = min(bot_a, bot_b) - max(top_a, top_b)
    if overlap < 0.6 * min(bot_a - top_a, bot_b - top_b):
        return False
    # Side by side, never on top of each other.
    left_a, right_a = min(w.bbox[0] for w in row), max(w.bbox[2] for w in row)
    left_b, right_b = min(w.bbox[0] for w in words), max(w.bbox[2] for w in words)
    return right_a <= left_b or right_b <= left_a


def split_parts(words: list[Word], height: float) -> list[list[Word]]:
    """Split a run of words at column-wide gaps."""
    parts: list[list[Word]] = []
    for word in words:
        if parts and word.bbox[0] - parts[-1][-1].bbox[2] > COLUMN_GAP * height:
            parts.append([word])
        elif parts:
            parts[-1].append(word)
        else:
            parts.append([word])
    return parts


def segments(line: Line) -> list[list[int]]:
    """Word indices of a row's pieces: one per OCR line, split again at column gaps."""
    out: list[list[int]] = []
    for i, word in enumerate(line.words):
        prev = line.words[i - 1] if i else None
        if (
            prev is None
            or prev.line_id != word.line_id
            or word.bbox[0] - prev.bbox[2] > COLUMN_GAP * line.height
        ):
            out.append([i])
        else:
            out[-1].append(i)
    return out


# ---------------------------------------------------------------- labels


@dataclass(frozen=True)
class Label:
    text: str  # folded tokens joined by spaces
    fields: frozenset[str]
    colon: bool = False  # written "Đề nghị:" in the schema: only counts before a ':'

    @property
    def compact(self) -> str:
        return self.text.replace(" ", "")

    @property
    def strong(self) -> bool:
        """Long labels are found anywhere; short ones ("Số", "No") need a ':' after them."""
        return len(self.compact) >= 6 and " " in self.text

    @property
    def needs_separator(self) -> bool:
        return self.colon or not self.strong


@dataclass
class LabelMatch:
    line: Line
    start: int  # token range [start, end)
    end: int
    fields: frozenset[str]
    length: int


def schema_labels(schema: TypeSchema) -> list[Label]:
    by_text: dict[tuple[str, bool], set[str]] = {}
    for spec in schema.fields:
        for label in spec.labels:
            key = (fold_line(label), label.rstrip().endswith(":"))
            by_text.setdefault(key, set()).add(spec.name)
    return [Label(t, frozenset(names), colon) for (t, colon), names in by_text.items() if t]


def _colon_after(line: Line, token: Token) -> bool:
    rest = line.words[token.word].text[token.end :]
    if rest.strip():
        return rest.lstrip()[:1] == ":"
    nxt = line.words[token.word + 1].text if token.word + 1 < len(line.words) else ""
    return nxt[:1] == ":"


def _followed_by_separator(line: Line, token: Token) -> bool:
    word = line.words[token.word].text
    rest = word[token.end :]
    if rest[:1] in (":", ".", "/"):
        return True
    if rest.strip():
        return False
    nxt = line.words[token.word + 1].text if token.word + 1 < len(line.words) else ""
    return nxt[:1] in (":", "/")


def _ends_agree(label: Label, window: str, last_token: str) -> bool:
    """The window must start and end like the label: "ho chu dem ten nguyen" is the name
    label followed by a name, not a misread "ho chu dem ten nguoi me". A last word cut
    short by OCR ("người m:" for "người mẹ:") still ends like it."""
    first, last = label.text.split()[0], label.text.split()[-1]
    return fuzz.ratio(first, window[: len(first)]) >= 66 and (
        fuzz.ratio(last, window[-len(last) :]) >= 66 or last.startswith(last_token)
    )


def find_labels(line: Line, labels: Sequence[Label]) -> list[LabelMatch]:
    """Non-overlapping label occurrences on a line, longest first; adjacent labels of one
    field ("Họ và tên / Full name") merge into one."""
    toks = [t.text for t in line.tokens]
    candidates: list[tuple[int, float, int, int, Label]] = []
    for label in labels:
        n = len(label.text.split())
        target, strong = label.compact, label.strong  # properties: computed once a label
        for start in range(len(toks)):
            best, best_end = 0.0, 0
            # OCR splits and glues words: try one token fewer and one more.
            for size in {max(n - 1, 1), n, n + 1}:
                end = start + size
                if end > len(toks):
                    continue
                window = "".join(toks[start:end])
                if strong:
                    score = fuzz.ratio(target, window)
                    needed = 85 if len(target) >= 10 and size == n else 90
                    # The ends are compared only for a window that would be taken.
                    if score < needed or score <= best:
                        continue
                    if not _ends_agree(label, window, toks[end - 1]):
                        continue
                else:
                    score = 100.0 if window == target else 0.0
                    needed = 100
                if score >= needed and score > best:
                    best, best_end = score, end
            if not best:
                continue
            # A label never runs over a ':' ("Mục đích sử dụng: Đất ở" is not "... sử dụng đất").
            if any(_colon_after(line, line.tokens[i]) for i in range(start, best_end - 1)):
                continue
            sep = _followed_by_separator(line, line.tokens[best_end - 1])
            if label.needs_separator and not sep:
                continue
            candidates.append((len(target), best, start, best_end, label))
    candidates.sort(key=lambda c: (-c[0], -c[1], c[2]))
    taken: list[LabelMatch] = []
    for length, _, start, end, label in candidates:
        if any(start < m.end and m.start < end for m in taken):
            continue
        taken.append(LabelMatch(line, start, end, label.fields, length))
    taken.sort(key=lambda m: m.start)
    merged: list[LabelMatch] = []
    for match in taken:
        prev = merged[-1] if merged else None
        if prev and prev.end == match.start and prev.fields & match.fields:
            merged[-1] = LabelMatch(line, prev.start, match.end, prev.fields & match.fields, 0)
        else:
            merged.append(match)
    return merged


# ---------------------------------------------------------------- values


@dataclass
class Value:
    """A located value: the words read and the text (a glued label remainder trimmed)."""

    words: list[Word]
    text: str
    page: int
    line: Line  # the (last) line it was read on


def _value_words(line: Line, start_token: int | None, end_token: int | None) -> list[Word]:
    """Words of `line` between two token positions; a word a label is glued to
    ("sinh:04/03/2019") contributes only what follows the label."""
    first_word = line.tokens[start_token - 1].word if start_token else -1
    stop = line.tokens[end_token].word if end_token is not None else len(line.words)
    words = line.words[first_word + 1 : stop]
    if start_token and first_word < stop:
        tok = line.tokens[start_token - 1]
        glued = line.words[tok.word]
        head = glued.text[tok.end :]
        if re.search(r"\w", head):
            words = [Word(head, glued.bbox, glued.confidence, glued.line_id), *words]
    return words


_LEADER = re.compile(r"\.{3,}|…|_{3,}|·{3,}")
NOISE_CONFIDENCE = 30.0  # Tesseract's guesses at stamps and leaders score below this


def tidy_words(words: list[Word]) -> list[Word]:
    """A value's words without the form around it: leading separators and dotted leaders,
    everything after the leader that follows the value (what OCR makes of the dots), and
    trailing low-confidence noise (stamps, specks)."""
    out: list[Word] = []
    for word in words:
        text = word.text
        if not out:
            text = text.lstrip(" .…_·:;-–—|")
            if not re.search(r"\w", text):
                continue
        leader = _LEADER.search(text)
        if leader and re.search(r"\w", text[: leader.start()]):
            # Tesseract scores a word glued to dots low: its confidence says nothing here.
            out.append(Word(text[: leader.start()], word.bbox, word.confidence, word.line_id))
            return out
        if leader:
            text = _LEADER.sub("", text)
            if not re.search(r"\w", text):
                if out:
                    break
                continue
        out.append(Word(text, word.bbox, word.confidence, word.line_id))
    while out and (out[-1].confidence < NOISE_CONFIDENCE or not re.search(r"\w", out[-1].text)):
        out.pop()
    return out


def _all_caps(text: str) -> bool:
    letters = [c for c in text if c.isalpha()]
    return len(letters) >= 3 and all(c.isupper() for c in letters)


def _meaningful(words: list[Word]) -> list[Word]:
    """Drop separators and dotted leaders: words without a letter or digit."""
    return [w for w in words if re.search(r"\w", w.text)]


def _trim(words: list[Word]) -> list[Word]:
    """Without the words that carry no letter or digit at either end."""
    kept = [i for i, w in enumerate(words) if re.search(r"\w", w.text)]
    return words[kept[0] : kept[-1] + 1] if kept else []


class _DocumentLines:
    """The lines of one document in reading order, with their label matches."""

    def __init__(self, lines: list[Line], labels: list[Label], pages: Sequence[Page]):
        self.lines = lines
        self.pages = pages
        for i, line in enumerate(lines):
            line.order = i
        self.matches = {line.order: find_labels(line, labels) for line in lines}
        self._gaps: dict[int, float] = {}

    def next_line(self, line: Line) -> Line | None:
        nxt = line.order + 1
        if nxt < len(self.lines) and self.lines[nxt].page == line.page:
            return self.lines[nxt]
        return None

    def value_below(self, match: LabelMatch) -> tuple[list[Word], Line] | None:
        """The value printed under a label that has none beside it: the next line's piece
        in the label's column ("Họ và tên / Full name:" over the name). The other language's
        label on its own piece is skipped ("Có giá trị đến:" / "Date of expiry" / date)."""
        return next(self.pieces_below(match), None)

    def pieces_below(self, match: LabelMatch) -> Iterator[tuple[list[Word], Line]]:
        """The pieces in the label's column on the (at most two) lines under it, down to
        another field's label: value_below's first, then the next (a misread translated
        label, "Dư 0ƒ expiry", stands between the label and its value)."""
        line = match.line
        left = line.words[line.tokens[match.start].word].bbox[0] - 2 * line.height
        right = line.words[line.tokens[match.end - 1].word].bbox[2]
        nxt = self.next_line(line)
        for _ in range(2):
            if nxt is None or nxt.top - line.bottom > 2.5 * line.height:
                return
            pieces = [
                seg
                for seg in segments(nxt)
                if nxt.words[seg[0]].bbox[0] >= left and nxt.words[seg[0]].bbox[0] < right
            ]
            if not pieces:
                return
            piece = pieces[0]
            labels = [
                m
                for m in self.matches[nxt.order]
                if piece[0] <= nxt.tokens[m.start].word <= piece[-1]
            ]
            at_start = [m for m in labels if nxt.tokens[m.start].word == piece[0]]
            if at_start and at_start[0].fields & match.fields:
                last = nxt.tokens[at_start[0].end - 1].word
                if last == piece[-1]:
                    line, nxt = nxt, self.next_line(nxt)  # the same label, translated
                    continue
            if at_start:
                return  # another field's label: this one has no value
            stop = min((nxt.tokens[m.start].word for m in labels), default=piece[-1] + 1)
            words = tidy_words(nxt.words[piece[0] : stop])
            if words:
                yield words, nxt
            line, nxt = nxt, self.next_line(nxt)

    def values_after(self, match: LabelMatch) -> list[Value | None]:
        """The value(s) right of a label (until the next label), else on the next line.
        Several gap-separated parts are several values (two-column forms)."""
        line = match.line
        matches = self.matches[line.order]
        following = [m.start for m in matches if m.start >= match.end]
        end_token = following[0] if following else None
        words = tidy_words(_value_words(line, match.end, end_token))
        if not words:
            below = self.value_below(match)
            if below is None:
                return [None]
            words, line = below
        # Punctuation inside a value is the value's ("Phụ sản - Nhi"); at its ends it is not.
        parts = [p for p in map(_trim, split_parts(words, line.height)) if p]
        if len(parts) > 1:
            # A table's vertical rule read as "|", "l" or "I" is not a value.
            parts = [p for p in parts if not (len(p) == 1 and len(p[0].text) == 1)] or parts
        if not parts:
            return [None]
        return [Value(p, " ".join(w.text for w in p), line.page, line) for p in parts]

    def continuation(self, value: Value, match: LabelMatch, stop_patterns: list[str]) -> Value:
        """Join the next line to a multi-line value (a long address): the part of it in the
        value's column, when that part carries no label and sits just below."""
        line = value.line
        # The column: from the label when the value stands beside it, else from the value.
        if value.line is match.line:
            left = match.line.words[match.line.tokens[match.start].word].bbox[0]
        else:
            left = min(w.bbox[0] for w in value.words)
        left -= line.height
        right = max(w.bbox[2] for w in value.words)
        nxt: Line | None = line
        chosen: list[int] = []
        # A row with nothing readable in the column (another column's label, tone marks
        # read apart) lies between the value and its continuation: look one row further.
        for _ in range(2):
            nxt = self.next_line(nxt)
            if nxt is None or nxt.top - line.bottom > self.line_gap(line.page) + 0.35 * line.height:
                return value
            chosen = [
                i
                for seg in segments(nxt)
                if nxt.words[seg[-1]].bbox[2] > left and nxt.words[seg[0]].bbox[0] < right
                for i in seg
            ]
            if any(re.search(r"\w", nxt.words[i].text) for i in chosen):
                break
        else:
            return value
        if not chosen or nxt.words[chosen[0]].bbox[0] < left:
            return value
        labelled = {
            nxt.tokens[t].word for m in self.matches[nxt.order] for t in range(m.start, m.end)
        }
        if labelled & set(chosen):
            return value
        words = [nxt.words[i] for i in chosen]
        text = " ".join(w.text for w in words)
        # A numbered item ("8.", "a)", "-") or an unknown "Label: value" line starts anew.
        head = [w.text for w in words[:6]]
        if re.match(r"^(\d{1,2}[.)]|[a-zđ][.)]|[-–•+*])", head[0]) or any(
            t.endswith(":") for t in head
        ):
            return value
        # A mixed-case value does not continue into an all-capitals heading.
        if _all_caps(text) and not _all_caps(value.text):
            return value
        if any(re.search(p, strip_marks(text), re.IGNORECASE) for p in stop_patterns):
            return value
        # (A short remainder such as "An" sits inside any long phrase: only lines count.)
        if len(fold_line(text)) >= 10 and any(
            fuzz.partial_ratio(m, fold_line(text)) >= 85 for m in MOTTO
        ):
            return value
        more = tidy_words(words)
        if not more:
            return value
        text = value.text + " " + " ".join(w.text for w in more)
        return Value(value.words + more, text, value.page, nxt)

    def line_gap(self, page: int) -> float:
        """Median vertical gap between consecutive lines of a page (the line spacing)."""
        if page not in self._gaps:
            lines = [li for li in self.lines if li.page == page]
            gaps = [b.top - a.bottom for a, b in zip(lines, lines[1:], strict=False)]
            gaps = [g for g in gaps if g >= 0]
            self._gaps[page] = statistics.median(gaps) if gaps else 0.0
        return self._gaps[page]

    def in_region(self, line: Line, region: str) -> bool:
        if region == "any":
            return True
        # Relative to where the page's text is, not the paper: a card lies mid-page, a
        # last page may hold only a few lines.
        same_page = [li for li in self.lines if li.page == line.page]
        top, bottom = same_page[0].top, max(li.bottom for li in same_page)
        share = ((line.top + line.bottom) / 2 - top) / max(bottom - top, 1)
        first, last = self.lines[0].page, self.lines[-1].page
        if region == "header":
            return line.page == first and share < HEADER_FRACTION
        if region == "footer":
            return line.page == last and share > 0.5
        return not (self.in_region(line, "header") or self.in_region(line, "footer"))


def _section_start(doc: _DocumentLines, phrase: str | None) -> int:
    if not phrase:
        return 0
    target = fold_line(phrase)
    for line in doc.lines:
        if fuzz.partial_ratio(target, fold_line(line.text)) >= 90:
            return line.order
    return len(doc.lines)


def locate_label(doc: _DocumentLines, spec: FieldSpec, stop_patterns: list[str]) -> Value | None:
    after = _section_start(doc, spec.after)
    found: list[tuple[Value | None, LabelMatch]] = []
    for line in doc.lines[after:]:
        for match in doc.matches[line.order]:
            if spec.name in match.fields:
                found.extend((v, match) for v in doc.values_after(match))
    if len(found) < spec.nth:
        return None
    value, match = found[spec.nth - 1]
    if spec.nth == 1:
        # One value wanted: the first that reads as this field's kind (a date for a date).
        readable = [(v, m) for v, m in found if v and normalize(spec.normalizer, v.text)[0]]
        if not readable:
            # What stands beside the label is another column's text (a card's expiry
            # label shares its row with the address): the value may be under the label.
            for m in {id(m): m for _, m in found}.values():
                for words, line in doc.pieces_below(m):
                    text = " ".join(w.text for w in words)
                    if normalize(spec.normalizer, text)[0]:
                        readable = [(Value(words, text, line.page, line), m)]
                        break
                if readable:
                    break
        if readable:
            value, match = readable[0]
    if value is None:
        return None
    if spec.multiline and len([v for v, m in found if m is match]) == 1:
        value = doc.continuation(value, match, stop_patterns)
    return value


def _continue_line(
    doc: _DocumentLines, line: Line, value: Value, pattern: str, flags: int
) -> Value:
    """Append the segments just below `value`, in its column, that match `pattern`."""
    for _ in range(2):
        nxt = doc.next_line(line)
        if nxt is None or nxt.top - line.bottom > doc.line_gap(line.page) + 0.5 * line.height:
            break
        left = min(w.bbox[0] for w in value.words)
        right = max(w.bbox[2] for w in value.words)
        below = [
            part
            for part in split_parts(nxt.words, nxt.height)
            if part[0].bbox[0] < right and part[-1].bbox[2] > left
        ]
        if len(below) != 1:
            break
        text = " ".join(w.text for w in below[0])
        if not re.fullmatch(pattern, strip_marks(text, lower=False).strip(), flags):
            break
        value = Value(value.words + below[0], f"{value.text} {text}", value.page, nxt)
        line = nxt
    return value


def locate_line(doc: _DocumentLines, spec: FieldSpec) -> Value | None:
    """A value found by a pattern over a line's column segments (the place-and-date line,
    the issuing authority in the header, the name under the signature)."""
    flags = 0 if spec.case_sensitive else re.IGNORECASE
    hits: list[Value] = []
    after = _section_start(doc, spec.after)
    for line in doc.lines[after:]:
        if not doc.in_region(line, spec.region):
            continue
        for part in split_parts(line.words, line.height):
            while part and part[0].confidence < NOISE_CONFIDENCE:
                part = part[1:]
            while part and part[-1].confidence < NOISE_CONFIDENCE:
                part = part[:-1]
            if not part:
                continue
            text = " ".join(w.text for w in part)
            match = re.search(spec.line_pattern or "", strip_marks(text, lower=False), flags)
            if not match:
                continue
            group = "value" if "value" in match.re.groupindex else 0
            start, end = match.span(group)
            if start == end:
                continue
            words, offset = [], 0
            for w in part:
                if offset < end and offset + len(w.text) > start:
                    words.append(w)
                offset += len(w.text) + 1
            value = Value(words, text[start:end], line.page, line)
            if spec.continue_pattern:
                value = _continue_line(doc, line, value, spec.continue_pattern, flags)
            hits.append(value)
    if not hits:
        return None
    return hits[0] if spec.select == "first" else hits[-1]


# ---------------------------------------------------------------- fields


def _bbox(words: list[Word]) -> BBox | None:
    if not words:
        return None
    return (
        min(w.bbox[0] for w in words),
        min(w.bbox[1] for w in words),
        max(w.bbox[2] for w in words),
        max(w.bbox[3] for w in words),
    )


def _field_box(words: list[Word], page: Page | None) -> BBox | None:
    box = _bbox(words)
    if box is None or page is None:
        return box
    return page_box(box, _rotation(page), page.width, page.height)


def make_field(spec: FieldSpec, value: Value, page: Page | None = None) -> Field:
    """The field read from `value`; its box in `page`'s own pixels (as scanned)."""
    raw = re.sub(r"\s+", " ", value.text).strip()
    text = raw
    if spec.value_pattern:
        flags = 0 if spec.case_sensitive else re.IGNORECASE
        m = re.search(spec.value_pattern, strip_marks(raw, lower=False), flags)
        if m:
            group = "value" if "value" in m.re.groupindex else 0
            text = raw[m.start(group) : m.end(group)]
    normalized, note = normalize(spec.normalizer, text)
    words = _meaningful(value.words) or value.words
    confidence = sum(w.confidence for w in words) / len(words) if words else 0.0
    return Field(
        name=spec.name,
        value=normalized,
        raw=raw,
        confidence=round(confidence, 1),
        page=value.page,
        bbox=_field_box(words, page),
        extractor=EXTRACTOR,
        extractor_version=EXTRACTOR_VERSION,
        valid=normalized is not None,
        reason=note,
    )


def extract_fields(
    schema: TypeSchema, lines: list[Line], pages: Sequence[Page], today: dt.date
) -> list[Field]:
    """Every field of `schema` found in a document's lines, normalized and validated."""
    doc = _DocumentLines(lines, schema_labels(schema), pages)
    stop_patterns = [s.line_pattern for s in schema.fields if s.line_pattern]
    fields: list[Field] = []
    for spec in schema.fields:
        if spec.locate == "line":
            value = locate_line(doc, spec)
        else:
            value = locate_label(doc, spec, stop_patterns)
        if value is not None and _meaningful(value.words):
            page = pages[value.page] if value.page < len(pages) else None
            fields.append(make_field(spec, value, page))
    return validate_fields(fields, schema, today)


# ---------------------------------------------------------------- documents


def opens_document(schemas: Schemas, lines: list[Line], page: Page) -> bool:
    """A page opens a new document when its header block shows the national motto, or a
    type's title stands near its top."""
    if not lines:
        return False
    # Relative to the text, not the paper: a card scanned on an A4 sheet lies mid-page.
    top, bottom = lines[0].top, max(li.bottom for li in lines)
    cut = top + HEADER_FRACTION * (bottom - top)
    header = [li for li in lines if li.bottom <= cut] or lines[:3]
    folded = [fold_line(li.text) for li in header]
    if any(fuzz.partial_ratio(m, f) >= 88 for m in MOTTO for f in folded if len(f) >= 10):
        return True
    titled = [li.text for li in header if not li.text.rstrip().endswith(":")]
    return opening_type(schemas, titled) is not None


def split_documents(
    schemas: Schemas, page_lines: list[list[Line]], pages: Sequence[Page]
) -> list[tuple[int, int]]:
    """Page ranges of the documents in a file: each opening page starts a new one."""
    if not pages:
        return []
    starts = [0] + [
        i for i in range(1, len(pages)) if opens_document(schemas, page_lines[i], pages[i])
    ]
    ends = [s - 1 for s in starts[1:]] + [len(pages) - 1]
    return list(zip(starts, ends, strict=True))


def analyze(
    pages: list[Page], schemas: Schemas, *, today: dt.date | None = None
) -> list[DocumentAnalysis]:
    """Split a file's pages into documents (batch scans), classify each, extract its fields."""
    today = today or dt.date.today()
    page_lines = [build_lines(page, 0) for page in pages]
    return [
        analyze_document(schemas, page_lines, pages, first, last, today)
        for first, last in split_documents(schemas, page_lines, pages)
    ]


def analyze_document(
    schemas: Schemas,
    page_lines: Sequence[list[Line]],
    pages: Sequence[Page],
    first: int,
    last: int,
    today: dt.date,
) -> DocumentAnalysis:
    """Classify pages first..last (one document, their lines from build_lines) and
    extract its fields; a batch that streams a long file calls it per document."""
    lines: list[Line] = []
    for offset, i in enumerate(range(first, last + 1)):
        for line in page_lines[i]:
            line.page = offset
            lines.append(line)
    verdict = classify_lines(schemas, [line.text for line in lines])
    fields: list[Field] = []
    if verdict.doc_type != UNKNOWN:
        fields = extract_fields(schemas[verdict.doc_type], lines, pages[first : last + 1], today)
    return DocumentAnalysis(first, last, verdict.doc_type, verdict.score, fields)
