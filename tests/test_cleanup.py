"""OpenCV cleanup: geometry, scale, odd inputs, CER with cleanup on/off, page hash.

Real OpenCV and real Tesseract on pages rendered with Pillow (bench/pages.py)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from rapidfuzz.distance import Levenshtein

from bench import pages
from ocr.tesseract import limit_threads, ocr_image
from pipeline.cleanup import (
    TARGET_CHAR_HEIGHT,
    char_height,
    cleanup,
    components,
    drop_red,
    neighbour_lean,
    noise_sigma,
    remove_leaders,
    to_gray,
)
from pipeline.cleanup import _percentiles as histogram_percentiles


@pytest.fixture(scope="module")
def form() -> np.ndarray:
    return pages.form_page(pages.AN)


def _cer(image: np.ndarray, dpi: int) -> float:
    limit_threads()
    result = ocr_image(image, lang="vie+eng", dpi=dpi, timeout=60, want_pdf=False)
    text = " ".join(w.text for w in result.words)
    truth = " ".join(pages.form_text(pages.AN).split())
    return Levenshtein.normalized_distance(text, truth)


def _char_height_of(image: np.ndarray) -> float:
    _, ink = cv2.threshold(image, 0, 1, cv2.THRESH_BINARY_INV | cv2.THRESH_OTSU)
    height = char_height(ink)
    assert height is not None
    return height


@pytest.mark.parametrize("angle", [2.5, -1.3, 6.0])
def test_deskew_recovers_known_angle(form, angle):
    """GIVEN a page turned counter-clockwise by a known angle
    WHEN it is cleaned
    THEN the recorded correction undoes it within 0.3 degrees."""
    cleaned = cleanup(pages.rotate(form, angle), dpi_hint=300)
    assert cleaned.metrics.skew_angle == pytest.approx(-angle, abs=0.3)
    assert cleaned.metrics.rotation == 0


def test_landscape_card_is_deskewed():
    """GIVEN a landscape page (an ID card scan is wider than tall), skewed
    WHEN it is cleaned
    THEN the skew is found (the projection search copes with any aspect ratio)."""
    card = pages.render_page(pages.form_lines(pages.AN)[3:8], dpi=300)[:1100, :]
    card = np.ascontiguousarray(np.hstack([card, np.full_like(card, 255)]))
    cleaned = cleanup(pages.rotate(card, -4.0), dpi_hint=300)
    assert cleaned.metrics.skew_angle == pytest.approx(4.0, abs=0.3)


def test_straight_clean_page_is_left_alone(form):
    cleaned = cleanup(form, dpi_hint=300)
    assert cleaned.metrics.skew_angle == 0.0
    assert cleaned.metrics.scale == 1.0
    assert cleaned.metrics.binarization == "otsu"
    assert cleaned.image.shape == form.shape
    np.testing.assert_allclose(cleaned.transform, np.eye(2, 3))


@pytest.mark.slow
@pytest.mark.parametrize(
    ("turn", "expected"),
    [(cv2.ROTATE_90_CLOCKWISE, 270), (cv2.ROTATE_180, 180), (cv2.ROTATE_90_COUNTERCLOCKWISE, 90)],
)
def test_turned_page_comes_back_upright(form, turn, expected):
    """GIVEN a page scanned sideways or upside down
    WHEN it is cleaned
    THEN it is turned back (clockwise degrees recorded) and reads like the upright page."""
    cleaned = cleanup(cv2.rotate(form, turn), dpi_hint=300)
    assert cleaned.metrics.rotation == expected
    assert cleaned.image.shape == form.shape
    upright = cleanup(form, dpi_hint=300).image
    assert np.mean(cleaned.image != upright) < 0.01


def test_large_page_claiming_96_dpi_is_scaled_down_to_target(form):
    """GIVEN a 600-dpi-sized page whose metadata claims 96 dpi
    WHEN it is cleaned
    THEN the text scale comes from the page: characters end near the target height."""
    big = pages.form_page(pages.AN, dpi=600)
    cleaned = cleanup(big, dpi_hint=96)
    assert cleaned.metrics.scale == pytest.approx(0.5, abs=0.08)
    assert _char_height_of(cleaned.image) == pytest.approx(TARGET_CHAR_HEIGHT, rel=0.25)
    assert cleaned.dpi == 300


def test_tiny_low_resolution_page_is_scaled_up_to_target():
    small = pages.form_page(pages.AN, dpi=110)
    cleaned = cleanup(small, dpi_hint=None)
    assert cleaned.metrics.scale > 2.0
    assert _char_height_of(cleaned.image) == pytest.approx(TARGET_CHAR_HEIGHT, rel=0.25)


@pytest.mark.parametrize(
    "make",
    [
        lambda g: np.dstack([cv2.cvtColor(g, cv2.COLOR_GRAY2BGR), 255 - (255 - g) // 2]),  # BGRA
        lambda g: np.dstack([g, np.zeros_like(g)]),  # gray + fully transparent alpha
        lambda g: g.astype(np.uint16) * 257,  # 16-bit
        lambda g: np.dstack([g, g, g, np.full_like(g, 255)]).astype(np.uint16) * 257,
        lambda g: g.astype(np.float32) / 255.0,
        lambda g: g > 128,
        lambda g: g[..., None],
    ],
    ids=["bgra", "gray-alpha", "16bit", "16bit-bgra", "float", "bool", "hw1"],
)
def test_unusual_image_formats_are_cleaned(make):
    page = pages.form_page(pages.AN, dpi=150)
    cleaned = cleanup(make(page), dpi_hint=150)
    assert cleaned.image.dtype == np.uint8 and cleaned.image.ndim == 2
    assert 0.005 < float(np.mean(cleaned.image < 128)) < 0.2  # text, not a black page


def test_to_gray_composites_alpha_over_white():
    bgra = np.zeros((10, 10, 4), np.uint8)  # black, fully transparent except one pixel
    bgra[0, 0, 3] = 255
    gray = to_gray(bgra)
    assert gray[0, 0] == 0 and gray[5, 5] == 255


def test_transform_maps_original_points_to_cleaned_image():
    """GIVEN a skewed, bordered, oversized scan with a black square at a known place
    WHEN it is cleaned (border crop, deskew and downscale all applied)
    THEN the transform carries the square's centre onto the square in the cleaned image."""
    page = pages.form_page(pages.AN, dpi=450)
    scan = pages.degrade(page, skew=3.0, noise=4, lighting=0, jpeg=0, border=80)
    cx, cy = 1500, 3600
    cv2.rectangle(scan, (cx - 40, cy - 40), (cx + 40, cy + 40), 0, -1)
    cleaned = cleanup(scan, dpi_hint=450)
    assert cleaned.metrics.border_removed and cleaned.metrics.scale < 0.8
    x, y = cleaned.transform @ np.array([cx, cy, 1.0])
    ink = cleaned.image < 128
    count, labels = cv2.connectedComponents(ink.astype(np.uint8))
    label = labels[int(round(y)), int(round(x))]
    assert label != 0
    ys, xs = np.nonzero(labels == label)
    assert abs(xs.mean() - x) < 3 and abs(ys.mean() - y) < 3


