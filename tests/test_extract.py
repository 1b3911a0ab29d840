"""Field extraction over hand-built OCR words: label geometry, schemas as data, batch
splitting and bad input. (test_extract_ocr.py runs the same on real Tesseract output.)"""

import datetime as dt
import itertools
import textwrap

import pytest

from pipeline.errors import BadInputError
from pipeline.extract import EXTRACTOR, analyze
from pipeline.model import Page, Word
from pipeline.schemas import SchemaError, load_schemas

TODAY = dt.date(2024, 6, 1)
SCHEMAS = load_schemas()
CHAR_W, LINE_H, GAP = 16, 30, 12


def make_page(rows, index=0, width=1700, height=2200):
    """Words laid out like OCR output: each (x, y, text) is one OCR line."""
    line_ids = itertools.count()
    words = []
    for x, y, text in rows:
        line_id = next(line_ids)
        for token in text.split():
            w = CHAR_W * len(token)
            words.append(Word(token, (x, y, x + w, y + LINE_H), 91.0, line_id))
            x += w + GAP
    return Page(index=index, width=width, height=height, dpi=300, method="ocr", words=words)


HEADER = [
    (100, 60, "ỦY BAN NHÂN DÂN"),
    (900, 60, "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM"),
    (1000, 110, "Độc lập - Tự do - Hạnh phúc"),
]


def fields_of(analysis):
    return {f.name: f for f in analysis.fields}


def test_label_value_on_same_line_with_leaders_and_colons():
    page = make_page(
        [
            *HEADER,
            (650, 250, "GIẤY KHAI SINH"),
            (100, 350, "Số: 123/2019"),
            (100, 420, "Họ, chữ đệm, tên : ........ NGUYỄN VĂN AN"),
            (100, 490, "Ngày, tháng, năm sinh:.....04/03/2019"),
            (100, 560, "Giới tính: Nam"),
            (600, 560, "Dân tộc: Kinh"),
            (1100, 560, "Quốc tịch: Việt Nam"),
            (100, 630, "Số định danh cá nhân: 001219012345"),
            (100, 700, "Họ, chữ đệm, tên người mẹ: TRẦN THỊ BÌNH"),
            (100, 770, "Ngày, tháng, năm đăng ký: 10/03/2019"),
        ]
    )
    [doc] = analyze([page], SCHEMAS, today=TODAY)
    assert doc.doc_type == "birth_certificate"
    f = fields_of(doc)
    assert f["full_name"].value == "NGUYỄN VĂN AN"
    assert f["date_of_birth"].value == "2019-03-04"
    assert f["sex"].value == "Nam"
    assert f["ethnicity"].value == "Kinh"
    assert f["nationality"].value == "Việt Nam"
    assert f["id_number"].value == "001219012345" and f["id_number"].valid
    assert f["mother_name"].value == "TRẦN THỊ BÌNH"
    assert f["doc_number"].value == "123/2019"
    assert f["registration_date"].value == "2019-03-10"
    name = f["full_name"]
    assert name.extractor == EXTRACTOR and name.extractor_version
    assert name.page == 0 and name.confidence == 91.0
    # The box covers the value's words, not the label.
    assert name.bbox[0] > 100 + CHAR_W * 10 and name.bbox[1] == 420


