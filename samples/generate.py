"""Invented, scanned-looking Vietnamese administrative documents with ground truth.

Run `python samples/generate.py --out samples/ --seed 7` for the committed set, or
`--count 200 --out /tmp/bench` for benchmark documents; `--rescans 2` adds re-scans of every
written file under `OUT/rescans/`. Every person, number and address line here is invented.

Pipeline: make_person -> make_spec (all random choices, JSON-serializable) -> layout (text
runs in page pixels, shared by the raster and the born-digital PDF writer) -> render_document
(Pillow) -> degrade (OpenCV/numpy, logged) -> writers (JPEG/PNG/TIFF/PDF + NAME.json).
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import math
import random
import re
import unicodedata
from functools import cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

TODAY = dt.date(2026, 11, 28)
# Documents are dated before the mid-2025 merger of provinces, so the old
# province/district/ward addresses printed on them stay consistent.
LAST_DOC_DATE = dt.date(2025, 6, 30)
DPI = 300
A4 = (2480, 3508)
CARD_MM = (85.6, 54.0)

Spec = dict[str, Any]
Profile = dict[str, Any]

# --------------------------------------------------------------------------- fonts

_FONT_DIRS = {
    "dejavu": "/usr/share/fonts/truetype/dejavu",
    "noto": "/usr/share/fonts/truetype/noto",
    "liberation": "/usr/share/fonts/truetype/liberation2",
}
# family -> (directory, regular, bold, italic, bold italic); all checked to cover the
# Vietnamese precomposed letters (U+1EA0..U+1EF9, Ă Â Đ Ê Ô Ơ Ư).
FONTS: dict[str, tuple[str, str, str, str, str]] = {
    "LiberationSerif": (
        "liberation",
        "LiberationSerif-Regular",
        "LiberationSerif-Bold",
        "LiberationSerif-Italic",
        "LiberationSerif-BoldItalic",
    ),
    "DejaVuSerif": (
        "dejavu",
        "DejaVuSerif",
        "DejaVuSerif-Bold",
        "DejaVuSerif-Italic",
        "DejaVuSerif-BoldItalic",
    ),
    "NotoSerif": (
        "noto",
        "NotoSerif-Regular",
        "NotoSerif-Bold",
        "NotoSerif-Italic",
        "NotoSerif-BoldItalic",
    ),
    "LiberationSans": (
        "liberation",
        "LiberationSans-Regular",
        "LiberationSans-Bold",
        "LiberationSans-Italic",
        "LiberationSans-BoldItalic",
    ),
    "DejaVuSans": (
        "dejavu",
        "DejaVuSans",
        "DejaVuSans-Bold",
        "DejaVuSans-Oblique",
        "DejaVuSans-BoldOblique",
    ),
    "NotoSans": (
        "noto",
        "NotoSans-Regular",
        "NotoSans-Bold",
        "NotoSans-Italic",
        "NotoSans-BoldItalic",
    ),
}
# Times New Roman dominates real forms; its metric twin Liberation Serif is weighted up.
FONT_WEIGHTS = {
    "LiberationSerif": 4,
    "DejaVuSerif": 2,
    "NotoSerif": 2,
    "LiberationSans": 1,
    "DejaVuSans": 1,
    "NotoSans": 1,
}
_STYLE_INDEX = {"": 1, "B": 2, "I": 3, "BI": 4}


def font_path(family: str, style: str = "") -> str:
    entry = FONTS[family]
    return f"{_FONT_DIRS[entry[0]]}/{entry[_STYLE_INDEX[style]]}.ttf"


@cache
def font(family: str, style: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(font_path(family, style), size)


def text_width(text: str, family: str, style: str, size: int) -> float:
    return font(family, style, size).getlength(text)


# --------------------------------------------------------------------------- people

FAMILY_NAMES = {
    "Nguyễn": 38,
    "Trần": 11,
    "Lê": 9,
    "Phạm": 7,
    "Hoàng": 5,
    "Phan": 4,
    "Vũ": 4,
    "Võ": 3,
    "Đặng": 2,
    "Bùi": 2,
    "Đỗ": 1.5,
    "Hồ": 1.3,
    "Ngô": 1.3,
    "Dương": 1,
    "Đinh": 0.8,
    "Huỳnh": 2,
    "Lý": 0.5,
    "Trịnh": 0.6,
    "Mai": 0.4,
    "Lương": 0.4,
    "Đoàn": 0.4,
    "Tạ": 0.3,
    "Hà": 0.3,
    "Lâm": 0.3,
    "Chu": 0.2,
    "Cao": 0.3,
    "Kiều": 0.2,
    "Tô": 0.2,
    "Vương": 0.2,
}
MIDDLE_MALE = ["Văn", "Văn", "Hữu", "Đức", "Minh", "Quốc", "Thành", "Công", "Quang", "Xuân",
               "Đình", "Trọng", "Gia", "Anh", "Ngọc", "Mạnh", "Thanh", "Tiến", "Bảo"]  # fmt: skip
MIDDLE_FEMALE = ["Thị", "Thị", "Thị", "Ngọc", "Thu", "Thanh", "Minh", "Phương", "Hồng", "Kim",
                 "Bảo", "Khánh", "Diệu", "Thùy", "Hoài", "Mai", "Quỳnh"]  # fmt: skip
GIVEN_MALE = ["An", "Bình", "Cường", "Dũng", "Đạt", "Đức", "Giang", "Hải", "Hiếu", "Hoàng",
              "Hùng", "Huy", "Khải", "Khánh", "Khoa", "Kiên", "Lâm", "Long", "Lộc", "Minh",
              "Nam", "Nghĩa", "Phong", "Phúc", "Quân", "Quang", "Sơn", "Tài", "Thắng", "Thành",
              "Thịnh", "Tiến", "Toàn", "Trung", "Tú", "Tuấn", "Việt", "Vinh", "Hưng", "Duy",
              "Khôi", "Đăng", "Bảo", "Hậu", "Lực"]  # fmt: skip
GIVEN_FEMALE = ["Anh", "Ánh", "Chi", "Dung", "Duyên", "Giang", "Hà", "Hạnh", "Hằng", "Hiền",
                "Hoa", "Hồng", "Huệ", "Hương", "Huyền", "Lan", "Liên", "Linh", "Loan", "Mai",
                "My", "Nga", "Ngân", "Ngọc", "Nhung", "Oanh", "Phương", "Quyên", "Quỳnh",
                "Thảo", "Thủy", "Thư", "Trang", "Trâm", "Tuyết", "Uyên", "Vân", "Vy", "Yến",
                "Nhi", "Hân", "Thương", "Diệp"]  # fmt: skip
ETHNICITIES = {
    "Kinh": 88,
    "Tày": 2,
    "Thái": 2,
    "Mường": 2,
    "Khmer": 2,
    "Hoa": 1.5,
    "Nùng": 1.5,
    "Mông": 1,
}

# Provinces (real codes of the 12-digit personal ID) with a few real districts and wards.
# Addresses are composed at random, so no line here is anyone's real address.
PLACES: list[dict[str, Any]] = [
    {
        "code": "001",
        "name": "Hà Nội",
        "full": "Thành phố Hà Nội",
        "city": True,
        "districts": {
            "Quận Cầu Giấy": ["Phường Dịch Vọng", "Phường Quan Hoa", "Phường Nghĩa Đô"],
            "Quận Đống Đa": ["Phường Láng Hạ", "Phường Ô Chợ Dừa", "Phường Trung Liệt"],
            "Huyện Đông Anh": ["Xã Uy Nỗ", "Xã Kim Chung"],
        },
        "streets": [
            "phố Trần Thái Tông",
            "đường Láng",
            "phố Thái Hà",
            "phố Chùa Láng",
            "đường Cầu Giấy",
        ],
        "hospital": "Bệnh viện Phụ sản Hà Nội",
    },
    {
        "code": "031",
        "name": "Hải Phòng",
        "full": "Thành phố Hải Phòng",
        "city": True,
        "districts": {
            "Quận Lê Chân": ["Phường An Biên", "Phường Dư Hàng"],
            "Quận Ngô Quyền": ["Phường Máy Tơ", "Phường Lạch Tray"],
        },
        "streets": ["phố Tô Hiệu", "đường Lạch Tray", "phố Cầu Đất"],
        "hospital": "Bệnh viện Phụ sản Hải Phòng",
    },
    {
        "code": "040",
        "name": "Nghệ An",
        "full": "Tỉnh Nghệ An",
        "city": False,
        "districts": {
            "Thành phố Vinh": ["Phường Hưng Bình", "Phường Lê Lợi", "Xã Nghi Phú"],
            "Huyện Nghi Lộc": ["Xã Nghi Long", "Thị trấn Quán Hành"],
            "Huyện Diễn Châu": ["Xã Diễn Hồng", "Thị trấn Diễn Châu"],
        },
        "streets": ["đường Lê Hồng Phong", "đường Nguyễn Du", "đường Phan Bội Châu"],
        "hospital": "Bệnh viện Sản Nhi Nghệ An",
    },
    {
        "code": "048",
        "name": "Đà Nẵng",
        "full": "Thành phố Đà Nẵng",
        "city": True,
        "districts": {
            "Quận Hải Châu": ["Phường Hòa Cường Bắc", "Phường Thạch Thang"],
            "Quận Sơn Trà": ["Phường An Hải Bắc", "Phường Mân Thái"],
        },
        "streets": ["đường Lê Duẩn", "đường Nguyễn Văn Linh", "đường Trưng Nữ Vương"],
        "hospital": "Bệnh viện Phụ sản - Nhi Đà Nẵng",
    },
    {
        "code": "079",
        "name": "Hồ Chí Minh",
        "full": "Thành phố Hồ Chí Minh",
        "city": True,
        "districts": {
            "Quận 3": ["Phường Võ Thị Sáu", "Phường 9"],
            "Quận Bình Thạnh": ["Phường 25", "Phường 13"],
            "Thành phố Thủ Đức": ["Phường Linh Trung", "Phường Hiệp Phú"],
        },
        "streets": ["đường Điện Biên Phủ", "đường Xô Viết Nghệ Tĩnh", "đường Nguyễn Đình Chiểu"],
        "hospital": "Bệnh viện Từ Dũ",
    },
    {
        "code": "038",
        "name": "Thanh Hóa",
        "full": "Tỉnh Thanh Hóa",
        "city": False,
        "districts": {
            "Thành phố Thanh Hóa": ["Phường Điện Biên", "Phường Ba Đình"],
            "Huyện Hoằng Hóa": ["Xã Hoằng Đạo", "Xã Hoằng Quang"],
        },
        "streets": ["đường Lê Lợi", "đường Bà Triệu"],
        "hospital": "Bệnh viện Phụ sản Thanh Hóa",
    },
    {
        "code": "036",
        "name": "Nam Định",
        "full": "Tỉnh Nam Định",
        "city": False,
        "districts": {
            "Thành phố Nam Định": ["Phường Trần Hưng Đạo", "Phường Vị Xuyên"],
            "Huyện Hải Hậu": ["Xã Hải Bắc", "Xã Hải Minh"],
        },
        "streets": ["đường Trần Hưng Đạo", "phố Hàng Tiện"],
        "hospital": "Bệnh viện Phụ sản Nam Định",
    },
    {
        "code": "034",
        "name": "Thái Bình",
        "full": "Tỉnh Thái Bình",
        "city": False,
        "districts": {
            "Thành phố Thái Bình": ["Phường Lê Hồng Phong", "Phường Bồ Xuyên"],
            "Huyện Vũ Thư": ["Xã Song Lãng", "Xã Tân Hòa"],
        },
        "streets": ["phố Lý Thường Kiệt", "đường Trần Thái Tông"],
        "hospital": "Bệnh viện Đa khoa tỉnh Thái Bình",
    },
    {
        "code": "092",
        "name": "Cần Thơ",
        "full": "Thành phố Cần Thơ",
        "city": True,
        "districts": {
            "Quận Ninh Kiều": ["Phường An Hòa", "Phường Xuân Khánh"],
            "Quận Cái Răng": ["Phường Lê Bình"],
        },
        "streets": ["đường 30 Tháng 4", "đường Mậu Thân"],
        "hospital": "Bệnh viện Phụ sản thành phố Cần Thơ",
    },
    {
        "code": "027",
        "name": "Bắc Ninh",
        "full": "Tỉnh Bắc Ninh",
        "city": False,
        "districts": {
            "Thành phố Bắc Ninh": ["Phường Suối Hoa", "Phường Tiền An"],
            "Thành phố Từ Sơn": ["Phường Đình Bảng"],
        },
        "streets": ["đường Ngô Gia Tự", "đường Lý Thái Tổ"],
        "hospital": "Bệnh viện Sản Nhi Bắc Ninh",
    },
    {
        "code": "046",
        "name": "Thừa Thiên Huế",
        "full": "Tỉnh Thừa Thiên Huế",
        "city": False,
        "districts": {
            "Thành phố Huế": ["Phường Phú Hội", "Phường Vĩnh Ninh"],
            "Thị xã Hương Thủy": ["Phường Phú Bài"],
        },
        "streets": ["đường Lê Lợi", "đường Hùng Vương"],
        "hospital": "Bệnh viện Trung ương Huế",
    },
    {
        "code": "022",
        "name": "Quảng Ninh",
        "full": "Tỉnh Quảng Ninh",
        "city": False,
        "districts": {"Thành phố Hạ Long": ["Phường Bãi Cháy", "Phường Hồng Gai"]},
        "streets": ["đường Hạ Long", "phố Lê Thánh Tông"],
        "hospital": "Bệnh viện Sản Nhi Quảng Ninh",
    },
    {
        "code": "052",
        "name": "Bình Định",
        "full": "Tỉnh Bình Định",
        "city": False,
        "districts": {"Thành phố Quy Nhơn": ["Phường Lê Lợi", "Phường Trần Phú"]},
        "streets": ["đường Nguyễn Huệ", "đường Trần Hưng Đạo"],
        "hospital": "Bệnh viện Đa khoa tỉnh Bình Định",
    },
    {
        "code": "066",
        "name": "Đắk Lắk",
        "full": "Tỉnh Đắk Lắk",
        "city": False,
        "districts": {"Thành phố Buôn Ma Thuột": ["Phường Tân Lợi", "Phường Thắng Lợi"]},
        "streets": ["đường Phan Chu Trinh", "đường Lê Duẩn"],
        "hospital": "Bệnh viện Đa khoa vùng Tây Nguyên",
    },
]
_PLACE_BY_CODE = {p["code"]: p for p in PLACES}


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", re.sub(r"\s+", " ", text).strip())


def weighted(rng: random.Random, table: dict[str, float]) -> str:
    return rng.choices(list(table), weights=list(table.values()))[0]


def random_date(rng: random.Random, start: dt.date, end: dt.date) -> dt.date:
    return start + dt.timedelta(days=rng.randint(0, max((end - start).days, 0)))


def make_id_number(province_code: str, sex: str, born: dt.date, rng: random.Random) -> str:
    """A 12-digit personal ID: province code, century+sex digit, birth year, 6 digits."""
    century = (born.year // 100 - 19) * 2 + (1 if sex == "Nữ" else 0)
    return f"{province_code}{century}{born.year % 100:02d}{rng.randint(0, 999999):06d}"


def make_name(rng: random.Random, sex: str, family: str | None = None) -> str:
    family = family or weighted(rng, FAMILY_NAMES)
    middle = rng.choice(MIDDLE_MALE if sex == "Nam" else MIDDLE_FEMALE)
    given = rng.choice(GIVEN_MALE if sex == "Nam" else GIVEN_FEMALE)
    if rng.random() < 0.15:  # some people carry two middle names
        extra = rng.choice(MIDDLE_MALE[2:] if sex == "Nam" else MIDDLE_FEMALE[3:])
        if extra != middle:
            middle = f"{middle} {extra}"
    return nfc(f"{family} {middle} {given}").upper()


def make_address(
    rng: random.Random, place: dict[str, Any], *, street: bool = True
) -> dict[str, str]:
    district = rng.choice(sorted(place["districts"]))
    ward = rng.choice(place["districts"][district])
    parts = []
    if street:
        if ward.startswith("Xã"):
            parts.append(rng.choice(["Thôn", "Xóm"]) + f" {rng.randint(1, 12)}")
        elif rng.random() < 0.5:
            parts.append(
                f"Số {rng.randint(1, 250)}, ngõ {rng.randint(2, 180)} "
                f"{rng.choice(place['streets'])}"
            )
        else:
            parts.append(f"Số {rng.randint(1, 400)} {rng.choice(place['streets'])}")
    parts += [ward, district, place["full"]]
    return {
        "full": nfc(", ".join(parts)),
        "ward": ward,
        "district": district,
        "province": place["full"],
        "province_short": place["name"],
        "code": place["code"],
    }


def make_person(
    rng: random.Random,
    *,
    sex: str | None = None,
    born_between: tuple[dt.date, dt.date] = (dt.date(1955, 1, 1), dt.date(2006, 12, 31)),
    family_name: str | None = None,
    residence: dict[str, str] | None = None,
) -> dict[str, Any]:
    """An invented citizen with a valid personal ID, parents' names and addresses."""
    sex = sex or rng.choice(["Nam", "Nữ"])
    born = random_date(rng, *born_between)
    family = family_name or weighted(rng, FAMILY_NAMES)
    birth_place = rng.choice(PLACES)
    home_place = birth_place if rng.random() < 0.6 else rng.choice(PLACES)
    origin_place = birth_place if rng.random() < 0.7 else rng.choice(PLACES)
    residence = residence or make_address(rng, home_place)
    origin = make_address(rng, origin_place, street=False)
    mother_family = weighted(rng, FAMILY_NAMES)
    return {
        "full_name": make_name(rng, sex, family),
        "sex": sex,
        "date_of_birth": born.isoformat(),
        "id_number": make_id_number(birth_place["code"], sex, born, rng),
        "birth_province": birth_place["code"],
        "ethnicity": weighted(rng, ETHNICITIES),
        "nationality": "Việt Nam",
        "residence": residence,
        "origin": origin,
        "father_name": make_name(rng, "Nam", family),
        "mother_name": make_name(rng, "Nữ", mother_family),
        "phone": rng.choice(["09", "03", "08", "07"]) + f"{rng.randint(0, 99999999):08d}",
    }