def test_disabled_cleanup_only_converts_to_gray(form):
    bgr = cv2.cvtColor(pages.rotate(form, 2.0), cv2.COLOR_GRAY2BGR)
    cleaned = cleanup(bgr, dpi_hint=200, enabled=False)
    assert cleaned.image.ndim == 2 and cleaned.image.shape == bgr.shape[:2]
    assert cleaned.metrics.skew_angle == 0.0 and cleaned.metrics.binarization == "none"
    np.testing.assert_allclose(cleaned.transform, np.eye(2, 3))
    assert cleaned.dpi == 200


def test_red_stamp_is_lightened_but_black_text_under_it_kept(form):
    stamped = pages.red_stamp(form, centre=(900, 560), radius=220)
    gray, dropped = drop_red(stamped, cv2.cvtColor(stamped, cv2.COLOR_BGR2GRAY))
    assert dropped
    ring = (stamped[..., 2] > 150) & (stamped[..., 1] < 100)
    assert ring.sum() > 1000 and gray[ring].min() > 150
    text_under = (form < 60) & (
        np.hypot(
            *np.mgrid[: form.shape[0], : form.shape[1]][::-1] - np.array([900, 560])[:, None, None]
        )
        < 220
    )
    assert text_under.sum() > 100 and np.median(gray[text_under]) < 80


