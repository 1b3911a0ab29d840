"""Validators: personal IDs and dates are checked, failures kept with a reason."""

import datetime as dt

from pipeline.model import Field
from pipeline.schemas import load_schemas
from pipeline.validate import (
    check_date,
    check_expiry_date,
    check_personal_id,
    province_codes,
    validate_fields,
)

TODAY = dt.date(2024, 6, 1)


def test_there_are_63_province_codes():
    codes = province_codes()
    assert len(codes) == 63
    assert codes["001"] == "Hà Nội" and codes["079"] == "Hồ Chí Minh"
    assert "003" not in codes


def test_personal_id_agreeing_with_birth_and_sex_is_valid():
    assert check_personal_id("001219012345", "2019-03-04", "Nam") is None
    assert check_personal_id("079185000123", "1985-01-01", "Nữ") is None


def test_personal_id_with_unknown_province_is_invalid():
    assert "not a province code" in check_personal_id("003219012345")


def test_personal_id_century_digit_must_match_birth_year():
    reason = check_personal_id("001019012345", "2019-03-04", "Nam")
    assert "century/sex digit 0" in reason


def test_personal_id_sex_digit_must_match_sex():
    assert "sex" in check_personal_id("001219012345", "2019-03-04", "Nữ")
    assert "sex" in check_personal_id("001219012345", None, "Nữ")


def test_personal_id_birth_year_digits_must_match():
    assert "birth-year digits" in check_personal_id("001218012345", "2019-03-04", "Nam")


def test_personal_id_length():
    assert "12 digits" in check_personal_id("00121901234")


def test_dates_must_exist_and_not_lie_in_the_future():
    assert check_date("2019-03-04", TODAY) is None
    assert "no such date" in check_date("2020-02-31", TODAY)
    assert "future" in check_date("2030-01-01", TODAY)
    assert "before 1900" in check_date("1850-01-01", TODAY)


def test_today_is_a_parameter():
    assert check_date("2025-01-01", TODAY) is not None
    assert check_date("2025-01-01", dt.date(2026, 1, 1)) is None


def test_expiry_may_be_in_the_future():
    assert check_expiry_date("2044-03-04", TODAY) is None


def _field(name, value):
    return Field(name, value, value or "", 90.0, 0, None, "test", "1", value is not None)


def test_invalid_values_are_kept_with_their_reason():
    """GIVEN a birth certificate whose ID disagrees with the child's sex and whose
    registration predates the birth WHEN validated THEN both fields stay, marked invalid."""
    schema = load_schemas()["birth_certificate"]
    fields = [
        _field("date_of_birth", "2019-03-04"),
        _field("sex", "Nữ"),
        _field("id_number", "001219012345"),
        _field("registration_date", "2019-03-01"),
    ]
    out = validate_fields(fields, schema, TODAY)
    by_name = {f.name: f for f in out}
    assert len(out) == 4
    assert by_name["id_number"].value == "001219012345"
    assert not by_name["id_number"].valid and "sex" in by_name["id_number"].reason
    assert not by_name["registration_date"].valid
    assert "before date_of_birth" in by_name["registration_date"].reason
    assert by_name["date_of_birth"].valid


def test_issue_before_expiry_on_a_card():
    schema = load_schemas()["cccd"]
    fields = [_field("date_of_birth", "1990-05-01"), _field("expiry_date", "1980-01-01")]
    out = validate_fields(fields, schema, TODAY)
    assert not out[1].valid