def test_bilingual_labels_value_on_next_line_and_two_line_address():
    """GIVEN a CCCD front with values under their labels and a two-line address
    WHEN extracted THEN each value is read and the address lines are joined."""
    page = make_page(
        [
            *HEADER,
            (600, 200, "CĂN CƯỚC CÔNG DÂN"),
            (600, 240, "Citizen Identity Card"),
            (500, 320, "Số / No.: 001219012345"),
            (500, 390, "Họ và tên / Full name:"),
            (500, 430, "NGUYỄN VĂN AN"),
            (500, 500, "Ngày sinh / Date of birth: 04/03/2019"),
            (500, 560, "Giới tính / Sex: Nam"),
            (950, 560, "Quốc tịch / Nationality: Việt Nam"),
            (500, 630, "Quê quán / Place of origin:"),
            (500, 670, "Hàng Bạc, Hoàn Kiếm, Hà Nội"),
            (500, 740, "Nơi thường trú / Place of residence: Số 12 phố Hàng Bạc,"),
            (500, 780, "phường Hàng Bạc, quận Hoàn Kiếm, Hà Nội"),
            (100, 850, "Có giá trị đến: 04/03/2044"),
        ]
    )
    [doc] = analyze([page], SCHEMAS, today=TODAY)
    assert doc.doc_type == "cccd"
    f = fields_of(doc)
    assert f["id_number"].value == "001219012345"
    assert f["full_name"].value == "NGUYỄN VĂN AN"
    assert f["full_name"].bbox[1] == 430
    assert f["date_of_birth"].value == "2019-03-04"
    assert f["sex"].value == "Nam"
    assert f["nationality"].value == "Việt Nam"
    assert f["place_of_origin"].value == "Hàng Bạc, Hoàn Kiếm, Hà Nội"
    assert f["place_of_residence"].value == (
        "Số 12 phố Hàng Bạc, phường Hàng Bạc, quận Hoàn Kiếm, Hà Nội"
    )
    assert f["expiry_date"].value == "2044-03-04" and f["expiry_date"].valid


CARD_ROWS = [
    (600, 100, "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM"),
    (600, 200, "CĂN CƯỚC CÔNG DÂN"),
    (600, 240, "Citizen Identity Card"),
    (500, 320, "Số / No.: 001219012345"),
    (500, 390, "Họ và tên / Full name:"),
    (500, 430, "NGUYỄN VĂN AN"),
    (500, 500, "Ngày sinh / Date of birth: 04/03/2019"),
    (500, 560, "Nơi thường trú / Place of residence:"),
    (500, 600, "Số 12 phố Hàng Bạc, phường Hàng Bạc,"),
    (100, 640, "Có giá trị đến:"),
    (500, 640, "quận Hoàn Kiếm, Hà Nội"),
    (100, 680, "Date of expiry"),
    (100, 720, "04/03/2044"),
]


def test_card_expiry_under_its_labels_beside_another_columns_address():
    """GIVEN a card whose expiry label shares its row with the address's second line, and
    whose date stands under the English label
    WHEN extracted THEN the expiry is the date below, the address its two lines."""
    page = make_page(CARD_ROWS)
    # Tesseract reads the label and the address beside it as one line.
    row = {w.line_id for w in page.words if w.bbox[1] == 640}
    page.words = [
        Word(w.text, w.bbox, w.confidence, min(row)) if w.line_id in row else w for w in page.words
    ]
    [doc] = analyze([page], SCHEMAS, today=TODAY)
    f = fields_of(doc)
    assert f["expiry_date"].value == "2044-03-04"
    assert f["place_of_residence"].value == (
        "Số 12 phố Hàng Bạc, phường Hàng Bạc, quận Hoàn Kiếm, Hà Nội"
    )


def test_card_expiry_under_a_misread_translated_label():
    """GIVEN a card whose "Date of expiry" was misread ("Dư 0ƒ expiry") between the
    expiry label and the date WHEN extracted THEN the date under it is still found."""
    rows = [r if r[2] != "Date of expiry" else (100, 680, "Dư 0ƒ expiry") for r in CARD_ROWS]
    [doc] = analyze([make_page(rows)], SCHEMAS, today=TODAY)
    assert fields_of(doc)["expiry_date"].value == "2044-03-04"