@pytest.mark.slow
def test_cleanup_lowers_cer_on_degraded_page_and_keeps_clean_page(form):
    """GIVEN a clean page and a poor scan of it (skew, blur, noise, shadow, border, JPEG)
    WHEN each is read by Tesseract with cleanup off and on
    THEN cleanup cuts the CER of the poor scan and does not raise that of the clean one."""
    degraded = pages.degrade(form, seed=1, noise=35, blur=1.5, lighting=110, jpeg=30, skew=-3.5)
    off = cleanup(degraded, dpi_hint=300, enabled=False)
    on = cleanup(degraded, dpi_hint=300)
    cer_off, cer_on = _cer(off.image, off.dpi), _cer(on.image, on.dpi)
    assert cer_on < 0.05 and cer_on < cer_off / 3, (cer_on, cer_off)

    clean_off = _cer(cleanup(form, dpi_hint=300, enabled=False).image, 300)
    cleaned = cleanup(form, dpi_hint=300)
    assert _cer(cleaned.image, cleaned.dpi) <= clean_off + 0.005


def test_photocopied_card_on_shaded_page_keeps_its_text():
    """GIVEN samples/dossier_batch_01.pdf page 4: a low-contrast photocopy of an ID card
    on a shaded page (global Otsu once split the paper and the page came out blank)
    WHEN it is cleaned
    THEN the text survives binarization."""
    from pathlib import Path

    from ocr.pdf import PdfSource

    source = PdfSource(Path(__file__).resolve().parent.parent / "samples/dossier_batch_01.pdf")
    try:
        pixels, dpi = source.rasterize(3, 300, 200_000_000)
    finally:
        source.close()
    cleaned = cleanup(pixels, dpi_hint=dpi)
    ink = float(np.mean(cleaned.image < 128))
    assert 0.003 < ink < 0.1, (ink, cleaned.metrics)


def test_red_print_is_kept_while_the_seal_beside_it_is_dropped(form):
    """GIVEN a page with a red printed line (a card's number, a red heading) and a seal
    WHEN red ink is lightened for OCR
    THEN only the seal goes: the red line is as dark as before."""
    stamped = pages.red_stamp(form, centre=(900, 2200), radius=220)
    cv2.putText(stamped, "040177618669", (300, 300), cv2.FONT_HERSHEY_SIMPLEX, 3, (40, 30, 210), 8)
    gray = cv2.cvtColor(stamped, cv2.COLOR_BGR2GRAY)
    lightened, dropped = drop_red(stamped, gray)
    assert dropped
    number = (stamped[..., 2] > 150) & (stamped[..., 1] < 100)
    number[400:, :] = False
    assert number.sum() > 1000
    assert np.array_equal(lightened[number], gray[number])
    seal = (stamped[..., 2] > 150) & (stamped[..., 1] < 100)
    seal[:1900, :] = False
    assert seal.sum() > 1000 and lightened[seal].min() > 150


def test_dotted_leaders_are_removed_and_letters_with_dots_kept():
    """GIVEN form lines with dotted leaders before and after their values, and words full
    of dotted letters and tone marks (i, ị, ạ) WHEN cleaned THEN the leaders are gone,
    the letters and an ellipsis are not, and Tesseract reads the values without dots."""
    lines = [
        ("Họ và tên:............................ TRẦN THỊ BÍCH", False),
        ("Số định danh cá nhân: 001219012345 ...........................", False),
        ("Địa chỉ: Thị trấn Bích Động, huyện Việt Yên, tỉnh Bắc Giang...", False),
        ("Nghị định, Chỉ thị, Quyết định: ...", False),
    ]
    page = pages.render_page(lines, dpi=300)
    _, ink = cv2.threshold(page, 0, 1, cv2.THRESH_BINARY_INV | cv2.THRESH_OTSU)
    leader_dots = sum(text.count(".") for text, _ in lines[:2])
    binary = np.where(ink > 0, 0, 255).astype(np.uint8)
    removed = remove_leaders(binary, char_height(ink))
    # Every dot of the two leaders; not the ellipses, not the dots of i, ị, ạ.
    assert leader_dots - 3 <= removed <= leader_dots
    limit_threads()
    words = ocr_image(binary, lang="vie", dpi=300, timeout=60, want_pdf=False).words
    text = " ".join(w.text for w in words)
    assert "....." not in text
    assert "TRẦN THỊ BÍCH" in text and "001219012345" in text
    assert "Nghị định, Chỉ thị, Quyết định" in text
    # A colon right before a leader keeps its lower dot.
    assert "Họ và tên:" in text


