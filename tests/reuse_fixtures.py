"""Adversarial set for reuse tests: one paper re-scanned many ways (must be reused), and
papers built to fool a reuse check (must not be): the same template filled for another
person, another document number, one changed ID digit, one changed letter or tone mark.

Built on samples/generate.py, so the pages look like the committed samples. A variant keeps
the original's layout, style and ink seed (same signature, same seal) and changes only the
text asked for: the hardest case for an image comparison."""

from __future__ import annotations

import copy
import importlib.util
import io
import random
import sys
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image

SAMPLES = Path(__file__).resolve().parent.parent / "samples"


def generator():
    """samples/generate.py as a module (it is a script, not a package)."""
    module = sys.modules.get("samples_generate")
    if module is None:
        spec = importlib.util.spec_from_file_location("samples_generate", SAMPLES / "generate.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules["samples_generate"] = module
        spec.loader.exec_module(module)
    return module


# --- papers and their impostors ----------------------------------------------------------


def paper(doc_type: str, seed: int) -> dict[str, Any]:
    """The spec of one invented filled-in paper of `doc_type`."""
    gen = generator()
    rng = random.Random(f"near:{doc_type}:{seed}")
    person = gen.make_person(rng, born_between=(gen.dt.date(1960, 1, 1), gen.dt.date(2004, 1, 1)))
    return gen.make_spec(doc_type, person, rng)


def replace_text(spec: dict[str, Any], old: str, new: str) -> dict[str, Any]:
    """A copy of `spec` with every occurrence of `old` in its text replaced by `new`."""
    if old == new or not old:
        raise ValueError("a variant must change something")

    def walk(value: Any) -> Any:
        if isinstance(value, str):
            return value.replace(old, new)
        if isinstance(value, list):
            return [walk(v) for v in value]
        if isinstance(value, tuple):
            return tuple(walk(v) for v in value)
        if isinstance(value, dict):
            return {k: walk(v) for k, v in value.items()}
        return value

    changed = walk(copy.deepcopy(spec))
    if changed == spec:
        raise ValueError(f"{old!r} does not occur in the spec")
    return changed


def _other_digit(digit: str) -> str:
    # The look-alike digit: the hardest one-digit change for an image comparison.
    return {"0": "8", "1": "7", "2": "7", "3": "8", "4": "1", "5": "6", "6": "5", "7": "1",
            "8": "3", "9": "8"}[digit]  # fmt: skip


def _id_field(spec: dict[str, Any]) -> str:
    return next(k for k in spec["fields"] if k.endswith("id_number") and spec["fields"][k])


def _name_field(spec: dict[str, Any]) -> str:
    return next(k for k in ("full_name", "holder_name", "applicant_name", "husband_name")
                if spec["fields"].get(k))  # fmt: skip


# Vowels with a near-twin that differs only by a tone mark or a hat.
_MARK_TWINS = {"Ễ": "Ê", "Ê": "Ễ", "Ă": "Ắ", "Ắ": "Ă", "Ơ": "Ờ", "Ờ": "Ơ", "Ư": "Ừ", "Ừ": "Ư",
               "Ô": "Ố", "Ố": "Ô", "Ạ": "A", "Ấ": "Â", "Â": "Ấ", "Ị": "I", "Ả": "A", "Ã": "A",
               "Á": "A", "À": "A", "Ó": "O", "Ò": "O", "Ú": "U", "Ù": "U", "Í": "I", "Ì": "I",
               "É": "E", "È": "E", "Ý": "Y", "Ỳ": "Y", "Ồ": "Ô", "Ế": "Ê", "Ề": "Ê",
               "Ệ": "Ê", "Ậ": "Â", "Ầ": "Â", "Ứ": "Ư", "Ữ": "Ư", "Ợ": "Ơ", "Ớ": "Ơ", "Ở": "Ơ",
               "Ộ": "Ô", "Ỗ": "Ô", "Ổ": "Ô", "Ỹ": "Y", "Ỷ": "Y", "Ĩ": "I", "Ỉ": "I", "Ũ": "U",
               "Ủ": "U", "Ụ": "U", "Ọ": "O", "Ỏ": "O", "Õ": "O", "Ẹ": "E", "Ẻ": "E", "Ẽ": "E",
               "Ẩ": "Â", "Ẫ": "Â", "Ằ": "Ă", "Ẳ": "Ă", "Ẵ": "Ă", "Ặ": "Ă",
               "Ử": "Ư", "Ự": "Ư", "Ỡ": "Ơ"}  # fmt: skip
# One letter for a look-alike one: N/M, H/K, I/L, ...
_LETTER_TWINS = {"N": "M", "M": "N", "H": "K", "I": "L", "L": "I", "T": "I", "O": "Q", "C": "G",
                 "G": "C", "E": "F", "U": "V", "V": "U", "A": "Â", "Y": "V", "P": "R", "R": "P",
                 "D": "O", "B": "E", "S": "B"}  # fmt: skip


def impostors(spec: dict[str, Any], seed: int = 0) -> dict[str, dict[str, Any]]:
    """Specs that must never be reused for `spec`, by what makes them different."""
    gen = generator()
    rng = random.Random(f"impostor:{seed}")
    fields = spec["fields"]
    out: dict[str, dict[str, Any]] = {}

    # The same template and style (and ink seed) for another person.
    person = gen.make_person(rng, born_between=(gen.dt.date(1960, 1, 1), gen.dt.date(2004, 1, 1)))
    other = gen.make_spec(spec["doc_type"], person, rng, style=copy.deepcopy(spec["style"]))
    other["ink_seed"] = spec["ink_seed"]
    out["other_person"] = other

    id_key = _id_field(spec)
    number = fields[id_key]
    last = number[-1]
    out["id_last_digit"] = replace_text(spec, number, number[:-1] + _other_digit(last))
    middle = len(number) // 2
    out["id_middle_digit"] = replace_text(
        spec, number, number[:middle] + _other_digit(number[middle]) + number[middle + 1 :]
    )
    if fields.get("doc_number"):
        doc = fields["doc_number"]
        position = next(i for i, ch in enumerate(doc) if ch.isdigit())
        changed = doc[:position] + _other_digit(doc[position]) + doc[position + 1 :]
        out["other_doc_number"] = replace_text(spec, doc, changed)

    name = fields[_name_field(spec)]
    letters = [i for i, ch in enumerate(name) if ch in _LETTER_TWINS]
    i = letters[-1]
    out["name_one_letter"] = replace_text(
        spec, name, name[:i] + _LETTER_TWINS[name[i]] + name[i + 1 :]
    )
    marks = [i for i, ch in enumerate(name) if ch in _MARK_TWINS]
    if marks:
        i = marks[0]
        out["name_diacritic"] = replace_text(
            spec, name, name[:i] + _MARK_TWINS[name[i]] + name[i + 1 :]
        )
    else:  # give the name a tone mark it did not have
        i = next(i for i, ch in enumerate(name) if ch in "AEIOUY")
        twin = {"A": "Á", "E": "É", "I": "Í", "O": "Ó", "U": "Ú", "Y": "Ý"}[name[i]]
        out["name_diacritic"] = replace_text(spec, name, name[:i] + twin + name[i + 1 :])
    return out


# Fields a near-reuse confirmation re-reads (pipeline/nearmatch.KEY_FIELDS): a change
# elsewhere is guarded by the ink comparison alone.
_KEY_FIELD_SUFFIXES = ("id_number", "doc_number", "name")


def non_key_changes(spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Specs that differ from `spec` by one digit outside its key fields: the house number
    of an address, the year of birth. Not the same paper either; reported apart from the
    impostors because only the ink comparison, not the re-reading, can catch them."""
    fields = spec["fields"]
    keys = " ".join(v for k, v in fields.items() if k.endswith(_KEY_FIELD_SUFFIXES))
    out: dict[str, dict[str, Any]] = {}
    for name in ("place_of_residence", "applicant_address"):
        words = fields.get(name, "").split()
        if len(words) > 1 and words[0] == "Số" and words[1].rstrip(",").isdigit():
            number = words[1].rstrip(",")
            changed = number[:-1] + _other_digit(number[-1])
            out["address_number"] = replace_text(spec, f"Số {number}", f"Số {changed}")
            break
    year = fields.get("date_of_birth", "")[:4]
    if year and year not in keys:
        out["birth_year"] = replace_text(spec, year, year[:3] + _other_digit(year[3]))
    out.update(under_seal_changes(spec))
    return out


def under_seal_changes(spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Specs that differ from `spec` by one letter of the text a seal is pressed over: the
    signer's title and name. Seal ink is not compared, so the text under it must be."""
    out: dict[str, dict[str, Any]] = {}
    sign = next(
        (b for b in spec.get("blocks", []) if b.get("k") == "sign" and b.get("stamp")), None
    )
    if sign is None:
        return out
    for label, text in (
        ("seal_title", (sign.get("titles") or [""])[0]),
        ("seal_name", sign.get("name", "")),
    ):
        at = next((i for i, ch in enumerate(text) if ch in _LETTER_TWINS), None)
        if at is not None and text not in " ".join(map(str, spec["fields"].values())):
            out[label] = replace_text(
                spec, text, text[:at] + _LETTER_TWINS[text[at]] + text[at + 1 :]
            )
    return out


def key_field_boxes(comparison: np.ndarray, spec: dict[str, Any]):
    """The paper's ID number and name, boxed on its comparison image where Tesseract
    reads them (what `dossier ingest` finds and nearmatch.field_boxes maps, without a
    store): the key fields a near-reuse confirmation re-reads."""
    from ocr.tesseract import ocr_image
    from pipeline.near import FieldBox
    from pipeline.textnorm import fold

    words = ocr_image(comparison, lang="vie+eng", dpi=300, timeout=60.0, want_pdf=False).words
    fields = spec["fields"]
    boxes = []
    for key in (_id_field(spec), _name_field(spec)):
        wanted = [fold(w) for w in fields[key].split()]
        found = []  # every place the value is read, first from the top kept
        for i in range(len(words) - len(wanted) + 1):
            run = words[i : i + len(wanted)]
            if [fold(w.text.strip(".,:")) for w in run] == wanted:
                x0, y0 = min(w.bbox[0] for w in run), min(w.bbox[1] for w in run)
                x1, y1 = max(w.bbox[2] for w in run), max(w.bbox[3] for w in run)
                found.append((y0, x0, x1, y1))
        if found:
            y0, x0, x1, y1 = min(found)
            boxes.append(FieldBox(key, fields[key], (x0, y0, x1, y1)))
    return boxes


def render(spec: dict[str, Any]) -> Image.Image:
    """The first page of `spec`, printed clean (RGB, 300 dpi)."""
    return generator().render_document(spec)[0]


# --- re-scans of one paper ---------------------------------------------------------------

RESCANS = (
    "clean", "light", "medium", "hard", "skew_left", "dpi150", "rot90", "rot180", "jpeg",
    "noise", "blur", "lighting", "stamp",
)  # fmt: skip


def _jpeg(image: Image.Image, quality: int) -> Image.Image:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return Image.open(io.BytesIO(buffer.getvalue())).convert(image.mode)


def _red_stamp(image: Image.Image, seed: int) -> Image.Image:
    """A clerk's red "certified copy" seal pressed over the text after the first scan."""
    gen = generator()
    rng = random.Random(seed)
    seal = gen.draw_stamp(
        {"top": "ỦY BAN NHÂN DÂN", "bottom": "BẢN SAO", "angle": rng.uniform(-30, 30),
         "strength": 0.9}, radius=image.width * 0.09, seed=seed)  # fmt: skip
    out = image.convert("RGB")
    x = int(image.width * rng.uniform(0.45, 0.7))
    y = int(image.height * rng.uniform(0.3, 0.6))
    arr = np.asarray(out).copy()
    gen._multiply(arr, seal, x, y)
    return Image.fromarray(arr)


def rescan(clean: Image.Image, kind: str, seed: int = 0) -> np.ndarray:
    """The same paper scanned again, as the decoded image a clerk's scanner would give."""
    gen = generator()
    rng = random.Random(f"rescan:{kind}:{seed}")
    profile: dict[str, Any]
    image = clean
    if kind in ("light", "medium", "hard"):
        profile = gen.make_profile(kind, rng, mode="L")
    elif kind == "clean":
        profile = {"mode": "L", "skew": 0.4}
    elif kind == "skew_left":
        profile = {"mode": "L", "skew": -3.5, "noise": 3}
    elif kind == "dpi150":
        image = clean.resize((clean.width // 2, clean.height // 2), Image.LANCZOS)
        profile = {"mode": "L", "skew": 1.1, "noise": 3, "blur": 0.4, "jpeg": 80}
    elif kind == "rot90":
        profile = {"mode": "L", "skew": 0.8, "noise": 3, "orientation": 90}
    elif kind == "rot180":
        profile = {"mode": "L", "skew": -1.3, "noise": 3, "orientation": 180}
    elif kind == "jpeg":
        profile = {"mode": "L", "skew": 0.6, "jpeg": 30}
    elif kind == "noise":
        profile = {"mode": "L", "skew": -0.7, "noise": 14}
    elif kind == "blur":
        profile = {"mode": "L", "skew": 0.9, "blur": 1.6}
    elif kind == "lighting":
        profile = {"mode": "L", "skew": -1.0, "lighting": 0.4, "contrast": 0.7}
    elif kind == "stamp":
        image = _red_stamp(clean, seed)
        profile = {"mode": "RGB", "skew": 1.5, "noise": 4, "jpeg": 70}
    else:
        raise ValueError(f"unknown re-scan kind {kind!r}")
    degraded = gen.degrade(image, rng, profile)
    arr = np.asarray(degraded)
    return cv2.cvtColor(arr, cv2.COLOR_RGB2BGR) if arr.ndim == 3 else arr
