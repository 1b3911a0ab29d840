"""Shared fixtures: real files made on the fly (Pillow, fpdf2, pypdf), a fresh store per
test, and a helper to run the CLI through click's runner."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image, ImageDraw, ImageFont

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "samples"
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf"

BIRTH_LINES = [
    "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
    "Độc lập - Tự do - Hạnh phúc",
    "GIẤY KHAI SINH",
    "Họ, chữ đệm, tên: NGUYỄN VĂN AN",
    "Ngày, tháng, năm sinh: 04/03/2019",
    "Giới tính: Nam",
    "Nơi sinh: Bệnh viện Phụ sản Hà Nội",
]


def render_page(
    lines: list[str], *, size: tuple[int, int] = (1654, 1169), font_size: int = 34
) -> Image.Image:
    """A clean grayscale page of printed lines (A5 landscape at 200 dpi by default)."""
    image = Image.new("L", size, 255)
    draw = ImageDraw.Draw(image)
    font = ImageFont.truetype(FONT, font_size)
    y = 90
    for line in lines:
        draw.text((110, y), line, font=font, fill=0)
        y += int(font_size * 2.1)
    return image


@pytest.fixture
def page_image() -> Image.Image:
    return render_page(BIRTH_LINES)


def write_text_pdf(path: Path, pages: list[list[str]]) -> Path:
    """A born-digital PDF (real text layer, embedded Unicode font)."""
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    pdf.add_font("DejaVu", "", FONT)
    pdf.set_font("DejaVu", size=13)
    for lines in pages:
        pdf.add_page()
        for line in lines:
            pdf.cell(0, 9, line, new_x="LMARGIN", new_y="NEXT")
    pdf.output(str(path))
    return path


def write_image_pdf(path: Path, images: list[Image.Image], dpi: int = 200) -> Path:
    """A scanned PDF: page images only, no text layer."""
    import img2pdf

    blobs = []
    for image in images:
        buffer = io.BytesIO()
        image.convert("L").save(buffer, format="JPEG", quality=85, dpi=(dpi, dpi))
        blobs.append(buffer.getvalue())
    path.write_bytes(img2pdf.convert(blobs))
    return path


@pytest.fixture
def store(tmp_path: Path) -> Path:
    return tmp_path / "store"


@pytest.fixture
def cli(store: Path, monkeypatch: pytest.MonkeyPatch):
    """Run `dossier ARGS` in-process against the test's store; returns the click Result."""
    from cli import main

    for name in ("DOSSIER_STORE", "DOSSIER_INDEX", "DOSSIER_JOBS", "DOSSIER_CLEANUP"):
        monkeypatch.delenv(name, raising=False)
    runner = CliRunner()

    def run(*args: str, env: dict[str, str] | None = None):
        return runner.invoke(main, ["--store", str(store), *args], env=env, catch_exceptions=False)

    return run


def json_lines(output: str) -> list[dict]:
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]