def _sample_card(name: str) -> tuple[np.ndarray, int | None]:
    from pathlib import Path

    from ocr.images import load_frame

    path = Path(__file__).resolve().parent.parent / "samples" / name
    return load_frame(path, 0, 200_000_000)


@pytest.mark.parametrize("name", ["cccd_01.jpg", "cccd_02.png"])
def test_upright_id_card_is_judged_upright_without_osd(name):
    """GIVEN an upright ID card scan (photo, emblem and short fields: the row/column
    profiles alone cannot tell if it lies on its side)
    WHEN it is cleaned with a Tesseract that does not exist
    THEN it is left upright: the own test decided, OSD (~0.7 s) was never called (a call
    would fail on the missing program)."""
    pixels, dpi = _sample_card(name)
    cleaned = cleanup(pixels, dpi_hint=dpi, lang_cmd="/nonexistent/tesseract")
    assert cleaned.metrics.rotation == 0


def test_neighbour_lean_tells_lines_across_from_lines_on_their_side():
    """GIVEN a card's ink mask upright and turned a quarter
    THEN letters' nearest neighbours lie beside them upright, above/below when turned."""
    pixels, _ = _sample_card("cccd_01.jpg")
    _, ink = cv2.threshold(to_gray(pixels), 0, 1, cv2.THRESH_BINARY_INV | cv2.THRESH_OTSU)
    assert neighbour_lean(ink) > 1.5
    assert neighbour_lean(np.ascontiguousarray(np.rot90(ink))) < -0.5


def test_histogram_percentiles_match_numpy_exactly() -> None:
    """GIVEN 8-bit images of odd sizes and skewed value spreads
    WHEN percentiles are read from their histogram
    THEN they equal np.percentile bit for bit (cleanup's decisions compare them)."""
    rng = np.random.default_rng(7)
    for shape in [(1, 1), (2, 3), (37, 41), (300, 211)]:
        image = rng.integers(0, 256, shape).astype(np.uint8)
        image[: shape[0] // 2] //= 7  # a lopsided histogram with empty bins
        qs = (0, 1, 5, 50, 90, 95, 100)
        assert histogram_percentiles(image, *qs) == [float(np.percentile(image, q)) for q in qs]
        view = image[:, 1:] if shape[1] > 1 else image  # a non-contiguous slice
        assert histogram_percentiles(view, 50) == [float(np.median(view))]


def test_noise_sigma_is_the_float_estimate() -> None:
    """GIVEN a noisy page WHEN its noise is measured THEN the integer path gives the
    value of the float Laplacian-difference estimator."""
    rng = np.random.default_rng(3)
    gray = np.clip(rng.normal(200, 12, (900, 800)), 0, 255).astype(np.uint8)
    patch = gray[66:834, 16:784].astype(np.float32)
    kernel = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], np.float32)
    response = np.abs(cv2.filter2D(patch, -1, kernel)[1:-1, 1:-1])
    assert noise_sigma(gray) == float(np.median(response) / (6.0 * 0.6745))


def test_components_equal_opencv_default_labelling() -> None:
    """GIVEN random ink masks from sparse to dense, and one with more components than
    16-bit labels hold WHEN labelled THEN labels (the same values), stats and centroids
    are those of OpenCV's default labelling."""
    rng = np.random.default_rng(1)
    masks = [
        (rng.random(shape) < density).astype(np.uint8)
        for density in (0.05, 0.3, 0.6)
        for shape in [(7, 5), (300, 401)]
    ]
    dots = np.zeros((600, 600), np.uint8)
    dots[::2, ::2] = 1  # 90,000 components: past what 16 bits hold
    for ink in [*masks, dots]:
        want = cv2.connectedComponentsWithStats(ink, connectivity=8)
        got = components(ink)
        assert got[0] == want[0]
        for a, b in zip(got[1:], want[1:], strict=True):
            assert np.array_equal(a, b)
    assert components(dots)[0] == 90_001