def make_child(rng: random.Random, parent: dict[str, Any], born_after: dt.date) -> dict[str, Any]:
    """A child of `parent` (same household), for coherent multi-document dossiers."""
    end = min(LAST_DOC_DATE - dt.timedelta(days=60), dt.date(2025, 1, 1))
    child = make_person(
        rng,
        born_between=(max(born_after, dt.date(2008, 1, 1)), end),
        family_name=parent["full_name"].split()[0] if parent["sex"] == "Nam" else None,
        residence=parent["residence"],
    )
    child["father_name" if parent["sex"] == "Nam" else "mother_name"] = parent["full_name"]
    return child


# --------------------------------------------------------------------------- dates in words

_DIGITS = ["không", "một", "hai", "ba", "bốn", "năm", "sáu", "bảy", "tám", "chín"]


def _two_digits(n: int, *, spell_zero_tens: bool) -> str:
    tens, unit = divmod(n, 10)
    if tens == 0:
        return ("lẻ " if spell_zero_tens else "") + _DIGITS[unit] if unit else ""
    head = "mười" if tens == 1 else f"{_DIGITS[tens]} mươi"
    if unit == 0:
        return head
    tail = {1: "mốt" if tens > 1 else "một", 5: "lăm", 4: "tư" if tens > 1 else "bốn"}.get(
        unit, _DIGITS[unit]
    )
    return f"{head} {tail}"


def number_words(n: int) -> str:
    """Vietnamese words for 0..2999, as written on birth certificates ("hai nghìn không trăm
    mười chín")."""
    thousands, rest = divmod(n, 1000)
    hundreds, rest = divmod(rest, 100)
    out = []
    if thousands:
        out.append(f"{_DIGITS[thousands]} nghìn")
    if thousands or hundreds:
        out.append(f"{_DIGITS[hundreds]} trăm")
    if rest:
        out.append(_two_digits(rest, spell_zero_tens=bool(thousands or hundreds)))
    return " ".join(out) if out else "không"


def date_in_words(d: dt.date) -> str:
    month = "tư" if d.month == 4 else number_words(d.month)
    return nfc(f"Ngày {number_words(d.day)} tháng {month} năm {number_words(d.year)}")


def place_date(place: str, d: dt.date) -> str:
    """'Hà Nội, ngày 05 tháng 02 năm 2023': zero-padded days < 10 and months 1-2, per the
    rules for administrative documents."""
    day = f"{d.day:02d}"
    month = f"{d.month:02d}" if d.month < 3 else str(d.month)
    return f"{place}, ngày {day} tháng {month} năm {d.year}"


def fmt_date(d: dt.date, style: str) -> str:
    if style == "dash":
        return d.strftime("%d-%m-%Y")
    if style == "words":
        return f"ngày {d.day:02d} tháng {d.month:02d} năm {d.year}"
    return d.strftime("%d/%m/%Y")


def title_name(upper: str) -> str:
    return " ".join(w[:1] + w[1:].lower() for w in upper.split())


# --------------------------------------------------------------------------- specs

NATIONAL = ["CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", "Độc lập - Tự do - Hạnh phúc"]


def make_style(rng: random.Random) -> dict[str, Any]:
    family = weighted(rng, FONT_WEIGHTS)
    return {
        "font": family,
        "size": rng.randint(46, 54) - (3 if "Sans" in family or "DejaVu" in family else 0),
        "margin_l": rng.randint(290, 390),
        "margin_r": rng.randint(170, 240),
        "margin_t": rng.randint(190, 270),
        "margin_b": rng.randint(200, 260),
        "line_gap": round(rng.uniform(1.4, 1.65), 2),
        "leader": rng.choice(["none", "none", "after", "before"]),
        "value_bold": rng.random() < 0.5,
    }


def L(*items: Any) -> dict[str, Any]:
    """A label/value line: strings alternate label, value; a float is a tab stop (0..1)."""
    segs: list[list[Any]] = []
    expect_label = True
    for item in items:
        if isinstance(item, float):
            segs.append(["tab", item])
            expect_label = True
            continue
        segs.append(["l" if expect_label else "v", item])
        expect_label = not expect_label
    return {"k": "field", "segs": segs}


def C(
    *lines: str | tuple[str, str], size: float = 1.0, rule: int | None = None, gap: float = 0
) -> dict:
    """Centered lines; a tuple is (text, font style)."""
    out = [list(x) if isinstance(x, tuple) else [x, ""] for x in lines]
    return {"k": "center", "lines": out, "size": size, "rule": rule, "gap": gap}


def P(text: str, *, indent: bool = True, style: str = "", size: float = 1.0) -> dict:
    return {"k": "para", "text": text, "indent": indent, "style": style, "size": size}


def G(h: float = 0.5) -> dict:
    return {"k": "gap", "h": h}


def header_cols(
    left: list,
    right: list,
    *,
    split: float = 0.42,
    rule_left: int | None = None,
    rule_right: int | None = 1,
    size: float = 0.95,
) -> dict:
    def norm(lines: list) -> list:
        return [list(x) if isinstance(x, tuple) else [x, "B"] for x in lines]

    return {
        "k": "cols",
        "left": norm(left),
        "right": norm(right),
        "split": split,
        "rule_left": rule_left,
        "rule_right": rule_right,
        "size": size,
    }


def sign_block(
    titles: list[str],
    name: str | None,
    *,
    stamp: dict | None,
    left: list | None = None,
    hint: str | None = None,
    left_name: str | None = None,
) -> dict:
    return {
        "k": "sign",
        "titles": titles,
        "name": name,
        "stamp": stamp,
        "left": left or [],
        "hint": hint,
        "left_name": left_name,
    }


_UNIT_KINDS = ("Thành phố", "Thị trấn", "Thị xã", "Quận", "Huyện", "Phường", "Xã", "Tỉnh")


def _split_unit(unit: str) -> tuple[str, str]:
    """'Thị xã Hương Thủy' -> ('Thị xã', 'Hương Thủy')."""
    for kind in _UNIT_KINDS:
        if unit.startswith(kind + " "):
            return kind, unit[len(kind) + 1 :]
    return "", unit


def _ubnd(address: dict[str, str], level: str) -> tuple[str, str, str]:
    """(upper-case header line 2, lower-case office name, place name for the date line)
    for the people's committee (or police) of the address's province, district or ward."""
    if level == "province":
        short = address["province_short"]
        kind = "THÀNH PHỐ" if address["province"].startswith("Thành phố") else "TỈNH"
        return f"{kind} {short.upper()}", f"{kind.lower()} {short}", short
    kind, name = _split_unit(address["district" if level == "district" else "ward"])
    place = _split_unit(address["district"])[1]
    if place.isdigit():  # numbered districts date their papers with the city's name
        place = address["province_short"]
    return nfc(f"{kind} {name}").upper(), nfc(f"{kind.lower()} {name}"), place


def _stamp(top: str, bottom: str, rng: random.Random) -> dict:
    return {
        "top": top,
        "bottom": bottom,
        "angle": rng.uniform(-25, 25),
        "strength": rng.uniform(0.7, 0.95),
        "dx": rng.uniform(-0.28, -0.12),
        "dy": rng.uniform(-0.15, 0.15),
    }


def _field_line(label: str, value: str) -> dict:
    return L(f"{label}:", value)