@pytest.mark.parametrize("rotation", [90, 180, 270])
def test_page_turned_upright_by_cleanup_is_read_upright(rotation):
    """GIVEN a card scanned sideways or upside down (cleanup turned it before OCR, so the
    word boxes, in the scan's own pixels, run backwards)
    WHEN extracted
    THEN labels and values are found as on the upright card, and each field's box is in
    the scan's pixels again."""
    from pipeline.extract import page_box
    from pipeline.model import CleanupMetrics

    upright = make_page(CARD_ROWS, width=1700, height=1000)
    w, h = upright.width, upright.height
    scan_w, scan_h = (h, w) if rotation % 180 else (w, h)
    words = [
        Word(x.text, page_box(x.bbox, rotation, scan_w, scan_h), x.confidence, x.line_id)
        for x in upright.words
    ]
    scan = Page(0, scan_w, scan_h, 300, "ocr", words, cleanup=CleanupMetrics(rotation=rotation))
    [doc] = analyze([scan], SCHEMAS, today=TODAY)
    assert doc.doc_type == "cccd"
    f = fields_of(doc)
    assert f["full_name"].value == "NGUYỄN VĂN AN"
    assert f["expiry_date"].value == "2044-03-04"
    name_words = [x for x in words if x.text in ("NGUYỄN", "AN")]
    assert f["full_name"].bbox == (
        min(x.bbox[0] for x in name_words),
        min(x.bbox[1] for x in name_words),
        max(x.bbox[2] for x in name_words),
        max(x.bbox[3] for x in name_words),
    )


def test_label_and_value_in_separate_ocr_blocks_on_one_row():
    page = make_page(
        [
            *HEADER,
            (650, 250, "GIẤY KHAI SINH"),
            (100, 420, "Họ, chữ đệm, tên:"),
            (700, 422, "NGUYỄN VĂN AN"),
        ]
    )
    [doc] = analyze([page], SCHEMAS, today=TODAY)
    assert fields_of(doc)["full_name"].value == "NGUYỄN VĂN AN"


def test_husband_and_wife_columns():
    page = make_page(
        [
            *HEADER,
            (500, 250, "GIẤY CHỨNG NHẬN KẾT HÔN"),
            (700, 330, "Chồng"),
            (1200, 330, "Vợ"),
            (100, 400, "Họ, chữ đệm, tên"),
            (700, 400, "NGUYỄN VĂN AN"),
            (1200, 400, "TRẦN THỊ BÌNH"),
            (100, 470, "Ngày, tháng, năm sinh"),
            (700, 470, "01/02/1990"),
            (1200, 470, "03/04/1992"),
            (100, 540, "Số định danh cá nhân"),
            (700, 540, "001090012345"),
            (1200, 540, "001192012345"),
            (100, 640, "Ngày, tháng, năm đăng ký: 05/06/2020"),
        ]
    )
    [doc] = analyze([page], SCHEMAS, today=TODAY)
    assert doc.doc_type == "marriage_certificate"
    f = fields_of(doc)
    assert (f["husband_name"].value, f["wife_name"].value) == ("NGUYỄN VĂN AN", "TRẦN THỊ BÌNH")
    assert f["husband_date_of_birth"].value == "1990-02-01"
    assert f["wife_date_of_birth"].value == "1992-04-03"
    assert f["husband_id_number"].valid and f["wife_id_number"].valid
    assert f["registration_date"].value == "2020-06-05"


def test_ocr_confusion_in_id_is_repaired_and_recorded():
    page = make_page(
        [*HEADER, (650, 250, "GIẤY KHAI SINH"), (100, 400, "Số định danh cá nhân: OO12l9O12345")]
    )
    [doc] = analyze([page], SCHEMAS, today=TODAY)
    field = fields_of(doc)["id_number"]
    assert field.value == "001219012345"
    assert field.raw == "OO12l9O12345"
    assert "O->0" in field.reason and "l->1" in field.reason


def test_page_with_no_words_is_an_unknown_document():
    [doc] = analyze([make_page([])], SCHEMAS, today=TODAY)
    assert (doc.doc_type, doc.fields, doc.first_page, doc.last_page) == ("unknown", [], 0, 0)


def test_no_pages_no_documents():
    assert analyze([], SCHEMAS, today=TODAY) == []


