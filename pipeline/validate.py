"""Validators: domain checks on normalized field values.

A failing value is kept and marked (valid=False + reason), never dropped or "fixed".
"Today" is a parameter so checks are reproducible.
"""

from __future__ import annotations

import datetime as dt
import re
from functools import cache
from pathlib import Path

import yaml

from pipeline.model import Field
from pipeline.schemas import TypeSchema

PROVINCES_FILE = Path(__file__).parent / "data" / "provinces.yaml"
EARLIEST_YEAR = 1900


@cache
def province_codes() -> dict[str, str]:
    """The 63 province codes that open a 12-digit personal ID, code -> province name."""
    data = yaml.safe_load(PROVINCES_FILE.read_text(encoding="utf-8"))
    return {str(code).zfill(3): name for code, name in data.items()}


def parse_iso(value: str | None) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        return None


def check_date(value: str, today: dt.date) -> str | None:
    """None when `value` is a real ISO date between 1900 and today, else the reason."""
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        return f"not a date: {value!r}"
    date = parse_iso(value)
    if date is None:
        return f"no such date: {value}"
    if date.year < EARLIEST_YEAR:
        return f"implausible date before {EARLIEST_YEAR}: {value}"
    if date > today:
        return f"date in the future: {value}"
    return None


def check_expiry_date(value: str, today: dt.date) -> str | None:
    """An expiry date exists and is plausible; it may (should) lie in the future."""
    date = parse_iso(value)
    if date is None:
        return f"no such date: {value}"
    if date.year < EARLIEST_YEAR or date.year > today.year + 100:
        return f"implausible expiry date: {value}"
    return None


def _century_digit(year: int, sex: str | None) -> set[str]:
    """The 4th ID digit for a birth year: 0/1 for 1900s, 2/3 for 2000s, ...; even = male."""
    base = (year // 100 - 19) * 2
    if not 0 <= base <= 8:
        return set()
    if sex == "Nam":
        return {str(base)}
    if sex == "Nữ":
        return {str(base + 1)}
    return {str(base), str(base + 1)}


def check_personal_id(
    value: str, date_of_birth: str | None = None, sex: str | None = None
) -> str | None:
    """A 12-digit personal ID: a real province code, and a century/sex digit and birth-year
    digits that agree with the date of birth and sex when those are known."""
    if not re.fullmatch(r"\d{12}", value):
        return f"a personal ID has 12 digits, got {sum(c.isdigit() for c in value)}"
    code = value[:3]
    if code not in province_codes():
        return f"{code} is not a province code"
    gender_digit = value[3]
    birth = parse_iso(date_of_birth)
    if birth is not None:
        allowed = _century_digit(birth.year, sex)
        if allowed and gender_digit not in allowed:
            return (
                f"century/sex digit {gender_digit} does not agree with birth year "
                f"{birth.year}" + (f" and sex {sex}" if sex else "")
            )
        if value[4:6] != f"{birth.year % 100:02d}":
            return f"birth-year digits {value[4:6]} do not agree with birth year {birth.year}"
    elif sex in ("Nam", "Nữ") and int(gender_digit) % 2 != (0 if sex == "Nam" else 1):
        return f"sex digit {gender_digit} does not agree with sex {sex}"
    return None


def check_id_number(value: str) -> str | None:
    """A personal document number: 12 digits (CCCD) or 9 (old identity card)."""
    if re.fullmatch(r"\d{12}", value):
        return check_personal_id(value)
    if re.fullmatch(r"\d{9}", value):
        return None
    return f"an ID number has 9 or 12 digits, got {len(value)}"


def check_phone(value: str) -> str | None:
    if re.fullmatch(r"0\d{9,10}", value):
        return None
    return f"not a Vietnamese phone number: {value}"


def check_area(value: str) -> str | None:
    try:
        area = float(value)
    except ValueError:
        return f"not a number: {value}"
    if not 0 < area < 10_000_000:
        return f"implausible area: {value} m2"
    return None


def check_order(earlier: str | None, later: str | None) -> bool:
    """True unless both dates are known and `later` precedes `earlier`."""
    a, b = parse_iso(earlier), parse_iso(later)
    return a is None or b is None or a <= b


def validate_fields(fields: list[Field], schema: TypeSchema, today: dt.date) -> list[Field]:
    """Mark each field valid or not (with the reason), in place; nothing is dropped."""
    by_name = {f.name: f for f in fields}

    def value_of(name: str | None) -> str | None:
        f = by_name.get(name) if name else None
        return f.value if f is not None and f.valid else None

    specs = {s.name: s for s in schema.fields}
    for f in fields:
        if f.value is None:
            f.valid = False
            continue
        spec = specs.get(f.name)
        reason = None
        if spec is None or spec.validator is None:
            continue
        args = spec.validator_args
        if spec.validator == "date":
            reason = check_date(f.value, today)
        elif spec.validator == "expiry_date":
            reason = check_expiry_date(f.value, today)
        elif spec.validator == "personal_id":
            sex = value_of(args.get("sex_field")) or args.get("sex")
            reason = check_personal_id(f.value, value_of(args.get("date_of_birth_field")), sex)
        elif spec.validator == "id_number":
            reason = check_id_number(f.value)
        elif spec.validator == "phone":
            reason = check_phone(f.value)
        elif spec.validator == "area":
            reason = check_area(f.value)
        if reason:
            f.valid = False
            f.reason = f"{reason}; {f.reason}" if f.reason else reason
    for earlier, later in schema.order:
        a, b = by_name.get(earlier), by_name.get(later)
        if a and b and a.valid and b.valid and not check_order(a.value, b.value):
            b.valid = False
            b.reason = f"{later} {b.value} is before {earlier} {a.value}"
    return fields