def spec_birth_certificate(person: dict, rng: random.Random, style: dict) -> Spec:
    born = dt.date.fromisoformat(person["date_of_birth"])
    reg = min(born + dt.timedelta(days=rng.randint(3, 60)), LAST_DOC_DATE)
    res = person["residence"]
    ward_up, ward_name, place = _ubnd(res, "ward")
    office = nfc(
        f"Ủy ban nhân dân {ward_name}, {res['district'][0].lower() + res['district'][1:]}, "
        f"{res['province'][0].lower() + res['province'][1:]}"
    )
    book = f"{rng.randint(1, 3):02d}/{reg.year}"
    number = str(rng.randint(1, 480))
    if rng.random() < 0.5:
        number_lines = [L("Số:", number, 0.55, "Quyển số:", book)]
        doc_number = number
    else:
        doc_number = f"{number}/{reg.year}"
        number_lines = [L("Số:", doc_number)]
    hosp_place = _PLACE_BY_CODE[person["birth_province"]]
    birth_place = nfc(f"{hosp_place['hospital']}, {hosp_place['full']}")
    name_label = rng.choice(["Họ, chữ đệm, tên", "Họ, chữ đệm và tên", "Họ và tên"])
    date_style = rng.choice(["slash", "slash", "dash"])
    mother, father = person["mother_name"], person["father_name"]
    m_year = born.year - rng.randint(20, 36)
    f_year = m_year - rng.randint(0, 6)
    parent_res = res["full"]
    fields = {
        "doc_number": doc_number,
        "full_name": person["full_name"],
        "date_of_birth": born.isoformat(),
        "sex": person["sex"],
        "ethnicity": person["ethnicity"],
        "nationality": person["nationality"],
        "place_of_birth": birth_place,
        "id_number": person["id_number"],
        "mother_name": mother,
        "father_name": father,
        "registration_office": office,
        "registration_date": reg.isoformat(),
    }
    sex_line = L(
        "Giới tính:",
        person["sex"],
        0.36,
        "Dân tộc:",
        person["ethnicity"],
        0.66,
        "Quốc tịch:",
        "Việt Nam",
    )
    id_line = L("Số định danh cá nhân:", person["id_number"])
    personal = [
        L(f"{name_label}:", person["full_name"]),
        L("Ngày, tháng, năm sinh:", fmt_date(born, date_style)),
    ]
    if rng.random() < 0.6:
        personal.append(L("ghi bằng chữ:", date_in_words(born)))
    personal += [sex_line, L("Nơi sinh:", birth_place), L("Quê quán:", person["origin"]["full"])]
    personal.insert(rng.choice([1, len(personal)]), id_line)
    blocks = [
        C((NATIONAL[0], "B"), (NATIONAL[1], "B"), rule=1),
        G(0.6),
        C(("GIẤY KHAI SINH", "B"), size=1.45),
        G(0.2),
        *number_lines,
        G(0.3),
        *personal,
        G(0.3),
        L(f"{name_label} người mẹ:", mother),
        L("Năm sinh:", str(m_year), 0.36, "Dân tộc:", "Kinh", 0.66, "Quốc tịch:", "Việt Nam"),
        L("Nơi cư trú:", parent_res),
        G(0.3),
        L(f"{name_label} người cha:", father),
        L("Năm sinh:", str(f_year), 0.36, "Dân tộc:", "Kinh", 0.66, "Quốc tịch:", "Việt Nam"),
        L("Nơi cư trú:", parent_res),
        G(0.3),
        L("Họ, chữ đệm, tên người đi khai sinh:", rng.choice([mother, father])),
        L("Nơi đăng ký khai sinh:", office),
        L("Ngày, tháng, năm đăng ký:", fmt_date(reg, date_style)),
        G(0.6),
    ]
    signer = make_name(rng, rng.choice(["Nam", "Nữ"]))
    clerk = make_name(rng, rng.choice(["Nam", "Nữ"]))
    blocks.append(
        sign_block(
            ["NGƯỜI KÝ GIẤY KHAI SINH"],
            title_name(signer),
            hint="(Ký, ghi rõ họ, chữ đệm, tên, chức vụ và đóng dấu)",
            stamp=_stamp(f"ỦY BAN NHÂN DÂN {ward_up}", res["district"].upper(), rng),
            left=[["NGƯỜI THỰC HIỆN", "B"]],
            left_name=title_name(clerk),
        )
    )
    return {"doc_type": "birth_certificate", "fields": fields, "style": style, "blocks": blocks}


def spec_residence_confirmation(person: dict, rng: random.Random, style: dict) -> Spec:
    res = person["residence"]
    born = dt.date.fromisoformat(person["date_of_birth"])
    issue = random_date(rng, max(dt.date(2022, 1, 1), born + dt.timedelta(days=30)), LAST_DOC_DATE)
    ward_up, ward_name, place = _ubnd(res, "ward")
    province_police = f"CÔNG AN {_ubnd(res, 'province')[0]}"
    district_police = f"CÔNG AN {_ubnd(res, 'district')[0]}"
    issuer = f"CÔNG AN {ward_up}"
    number = f"{rng.randint(10, 2999)}/XN"
    if rng.random() < 0.6:
        head, rel = person["full_name"], "Chủ hộ"
    else:
        head = person["father_name"] if rng.random() < 0.6 else make_name(rng, "Nam")
        rel = "Con" if head == person["father_name"] else rng.choice(["Vợ", "Cháu", "Em"])
    name_label = rng.choice(["Họ, chữ đệm và tên", "Họ, chữ đệm, tên", "Họ và tên"])
    date_style = rng.choice(["slash", "dash"])
    fields = {
        "doc_number": number,
        "full_name": person["full_name"],
        "date_of_birth": born.isoformat(),
        "sex": person["sex"],
        "id_number": person["id_number"],
        "place_of_residence": res["full"],
        "head_of_household": head,
        "relationship_to_head": rel,
        "issuer": issuer,
        "issue_date": issue.isoformat(),
    }
    items = [
        L(f"1. {name_label}:", person["full_name"]),
        L(
            "2. Ngày, tháng, năm sinh:",
            fmt_date(born, date_style),
            0.58,
            "3. Giới tính:",
            person["sex"],
        ),
        L("4. Số định danh cá nhân:", person["id_number"]),
        L("5. Nơi thường trú:", res["full"]),
        L("6. Nơi tạm trú:", "Không"),
        L("7. Nơi ở hiện tại:", res["full"]),
        L(f"8. {name_label} chủ hộ:", head),
        L("9. Quan hệ với chủ hộ:", rel),
    ]
    blocks = [
        header_cols(
            [province_police, issuer, ("", ""), (f"Số: {number}", "")],
            NATIONAL + [("", ""), (place_date(place, issue), "I")],
            rule_left=1,
        ),
        G(0.8),
        C(("GIẤY XÁC NHẬN THÔNG TIN VỀ CƯ TRÚ", "B"), size=1.25),
        G(0.5),
        P(
            f"{issuer.title().replace('Công An', 'Công an')} xác nhận thông tin về cư trú "
            "của công dân như sau:"
        ),
        *items,
        P(
            "10. Thông tin về thành viên hộ gia đình: theo sổ theo dõi của cơ quan đăng ký cư trú.",
            indent=False,
        ),
        G(0.3),
        P("Giấy xác nhận này có giá trị 30 ngày kể từ ngày cấp.", style="I"),
        G(0.8),
        sign_block(
            ["TRƯỞNG CÔNG AN"]
            if rng.random() < 0.6
            else ["KT. TRƯỞNG CÔNG AN", "PHÓ TRƯỞNG CÔNG AN"],
            title_name(make_name(rng, "Nam")),
            stamp=_stamp(f"CÔNG AN {ward_up}", district_police.replace("CÔNG AN ", ""), rng),
        ),
    ]
    return {
        "doc_type": "residence_confirmation",
        "fields": fields,
        "style": style,
        "blocks": blocks,
    }


_REQUESTS = [
    ("TỜ KHAI THAY ĐỔI THÔNG TIN CƯ TRÚ", "Đăng ký thường trú cho con vào hộ gia đình"),
    ("TỜ KHAI THAY ĐỔI THÔNG TIN CƯ TRÚ", "Đăng ký tạm trú tại nơi ở hiện tại"),
    ("ĐƠN ĐỀ NGHỊ CẤP GIẤY XÁC NHẬN THÔNG TIN VỀ CƯ TRÚ", "Cấp giấy xác nhận thông tin về cư trú"),
    ("TỜ KHAI ĐỀ NGHỊ CẤP BẢN SAO TRÍCH LỤC HỘ TỊCH", "Cấp bản sao giấy khai sinh"),
]


def spec_application_form(
    person: dict, rng: random.Random, style: dict, *, pages: int = 2, child: dict | None = None
) -> Spec:
    res = person["residence"]
    born = dt.date.fromisoformat(person["date_of_birth"])
    lo = max(dt.date(2021, 1, 1), born + dt.timedelta(days=365 * 18))
    if child:
        lo = max(lo, dt.date.fromisoformat(child["date_of_birth"]) + dt.timedelta(days=30))
    date = random_date(rng, lo, LAST_DOC_DATE)
    title, request = _REQUESTS[0] if child else rng.choice(_REQUESTS)
    ward_up, ward_name, place = _ubnd(res, "ward")
    if "HỘ TỊCH" in title:
        recipient = nfc(f"Ủy ban nhân dân {ward_name}")
    else:
        recipient = nfc(f"Công an {ward_name}, {res['district'][0].lower() + res['district'][1:]}")
    name_label = rng.choice(["Họ, chữ đệm và tên", "Họ, chữ đệm, tên người yêu cầu", "Họ và tên"])
    addr_label = rng.choice(["Nơi cư trú", "Địa chỉ", "Nơi thường trú"])
    fields = {
        "recipient": recipient,
        "applicant_name": person["full_name"],
        "applicant_id_number": person["id_number"],
        "applicant_address": res["full"],
        "phone": person["phone"],
        "request": request,
        "date": date.isoformat(),
    }
    phone = person["phone"]
    phone_print = f"{phone[:4]} {phone[4:7]} {phone[7:]}" if rng.random() < 0.4 else phone
    items = [
        L(f"1. {name_label}:", person["full_name"]),
        L(
            "2. Ngày, tháng, năm sinh:",
            fmt_date(born, "slash"),
            0.6,
            "3. Giới tính:",
            person["sex"],
        ),
        L("4. Số định danh cá nhân:", person["id_number"]),
        L("5. Số điện thoại liên hệ:", phone_print, 0.6, "6. Email:", "Không"),
        L(f"7. {addr_label}:", res["full"]),
        L(
            "8. Nghề nghiệp:",
            rng.choice(
                ["Giáo viên", "Kỹ sư", "Công nhân", "Kinh doanh", "Nông dân", "Nhân viên văn phòng"]
            ),
        ),
        L("9. Họ, chữ đệm và tên chủ hộ:", person["full_name"], 0.7, "10. Quan hệ:", "Chủ hộ"),
        L("11. Nội dung đề nghị:", request),
    ]
    if len(items) > 4 and rng.random() < 0.5:  # swap phone and address lines on some forms
        items[3], items[4] = items[4], items[3]
    members = [
        ["TT", "Họ, chữ đệm và tên", "Ngày sinh", "Giới tính", "Số định danh cá nhân", "Quan hệ"]
    ]
    members.append(
        [
            "1",
            person["full_name"],
            fmt_date(born, "slash"),
            person["sex"],
            person["id_number"],
            "Chủ hộ",
        ]
    )
    if child:
        members.append(
            [
                "2",
                child["full_name"],
                fmt_date(dt.date.fromisoformat(child["date_of_birth"]), "slash"),
                child["sex"],
                child["id_number"],
                "Con",
            ]
        )
    blocks: list[dict] = [
        C((NATIONAL[0], "B"), (NATIONAL[1], "B"), rule=1),
        G(0.6),
        C((title, "B"), size=1.2),
        G(0.5),
        L("Kính gửi:", recipient),
        G(0.3),
        *items,
        P("12. Những thành viên trong hộ gia đình cùng thay đổi:", indent=False),
        {"k": "table", "cols": [0.06, 0.3, 0.15, 0.11, 0.24, 0.14], "rows": members, "size": 0.8},
    ]
    if pages >= 2:
        blocks.append({"k": "pagebreak"})
    blocks += [
        G(0.4),
        P(
            "Tôi xin cam đoan những thông tin kê khai trên là đúng sự thật và chịu trách nhiệm "
            "trước pháp luật về nội dung đã khai."
        ),
        G(0.3),
        {"k": "rightline", "text": place_date(place, date), "style": "I"},
        sign_block(
            ["NGƯỜI KÊ KHAI"],
            title_name(person["full_name"]),
            stamp=None,
            hint="(Ký, ghi rõ họ tên)",
            left=[["Ý KIẾN CỦA CHỦ HỘ", "B"], ["(Ký, ghi rõ họ tên)", "I"]],
            left_name=title_name(person["full_name"]),
        ),
    ]
    return {"doc_type": "application_form", "fields": fields, "style": style, "blocks": blocks}