def test_unrecognizable_document_is_unknown_without_fields():
    page = make_page([(100, 100, "Thực đơn"), (100, 200, "Phở bò 50.000 đồng")])
    [doc] = analyze([page], SCHEMAS, today=TODAY)
    assert doc.doc_type == "unknown" and doc.fields == []


def test_garbage_value_is_kept_invalid_and_label_without_value_is_absent():
    page = make_page(
        [
            *HEADER,
            (650, 250, "GIẤY KHAI SINH"),
            (100, 400, "Ngày, tháng, năm sinh: ###"),
            (100, 470, "Họ, chữ đệm, tên: ................"),
            (100, 540, "Giới tính: Nam"),
            (100, 610, "Số định danh cá nhân: 001219012345"),
        ]
    )
    [doc] = analyze([page], SCHEMAS, today=TODAY)
    f = fields_of(doc)
    assert "full_name" not in f
    # "###" has no letter or digit: nothing was read, so no field either.
    assert "date_of_birth" not in f
    assert f["sex"].value == "Nam"

    page = make_page([*HEADER, (650, 250, "GIẤY KHAI SINH"), (100, 400, "Ngày sinh: 3l/O2/20x9")])
    [doc] = analyze([page], SCHEMAS, today=TODAY)
    dob = fields_of(doc)["date_of_birth"]
    assert dob.valid is False and dob.reason


def test_future_and_impossible_dates_are_invalid_not_dropped():
    page = make_page(
        [
            *HEADER,
            (650, 250, "GIẤY KHAI SINH"),
            (100, 400, "Ngày, tháng, năm sinh: 31/02/2019"),
            (100, 470, "Ngày, tháng, năm đăng ký: 10/03/2030"),
        ]
    )
    [doc] = analyze([page], SCHEMAS, today=TODAY)
    f = fields_of(doc)
    assert f["date_of_birth"].value == "2019-02-31" and not f["date_of_birth"].valid
    assert "no such date" in f["date_of_birth"].reason
    assert not f["registration_date"].valid and "future" in f["registration_date"].reason


def test_batch_scan_is_split_at_each_opening_page():
    """GIVEN three pages: a two-page decision then a birth certificate
    WHEN analyzed THEN two documents with their own page ranges, types and fields."""
    decision_1 = make_page(
        [
            (100, 60, "ỦY BAN NHÂN DÂN"),
            (900, 60, "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM"),
            (100, 110, "TỈNH NGHỆ AN"),
            (1000, 110, "Độc lập - Tự do - Hạnh phúc"),
            (100, 170, "Số: 1234/QĐ-UBND"),
            (900, 170, "Nghệ An, ngày 27 tháng 7 năm 2023"),
            (700, 300, "QUYẾT ĐỊNH"),
            (400, 350, "Về việc cấp giấy phép xây dựng"),
            (100, 450, "Căn cứ Luật Tổ chức chính quyền địa phương;"),
        ],
        index=0,
    )
    decision_2 = make_page(
        [
            (700, 100, "QUYẾT ĐỊNH:"),
            (100, 200, "Điều 1. Cấp giấy phép xây dựng cho ông Nguyễn Văn An."),
            (100, 300, "Điều 2. Quyết định có hiệu lực từ ngày ký."),
        ],
        index=1,
    )
    birth = make_page([*HEADER, (650, 250, "GIẤY KHAI SINH"), (100, 400, "Giới tính: Nữ")], 2)
    docs = analyze([decision_1, decision_2, birth], SCHEMAS, today=TODAY)
    assert [(d.first_page, d.last_page, d.doc_type) for d in docs] == [
        (0, 1, "decision"),
        (2, 2, "birth_certificate"),
    ]
    f = fields_of(docs[0])
    assert f["doc_number"].value == "1234/QĐ-UBND"
    assert f["issue_date"].value == "2023-07-27"
    assert f["issue_place"].value == "Nghệ An"
    assert f["subject"].value == "cấp giấy phép xây dựng"
    assert fields_of(docs[1])["sex"].page == 0  # within its own document


