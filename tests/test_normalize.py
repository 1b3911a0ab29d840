"""Normalizers: raw OCR text -> canonical values (FIELDS.md), with repairs recorded."""

import pytest

from pipeline.normalize import (
    normalize_area,
    normalize_date,
    normalize_doc_number,
    normalize_id_number,
    normalize_name,
    normalize_phone,
    normalize_place,
    normalize_sex,
    normalize_text,
)


@pytest.mark.parametrize(
    ("raw", "iso"),
    [
        ("04/03/2019", "2019-03-04"),
        ("4-3-2019", "2019-03-04"),
        ("04.03.2019", "2019-03-04"),
        ("ngày 27 tháng 7 năm 2023", "2023-07-27"),
        ("Ngay 27 thang 07 nam 2023", "2023-07-27"),
        ("NGÀY 27 THÁNG 7 NĂM 2023", "2023-07-27"),
        ("04 / 03 / 2019", "2019-03-04"),
        ("2019-03-04", "2019-03-04"),
        ("Hà Nội, ngày 5 tháng 12 năm 2020", "2020-12-05"),
    ],
)
def test_dates_in_every_printed_form_become_iso(raw, iso):
    assert normalize_date(raw) == (iso, None)


def test_date_with_ocr_confusions_is_repaired_and_the_repair_recorded():
    value, note = normalize_date("O4/03/2Ol9")
    assert value == "2019-03-04"
    assert "O->0" in note and "l->1" in note


def test_impossible_date_is_kept_for_the_validator_to_reject():
    assert normalize_date("31/02/2020")[0] == "2020-02-31"


@pytest.mark.parametrize("raw", ["###", "", "chưa rõ", "ngày tháng năm"])
def test_garbage_date_gives_no_value_and_a_reason(raw):
    value, note = normalize_date(raw)
    assert value is None and note


def test_names_are_nfc_upper_case_single_spaced():
    decomposed = "Nguye\u0302\u0303n   va\u0306n  an"
    assert normalize_name(decomposed) == ("NGUYỄN VĂN AN", None)


def test_name_drops_honorific_and_trailing_clause():
    assert normalize_name("Ông NGUYỄN VĂN AN, sinh năm 1980")[0] == "NGUYỄN VĂN AN"


def test_id_number_keeps_digits_and_repairs_confusions():
    value, note = normalize_id_number("OO1219Ol2345")
    assert value == "001219012345"
    assert note == "repaired OCR confusions O->0, l->1"


def test_id_number_printed_in_groups_is_joined():
    assert normalize_id_number("001 219 012 345")[0] == "001219012345"


def test_id_number_without_digits_is_absent():
    assert normalize_id_number("không có")[0] is None


def test_phone_with_country_code():
    assert normalize_phone("+84 912 345 678")[0] == "0912345678"


@pytest.mark.parametrize(
    ("raw", "value"),
    [("Nam", "Nam"), ("Nữ", "Nữ"), ("NU", "Nữ"), ("Nữ / Female", "Nữ"), ("Male", "Nam")],
)
def test_sex(raw, value):
    assert normalize_sex(raw)[0] == value


@pytest.mark.parametrize(
    ("raw", "value"),
    [("120,5 m²", "120.5"), ("1.250,5 m2", "1250.5"), ("1.250 m2", "1250"), ("86 m2", "86")],
)
def test_area_uses_vietnamese_decimal_comma(raw, value):
    assert normalize_area(raw)[0] == value


def test_doc_number_loses_spaces_keeps_its_letters():
    assert normalize_doc_number("1234 / QĐ-UBND")[0] == "1234/QĐ-UBND"


def test_text_drops_dotted_leaders_and_separators():
    assert normalize_text(": ........ Việt   Nam ....")[0] == "Việt Nam"


def test_sex_with_one_misread_letter_is_told_and_recorded():
    assert normalize_sex("Ni") == ("Nữ", "read 'ni' as Nữ")
    assert normalize_sex("Nan")[0] == "Nam"
    assert normalize_sex("Xyz")[0] is None


def test_family_name_marks_restored_and_recorded():
    assert normalize_name("NGUYEN THỊ HUYỀN") == (
        "NGUYỄN THỊ HUYỀN",
        "restored family name NGUYEN->NGUYỄN",
    )
    # A single word is not a full name; an unknown or ambiguous family name is left alone.
    assert normalize_name("NGUYEN")[0] == "NGUYEN"
    assert normalize_name("LA VĂN AN")[0] == "LA VĂN AN"


def test_family_name_with_a_lost_or_doubled_letter_is_restored_never_a_changed_one():
    """GIVEN a family name that lost its first letter under a seal, or had a vowel read
    twice WHEN normalized THEN the one listed name it comes from is restored and recorded;
    a name one changed letter away (a family name of its own) is left alone."""
    assert normalize_name("Hạm Thành Lộc") == (
        "PHẠM THÀNH LỘC",
        "restored family name HẠM->PHẠM",
    )
    assert normalize_name("NGUYÊỄN MINH THÀNH")[0] == "NGUYỄN MINH THÀNH"
    assert normalize_name("TRẦM VĂN AN") == ("TRẦM VĂN AN", None)
    assert normalize_name("HOÀ VĂN AN")[0] == "HOÀ VĂN AN"


@pytest.mark.parametrize(
    "raw, iso",
    [
        ("ngày 07 thúng 9 năm 2022", "2022-09-07"),  # "tháng" misread
        ("ngay 5 thang 12 nam 2014", "2014-12-05"),
        ("05 / 12 / 2014", "2014-12-05"),
    ],
)
def test_dates_with_misread_month_words(raw, iso):
    assert normalize_date(raw)[0] == iso


def test_a_tone_mark_read_as_a_word_is_not_part_of_a_name():
    assert normalize_name("ˆ NGUYÊN MINH THÀNH")[0] == "NGUYỄN MINH THÀNH"


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        # A unit word opening an address part, in the case it was printed in.
        (
            "Số 25 đường Lê Lợi, Phương Lê Lợi, Thanh phố Vinh",
            "Số 25 đường Lê Lợi, Phường Lê Lợi, Thành phố Vinh",
        ),
        (
            "thị trấn Quán Hành, huyện Nghi Lộc, tính Nghệ An",
            "thị trấn Quán Hành, huyện Nghi Lộc, tỉnh Nghệ An",
        ),
        # Before a province, and the province's own marks.
        (
            "SỞ TÀI NGUYÊN VÀ MÔI TRƯỜNG TÍNH QUẢNG NINH",
            "SỞ TÀI NGUYÊN VÀ MÔI TRƯỜNG TỈNH QUẢNG NINH",
        ),
        ("Phường Tân Lợi, Tỉnh Dak Lak", "Phường Tân Lợi, Tỉnh Đắk Lắk"),
        ("Phường Hưng Bình, Thành phố Vinh, Nghé An", "Phường Hưng Bình, Thành phố Vinh, Nghệ An"),
    ],
)
def test_place_unit_words_and_province_names_get_their_marks_back(raw, value):
    got, note = normalize_place(raw)
    assert got == value and note.startswith("restored marks")


def test_place_words_elsewhere_are_left_as_read():
    """A word that only folds like a unit word, inside a part, is not touched (the
    commune "Xã Phương Trung", a committee "Ủy ban ... Ban quản lý")."""
    for text in ("Xã Phương Trung, Huyện Thanh Oai", "Ban quản lý dự án, Thị xã Sơn Tây"):
        assert normalize_place(text) == (text, None)