_SUBJECTS = [
    "cấp Giấy chứng nhận quyền sử dụng đất cho hộ gia đình, cá nhân",
    "hỗ trợ kinh phí sửa chữa nhà ở cho hộ gia đình có hoàn cảnh khó khăn",
    "công nhận kết quả hòa giải thành tranh chấp đất đai",
    "cho phép chuyển mục đích sử dụng đất",
    "khen thưởng cá nhân có thành tích xuất sắc trong phong trào thi đua",
]


def spec_decision(person: dict, rng: random.Random, style: dict, *, pages: int = 2) -> Spec:
    res = person["residence"]
    level = rng.choice(["province", "district"])
    line2, office, place = _ubnd(res, level)
    issuer = f"ỦY BAN NHÂN DÂN {line2}"
    born = dt.date.fromisoformat(person["date_of_birth"])
    issue = random_date(
        rng, max(dt.date(2015, 1, 1), born + dt.timedelta(days=365 * 18)), LAST_DOC_DATE
    )
    number = f"{rng.randint(12, 4800)}/QĐ-UBND"
    subject = rng.choice(_SUBJECTS)
    signer = make_name(rng, rng.choice(["Nam", "Nam", "Nữ"]))
    title = "Ông" if person["sex"] == "Nam" else "Bà"
    fields = {
        "doc_number": number,
        "issuer": issuer,
        "issue_place": place,
        "issue_date": issue.isoformat(),
        "subject": nfc(subject),
        "signer": signer,
    }
    proposal = max(issue - dt.timedelta(days=rng.randint(5, 40)), dt.date(2015, 1, 1))
    bases = [
        "Căn cứ Luật Tổ chức chính quyền địa phương ngày 19 tháng 6 năm 2015; "
        "Luật sửa đổi, bổ sung "
        "một số điều của Luật Tổ chức Chính phủ và Luật Tổ chức chính quyền địa phương ngày 22 "
        "tháng 11 năm 2019;",
        "Căn cứ Luật Đất đai ngày 29 tháng 11 năm 2013;",
        "Căn cứ Nghị định số 43/2014/NĐ-CP ngày 15 tháng 5 năm 2014 của Chính phủ "
        "quy định chi tiết "
        "thi hành một số điều của Luật Đất đai;",
        f"Xét đề nghị của Trưởng phòng Tài nguyên và Môi trường tại Tờ trình số "
        f"{rng.randint(10, 900)}/TTr-TNMT ngày {proposal.strftime('%d/%m/%Y')}.",
    ]
    if pages < 2:
        bases = [bases[0], bases[-1]]
    art1 = (
        f"Điều 1. {subject[0].upper() + subject[1:]} đối với {title.lower()} "
        f"{person['full_name']}, "
        f"sinh ngày {born.strftime('%d/%m/%Y')}, số định danh cá nhân {person['id_number']}, "
        f"nơi thường trú: {res['full']}."
    )
    art2 = "Điều 2. Quyết định này có hiệu lực kể từ ngày ký."
    art3 = (
        f"Điều 3. Chánh Văn phòng Hội đồng nhân dân và Ủy ban nhân dân {office}, Thủ trưởng các cơ "
        f"quan, đơn vị có liên quan và {title.lower()} {title_name(person['full_name'])} "
        "chịu trách "
        "nhiệm thi hành Quyết định này./."
    )
    blocks: list[dict] = [
        header_cols(
            ["ỦY BAN NHÂN DÂN", line2, ("", ""), (f"Số: {number}", "")],
            NATIONAL + [("", ""), (place_date(place, issue), "I")],
            rule_left=1,
        ),
        G(0.8),
        C(("QUYẾT ĐỊNH", "B"), size=1.3),
        C((f"Về việc {subject}", "B"), rule=0 if rng.random() < 0.5 else None),
        G(0.5),
        C(
            (
                f"ỦY BAN NHÂN DÂN {line2}"
                if rng.random() < 0.5
                else f"CHỦ TỊCH ỦY BAN NHÂN DÂN {line2}",
                "B",
            )
        ),
        G(0.3),
        *[P(b, style="I") for b in bases],
        G(0.3),
        C(("QUYẾT ĐỊNH:", "B")),
        G(0.2),
        P(art1),
    ]
    if pages >= 2:
        blocks += [
            P(
                "Việc thực hiện các nội dung tại Điều này phải bảo đảm đúng quy định "
                "của pháp luật, "
                "công khai, minh bạch; hồ sơ được lưu trữ tại cơ quan chuyên môn theo quy định."
            ),
            {"k": "pagebreak"},
            C(("2", "")),
            G(0.4),
        ]
    titles = rng.choice(
        [
            ["TM. ỦY BAN NHÂN DÂN", "CHỦ TỊCH"],
            ["TM. ỦY BAN NHÂN DÂN", "KT. CHỦ TỊCH", "PHÓ CHỦ TỊCH"],
        ]
    )
    blocks += [
        P(art2),
        P(art3),
        G(0.6),
        sign_block(
            titles,
            title_name(signer),
            stamp=_stamp(issuer, "", rng),
            left=[["Nơi nhận:", "BI"], ["- Như Điều 3;", ""], ["- Lưu: VT.", ""]],
        ),
    ]
    return {"doc_type": "decision", "fields": fields, "style": style, "blocks": blocks}


def spec_marriage_certificate(person: dict, rng: random.Random, style: dict) -> Spec:
    born = dt.date.fromisoformat(person["date_of_birth"])
    partner_sex = "Nữ" if person["sex"] == "Nam" else "Nam"
    partner = make_person(
        rng,
        sex=partner_sex,
        residence=person["residence"],
        born_between=(
            born - dt.timedelta(days=2500),
            min(born + dt.timedelta(days=2500), dt.date(2004, 12, 31)),
        ),
    )
    husband, wife = (person, partner) if person["sex"] == "Nam" else (partner, person)
    hb, wb = (
        dt.date.fromisoformat(husband["date_of_birth"]),
        dt.date.fromisoformat(wife["date_of_birth"]),
    )
    earliest = max(
        dt.date(hb.year + 20, 12, 31), dt.date(wb.year + 18, 12, 31), dt.date(2000, 1, 1)
    )
    reg = random_date(rng, min(earliest, LAST_DOC_DATE), LAST_DOC_DATE)
    res = husband["residence"]
    ward_up, ward_name, place = _ubnd(res, "ward")
    office = nfc(
        f"Ủy ban nhân dân {ward_name}, {res['district'][0].lower() + res['district'][1:]}, "
        f"{res['province'][0].lower() + res['province'][1:]}"
    )
    number = f"{rng.randint(1, 300)}"
    fields = {
        "doc_number": number,
        "husband_name": husband["full_name"],
        "wife_name": wife["full_name"],
        "husband_date_of_birth": hb.isoformat(),
        "wife_date_of_birth": wb.isoformat(),
        "husband_id_number": husband["id_number"],
        "wife_id_number": wife["id_number"],
        "registration_office": office,
        "registration_date": reg.isoformat(),
    }
    rows = [
        ["", "Thông tin người chồng", "Thông tin người vợ"],
        ["Họ, chữ đệm, tên", husband["full_name"], wife["full_name"]],
        ["Ngày, tháng, năm sinh", hb.strftime("%d/%m/%Y"), wb.strftime("%d/%m/%Y")],
        ["Dân tộc", husband["ethnicity"], wife["ethnicity"]],
        ["Quốc tịch", "Việt Nam", "Việt Nam"],
        ["Nơi cư trú", husband["residence"]["ward"], wife["residence"]["ward"]],
        ["Số định danh cá nhân", husband["id_number"], wife["id_number"]],
    ]
    blocks = [
        C((NATIONAL[0], "B"), (NATIONAL[1], "B"), rule=1),
        G(0.6),
        C(("GIẤY CHỨNG NHẬN KẾT HÔN", "B"), size=1.35),
        G(0.3),
        L("Số:", number, 0.55, "Quyển số:", f"01/{reg.year}"),
        G(0.3),
        {
            "k": "table",
            "cols": [0.32, 0.34, 0.34],
            "rows": rows,
            "size": 0.9,
            "borders": rng.random() < 0.7,
        },
        G(0.4),
        L("Nơi đăng ký:", office),
        L("Ngày, tháng, năm đăng ký:", fmt_date(reg, "slash")),
        G(0.6),
        sign_block(
            ["NGƯỜI KÝ GIẤY CHỨNG NHẬN KẾT HÔN"],
            title_name(make_name(rng, "Nam")),
            stamp=_stamp(f"ỦY BAN NHÂN DÂN {ward_up}", res["district"].upper(), rng),
            left=[
                ["Chồng", "B"],
                [title_name(husband["full_name"]), ""],
                ["Vợ", "B"],
                [title_name(wife["full_name"]), ""],
            ],
        ),
    ]
    return {"doc_type": "marriage_certificate", "fields": fields, "style": style, "blocks": blocks}


_PURPOSES = ["Đất ở tại đô thị", "Đất ở tại nông thôn", "Đất trồng cây lâu năm", "Đất trồng lúa"]


def spec_land_use_certificate(person: dict, rng: random.Random, style: dict) -> Spec:
    res = person["residence"]
    born = dt.date.fromisoformat(person["date_of_birth"])
    issue = random_date(
        rng, max(dt.date(2010, 1, 1), born + dt.timedelta(days=365 * 18)), LAST_DOC_DATE
    )
    land = make_address(rng, _PLACE_BY_CODE[res["code"]])
    place = res["province_short"]
    area = round(rng.uniform(45, 480), 1)
    area_txt = f"{area:.1f}".replace(".", ",").replace(",0", "")
    parcel, sheet = str(rng.randint(12, 980)), str(rng.randint(1, 64))
    purpose = rng.choice(_PURPOSES)
    serial = f"CS {rng.randint(100, 99999):05d}"
    issuer = f"SỞ TÀI NGUYÊN VÀ MÔI TRƯỜNG {_ubnd(res, 'province')[0]}"
    title = "Ông" if person["sex"] == "Nam" else "Bà"
    fields = {
        "doc_number": serial,
        "holder_name": person["full_name"],
        "holder_id_number": person["id_number"],
        "parcel_number": parcel,
        "map_sheet_number": sheet,
        "land_address": land["full"],
        "area_m2": f"{area:.1f}".rstrip("0").rstrip("."),
        "land_use_purpose": purpose,
        "issuer": issuer,
        "issue_date": issue.isoformat(),
    }
    blocks = [
        C((NATIONAL[0], "B"), (NATIONAL[1], "B"), rule=1),
        G(0.6),
        C(("GIẤY CHỨNG NHẬN", "B"), size=1.4),
        C(
            ("QUYỀN SỬ DỤNG ĐẤT", "B"),
            ("QUYỀN SỞ HỮU NHÀ Ở VÀ TÀI SẢN KHÁC GẮN LIỀN VỚI ĐẤT", "B"),
            size=0.95,
        ),
        G(0.5),
        P(
            "I. Người sử dụng đất, chủ sở hữu nhà ở và tài sản khác gắn liền với đất",
            indent=False,
            style="B",
        ),
        L(f"{title}:", person["full_name"], 0.62, "Năm sinh:", str(born.year)),
        L("CCCD số:", person["id_number"]),
        L("Địa chỉ thường trú:", res["full"]),
        G(0.4),
        P("II. Thửa đất, nhà ở và tài sản khác gắn liền với đất", indent=False, style="B"),
        L("a) Thửa đất số:", parcel, 0.5, "b) Tờ bản đồ số:", sheet),
        L("c) Địa chỉ:", land["full"]),
        L("d) Diện tích:", f"{area_txt} m²", 0.5, "Hình thức sử dụng:", "Sử dụng riêng"),
        L("đ) Mục đích sử dụng:", purpose),
        L(
            "e) Thời hạn sử dụng:",
            "Lâu dài"
            if "ở" in purpose
            else f"Đến ngày {issue.day:02d}/{issue.month:02d}/{issue.year + 50}",
        ),
        L(
            "g) Nguồn gốc sử dụng:",
            rng.choice(
                [
                    "Nhà nước giao đất có thu tiền sử dụng đất",
                    "Công nhận quyền sử dụng đất như giao đất có thu tiền sử dụng đất",
                    "Nhận chuyển nhượng đất được công nhận quyền sử dụng",
                ]
            ),
        ),
        G(0.6),
        {"k": "rightline", "text": place_date(place, issue), "style": "I"},
        sign_block(
            [issuer, "KT. GIÁM ĐỐC", "PHÓ GIÁM ĐỐC"],
            title_name(make_name(rng, "Nam")),
            stamp=_stamp(issuer, "", rng),
            left=[[f"Số vào sổ cấp GCN: {serial}", ""]],
        ),
    ]
    return {"doc_type": "land_use_certificate", "fields": fields, "style": style, "blocks": blocks}


