"""Synthetic Vietnamese form pages with known text, and scanner-like degradations.

Used by the cleanup tests and by the benchmark when no sample folder is given. Every
person and number here is invented.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf"
FONT_BOLD = "/usr/share/fonts/truetype/dejavu/DejaVuSerif-Bold.ttf"


@dataclass
class Person:
    name: str
    born: str
    id_number: str
    address: str


AN = Person("NGUYỄN VĂN AN", "12/03/1990", "001090012345", "Số 12 phố Hàng Bạc, phường Hàng Đào")
BINH = Person("TRẦN THỊ BÌNH", "05/11/1985", "079185054321", "Số 7 đường Lê Lợi, phường Bến Nghé")


def form_lines(person: Person) -> list[tuple[str, bool]]:
    """The text of an application form for `person`: (line, bold) in reading order."""
    return [
        ("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", True),
        ("Độc lập - Tự do - Hạnh phúc", True),
        ("ĐƠN ĐỀ NGHỊ XÁC NHẬN THÔNG TIN CƯ TRÚ", True),
        ("Kính gửi: Công an phường Hàng Đào, quận Hoàn Kiếm", False),
        (f"Họ và tên: {person.name}", False),
        (f"Ngày, tháng, năm sinh: {person.born}", False),
        (f"Số định danh cá nhân: {person.id_number}", False),
        (f"Nơi thường trú: {person.address}", False),
        ("Nội dung đề nghị: xác nhận thông tin về cư trú để bổ sung hồ sơ", False),
        ("Tôi xin cam đoan những lời khai trên là đúng sự thật và chịu trách", False),
        ("nhiệm trước pháp luật về nội dung đã khai.", False),
        ("Hà Nội, ngày 15 tháng 6 năm 2024", False),
        ("NGƯỜI VIẾT ĐƠN", True),
    ]


def render_page(
    lines: list[tuple[str, bool]], *, dpi: int = 300, point: float = 11.0
) -> np.ndarray:
    """Render text lines on a white A4 page at `dpi` (uint8 grayscale)."""
    width, height = round(8.27 * dpi), round(11.69 * dpi)
    page = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(page)
    size = round(point * dpi / 72)
    regular, bold = ImageFont.truetype(FONT, size), ImageFont.truetype(FONT_BOLD, size)
    x, y = round(0.9 * dpi), round(1.0 * dpi)
    for text, is_bold in lines:
        draw.text((x, y), text, font=bold if is_bold else regular, fill=0)
        y += round(size * 1.9)
    return np.asarray(page).copy()


def form_page(person: Person = AN, *, dpi: int = 300, point: float = 11.0) -> np.ndarray:
    return render_page(form_lines(person), dpi=dpi, point=point)


def form_text(person: Person = AN) -> str:
    return "\n".join(text for text, _ in form_lines(person))


def rotate(image: np.ndarray, degrees: float, *, fill: int = 255) -> np.ndarray:
    """Rotate counter-clockwise by `degrees` about the centre, keeping the whole page."""
    h, w = image.shape[:2]
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    cos, sin = abs(matrix[0, 0]), abs(matrix[0, 1])
    nw, nh = int(h * sin + w * cos), int(h * cos + w * sin)
    matrix[0, 2] += nw / 2 - w / 2
    matrix[1, 2] += nh / 2 - h / 2
    border = (fill,) * (image.shape[2] if image.ndim == 3 else 1)
    return cv2.warpAffine(image, matrix, (nw, nh), flags=cv2.INTER_LINEAR, borderValue=border)


def degrade(
    page: np.ndarray,
    *,
    seed: int = 0,
    skew: float = 2.0,
    noise: float = 18.0,
    blur: float = 1.0,
    lighting: float = 70.0,
    jpeg: int = 45,
    border: int = 60,
) -> np.ndarray:
    """A poor scan of `page`: skew, blur, uneven lighting, sensor noise, a dark scanner
    border and JPEG artefacts, reproducibly from `seed`."""
    rng = np.random.default_rng(seed)
    img = rotate(page, skew)
    if blur > 0:
        img = cv2.GaussianBlur(img, (0, 0), blur)
    h, w = img.shape
    if lighting > 0:
        # A smooth shadow falling across the page (a book fold or a lamp off to one side).
        xs = np.linspace(0.0, 1.0, w, dtype=np.float32)
        ys = np.linspace(0.0, 1.0, h, dtype=np.float32)
        shade = lighting * (0.6 * xs[None, :] ** 2 + 0.4 * ys[:, None])
        img = np.clip(img.astype(np.float32) * (1 - shade / 255.0), 0, 255)
    img = img.astype(np.float32) + rng.normal(0, noise, img.shape).astype(np.float32)
    img = np.clip(img, 0, 255).astype(np.uint8)
    if border > 0:
        img[:, :border] = rng.integers(20, 50, (h, border), dtype=np.uint8)
        img[: border // 2, :] = rng.integers(20, 50, (border // 2, w), dtype=np.uint8)
    if jpeg:
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, jpeg])
        img = cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE)
    return img


def red_stamp(page: np.ndarray, *, centre: tuple[int, int], radius: int) -> np.ndarray:
    """A BGR copy of `page` with a red round seal overprinted at `centre`."""
    bgr = cv2.cvtColor(page, cv2.COLOR_GRAY2BGR) if page.ndim == 2 else page.copy()
    stamp = np.zeros(page.shape[:2], np.uint8)
    cv2.circle(stamp, centre, radius, 255, max(4, radius // 12))
    cv2.circle(stamp, centre, int(radius * 0.7), 255, max(3, radius // 20))
    cv2.putText(
        stamp,
        "UBND",
        (centre[0] - radius // 2, centre[1] + radius // 8),
        cv2.FONT_HERSHEY_SIMPLEX,
        radius / 90,
        255,
        max(3, radius // 25),
    )
    red = np.array([40, 30, 210], np.float32)  # B, G, R of a slightly worn red ink
    alpha = (stamp.astype(np.float32) / 255.0)[..., None] * 0.85
    # Ink multiplies with what is under it: black text stays black under the seal.
    out = bgr.astype(np.float32) * (1 - alpha + alpha * red / 255.0)
    return np.clip(out, 0, 255).astype(np.uint8)