NEW_TYPE = """
doc_type: driving_licence
title: Giấy phép lái xe
titles: [GIẤY PHÉP LÁI XE, DRIVER'S LICENSE]
keywords:
  - {phrase: Giấy phép lái xe, weight: 3}
  - Hạng
fields:
  licence_number:
    labels: [Số, "No"]
    normalizer: id_number
  full_name:
    labels: [Họ tên, Full name]
    normalizer: name
  licence_class:
    labels: [Hạng, Class]
"""


def test_a_new_document_type_is_a_new_file(tmp_path):
    """GIVEN a schema file for a type the code has never heard of WHEN loaded from an
    extra directory THEN documents of that type are classified and extracted."""
    (tmp_path / "driving_licence.yaml").write_text(NEW_TYPE, encoding="utf-8")
    schemas = load_schemas([tmp_path])
    assert "driving_licence" in schemas and "cccd" in schemas
    page = make_page(
        [
            (500, 100, "GIẤY PHÉP LÁI XE"),
            (500, 150, "DRIVER'S LICENSE"),
            (500, 250, "Số / No: 790123456789"),
            (500, 320, "Họ tên / Full name: LÊ THỊ CẨM"),
            (500, 390, "Hạng / Class: B2"),
        ]
    )
    [doc] = analyze([page], schemas, today=TODAY)
    assert doc.doc_type == "driving_licence"
    f = fields_of(doc)
    assert f["licence_number"].value == "790123456789"
    assert f["full_name"].value == "LÊ THỊ CẨM"
    assert f["licence_class"].value == "B2"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("doc_type: x\n  - : [", "not valid YAML"),
        ("doc_type: Bad Name\ntitles: [A]\nfields: {a: {labels: [A]}}", "snake_case"),
        ("doc_type: t\ntitles: [A]\nfields: {a: {labels: [A], normalizer: nope}}", "normalizer"),
        ("doc_type: t\ntitles: [A]\nfields: {a: {labels: [A], colour: red}}", "unknown keys"),
        ("doc_type: t\ntitles: [A]\nfields: {a: {locate: line, line_pattern: '('}}", "regular"),
        ("doc_type: t\ntitles: [A]\nfields: {a: {labels: [No]}}", "labels"),
        ("doc_type: t\ntitles: [A]\nfields: {}", "fields"),
    ],
)
def test_a_malformed_schema_stops_start_up_with_a_clear_message(tmp_path, text, message):
    bad = tmp_path / "broken.yaml"
    bad.write_text(textwrap.dedent(text), encoding="utf-8")
    with pytest.raises(SchemaError) as info:
        load_schemas([tmp_path])
    assert isinstance(info.value, BadInputError)
    assert "broken.yaml" in str(info.value) and message in str(info.value)


def test_missing_schema_directory(tmp_path):
    with pytest.raises(SchemaError, match="does not exist"):
        load_schemas([tmp_path / "nope"])


def test_label_with_its_last_letter_lost_and_a_dash_inside_a_value():
    """GIVEN "người mẹ:" read as "người m:" and a place with a dash in its name
    WHEN extracted THEN the mother's name is still found and the dash is kept."""
    page = make_page(
        [
            *HEADER,
            (650, 250, "GIẤY KHAI SINH"),
            (100, 350, "Họ, chữ đệm, tên: TRẦN ANH DŨNG"),
            (100, 420, "Nơi sinh: — Bệnh viện Phụ sản - Nhi Đà Nẵng"),
            (100, 490, "Họ, chữ đệm, tên người m: NGUYỄN HOÀI TRÂM"),
        ]
    )
    [doc] = analyze([page], SCHEMAS, today=TODAY)
    f = fields_of(doc)
    assert f["full_name"].value == "TRẦN ANH DŨNG"
    assert f["mother_name"].value == "NGUYỄN HOÀI TRÂM"
    assert f["place_of_birth"].value == "Bệnh viện Phụ sản - Nhi Đà Nẵng"