def cccd_expiry(born: dt.date, issued: dt.date) -> dt.date | None:
    """A CCCD runs to the birthday at 25, 40 or 60; one issued within 2 years before a
    milestone runs to the next; from 58 on it has no expiry."""
    for age in (25, 40, 60):
        birthday = dt.date(
            born.year + age, born.month, min(born.day, 28) if born.month == 2 else born.day
        )
        if issued <= birthday - dt.timedelta(days=730):
            return birthday
    return None


def spec_cccd(
    person: dict,
    rng: random.Random,
    style: dict,
    *,
    width: int = 1000,
    placement: str | None = None,
) -> Spec:
    born = dt.date.fromisoformat(person["date_of_birth"])
    issued = random_date(
        rng, max(dt.date(2016, 1, 1), born + dt.timedelta(days=365 * 14 + 4)), LAST_DOC_DATE
    )
    expiry = cccd_expiry(born, issued)
    origin = person["origin"]
    origin_txt = nfc(f"{origin['ward']}, {origin['district']}, {origin['province_short']}")
    fields = {
        "id_number": person["id_number"],
        "full_name": person["full_name"],
        "date_of_birth": born.isoformat(),
        "sex": person["sex"],
        "nationality": "Việt Nam",
        "place_of_origin": origin_txt,
        "place_of_residence": person["residence"]["full"],
    }
    if expiry:
        fields["expiry_date"] = expiry.isoformat()
    return {
        "doc_type": "cccd",
        "fields": fields,
        "style": {
            **style,
            "font": rng.choice(["LiberationSans", "DejaVuSans", "NotoSans", "LiberationSerif"]),
        },
        "card": {
            "width": width,
            "issued": issued.isoformat(),
            "expiry": expiry.strftime("%d/%m/%Y") if expiry else "Không thời hạn",
            "sex_label": rng.choice(["Giới tính / Sex:", "Giới tính/Sex:"]),
            "hue": rng.uniform(-8, 8),
        },
        "placement": placement,
    }


SPEC_BUILDERS = {
    "birth_certificate": spec_birth_certificate,
    "cccd": spec_cccd,
    "residence_confirmation": spec_residence_confirmation,
    "application_form": spec_application_form,
    "decision": spec_decision,
    "marriage_certificate": spec_marriage_certificate,
    "land_use_certificate": spec_land_use_certificate,
}
DOC_TYPES = list(SPEC_BUILDERS)


def make_spec(doc_type: str, person: dict, rng: random.Random, **options: Any) -> Spec:
    """Everything needed to print one document for `person` (JSON-serializable).

    options: `pages` (1 or 2) for application_form/decision; `width`, `placement` ("a4")
    for cccd; `child` for application_form; `style` to force a style dict."""
    style = options.pop("style", None) or make_style(rng)
    if (
        doc_type == "birth_certificate"
        and dt.date.fromisoformat(person["date_of_birth"]) > LAST_DOC_DATE
    ):
        raise ValueError("born after the last document date")
    spec = SPEC_BUILDERS[doc_type](person, rng, style, **options)
    spec["ink_seed"] = rng.getrandbits(32)
    spec["fields"] = {k: nfc(v) for k, v in spec["fields"].items()}
    return spec


# --------------------------------------------------------------------------- layout

Run = dict[str, Any]


class _Page:
    def __init__(self, size: tuple[int, int]):
        self.size = size
        self.runs: list[Run] = []
        self.rules: list[tuple[float, float, float, float, int]] = []
        self.stamps: list[dict] = []
        self.sigs: list[dict] = []
        self.lines: list[str] = []

    def as_dict(self) -> dict:
        return {
            "size": self.size,
            "runs": self.runs,
            "rules": self.rules,
            "stamps": self.stamps,
            "sigs": self.sigs,
            "lines": self.lines,
        }


