"""The committed sample set: every file has ground truth in the agreed format, consistent
with the file and with the domain rules; the generator is deterministic."""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import random
import re
import sys
import unicodedata
from pathlib import Path

import numpy as np
import pdfplumber
import pytest
from PIL import Image
from pypdf import PdfReader

from pipeline.validate import province_codes

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
TODAY = dt.date(2026, 11, 28)
MEDIA = {".jpg": "image/jpeg", ".png": "image/png", ".tif": "image/tiff", ".pdf": "application/pdf"}
MAX_BYTES = 10 * 1024 * 1024

# Canonical field names per document type (FIELDS.md).
FIELDS = {
    "cccd": {"id_number", "full_name", "date_of_birth", "sex", "nationality", "place_of_origin",
             "place_of_residence", "expiry_date"},
    "birth_certificate": {"doc_number", "full_name", "date_of_birth", "sex", "ethnicity",
                          "nationality", "place_of_birth", "id_number", "mother_name",
                          "father_name", "registration_office", "registration_date"},
    "marriage_certificate": {"doc_number", "husband_name", "wife_name", "husband_date_of_birth",
                             "wife_date_of_birth", "husband_id_number", "wife_id_number",
                             "registration_office", "registration_date"},
    "residence_confirmation": {"doc_number", "full_name", "date_of_birth", "sex", "id_number",
                               "place_of_residence", "head_of_household",
                               "relationship_to_head", "issuer", "issue_date"},
    "land_use_certificate": {"doc_number", "holder_name", "holder_id_number", "parcel_number",
                             "map_sheet_number", "land_address", "area_m2", "land_use_purpose",
                             "issuer", "issue_date"},
    "application_form": {"recipient", "applicant_name", "applicant_id_number",
                         "applicant_address", "phone", "request", "date"},
    "decision": {"doc_number", "issuer", "issue_place", "issue_date", "subject", "signer"},
}  # fmt: skip
NAME_FIELDS = {"full_name", "mother_name", "father_name", "husband_name", "wife_name",
               "holder_name", "applicant_name", "head_of_household", "signer"}  # fmt: skip
# id field -> (date-of-birth field, sex field) of the same person, when the type has them
ID_FIELDS = {
    "id_number": ("date_of_birth", "sex"),
    "holder_id_number": (None, None),
    "applicant_id_number": (None, None),
    "husband_id_number": ("husband_date_of_birth", "Nam"),
    "wife_id_number": ("wife_date_of_birth", "Nữ"),
}


def _load_generator():
    spec = importlib.util.spec_from_file_location("samples_generate", SAMPLES / "generate.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["samples_generate"] = module
    spec.loader.exec_module(module)
    return module


gen = _load_generator()


def sample_files() -> list[Path]:
    return sorted(p for p in SAMPLES.iterdir() if p.suffix in MEDIA)


def truth_of(path: Path) -> dict:
    return json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))


def page_count(path: Path) -> int:
    if path.suffix == ".pdf":
        return len(PdfReader(path).pages)
    with Image.open(path) as img:
        return getattr(img, "n_frames", 1)


