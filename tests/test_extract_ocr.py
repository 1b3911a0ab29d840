"""Extraction on real Tesseract output of a rendered form (Pillow + DejaVu, vie+eng)."""

import datetime as dt

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from ocr.tesseract import ocr_image
from pipeline.extract import analyze
from pipeline.model import Page
from pipeline.schemas import load_schemas

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"


def render_page(rows, index=0, size=(1700, 1500)):
    image = Image.new("L", size, 255)
    draw = ImageDraw.Draw(image)
    font = ImageFont.truetype(FONT, 34)
    for x, y, text in rows:
        draw.text((x, y), text, font=font, fill=0)
    result = ocr_image(np.array(image), lang="vie+eng", dpi=200, timeout=60, want_pdf=False)
    return Page(index, image.width, image.height, 200, "ocr", result.words)


@pytest.mark.slow
def test_birth_certificate_read_by_tesseract():
    """GIVEN a rendered birth certificate with columns, leaders and a two-line place
    WHEN OCR'd by Tesseract and analyzed THEN the fields come out normalized and valid."""
    page = render_page(
        [
            (100, 60, "ỦY BAN NHÂN DÂN"),
            (900, 60, "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM"),
            (1000, 110, "Độc lập - Tự do - Hạnh phúc"),
            (650, 230, "GIẤY KHAI SINH"),
            (100, 330, "Số: 123/2019"),
            (900, 330, "Quyển số: 01/2019"),
            (100, 410, "Họ, chữ đệm, tên: NGUYỄN VĂN AN"),
            (100, 480, "Ngày, tháng, năm sinh: 04/03/2019"),
            (100, 550, "Giới tính: Nam"),
            (600, 550, "Dân tộc: Kinh"),
            (1100, 550, "Quốc tịch: Việt Nam"),
            (100, 620, "Nơi sinh: Bệnh viện Phụ sản Hà Nội, số 929 đường La Thành,"),
            (100, 670, "phường Ngọc Khánh, quận Ba Đình, Hà Nội"),
            (100, 750, "Số định danh cá nhân: 001219012345"),
            (100, 820, "Họ, chữ đệm, tên người mẹ: TRẦN THỊ BÌNH"),
            (100, 890, "Năm sinh: 1990"),
            (600, 890, "Dân tộc: Kinh"),
            (100, 960, "Họ, chữ đệm, tên người cha: NGUYỄN VĂN CƯỜNG"),
            (100, 1040, "Nơi đăng ký: Ủy ban nhân dân phường Hàng Bạc"),
            (100, 1110, "Ngày, tháng, năm đăng ký: 10/03/2019"),
        ]
    )
    [doc] = analyze([page], load_schemas(), today=dt.date(2024, 1, 1))
    assert doc.doc_type == "birth_certificate"
    values = {f.name: f.value for f in doc.fields}
    assert values == {
        "doc_number": "123/2019",
        "book_number": "01/2019",
        "full_name": "NGUYỄN VĂN AN",
        "date_of_birth": "2019-03-04",
        "sex": "Nam",
        "ethnicity": "Kinh",
        "nationality": "Việt Nam",
        "place_of_birth": (
            "Bệnh viện Phụ sản Hà Nội, số 929 đường La Thành, phường Ngọc Khánh, "
            "quận Ba Đình, Hà Nội"
        ),
        "id_number": "001219012345",
        "mother_name": "TRẦN THỊ BÌNH",
        "father_name": "NGUYỄN VĂN CƯỜNG",
        "registration_office": "Ủy ban nhân dân phường Hàng Bạc",
        "registration_date": "2019-03-10",
    }
    assert all(f.valid for f in doc.fields)
    name = next(f for f in doc.fields if f.name == "full_name")
    assert name.confidence > 50 and name.bbox[1] > 380 and name.bbox[3] < 470