class _Layout:
    """Places blocks on A4 pages at 300 dpi; paginates; keeps the ground-truth lines."""

    def __init__(self, style: dict):
        self.st = style
        self.fam = style["font"]
        self.size = style["size"]
        self.W, self.H = A4
        self.x0 = style["margin_l"]
        self.x1 = self.W - style["margin_r"]
        self.pages: list[_Page] = []
        self.new_page()

    def new_page(self) -> None:
        self.page = _Page(A4)
        self.pages.append(self.page)
        self.y = float(self.st["margin_t"])

    def lh(self, scale: float = 1.0) -> float:
        return self.size * scale * self.st["line_gap"]

    def px(self, scale: float) -> int:
        return round(self.size * scale)

    def fit(self, text: str, style: str, scale: float, width: float) -> int:
        size = self.px(scale)
        while size > 12 and text_width(text, self.fam, style, size) > width:
            size -= 1
        return size

    def run(self, x: float, base: float, text: str, style: str, size: int, color=(0, 0, 0)) -> Run:
        return {
            "x": round(x, 1),
            "y": round(base, 1),
            "text": text,
            "font": self.fam,
            "style": style,
            "size": size,
            "color": color,
        }

    # Each block method returns (runs, rules, gt_lines, height, extras) for a given top y, so
    # pagination can retry it on a fresh page.
    def place(self, block: dict) -> None:
        kind = block["k"]
        if kind == "pagebreak":
            self.new_page()
            return
        if kind == "gap":
            self.y += self.lh(block["h"])
            return
        method = getattr(self, f"b_{kind}")
        out = method(block, self.y)
        if self.y + out["h"] > self.H - self.st["margin_b"] and self.y > self.st["margin_t"] + 1:
            self.new_page()
            out = method(block, self.y)
        self.page.runs += out["runs"]
        self.page.rules += out.get("rules", [])
        self.page.stamps += out.get("stamps", [])
        self.page.sigs += out.get("sigs", [])
        self.page.lines += [nfc(t) for t in out["lines"] if nfc(t)]
        self.y += out["h"]

    def _centered(
        self, lines: list, cx: float, width: float, y: float, scale: float, rule: int | None
    ) -> dict:
        runs, rules, gt = [], [], []
        for i, (text, style) in enumerate(lines):
            if text:
                size = self.fit(text, style, scale, width)
                w = text_width(text, self.fam, style, size)
                runs.append(self.run(cx - w / 2, y + size * 0.95, text, style, size))
                gt.append(text)
                if rule == i:
                    rw = w * 0.6 if i else w * 0.4
                    ry = y + size * 1.4
                    rules.append((cx - rw / 2, ry, cx + rw / 2, ry, max(2, size // 18)))
            y += self.lh(scale)
        return {"runs": runs, "rules": rules, "lines": gt}

    def b_center(self, b: dict, y: float) -> dict:
        out = self._centered(
            b["lines"], (self.x0 + self.x1) / 2, self.x1 - self.x0, y, b["size"], b["rule"]
        )
        out["h"] = len(b["lines"]) * self.lh(b["size"])
        return out

    def b_cols(self, b: dict, y: float) -> dict:
        split = self.x0 - 120 + (self.x1 - self.x0 + 120) * b["split"]
        left = self._centered(
            b["left"],
            (self.x0 - 120 + split) / 2,
            split - self.x0 + 100,
            y,
            b["size"],
            b["rule_left"],
        )
        right = self._centered(
            b["right"],
            (split + self.x1 + 60) / 2,
            self.x1 + 60 - split,
            y,
            b["size"],
            b["rule_right"],
        )
        h = max(len(b["left"]), len(b["right"])) * self.lh(b["size"])
        return {
            "runs": left["runs"] + right["runs"],
            "rules": left["rules"] + right["rules"],
            "lines": left["lines"] + right["lines"],
            "h": h,
        }

    def _words_wrap(
        self,
        words: list[tuple[str, str]],
        width: float,
        size: int,
        first_indent: float,
        hang: float,
    ) -> list[list[tuple[str, str, float]]]:
        """Greedy wrap of styled words; returns lines of (word, style, x offset)."""
        space = text_width(" ", self.fam, "", size)
        lines: list[list[tuple[str, str, float]]] = [[]]
        x = first_indent
        for word, style in words:
            w = text_width(word, self.fam, style, size)
            if lines[-1] and x + w > width:
                lines.append([])
                x = hang
            lines[-1].append((word, style, x))
            x += w + space
        return lines

    def b_para(self, b: dict, y: float) -> dict:
        size = self.px(b["size"])
        words = [(w, b["style"]) for w in b["text"].split()]
        indent = size * 2.2 if b["indent"] else 0
        wrapped = self._words_wrap(words, self.x1 - self.x0, size, indent, 0)
        runs, gt = [], []
        for i, line in enumerate(wrapped):
            base = y + i * self.lh(b["size"]) + size * 0.95
            runs += [self.run(self.x0 + x, base, w, s, size) for w, s, x in line]
            gt.append(" ".join(w for w, _, _ in line))
        return {"runs": runs, "lines": gt, "h": len(wrapped) * self.lh(b["size"])}

    def b_rightline(self, b: dict, y: float) -> dict:
        cx = self.x0 + (self.x1 - self.x0) * 0.7
        out = self._centered(
            [[b["text"], b["style"]]], cx, (self.x1 - self.x0) * 0.58, y, 1.0, None
        )
        out["h"] = self.lh()
        return out

    def b_field(self, b: dict, y: float) -> dict:
        size = self.px(1.0)
        vstyle = "B" if self.st["value_bold"] else ""
        leader = self.st["leader"]
        dot = text_width(".", self.fam, "", size)
        space = text_width(" ", self.fam, "", size)
        width = self.x1 - self.x0
        base = y + size * 0.95
        # groups split by tab stops
        groups: list[tuple[float | None, list[tuple[str, str]]]] = [(None, [])]
        for kind, value in b["segs"]:
            if kind == "tab":
                groups.append((value, []))
            else:
                groups[-1][1].append((value, vstyle if kind == "v" else ""))
        gt = " ".join(t for _, segs in groups for t, _ in segs)
        natural = sum(
            text_width(t, self.fam, s, size) + space for _, segs in groups for t, s in segs
        )
        runs: list[Run] = []
        fits = True
        x = 0.0
        placed: list[tuple[float, list[tuple[str, str]]]] = []
        for tab, segs in groups:
            start = max(x, tab * width) if tab is not None else x
            w = sum(text_width(t, self.fam, s, size) + space for t, s in segs)
            if tab is not None and x > tab * width - space:
                fits = False
            placed.append((start, segs))
            x = start + w + (6 * dot if leader == "before" else 0)
        if not fits or x > width or natural > width:
            # Too long for one printed line: wrap the words, no leaders.
            words = [(w, s) for _, segs in groups for t, s in segs for w in t.split()]
            wrapped = self._words_wrap(words, width, size, 0, size * 1.5)
            lines = []
            for i, line in enumerate(wrapped):
                bl = base + i * self.lh()
                runs += [self.run(self.x0 + xx, bl, w, s, size) for w, s, xx in line]
                lines.append(" ".join(w for w, _, _ in line))
            return {"runs": runs, "lines": lines, "h": len(wrapped) * self.lh()}
        for gi, (start, segs) in enumerate(placed):
            x = start
            for si, (text, style) in enumerate(segs):
                if leader == "before" and si == 1:
                    n = 6
                    runs.append(self.run(self.x0 + x, base, "." * n, "", size))
                    x += n * dot + space * 0.3
                runs.append(self.run(self.x0 + x, base, text, style, size))
                x += text_width(text, self.fam, style, size) + space
            if leader == "after":
                end = placed[gi + 1][0] - space if gi + 1 < len(placed) else width
                n = int((end - x) / dot)
                if n > 2:
                    runs.append(self.run(self.x0 + x - space * 0.6, base, "." * n, "", size))
        # Dotted leaders are printed but left out of the ground-truth line (see README).
        return {"runs": runs, "lines": [gt], "h": self.lh()}

    def b_table(self, b: dict, y: float) -> dict:
        scale = b["size"]
        width = self.x1 - self.x0
        row_h = self.lh(scale) * 1.15
        xs = [self.x0]
        for c in b["cols"]:
            xs.append(xs[-1] + c * width)
        runs, rules, gt = [], [], []
        borders = b.get("borders", True)
        for r, row in enumerate(b["rows"]):
            top = y + r * row_h
            for c, cell in enumerate(row):
                if not cell:
                    continue
                style = "B" if r == 0 or (c == 0 and not borders) else ""
                cw = xs[c + 1] - xs[c] - 20
                csize = self.fit(cell, style, scale, cw)
                runs.append(
                    self.run(xs[c] + 10, top + (row_h + csize * 0.7) / 2, cell, style, csize)
                )
            gt.append(" ".join(cell for cell in row if cell))
            if borders:
                rules.append((xs[0], top, xs[-1], top, 2))
        bottom = y + len(b["rows"]) * row_h
        if borders:
            rules.append((xs[0], bottom, xs[-1], bottom, 2))
            rules += [(x, y, x, bottom, 2) for x in xs]
        return {"runs": runs, "rules": rules, "lines": gt, "h": bottom - y + self.lh(0.3)}

    def b_sign(self, b: dict, y: float) -> dict:
        width = self.x1 - self.x0
        rcx, rw = self.x0 + width * 0.7, width * 0.58
        lcx, lw = self.x0 + width * 0.2, width * 0.4
        titles = [[t, "B"] for t in b["titles"]] + ([[b["hint"], "I"]] if b["hint"] else [])
        right = self._centered(titles, rcx, rw, y, 1.0, None)
        sig_top = y + len(titles) * self.lh()
        sig_h = self.lh() * 3.4
        name_y = sig_top + sig_h
        runs, rules, lines = [], [], []
        left_lines: list[str] = []
        if b["left"] and b["left"][0][0].startswith("Nơi nhận"):
            for i, (text, style) in enumerate(b["left"]):
                size = self.px(0.8)
                runs.append(
                    self.run(self.x0 - 40, y + i * self.lh(0.85) + size * 0.95, text, style, size)
                )
                left_lines.append(text)
        elif b["left"]:
            left = self._centered(b["left"], lcx, lw, y, 1.0, None)
            runs += left["runs"]
            left_lines += left["lines"]
        name_runs = []
        if b["name"]:
            name_runs = self._centered([[b["name"], "B"]], rcx, rw, name_y, 1.0, None)["runs"]
        if b.get("left_name"):
            ln = self._centered([[b["left_name"], "B"]], lcx, lw, name_y, 1.0, None)
            runs += ln["runs"]
            left_lines += ln["lines"]
        runs += right["runs"] + name_runs
        lines = left_lines + right["lines"] + ([b["name"]] if b["name"] else [])
        sigs = [
            {"x": rcx - rw * 0.22, "y": sig_top + sig_h * 0.1, "w": rw * 0.44, "h": sig_h * 0.8}
        ]
        if b.get("left_name"):
            sigs.append(
                {"x": lcx - lw * 0.25, "y": sig_top + sig_h * 0.15, "w": lw * 0.5, "h": sig_h * 0.7}
            )
        stamps = []
        if b["stamp"]:
            s = b["stamp"]
            r = self.size * 4.2
            stamps.append(
                {**s, "cx": rcx + s["dx"] * rw, "cy": sig_top + sig_h * (0.45 + s["dy"]), "r": r}
            )
        return {
            "runs": runs,
            "rules": rules,
            "lines": lines,
            "h": name_y - y + self.lh(),
            "sigs": sigs,
            "stamps": stamps,
        }


def layout_document(spec: Spec) -> list[dict]:
    """Pages of draw operations (text runs at baselines, rules, stamps, signatures) and the
    ground-truth lines, in 300-dpi page pixels."""
    if spec["doc_type"] == "cccd":
        return [_layout_cccd(spec)]
    lay = _Layout(spec["style"])
    for block in spec["blocks"]:
        lay.place(block)
    return [p.as_dict() for p in lay.pages]


def _layout_cccd(spec: Spec) -> dict:
    f, card = spec["fields"], spec["card"]
    W = card["width"]
    H = round(W * CARD_MM[1] / CARD_MM[0])
    fam = spec["style"]["font"]
    u = W / 1000  # layout unit
    runs: list[Run] = []
    lines: list[str] = []
    blue = (20, 30, 60)

    def put(
        x: float, y: float, text: str, style: str, size: float, color=blue, center=False
    ) -> None:
        s = round(size * u)
        x = x * u - text_width(text, fam, style, s) / 2 if center else x * u
        runs.append(
            {
                "x": round(x, 1),
                "y": round(y * u, 1),
                "text": text,
                "font": fam,
                "style": style,
                "size": s,
                "color": color,
            }
        )

    cx = 560
    head = [
        (NATIONAL[0], "B", 25),
        (NATIONAL[1], "B", 23),
        ("SOCIALIST REPUBLIC OF VIET NAM", "", 18),
        ("Independence - Freedom - Happiness", "", 18),
    ]
    y = 44
    for text, style, size in head:
        put(cx, y, text, style, size, center=True)
        lines.append(text)
        y += size * 1.2
    put(cx, y + 30, "CĂN CƯỚC CÔNG DÂN", "B", 36, color=(190, 20, 30), center=True)
    put(cx, y + 60, "Citizen Identity Card", "B", 21, center=True)
    lines += ["CĂN CƯỚC CÔNG DÂN", "Citizen Identity Card"]
    x = 300
    y = 240
    birth = dt.date.fromisoformat(f["date_of_birth"]).strftime("%d/%m/%Y")
    rows: list[list[tuple[str, str, float]]] = [
        [("Số / No.:", "", 24), (f["id_number"], "B", 36)],
        [("Họ và tên / Full name:", "", 22)],
        [(f["full_name"], "B", 32)],
        [("Ngày sinh / Date of birth:", "", 22), (birth, "B", 25)],
        [
            (card["sex_label"], "", 22),
            (f["sex"], "B", 25),
            ("Quốc tịch / Nationality:", "", 22),
            ("Việt Nam", "B", 25),
        ],
        [("Quê quán / Place of origin:", "", 22)],
        [(f["place_of_origin"], "B", 24)],
        [("Nơi thường trú / Place of residence:", "", 22)],
    ]
    residence = f["place_of_residence"]
    wrapped = _wrap_simple(residence, fam, "B", round(24 * u), (970 - x) * u)
    rows += [[(line, "B", 24)] for line in wrapped]
    gaps = [40, 34, 38, 36, 36, 32, 36, 32] + [31] * len(wrapped)
    for row, gap in zip(rows, gaps, strict=True):
        xx = x
        for i, (text, style, size) in enumerate(row):
            if i == 2:
                xx = max(xx + 20, 590)
            put(xx, y, text, style, size, color=(180, 20, 30) if size == 36 else blue)
            xx += text_width(text, fam, style, round(size * u)) / u + 10
        lines.append(" ".join(t for t, _, _ in row))
        y += gap
    put(40, 545, "Có giá trị đến:", "", 19)
    put(40, 569, "Date of expiry", "I", 17)
    put(40, 600, card["expiry"], "B", 22)
    lines += ["Có giá trị đến:", "Date of expiry", card["expiry"]]
    return {
        "size": (W, H),
        "runs": runs,
        "rules": [],
        "stamps": [],
        "sigs": [],
        "lines": lines,
        "card": True,
        "hue": card["hue"],
    }


def _wrap_simple(text: str, fam: str, style: str, size: int, width: float) -> list[str]:
    out = [""]
    for word in text.split():
        cand = f"{out[-1]} {word}".strip()
        if out[-1] and text_width(cand, fam, style, size) > width:
            out.append(word)
        else:
            out[-1] = cand
    return out


# --------------------------------------------------------------------------- raster rendering

INK_BLUE = (25, 35, 120)
STAMP_RED = (200, 30, 45)


def draw_stamp(stamp: dict, radius: float, seed: int) -> Image.Image:
    """A round red office seal with text around the rim and a star, as an RGBA image."""
    R = int(radius)
    D = 2 * R + 8
    img = Image.new("L", (D, D), 0)
    d = ImageDraw.Draw(img)
    c = D / 2
    d.ellipse([c - R, c - R, c + R, c + R], outline=255, width=max(4, R // 28))
    d.ellipse(
        [c - R * 0.72, c - R * 0.72, c + R * 0.72, c + R * 0.72], outline=255, width=max(2, R // 60)
    )
    text = stamp["top"] + (" - " + stamp["bottom"] if stamp["bottom"] else "") + " * "
    size = max(10, int(R * 0.16))
    f = font("DejaVuSans", "B", size)
    span = 340.0
    step = span / max(len(text), 1)
    for i, ch in enumerate(text):
        ang = math.radians(-90 - span / 2 + (i + 0.5) * step)
        glyph = Image.new("L", (size * 2, size * 2), 0)
        ImageDraw.Draw(glyph).text((size, size), ch, fill=255, font=f, anchor="mm")
        glyph = glyph.rotate(-math.degrees(ang) - 90, resample=Image.BICUBIC)
        gx = c + math.cos(ang) * R * 0.86 - size
        gy = c + math.sin(ang) * R * 0.86 - size
        img.paste(255, (int(gx), int(gy)), glyph)
    star = [
        (
            c + math.cos(math.radians(-90 + k * 36)) * R * (0.34 if k % 2 == 0 else 0.14),
            c + math.sin(math.radians(-90 + k * 36)) * R * (0.34 if k % 2 == 0 else 0.14),
        )
        for k in range(10)
    ]
    d.polygon(star, fill=255)
    img = img.rotate(stamp.get("angle", 0), resample=Image.BICUBIC)
    # Uneven ink: a smooth random field thins the seal in patches.
    nrng = np.random.default_rng(seed)
    field = cv2.resize(
        nrng.uniform(0.35, 1.2, (8, 8)).astype(np.float32), (D, D), interpolation=cv2.INTER_CUBIC
    )
    alpha = np.asarray(img, np.float32) / 255 * np.clip(field, 0, 1) * stamp.get("strength", 0.85)
    rgba = np.zeros((D, D, 4), np.uint8)
    rgba[..., :3] = STAMP_RED
    rgba[..., 3] = (alpha * 255).astype(np.uint8)
    return Image.fromarray(rgba, "RGBA")


def draw_signature(w: float, h: float, seed: int) -> Image.Image:
    """A scribbled signature (smooth random strokes) as an RGBA image."""
    W, H = max(int(w), 10), max(int(h), 10)
    rng = random.Random(seed)
    img = Image.new("L", (W, H), 0)
    d = ImageDraw.Draw(img)
    width = max(3, int(H / 40))
    x = W * 0.08
    for _ in range(rng.randint(2, 3)):
        pts = [(x, H * rng.uniform(0.3, 0.8))]
        for _ in range(3):
            pts.append((pts[-1][0] + W * rng.uniform(0.05, 0.2), H * rng.uniform(0.1, 0.9)))
        curve = []
        for t in np.linspace(0, 1, 60):
            a, b_, c_, e = pts
            px = (
                (1 - t) ** 3 * a[0]
                + 3 * (1 - t) ** 2 * t * b_[0]
                + 3 * (1 - t) * t**2 * c_[0]
                + t**3 * e[0]
            )
            py = (
                (1 - t) ** 3 * a[1]
                + 3 * (1 - t) ** 2 * t * b_[1]
                + 3 * (1 - t) * t**2 * c_[1]
                + t**3 * e[1]
            )
            curve.append((px, py))
        d.line(curve, fill=255, width=width, joint="curve")
        x = pts[-1][0]
    d.line(
        [(W * 0.05, H * 0.85), (min(x, W * 0.95), H * rng.uniform(0.6, 0.9))], fill=255, width=width
    )
    rgba = np.zeros((H, W, 4), np.uint8)
    rgba[..., :3] = INK_BLUE
    rgba[..., 3] = np.asarray(img)
    return Image.fromarray(rgba, "RGBA")


def _multiply(page: np.ndarray, overlay: Image.Image, x: int, y: int) -> None:
    """Ink over ink darkens (multiply blend), as a seal stamped over printed text does."""
    ov = np.asarray(overlay, np.float32)
    h, w = ov.shape[:2]
    x0, y0 = max(x, 0), max(y, 0)
    x1, y1 = min(x + w, page.shape[1]), min(y + h, page.shape[0])
    if x1 <= x0 or y1 <= y0:
        return
    sub = ov[y0 - y : y1 - y, x0 - x : x1 - x]
    a = sub[..., 3:4] / 255
    color = sub[..., :3] / 255
    region = page[y0:y1, x0:x1].astype(np.float32)
    page[y0:y1, x0:x1] = (region * (1 - a + a * color)).astype(np.uint8)


def _graphics(page: dict, seed: int) -> list[tuple[Image.Image, int, int]]:
    out = []
    for i, s in enumerate(page["sigs"]):
        out.append((draw_signature(s["w"], s["h"], seed + i), int(s["x"]), int(s["y"])))
    for i, s in enumerate(page["stamps"]):
        img = draw_stamp(s, s["r"], seed + 100 + i)
        out.append((img, int(s["cx"] - img.width / 2), int(s["cy"] - img.height / 2)))
    return out


def _draw_runs(img: Image.Image, runs: list[Run]) -> None:
    d = ImageDraw.Draw(img)
    for r in runs:
        d.text(
            (r["x"], r["y"]),
            r["text"],
            fill=tuple(r["color"]),
            font=font(r["font"], r["style"], r["size"]),
            anchor="ls",
        )


def _card_background(W: int, H: int, hue: float, seed: int) -> Image.Image:
    """Pale guilloche-like background, emblem, photo and chip of a CCCD front."""
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    base = np.zeros((H, W, 3), np.float32)
    wave = 0.5 + 0.5 * np.sin(xx / W * 40 + np.sin(yy / H * 9) * 3)
    base[..., 0] = 222 + 14 * wave + hue
    base[..., 1] = 236 + 10 * wave
    base[..., 2] = 232 + 12 * (1 - wave) - hue
    img = Image.fromarray(np.clip(base, 0, 255).astype(np.uint8), "RGB")
    d = ImageDraw.Draw(img)
    u = W / 1000
    # emblem
    d.ellipse(
        [40 * u, 30 * u, 190 * u, 180 * u],
        fill=(205, 40, 40),
        outline=(230, 190, 40),
        width=int(6 * u),
    )
    c, R = (115 * u, 105 * u), 45 * u
    star = [
        (
            c[0] + math.cos(math.radians(-90 + k * 36)) * R * (1 if k % 2 == 0 else 0.4),
            c[1] + math.sin(math.radians(-90 + k * 36)) * R * (1 if k % 2 == 0 else 0.4),
        )
        for k in range(10)
    ]
    d.polygon(star, fill=(245, 210, 50))
    # photo
    d.rectangle(
        [40 * u, 215 * u, 265 * u, 500 * u], fill=(205, 212, 220), outline=(120, 130, 140), width=2
    )
    d.ellipse([105 * u, 255 * u, 200 * u, 365 * u], fill=(150, 155, 165))
    d.pieslice([65 * u, 375 * u, 240 * u, 620 * u], 180, 360, fill=(120, 125, 140))
    # QR-like block, top right
    nrng = np.random.default_rng(seed)
    cells = nrng.random((21, 21)) < 0.5
    q0, qs = (860 * u, 30 * u), 5.5 * u
    for (i, j), on in np.ndenumerate(cells):
        if on:
            d.rectangle(
                [q0[0] + j * qs, q0[1] + i * qs, q0[0] + (j + 1) * qs, q0[1] + (i + 1) * qs],
                fill=(30, 30, 30),
            )
    return img


def render_document(spec: Spec, rng: random.Random | None = None) -> list[Image.Image]:
    """Print `spec` as clean RGB pages (300 dpi A4; a card at its own width).

    Ink details (signature strokes, stamp texture) come from spec["ink_seed"], so the same
    spec always prints the same paper; `rng` is used only if the spec has no ink seed."""
    seed = spec.get("ink_seed")
    if seed is None:
        seed = (rng or random.Random(0)).getrandbits(32)
    images = []
    for page in layout_document(spec):
        W, H = page["size"]
        if page.get("card"):
            img = _card_background(W, H, page["hue"], seed)
        else:
            img = Image.new("RGB", (W, H), (255, 255, 255))
        d = ImageDraw.Draw(img)
        for x0, y0, x1, y1, w in page["rules"]:
            d.line([(x0, y0), (x1, y1)], fill=(0, 0, 0), width=w)
        _draw_runs(img, page["runs"])
        arr = np.array(img)
        for overlay, x, y in _graphics(page, seed):
            _multiply(arr, overlay, x, y)
        img = Image.fromarray(arr)
        if page.get("card") and spec.get("placement") == "a4":
            img = place_on_page(img, random.Random(seed))
        images.append(img)
    return images


def card_mask(size: tuple[int, int]) -> Image.Image:
    """Rounded-corner alpha mask of an ID card (ISO/IEC 7810 ID-1 corner radius ~3 mm)."""
    W, H = size
    m = Image.new("L", size, 0)
    ImageDraw.Draw(m).rounded_rectangle(
        [0, 0, W - 1, H - 1], radius=int(W * 3.2 / CARD_MM[0]), fill=255
    )
    return m


def place_on_page(card: Image.Image, rng: random.Random) -> Image.Image:
    """The card photocopied on an A4 sheet at 300 dpi, as clerks scan them."""
    w = round(CARD_MM[0] / 25.4 * DPI)
    h = round(CARD_MM[1] / 25.4 * DPI)
    scaled = card.resize((w, h), Image.LANCZOS)
    page = Image.new("RGB", A4, (255, 255, 255))
    x, y = rng.randint(250, A4[0] - w - 250), rng.randint(250, 900)
    shadow = Image.new("RGB", (w, h), (90, 90, 90))
    mask = card_mask((w, h))
    page.paste(shadow, (x + 6, y + 6), mask)
    page.paste(scaled, (x, y), mask)
    return page


# --------------------------------------------------------------------------- degradation

LEVELS = ("clean", "light", "medium", "hard")


def make_profile(level: str, rng: random.Random, **overrides: Any) -> Profile:
    """Concrete degradation parameters for a difficulty level; overrides win."""
    sign = rng.choice([-1, 1])
    p: Profile = {"level": level}
    if level == "light":
        p |= {
            "skew": sign * round(rng.uniform(0.5, 1.5), 2),
            "noise": round(rng.uniform(2, 4), 1),
            "blur": round(rng.uniform(0.3, 0.6), 2),
            "lighting": round(rng.uniform(0.05, 0.12), 2),
        }
    elif level == "medium":
        p |= {
            "skew": sign * round(rng.uniform(1.0, 3.0), 2),
            "noise": round(rng.uniform(4, 7), 1),
            "blur": round(rng.uniform(0.6, 1.0), 2),
            "lighting": round(rng.uniform(0.12, 0.25), 2),
            "contrast": round(rng.uniform(0.75, 0.9), 2),
            "jpeg": rng.randint(55, 75),
            "tint": rng.choice([None, [248, 243, 228], [240, 240, 236]]),
        }
    elif level == "hard":
        p |= {
            "skew": sign * round(rng.uniform(2.0, 4.0), 2),
            "noise": round(rng.uniform(8, 12), 1),
            "blur": round(rng.uniform(1.0, 1.5), 2),
            "lighting": round(rng.uniform(0.25, 0.4), 2),
            "contrast": round(rng.uniform(0.55, 0.7), 2),
            "jpeg": rng.randint(35, 50),
            "tint": [236, 228, 206],
        }
    p |= overrides
    return {k: v for k, v in p.items() if v is not None}


def degrade(
    image: Image.Image,
    rng: random.Random,
    profile: Profile,
    *,
    log: list | None = None,
    page: int = 0,
) -> Image.Image:
    """Make a clean page look scanned. Each applied step is appended to `log` as
    {"page", "kind", "value"}. Steps, in order: tint, skew, lighting, contrast, blur, noise,
    jpeg, orientation, mode ("L" gray or "1" binarized)."""
    record = (
        (lambda kind, value: log.append({"page": page, "kind": kind, "value": value}))
        if log is not None
        else (lambda kind, value: None)
    )
    nrng = np.random.default_rng(rng.getrandbits(63))
    mode = profile.get("mode", "RGB")
    gray = mode in ("L", "1")  # work on one channel when the scan is gray: 3x faster
    arr = np.asarray(image.convert("L" if gray else "RGB"), np.float32)
    h, w = arr.shape[:2]
    arr = arr.reshape(h, w, -1)
    tint = np.array(profile.get("tint") or [255, 255, 255], np.float32)
    paper = np.array([tint @ [0.299, 0.587, 0.114]], np.float32) if gray else tint
    if profile.get("tint"):
        arr *= paper / 255
        record("tint", "#" + "".join(f"{int(v):02x}" for v in tint))
    if profile.get("skew"):
        M = cv2.getRotationMatrix2D(
            (w / 2, h / 2), profile["skew"], 1.0
        )  # positive = counter-clockwise
        arr = cv2.warpAffine(
            arr, M, (w, h), flags=cv2.INTER_LINEAR, borderValue=tuple(float(v) for v in paper)
        ).reshape(h, w, -1)
        record("skew", profile["skew"])
    if profile.get("lighting"):
        s = profile["lighting"]
        ang = rng.uniform(0, 2 * math.pi)
        # The light field is smooth: compute it on a coarse grid, then upscale (fast).
        yy, xx = np.mgrid[0:1:64j, 0:1:64j].astype(np.float32)
        ramp = (xx - 0.5) * math.cos(ang) + (yy - 0.5) * math.sin(ang) + 0.5
        cx, cy = rng.uniform(0.3, 0.7), rng.uniform(0.3, 0.7)
        vign = ((xx - cx) ** 2 + (yy - cy) ** 2) ** 0.5
        gain = cv2.resize(1 - s * (0.6 * ramp + 0.8 * vign), (w, h), interpolation=cv2.INTER_LINEAR)
        arr *= gain[..., None]
        record("lighting", s)
    if profile.get("contrast"):
        c = profile["contrast"]
        lo, hi = 255 * (1 - c) * 0.75, 255 - 255 * (1 - c) * 0.25
        arr = lo + arr * (hi - lo) / 255
        record("contrast", c)
    if profile.get("blur"):
        arr = cv2.GaussianBlur(arr, (0, 0), profile["blur"]).reshape(h, w, -1)
        record("blur", profile["blur"])
    if profile.get("noise"):
        # Sensor noise, slightly correlated (as after the scanner's own smoothing).
        noise = nrng.normal(0, profile["noise"], (h, w)).astype(np.float32)
        noise = cv2.GaussianBlur(noise, (0, 0), 0.6) * 1.6
        arr += noise[..., None]
        record("noise", profile["noise"])
    out = np.clip(arr, 0, 255).astype(np.uint8)
    if profile.get("jpeg"):
        ok, buf = cv2.imencode(
            ".jpg", out[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(profile["jpeg"])]
        )
        flag = cv2.IMREAD_GRAYSCALE if gray else cv2.IMREAD_COLOR
        out = cv2.imdecode(buf, flag).reshape(h, w, -1)[..., ::-1]
        record("jpeg", int(profile["jpeg"]))
    if profile.get("orientation"):
        out = np.ascontiguousarray(
            np.rot90(out, k=profile["orientation"] // 90)
        )  # counter-clockwise
        record("orientation", profile["orientation"])
    img = Image.fromarray(out[..., 0], "L") if gray else Image.fromarray(out, "RGB")
    if mode == "1":
        t, bw = cv2.threshold(out[..., 0], 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
        img = Image.fromarray(bw).convert("1", dither=Image.Dither.NONE)
        record("binarize", int(t))
    return img


# --------------------------------------------------------------------------- born-digital PDF


def write_pdf(
    pages: list[dict | Image.Image], path: Path, *, jpeg_quality: int = 75, ink_seed: int = 0
) -> None:
    """A PDF whose pages are either laid-out pages (real text layer, embedded TTF fonts,
    seal and signature as images) or scanned images (no text)."""
    from fpdf import FPDF

    k = 72 / DPI
    pdf = FPDF(unit="pt")
    pdf.set_auto_page_break(False)
    added: set[tuple[str, str]] = set()
    for n, page in enumerate(pages):
        if isinstance(page, Image.Image):
            dpi = page.info.get("dpi", (DPI, DPI))[0] or DPI
            w, h = page.width * 72 / dpi, page.height * 72 / dpi
            pdf.add_page(format=(w, h))
            buf = io.BytesIO()
            page.convert("L" if page.mode in ("1", "L") else "RGB").save(
                buf, "JPEG", quality=jpeg_quality, dpi=(dpi, dpi)
            )
            pdf.image(buf, x=0, y=0, w=w, h=h)
            continue
        W, H = page["size"]
        pdf.add_page(format=(W * k, H * k))
        for x0, y0, x1, y1, lw in page["rules"]:
            pdf.set_line_width(lw * k)
            pdf.line(x0 * k, y0 * k, x1 * k, y1 * k)
        for r in page["runs"]:
            key = (r["font"], r["style"])
            if key not in added:
                pdf.add_font(r["font"], r["style"], font_path(r["font"], r["style"]))
                added.add(key)
            pdf.set_font(r["font"], r["style"], r["size"] * k)
            pdf.set_text_color(*r["color"])
            # A trailing space makes text extractors see word breaks between runs.
            pdf.text(r["x"] * k, r["y"] * k, r["text"] + " ")
        for overlay, x, y in _graphics(page, ink_seed + n * 1000):
            small = overlay.resize(
                (max(overlay.width // 2, 1), max(overlay.height // 2, 1)), Image.LANCZOS
            )
            pdf.image(small, x=x * k, y=y * k, w=overlay.width * k, h=overlay.height * k)
    pdf.set_creator("dossier samples/generate.py")
    # A fixed date keeps the output byte-identical per seed.
    pdf.set_creation_date(dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    pdf.output(str(path))


# --------------------------------------------------------------------------- writing samples

MEDIA_TYPES = {
    "jpg": "image/jpeg",
    "png": "image/png",
    "tif": "image/tiff",
    "pdf": "application/pdf",
}


def _json_safe(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 3)
    return value


def produce(
    items: list[tuple[Spec, Profile | str | None]],
    out: Path,
    name: str,
    ext: str,
    rng: random.Random,
    *,
    seed: int,
    png_mode: str | None = None,
    tiff_compression: str = "tiff_lzw",
    jpeg_quality: int = 80,
    wrong_dpi: int | None = None,
    width: int | None = None,
) -> dict:
    """Render, degrade and write one sample file and its ground-truth NAME.json.

    items: (spec, profile) per document; profile "digital" lays the pages out as a born-digital
    PDF page (text layer), None leaves the scan clean."""
    gt_pages, documents, degradations, fonts = [], [], [], []
    pages_out: list[dict | Image.Image] = []
    for spec, profile in items:
        first = len(gt_pages)
        if profile == "digital":
            laid = layout_document(spec)
            for i, p in enumerate(laid):
                pages_out.append(p)
                gt_pages.append({"lines": p["lines"]})
                degradations.append({"page": first + i, "kind": "born_digital", "value": True})
        else:
            laid = layout_document(spec)
            images = render_document(spec, rng)
            for p, img in zip(laid, images, strict=True):
                page_no = len(gt_pages)
                prof = dict(profile or {})
                if ext == "jpg" and prof.get("jpeg"):  # the file's own compression is the artefact
                    jpeg_quality = prof.pop("jpeg")
                if p["stamps"]:
                    degradations.append(
                        {"page": page_no, "kind": "stamp", "value": len(p["stamps"])}
                    )
                img = degrade(img, rng, prof, log=degradations, page=page_no)
                if width and img.width > width:
                    img = img.resize((width, round(img.height * width / img.width)), Image.LANCZOS)
                    degradations.append({"page": page_no, "kind": "resample_width", "value": width})
                pages_out.append(img)
                gt_pages.append({"lines": p["lines"]})
        last = len(gt_pages) - 1
        documents.append(
            {
                "doc_type": spec["doc_type"],
                "first_page": first,
                "last_page": last,
                "fields": spec["fields"],
            }
        )
        if spec["style"]["font"] not in fonts:
            fonts.append(spec["style"]["font"])
    path = out / f"{name}.{ext}"
    dpi = (wrong_dpi, wrong_dpi) if wrong_dpi else (DPI, DPI)
    if wrong_dpi:
        degradations.append({"page": 0, "kind": "wrong_dpi", "value": wrong_dpi})
    images = [p for p in pages_out if isinstance(p, Image.Image)]
    if ext == "pdf" or (ext == "tif" and tiff_compression == "jpeg" and images[0].mode != "1"):
        # scanned pages are stored JPEG-compressed inside PDFs and JPEG-TIFFs
        for n, p in enumerate(pages_out):
            if isinstance(p, Image.Image):
                degradations.append({"page": n, "kind": "jpeg", "value": jpeg_quality})
    if ext == "jpg":
        (img,) = images
        img.convert("L" if img.mode in ("1", "L") else "RGB").save(
            path, "JPEG", quality=jpeg_quality, dpi=dpi, optimize=True
        )
        degradations.append({"page": 0, "kind": "jpeg", "value": jpeg_quality})
    elif ext == "png":
        (img,) = images
        if png_mode == "P":
            img = img.convert("RGB").quantize(
                colors=16, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE
            )
            degradations.append({"page": 0, "kind": "palette", "value": 16})
        elif png_mode == "RGBA":
            img = img.convert("RGBA")
            img.putalpha(card_mask(img.size))
        elif png_mode:
            img = img.convert(png_mode)
        img.save(path, "PNG", dpi=dpi, optimize=True)
    elif ext == "tif":
        comp = "group4" if all(i.mode == "1" for i in images) else tiff_compression
        extra = {"quality": jpeg_quality} if comp == "jpeg" else {}
        images[0].save(
            path,
            "TIFF",
            save_all=True,
            append_images=images[1:],
            compression=comp,
            dpi=dpi,
            **extra,
        )
    elif ext == "pdf":
        if all(isinstance(p, Image.Image) for p in pages_out):
            import img2pdf

            blobs = []
            for img in images:
                buf = io.BytesIO()
                img.convert("L" if img.mode in ("1", "L") else "RGB").save(
                    buf, "JPEG", quality=jpeg_quality, dpi=dpi
                )
                blobs.append(buf.getvalue())
            # internal engine + no date: byte-identical output per seed (pikepdf adds a random /ID)
            path.write_bytes(img2pdf.convert(blobs, nodate=True, engine=img2pdf.Engine.internal))
        else:
            write_pdf(
                pages_out, path, jpeg_quality=jpeg_quality, ink_seed=items[0][0].get("ink_seed", 0)
            )
    else:
        raise ValueError(f"unknown extension {ext}")
    truth = {
        "file": path.name,
        "media_type": MEDIA_TYPES[ext],
        "pages": gt_pages,
        "documents": documents,
        "degradations": [{**d, "value": _json_safe(d["value"])} for d in degradations],
        "fonts": fonts,
        "seed": seed,
    }
    (out / f"{name}.json").write_text(
        json.dumps(truth, ensure_ascii=False, indent=1) + "\n", encoding="utf-8"
    )
    # Specs ride along (not in the JSON) so the same papers can be re-scanned.
    return {**truth, "_specs": [spec for spec, _ in items]}


def _adult(rng: random.Random, **kw: Any) -> dict:
    return make_person(rng, born_between=(dt.date(1958, 1, 1), dt.date(2000, 12, 31)), **kw)


def _child_person(rng: random.Random) -> dict:
    return make_person(rng, born_between=(dt.date(2008, 1, 1), dt.date(2025, 3, 31)))


def committed_set(out: Path, seed: int) -> list[dict]:
    """The committed sample set (see samples/README.md), one independent rng per file."""
    results = []

    def rng_for(name: str) -> random.Random:
        return random.Random(f"{seed}:{name}")

    def one(name, ext, doc_type, person_fn, level, spec_opts=None, prof=None, **kw):
        rng = rng_for(name)
        spec = make_spec(doc_type, person_fn(rng), rng, **(spec_opts or {}))
        profile = make_profile(level, rng, **(prof or {})) if level else None
        results.append(produce([(spec, profile)], out, name, ext, rng, seed=seed, **kw))

    one(
        "birth_certificate_01",
        "jpg",
        "birth_certificate",
        _child_person,
        "medium",
        prof={"mode": "L"},
        jpeg_quality=75,
    )
    one("birth_certificate_02", "png", "birth_certificate", _child_person, None, png_mode="P")
    one("cccd_01", "jpg", "cccd", _adult, "light", spec_opts={"width": 1000}, jpeg_quality=85)
    one(
        "cccd_02", "png", "cccd", _adult, None, spec_opts={"width": 900}, prof=None, png_mode="RGBA"
    )
    one(
        "cccd_03",
        "jpg",
        "cccd",
        _adult,
        "light",
        spec_opts={"placement": "a4", "width": 2000},
        prof={"mode": "L", "orientation": 180},
        jpeg_quality=72,
    )
    one(
        "residence_confirmation_01",
        "tif",
        "residence_confirmation",
        _adult,
        "light",
        prof={"mode": "1", "noise": None},
    )
    one(
        "residence_confirmation_02",
        "jpg",
        "residence_confirmation",
        _adult,
        "hard",
        prof={"mode": "L", "orientation": 90},
        jpeg_quality=60,
    )
    one(
        "application_form_01",
        "tif",
        "application_form",
        _adult,
        "light",
        prof={"mode": "L", "noise": None},
        tiff_compression="jpeg",
        jpeg_quality=70,
    )
    results.append(
        produce(
            [
                (
                    make_spec("application_form", _adult(rng_for("af2")), rng_for("af2"), pages=2),
                    "digital",
                )
            ],
            out,
            "application_form_02",
            "pdf",
            rng_for("af2"),
            seed=seed,
        )
    )
    one(
        "decision_01",
        "pdf",
        "decision",
        _adult,
        "medium",
        spec_opts={"pages": 2},
        prof={"mode": "L"},
        jpeg_quality=70,
    )
    one(
        "decision_02",
        "jpg",
        "decision",
        _adult,
        "clean",
        spec_opts={"pages": 1},
        prof={"mode": "L", "skew": 0.6, "noise": 3.0},
        wrong_dpi=96,
        width=2000,
        jpeg_quality=80,
    )
    one(
        "marriage_certificate_01",
        "jpg",
        "marriage_certificate",
        _adult,
        "medium",
        prof={"jpeg": 70},
    )
    one(
        "land_use_certificate_01",
        "png",
        "land_use_certificate",
        _adult,
        "clean",
        prof={"skew": -1.2, "mode": "L"},
        png_mode="L",
    )

    # A counter submission scanned as one file: child's birth certificate, the parent's
    # 2-page residence form for the child, the parent's CCCD photocopied on A4.
    rng = rng_for("dossier_batch_01")
    parent = _adult(rng)
    child = make_child(
        rng, parent, dt.date.fromisoformat(parent["date_of_birth"]) + dt.timedelta(days=365 * 20)
    )
    items = [
        (make_spec("birth_certificate", child, rng), make_profile("light", rng, mode="L")),
        (
            make_spec("application_form", parent, rng, pages=2, child=child),
            make_profile("light", rng, mode="L"),
        ),
        (
            make_spec("cccd", parent, rng, placement="a4", width=2000),
            make_profile("medium", rng, mode="L", jpeg=None),
        ),
    ]
    results.append(produce(items, out, "dossier_batch_01", "pdf", rng, seed=seed, jpeg_quality=62))

    # Mixed: a born-digital decision (text layer) followed by a scanned residence confirmation.
    rng = rng_for("mixed_01")
    person = _adult(rng)
    items = [
        (make_spec("decision", person, rng, pages=2), "digital"),
        (
            make_spec("residence_confirmation", person, rng),
            make_profile("medium", rng, mode="L", jpeg=None),
        ),
    ]
    results.append(produce(items, out, "mixed_01", "pdf", rng, seed=seed, jpeg_quality=62))

    # A multi-page 1-bit TIFF batch: CCCD copy + land-use certificate of the same person.
    rng = rng_for("dossier_batch_02")
    person = _adult(rng)
    items = [
        (
            make_spec("cccd", person, rng, placement="a4", width=2000),
            make_profile("light", rng, mode="1", noise=None),
        ),
        (
            make_spec("land_use_certificate", person, rng),
            make_profile("light", rng, mode="1", noise=None),
        ),
    ]
    results.append(produce(items, out, "dossier_batch_02", "tif", rng, seed=seed))
    return results


def bench_set(out: Path, seed: int, count: int) -> list[dict]:
    """`count` random documents (one file each: JPEG for one page, scanned PDF for more)."""
    results = []
    for n in range(count):
        rng = random.Random(f"{seed}:bench:{n}")
        doc_type = rng.choice(DOC_TYPES)
        person = _child_person(rng) if doc_type == "birth_certificate" else _adult(rng)
        opts = (
            {"placement": "a4", "width": 2000} if doc_type == "cccd" and rng.random() < 0.5 else {}
        )
        spec = make_spec(doc_type, person, rng, **opts)
        profile = make_profile(rng.choice(LEVELS), rng, mode="L")
        ext = "jpg" if len(layout_document(spec)) == 1 else "pdf"
        results.append(
            produce(
                [(spec, profile)],
                out,
                f"bench_{n:04d}_{doc_type}",
                ext,
                rng,
                seed=seed,
                jpeg_quality=75,
            )
        )
    return results


def write_rescans(out: Path, truths: list[dict], seed: int, count: int) -> None:
    """Re-scan every written document: same paper (same spec), new degradation draws."""
    target = out / "rescans"
    target.mkdir(parents=True, exist_ok=True)
    for truth in truths:
        stem = Path(truth["file"]).stem
        for k in range(1, count + 1):
            rng = random.Random(f"{seed}:rescan:{stem}:{k}")
            items = [
                (doc_spec, make_profile(rng.choice(["light", "medium"]), rng, mode="L"))
                for doc_spec in truth["_specs"]
            ]
            ext = "jpg" if len(truth["pages"]) == 1 else "pdf"
            produce(items, target, f"{stem}_rescan{k}", ext, rng, seed=seed, jpeg_quality=75)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True, help="output folder")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument(
        "--count", type=int, default=0, help="write N random benchmark documents instead of the set"
    )
    ap.add_argument(
        "--rescans",
        type=int,
        default=0,
        help="also write N re-scans of each file under OUT/rescans/",
    )
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    truths = (
        bench_set(args.out, args.seed, args.count)
        if args.count
        else committed_set(args.out, args.seed)
    )
    if args.rescans:
        write_rescans(args.out, truths, args.seed, args.rescans)
    total = sum(len(t["pages"]) for t in truths)
    print(f"wrote {len(truths)} files, {total} pages to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