def id_problem(number: str, born: str | None, sex: str | None) -> str | None:
    """The ID rules: 12 digits, a real province code, century/sex digit and birth year."""
    if not re.fullmatch(r"\d{12}", number):
        return "not 12 digits"
    if number[:3] not in province_codes():
        return f"{number[:3]} is not a province code"
    if born:
        year = int(born[:4])
        century = (year // 100 - 19) * 2 + (1 if sex == "Nữ" else 0)
        if sex in ("Nam", "Nữ") and number[3] != str(century):
            return f"century/sex digit {number[3]} for {year}, {sex}"
        if number[4:6] != f"{year % 100:02d}":
            return f"year digits {number[4:6]} for {year}"
    return None


def test_committed_set_is_small_and_varied():
    """GIVEN the samples folder WHEN its files are listed THEN there are 12-20 samples of
    every media type, all under 10 MB together."""
    files = sample_files()
    assert 12 <= len(files) <= 20
    assert {MEDIA[p.suffix] for p in files} == set(MEDIA.values())
    total = sum(p.stat().st_size for p in SAMPLES.rglob("*") if p.is_file())
    assert total < MAX_BYTES, f"samples/ is {total / 1e6:.1f} MB"


@pytest.mark.parametrize("path", sample_files(), ids=lambda p: p.name)
def test_ground_truth_matches_file(path: Path):
    """GIVEN a committed sample WHEN its NAME.json is read THEN it has exactly the agreed
    keys, one page entry per page of the file, and document ranges inside the file."""
    truth = truth_of(path)
    assert set(truth) == {
        "file",
        "media_type",
        "pages",
        "documents",
        "degradations",
        "fonts",
        "seed",
    }
    assert truth["file"] == path.name
    assert truth["media_type"] == MEDIA[path.suffix]
    assert len(truth["pages"]) == page_count(path)
    for page in truth["pages"]:
        assert page["lines"], "every page has printed lines"
        for line in page["lines"]:
            assert line == unicodedata.normalize("NFC", line) and line == " ".join(line.split())
    covered = []
    for doc in truth["documents"]:
        assert 0 <= doc["first_page"] <= doc["last_page"] < len(truth["pages"])
        covered += list(range(doc["first_page"], doc["last_page"] + 1))
    assert sorted(covered) == list(range(len(truth["pages"]))), "documents tile the file"
    for deg in truth["degradations"]:
        assert set(deg) == {"page", "kind", "value"}
        assert 0 <= deg["page"] < len(truth["pages"])
    assert truth["fonts"] and all(f in gen.FONTS for f in truth["fonts"])


@pytest.mark.parametrize("path", sample_files(), ids=lambda p: p.name)
def test_fields_are_canonical_and_valid(path: Path):
    """GIVEN a sample's documents WHEN their fields are checked THEN names are canonical,
    values normalized, ID numbers follow the province/century rules, dates are plausible,
    and names and ID numbers are printed on the document's pages."""
    truth = truth_of(path)
    for doc in truth["documents"]:
        fields = doc["fields"]
        assert set(fields) <= FIELDS[doc["doc_type"]], set(fields) - FIELDS[doc["doc_type"]]
        text = " ".join(
            line
            for page in truth["pages"][doc["first_page"] : doc["last_page"] + 1]
            for line in page["lines"]
        )
        for name, value in fields.items():
            assert value == unicodedata.normalize("NFC", value) and value == " ".join(value.split())
            if name in NAME_FIELDS:
                assert value == value.upper(), name
                assert value in text.upper(), f"{name} {value!r} not printed"
            if name in ID_FIELDS:
                born_field, sex = ID_FIELDS[name]
                born = fields.get(born_field) if born_field else None
                sex = fields.get("sex") if sex == "sex" else sex
                assert id_problem(value, born, sex) is None, (name, id_problem(value, born, sex))
                assert value in text.replace(" ", ""), f"{name} not printed"
            if name.endswith("date") or name.endswith("date_of_birth"):
                date = dt.date.fromisoformat(value)
                assert date.year >= 1900
                assert name == "expiry_date" or date <= TODAY, f"{name} {value} in the future"
            if name == "area_m2":
                assert float(value) > 0 and re.fullmatch(r"\d+(\.\d+)?", value)
        born = fields.get("date_of_birth")
        for later in ("registration_date", "issue_date", "expiry_date"):
            if born and later in fields:
                assert born < fields[later], f"born {born} after {later} {fields[later]}"


def test_set_covers_the_hard_cases():
    """GIVEN the whole set THEN it has an RGBA and a palette PNG, a multi-page TIFF, a
    multi-document batch, a mixed PDF, rotated pages, a wrong-DPI file and clean files."""
    truths = {p.name: truth_of(p) for p in sample_files()}
    modes = {}
    for p in sample_files():
        if p.suffix == ".png":
            with Image.open(p) as img:
                modes[img.mode] = p.name
    assert "RGBA" in modes and "P" in modes
    assert any(p.suffix == ".tif" and page_count(p) > 1 for p in sample_files())
    assert any(len(t["documents"]) >= 3 for t in truths.values())
    kinds = {d["kind"] for t in truths.values() for d in t["degradations"]}
    assert {"skew", "noise", "blur", "jpeg", "lighting", "contrast", "orientation", "wrong_dpi",
            "stamp", "born_digital"} <= kinds  # fmt: skip
    assert {
        d["value"] for t in truths.values() for d in t["degradations"] if d["kind"] == "orientation"
    } >= {90, 180}
    assert set(gen.DOC_TYPES) == {d["doc_type"] for t in truths.values() for d in t["documents"]}
    digital = {
        n: sum(d["kind"] == "born_digital" for d in t["degradations"]) for n, t in truths.items()
    }
    mixed = [
        n for n, t in truths.items() if n.endswith(".pdf") and 0 < digital[n] < len(t["pages"])
    ]
    assert mixed, "a PDF with both text-layer and scanned pages"


def test_born_digital_pages_have_the_text_layer():
    """GIVEN PDF pages marked born_digital WHEN pdfplumber reads them THEN their ground-truth
    lines are in the text layer, and scanned pages have no text."""
    for path in (p for p in sample_files() if p.suffix == ".pdf"):
        truth = truth_of(path)
        digital = {d["page"] for d in truth["degradations"] if d["kind"] == "born_digital"}
        with pdfplumber.open(path) as pdf:
            for i, page in enumerate(pdf.pages):
                text = " ".join((page.extract_text() or "").split())
                if i in digital:
                    for line in truth["pages"][i]["lines"]:
                        assert line in text, (path.name, i, line)
                else:
                    assert not text.strip(), (path.name, i)


def test_readme_names_every_sample():
    readme = (SAMPLES / "README.md").read_text(encoding="utf-8")
    for path in sample_files():
        assert path.name in readme, path.name


def test_generator_is_deterministic():
    """GIVEN the same seed WHEN a person, a spec, a print and a scan are made twice THEN
    all are identical; another degradation seed gives another scan of the same size."""

    def scan(seed: int) -> np.ndarray:
        rng = random.Random(11)
        spec = gen.make_spec("cccd", gen.make_person(rng), rng, width=500)
        (page,) = gen.render_document(spec, rng)
        profile = gen.make_profile("medium", random.Random(seed))
        return np.asarray(gen.degrade(page, random.Random(seed), profile))

    assert np.array_equal(scan(1), scan(1))
    other = scan(2)
    assert other.shape == scan(1).shape and not np.array_equal(other, scan(1))
    a = gen.make_spec("decision", gen.make_person(random.Random(5)), random.Random(5))
    b = gen.make_spec("decision", gen.make_person(random.Random(5)), random.Random(5))
    assert json.dumps(a, ensure_ascii=False) == json.dumps(b, ensure_ascii=False)


def test_id_numbers_follow_the_rules_for_many_people():
    """GIVEN 300 invented people THEN every ID number passes the province/century rules."""
    rng = random.Random(3)
    for _ in range(300):
        person = gen.make_person(rng, born_between=(dt.date(1930, 1, 1), dt.date(2024, 12, 31)))
        assert id_problem(person["id_number"], person["date_of_birth"], person["sex"]) is None


def test_degrade_logs_what_it_did():
    """GIVEN a profile with a 90 degree orientation and skew WHEN a page is degraded THEN
    the image is turned and each step is logged with its value."""
    page = Image.new("RGB", (300, 200), "white")
    log: list = []
    out = gen.degrade(
        page, random.Random(0), {"skew": 2.0, "noise": 5, "orientation": 90, "mode": "L"}, log=log
    )
    assert out.size == (200, 300) and out.mode == "L"
    assert [(d["kind"], d["value"]) for d in log] == [
        ("skew", 2.0),
        ("noise", 5),
        ("orientation", 90),
    ]
