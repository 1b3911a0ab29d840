"""Classification: titles and keywords, diacritic/case-insensitive, OCR-tolerant; ties
and weak evidence give "unknown"."""

import pytest

from pipeline.classify import classify_lines, opening_type
from pipeline.schemas import load_schemas

SCHEMAS = load_schemas()

BIRTH = [
    "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
    "Độc lập - Tự do - Hạnh phúc",
    "GIẤY KHAI SINH",
    "Họ, chữ đệm, tên: NGUYỄN VĂN AN",
    "Nơi sinh: Bệnh viện Phụ sản Hà Nội",
    "Họ, chữ đệm, tên người mẹ: TRẦN THỊ BÌNH",
    "Họ, chữ đệm, tên người cha: NGUYỄN VĂN CƯỜNG",
]


def test_birth_certificate():
    assert classify_lines(SCHEMAS, BIRTH).doc_type == "birth_certificate"


def test_without_diacritics_and_lower_case():
    from pipeline.textnorm import fold

    assert classify_lines(SCHEMAS, [fold(x) for x in BIRTH]).doc_type == "birth_certificate"


def test_with_ocr_errors_in_title_and_keywords():
    noisy = [
        "CÔNG HOA XA HÔI CHU NGHÌA VIÊT NAM",
        "GIÂY KHAl SlNH",
        "Họ, chừ đêm, tên: NGUYÊN VĂN AN",
        "Họ, chữ đệm, tẽn người mẹ: TRÀN THỊ BÌNH",
    ]
    assert classify_lines(SCHEMAS, noisy).doc_type == "birth_certificate"


@pytest.mark.parametrize(
    ("lines", "doc_type"),
    [
        (["CĂN CƯỚC CÔNG DÂN", "Citizen Identity Card", "Họ và tên / Full name:"], "cccd"),
        (["GIẤY CHỨNG NHẬN KẾT HÔN", "Chồng", "Vợ"], "marriage_certificate"),
        (
            ["GIẤY XÁC NHẬN THÔNG TIN VỀ CƯ TRÚ", "Quan hệ với chủ hộ: Con"],
            "residence_confirmation",
        ),
        (["GIẤY CHỨNG NHẬN", "QUYỀN SỬ DỤNG ĐẤT", "Thửa đất số: 12"], "land_use_certificate"),
        (["TỜ KHAI ĐĂNG KÝ KHAI SINH", "Kính gửi: UBND phường Hàng Bạc"], "application_form"),
        (["QUYẾT ĐỊNH", "Về việc cấp phép xây dựng", "Căn cứ Luật", "Điều 1."], "decision"),
    ],
)
def test_each_type(lines, doc_type):
    assert classify_lines(SCHEMAS, lines).doc_type == doc_type


def test_unrelated_text_is_unknown():
    lines = ["Thực đơn nhà hàng", "Phở bò 50.000 đồng", "Cà phê sữa đá 25.000 đồng"]
    verdict = classify_lines(SCHEMAS, lines)
    assert verdict.doc_type == "unknown"


def test_empty_document_is_unknown():
    assert classify_lines(SCHEMAS, []).doc_type == "unknown"


def test_a_tie_is_unknown_not_a_guess():
    """GIVEN a page with the titles of two types and nothing else WHEN classified THEN unknown."""
    lines = ["GIẤY KHAI SINH", "GIẤY CHỨNG NHẬN KẾT HÔN"]
    verdict = classify_lines(SCHEMAS, lines)
    assert verdict.doc_type == "unknown"


def test_opening_title():
    assert opening_type(SCHEMAS, ["ỦY BAN NHÂN DÂN", "GIẤY KHAI SINH"]) == "birth_certificate"
    assert opening_type(SCHEMAS, ["Điều 2. Giao cho phòng Tài nguyên"]) is None
