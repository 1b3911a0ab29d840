"""Near-duplicate reuse: is this cleaned page a re-scan of that stored page?

A 64-bit hash of the page layout proposes candidates; it cannot tell a re-scan from the
same template filled for another person, so every candidate is confirmed here on the
pages themselves: align them (content box, then ECC, then a shift per tile), and look
for ink present in one page and absent from the other. A re-scan differs by noise and
stroke thickness; another document by strokes (a digit, a letter, a tone mark). Any
difference in a key field (ID number, name, document number) or the size of a digit's
stroke elsewhere refuses; smaller ones elsewhere (seal fragments, a hard scan's broken
strokes) are forgiven only when the key fields, re-read on the query, read as recorded.
"""

from __future__ import annotations

import logging
import math
import struct
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import cv2
import numpy as np

from pipeline.cleanup import CleanupPlan, binarize_page, quantiles, shrink_by, to_gray
from pipeline.cleanup import components as _components

log = logging.getLogger(__name__)

# Comparison images are the page's text box (plus a margin) at this width: text of a
# 300-dpi A4 form stays at ~25 px, so one tone mark is still a dozen pixels of stroke.
COMPARE_WIDTH = 1800
MAX_COMPARE_PIXELS = 1800 * 2600  # a narrow column of text is not blown up without bound
MARGIN = 0.02  # of the text box size, kept around it (alignment needs a little paper)
# page_comparison cleans the text box guessed on the working copy with this margin (of
# its size; measured guesses are within 4.3% of the box found on the cleaned page), at
# this factor above the comparison scale.
REGION_MARGIN = 0.1
REGION_SCALE = 1.1
MILD_SHRINK = 0.8  # resizes by a factor above this are linear (see _cut)

# Look-up radius in the chunked hash index: 8 chunks of 8 bits find everything within 7.
NEAR_MAX_DISTANCE = 7

# Alignment.
ECC_SIDE = 360  # long side of the copy the global ECC runs on
MIN_ECC = 0.55  # correlation below this: the pages do not show the same layout
TILE = 192  # local shift search per tile (scanner stretch is not affine)
MAX_SHIFT = 4  # pixels searched either way per tile, after the global alignment
MIN_TILE_INK = 0.01
# Comparison: a pixel of ink differs when the other page has no ink within TOLERANCE.
TOLERANCE = 1
# A difference counts when it survives an opening (edge slivers do not) and has this many
# pixels per squared character height (a tone mark has ~0.03; noise specks ~0.002).
MIN_BLOB = 0.003
# Outside the key fields, when those are re-read: a difference must be a bigger part of a
# character (seal fragments, broken strokes of a hard scan are smaller). Measured by
# bench/near_bench.py: 0.012 keeps a one-digit change of a house number or a birth year
# refused (at 0.02 one got through); a 2-px TOLERANCE let them through at any size.
LOOSE_MIN_BLOB = 0.012
# Specks within this share of a letter's height of each other count as one difference
# (_as_letters): one changed digit of a house number left five specks of 4-6 pixels,
# each under LOOSE_MIN_BLOB, on a re-scan whose crop moved by a few pixels.
CLUSTER_REACH = 0.5
ZONE_UP = 0.6  # of a letter's height: text zones reach this far above the line (marks)
RULE_LENGTH = 4.0  # letters: a straight run of ink this long is a rule, not text
MIN_TEXT = 0.3  # share of the stored page's ink that must lie in compared text lines


@dataclass
class FieldBox:
    """A stored field value and where it sits on the stored comparison image."""

    name: str
    value: str
    bbox: tuple[int, int, int, int]  # x0, y0, x1, y1 in stored comparison-image pixels


@dataclass
class Confirmation:
    same: bool
    score: float  # 0..1: share of the ink that agrees (1.0 for identical pages)
    reason: str
    differences: int = 0  # stroke-sized blobs of ink found in one page only
    ecc: float = 0.0  # correlation of the global alignment
    seconds: float = 0.0
    boxes: list[tuple[int, int, int, int]] = field(default_factory=list)  # where they differ


# --- comparison image and hash ------------------------------------------------------------


def _ink_mask(image: np.ndarray) -> np.ndarray:
    """255 where `image` is below 128 (ink), else 0. A threshold, not np.where: no int64
    copy of a full page (several per confirmation, ~10 ms each)."""
    return cv2.threshold(image, 127, 255, cv2.THRESH_BINARY_INV)[1]


def _paper_mask(image: np.ndarray) -> np.ndarray:
    """255 where `image` is 128 or above (paper), else 0: the page as plain ink on paper."""
    return cv2.threshold(image, 127, 255, cv2.THRESH_BINARY)[1]


def _ink(gray: np.ndarray) -> np.ndarray:
    """Ink mask (255 = ink) of a cleaned page (binary or paper-normalized gray), by Otsu."""
    if gray.ndim == 3:
        gray = cv2.cvtColor(gray, cv2.COLOR_BGR2GRAY)
    _, ink = cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY_INV | cv2.THRESH_OTSU)
    return ink


def _trim(profile: np.ndarray, gap: int, share: float) -> tuple[int, int]:
    """(first, last + 1) of the body of an ink profile: runs of ink merged across gaps
    shorter than `gap`, then outer runs holding less than `share` of the ink dropped
    (a speck under the text, the edge of a skewed sheet)."""
    on = np.flatnonzero(profile > 0)
    if len(on) == 0:
        return 0, len(profile)
    breaks = np.flatnonzero(np.diff(on) > gap)
    starts = np.concatenate(([on[0]], on[breaks + 1]))
    ends = np.concatenate((on[breaks], [on[-1]])) + 1
    mass = np.array([profile[a:b].sum() for a, b in zip(starts, ends, strict=True)])
    total = mass.sum()
    first, last = 0, len(starts) - 1
    while first < last and mass[first] < share * total:
        first += 1
    while last > first and mass[last] < share * total:
        last -= 1
    return int(starts[first]), int(ends[last])


def _letters(ink: np.ndarray) -> tuple[np.ndarray, float]:
    """(mask of letter-sized components, median letter height) of an ink mask: the text,
    without specks, rules, seals, photos and signatures, whose ink a re-scan does not
    reproduce faithfully (a red seal or a photo sits near the binarization threshold)."""
    count, labels, stats, _ = _components(ink)
    h, w = ink.shape
    x, y, bw, bh, area = (stats[:, i] for i in range(5))
    inside = (x > 0) & (y > 0) & (x + bw < w) & (y + bh < h) & (area >= 3)
    inside[0] = False
    sized = inside & (bh >= 3) & (bw < 3 * bh)
    char = float(np.median(bh[sized])) if sized.sum() >= 10 else 8.0
    letters = inside & (bh >= 0.4 * char) & (bh <= 2.5 * char) & (bw <= 8 * char)
    return np.take(letters, labels), char  # np.take: ~2.5x faster than letters[labels]


def _small_ink(
    ink: np.ndarray, side: int, page_side: int | None = None, whole_cells: bool = False
) -> tuple[np.ndarray, int]:
    """The ink mask shrunk by an integer factor k (long side about `side`; of `page_side`
    when the mask is part of a larger page), and k. `whole_cells`: cut to whole k x k
    cells first (the last few rows and columns, paper margin), OpenCV's exact-factor
    path, ~4x faster. (Not for the text box: moved by a pixel or two, it changed six of
    52 near_bench decisions on borderline re-scans.)"""
    k = max(1, round((page_side or max(ink.shape)) / side))
    if k == 1:
        return ink, 1
    if whole_cells:
        small = shrink_by(ink, k)
    else:
        size = (ink.shape[1] // k, ink.shape[0] // k)
        small = cv2.resize(ink, size, interpolation=cv2.INTER_AREA)
    return cv2.threshold(small, 64, 255, cv2.THRESH_BINARY)[1], k


def _text_box(
    ink: np.ndarray, page_size: tuple[float, float] | None = None
) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) of the page's text: letter-sized components, then outlying thin
    runs (a speck under the text, the edge of a skewed sheet) trimmed. `page_size`: the
    whole page's (width, height) in the mask's pixels, when the mask is a part of it
    cleaned alone (page_comparison): the shrink factor and the gaps bridged are the
    whole page's, so the box is the one found on the whole page."""
    h, w = ink.shape
    pw, ph = page_size or (w, h)
    small, k = _small_ink(ink, 1000, round(max(pw, ph)))
    box = _letters_box(small, (round(0.03 * pw / k), round(0.03 * ph / k)))
    if box is None:
        return 0, 0, w, h
    x0, y0, x1, y1 = box
    return x0 * k, y0 * k, min(x1 * k, w), min(y1 * k, h)


def _letters_box(
    small: np.ndarray, gaps: tuple[int, int] | None = None
) -> tuple[int, int, int, int] | None:
    """_text_box on a small ink mask, in its pixels (None: fewer than ten letter pixels).
    `gaps`: the (x, y) gaps bridged between runs of text (default 3% of the mask)."""
    letters, _ = _letters(small)
    if letters.sum() < 10:
        return None
    body = letters.astype(np.float32)
    sh, sw = small.shape
    gap_x, gap_y = gaps or (round(0.03 * sw), round(0.03 * sh))
    x0, x1, y0, y1 = 0, sw, 0, sh
    for _ in range(2):  # rows within the kept columns, then columns within the kept rows
        y0, y1 = _trim(body[:, x0:x1].sum(axis=1), gap_y, 0.02)
        x0, x1 = _trim(body[y0:y1].sum(axis=0), gap_x, 0.02)
    return x0, y0, x1, y1


# Seals: a seal (red, or mid-gray in a gray scan) sits near the binarization threshold, so
# two scans of one sheet binarize different fragments of it. The comparison image keeps
# two more facts than ink/paper, in levels every other user reads as before (< 128 ink):
# ink fainter than text (FAINT), and the region of a seal found on the page (SEAL_*).
# Inside a seal region of either page, faint ink is not compared; dark ink (the text under
# the seal) is, stroke for stroke. Images stored without levels compare as before.
INK, FAINT, PAPER = 0, 96, 255
SEAL_INK, SEAL_FAINT, SEAL_PAPER = 1, 97, 254
DARK_SHARE = 0.35
SEAL_SIZE = (0.07, 0.45)  # seal diameter, as a share of the comparison-image width


def comparison_image(clean_image: np.ndarray) -> np.ndarray:
    """What is stored per page and what a query is compared as: the cleaned page's text
    box with a small margin, as black ink on white, scaled to COMPARE_WIDTH (so two scans
    of one paper come out at the same scale whatever their resolution)."""
    return comparison_geometry(clean_image)[0]


def comparison_with_seals(
    clean_image: np.ndarray,
    original: np.ndarray,
    to_clean: np.ndarray,
    page_size: tuple[float, float] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """comparison_geometry, with faint ink and seal regions marked (mark_seals). `original`
    is the page as loaded (gray or BGR) and `to_clean` the cleanup's 2x3 transform of it: the
    cleaned page is binary, so how dark its ink was is read from the original. (Pages
    cleaned with `--no-cleanup`; the page worker otherwise uses page_comparison.)"""
    comparison, matrix = comparison_geometry(clean_image, page_size)
    gray = to_gray(original)
    full = np.vstack([matrix, [0, 0, 1]]) @ np.vstack([np.asarray(to_clean, np.float64), [0, 0, 1]])
    h, w = comparison.shape
    warped = cv2.warpAffine(
        gray, full[:2], (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    return mark_seals(comparison, warped), matrix


def mark_seals(comparison: np.ndarray, gray: np.ndarray) -> np.ndarray:
    """`comparison` with its faint ink and its seal regions marked (the levels above).
    `gray` is the page in comparison geometry. Seals are found as round clusters of faint
    ink (text strokes' soft edges removed), the size of an office seal."""
    h, w = comparison.shape
    half = (max(1, w // 2), max(1, h // 2))
    small = cv2.resize(gray, half, interpolation=cv2.INTER_AREA)
    eighth = (max(1, half[0] // 8), max(1, half[1] // 8))
    paper = cv2.resize(small, eighth, interpolation=cv2.INTER_AREA)
    paper = cv2.dilate(paper, cv2.getStructuringElement(cv2.MORPH_RECT, (7, 7)))
    paper = cv2.resize(cv2.GaussianBlur(paper, (0, 0), 3), half, interpolation=cv2.INTER_LINEAR)
    level = cv2.divide(small, np.maximum(paper, 1), scale=255)
    ink = cv2.resize(comparison, half, interpolation=cv2.INTER_AREA)
    ink = cv2.threshold(ink, 63, 255, cv2.THRESH_BINARY_INV)[1]  # 255 where < 64
    if cv2.countNonZero(ink) < 100:
        return comparison
    # np.percentile(level[ink], 25), from the masked histogram (no copy of the values).
    counts = cv2.calcHist([level], [0], ink, [256], [0, 256]).ravel().astype(np.int64)
    text = quantiles(counts, (25,))[0]
    dark_below = text + DARK_SHARE * (255 - text)
    # 0/1 masks by thresholds, one pass each (whole levels: level < x is level <= ceil(x) - 1).
    above = math.ceil(dark_below) - 1
    dark = cv2.threshold(level, above, 1, cv2.THRESH_BINARY_INV)[1]
    halo = cv2.dilate(dark, np.ones((5, 5), np.uint8))
    faint = cv2.bitwise_and(
        cv2.threshold(level, 224, 1, cv2.THRESH_BINARY_INV)[1],
        cv2.threshold(halo, 0, 1, cv2.THRESH_BINARY_INV)[1],
    )  # level < 225 and no dark ink nearby
    faint = cv2.morphologyEx(faint, cv2.MORPH_OPEN, np.ones((2, 2), np.uint8))
    reach = max(3, half[0] // 60)
    joined = cv2.dilate(faint, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (reach, reach)))
    count, _, stats, _ = _components(joined)
    seals = np.zeros(half[::-1], np.uint8)
    found = False
    least, most = SEAL_SIZE[0] * half[0], SEAL_SIZE[1] * half[0]
    for i in range(1, count):
        x, y, bw, bh, _ = stats[i]
        if not (least <= bw <= most and least <= bh <= most and bw <= 1.4 * bh and bh <= 1.4 * bw):
            continue
        # A ring of ink, not a block of faint print: faint ink fills little of the box.
        share = np.count_nonzero(faint[y : y + bh, x : x + bw]) / float(bw * bh)
        if not 0.03 <= share <= 0.5:
            continue
        centre, axes = (x + bw // 2, y + bh // 2), (round(0.65 * bw), round(0.65 * bh))
        cv2.ellipse(seals, centre, axes, 0, 0, 360, 1, -1)
        found = True
    # The levels by bit operations on the 0/255 comparison page: ink (0) | FAINT where its
    # level is faint gives INK or FAINT, paper stays 255; then XOR 1 inside seals turns
    # INK, FAINT, PAPER into SEAL_INK, SEAL_FAINT, SEAL_PAPER. (level >= dark_below for
    # whole levels is level > ceil(dark_below) - 1, `above`.)
    faint = cv2.threshold(
        cv2.resize(level, (w, h), interpolation=cv2.INTER_LINEAR), above, FAINT, cv2.THRESH_BINARY
    )[1]
    out = cv2.bitwise_or(comparison, faint)
    if found:
        out = cv2.bitwise_xor(out, cv2.resize(seals, (w, h), interpolation=cv2.INTER_NEAREST))
    return out


def comparison_geometry(
    clean_image: np.ndarray, page_size: tuple[float, float] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(comparison image, 2x3 affine mapping cleaned-page pixels to comparison pixels):
    the crop to the text box moves the origin, so field boxes need the offset too."""
    ink = _ink(clean_image)
    box, size, matrix = _comparison_crop(ink, page_size)
    return _ink_mask(_cut(ink, box, size, 0)), matrix


def _comparison_crop(
    ink: np.ndarray, page_size: tuple[float, float] | None
) -> tuple[tuple[int, int, int, int], tuple[int, int], np.ndarray]:
    """((top, left, bottom, right) of the text box and its margin, which may run past the
    image; the comparison image's (width, height); the 2x3 affine from `ink`'s pixels)."""
    x0, y0, x1, y1 = _text_box(ink, page_size)
    bw, bh = max(x1 - x0, 1), max(y1 - y0, 1)
    pad_x, pad_y = round(MARGIN * bw) + 4, round(MARGIN * bh) + 4
    top, left, bottom, right = y0 - pad_y, x0 - pad_x, y1 + pad_y, x1 + pad_x
    cw, ch = right - left, bottom - top
    scale = COMPARE_WIDTH / cw
    if cw * ch * scale * scale > MAX_COMPARE_PIXELS:
        scale = (MAX_COMPARE_PIXELS / (cw * ch)) ** 0.5
    size = (max(1, round(cw * scale)), max(1, round(ch * scale)))
    sx, sy = size[0] / cw, size[1] / ch
    # Crop column c is the image's column c + left.
    matrix = np.array([[sx, 0.0, -left * sx], [0.0, sy, -top * sy]])
    return (top, left, bottom, right), size, matrix


def _cut(
    image: np.ndarray, box: tuple[int, int, int, int], size: tuple[int, int], fill: int | None
) -> np.ndarray:
    """`image` inside `box` (top, left, bottom, right), what runs past it filled with
    `fill` (None: the edge repeated), resized to `size` (only the crop is copied). By
    area for a real shrink; linearly for a mild one (above MILD_SHRINK: ~6x faster, and
    at that factor a pixel still takes its value from its own neighbourhood)."""
    h, w = image.shape[:2]
    top, left, bottom, right = box
    part = image[max(top, 0) : min(bottom, h), max(left, 0) : min(right, w)]
    border = (max(-top, 0), max(bottom - h, 0), max(-left, 0), max(right - w, 0))
    if any(border):
        kind = cv2.BORDER_REPLICATE if fill is None else cv2.BORDER_CONSTANT
        part = cv2.copyMakeBorder(part, *border, kind, value=fill or 0)
    shrink = size[0] / max(right - left, 1)
    linear = shrink >= MILD_SHRINK
    return cv2.resize(part, size, interpolation=cv2.INTER_LINEAR if linear else cv2.INTER_AREA)


def page_comparison(plan: CleanupPlan) -> tuple[np.ndarray, np.ndarray]:
    """(comparison image with its levels, 2x3 affine mapping original page pixels to
    comparison pixels), made from the cleanup's plan without the full-resolution cleanup.

    Only the part of the page the comparison image shows is cleaned, at about its scale:
    warped once from the original pixels (the cleanup's crop, turn, deskew and scale, then
    the text box found on the working copy, with a wide margin), denoised and binarized as
    the cleanup would. The exact text box is then found on that binary region as on a
    whole cleaned page (_text_box with the page's size: the working copy is too coarse for
    it, a thin table rule breaks into letter-sized pieces there). A re-scan found on file
    is thus never cleaned at full resolution (~60 ms of a 300-dpi page)."""
    if not plan.enabled or plan.small is None or plan.small_to_original is None:
        return comparison_with_seals(plan.gray, plan.original, np.eye(2, 3))
    to_clean, _, _, (cw, ch) = plan.geometry()
    # A first guess of the text box, on the working copy (paper divided out) turned and
    # deskewed like the page, at ~1000 px.
    g = min(1.0, 1000 / max(cw, ch))
    small_to_clean = np.diag([g, g, 1.0]) @ to_clean @ plan.small_to_original
    size = (max(1, round(cw * g)), max(1, round(ch * g)))
    view = cv2.warpAffine(
        plan.small, small_to_clean[:2], size, flags=cv2.INTER_LINEAR, borderValue=255
    )
    box = _letters_box(_ink(view))
    x0, y0, x1, y1 = 0.0, 0.0, float(cw), float(ch)
    if box is not None:
        x0, y0, x1, y1 = (v / g for v in box)
    # The region cleaned: that box and a margin wide enough for any guess's error, at a
    # scale a little above the comparison image's (the final resize is a mild shrink).
    reach_x, reach_y = REGION_MARGIN * (x1 - x0) + 8 / g, REGION_MARGIN * (y1 - y0) + 8 / g
    left, top = max(0.0, x0 - reach_x), max(0.0, y0 - reach_y)
    right, bottom = min(float(cw), x1 + reach_x), min(float(ch), y1 + reach_y)
    scale = min(1.0, REGION_SCALE * COMPARE_WIDTH / max(x1 - x0, 1.0))
    out = (max(16, round((right - left) * scale)), max(16, round((bottom - top) * scale)))
    # Cleaned pixel c (a centre) -> region pixel (c - left + 0.5) * scale - 0.5.
    offset_x, offset_y = (0.5 - left) * scale - 0.5, (0.5 - top) * scale - 0.5
    to_region = np.array([[scale, 0, offset_x], [0, scale, offset_y], [0, 0, 1]]) @ to_clean
    page = _warp_to(plan.gray, to_region, out, plan)
    cleaned = cv2.medianBlur(page, plan.median) if plan.median else page
    region, plan.metrics.binarization = binarize_page(cleaned, plan.noisy, plan.uneven)
    # A 0/255 page's Otsu threshold is 0: its ink is the plain < 128 mask (no histogram).
    ink = _ink(region) if plan.noisy else _ink_mask(region)
    box, out, region_to_compare = _comparison_crop(ink, (cw * scale, ch * scale))
    comparison = _ink_mask(_cut(ink, box, out, 0))
    to_compare = np.vstack([region_to_compare, [0, 0, 1]]) @ to_region
    # How dark the ink was (seals, faint ink) is read from the page's gray in the same
    # geometry: the region's own gray, cut like the ink, or, when the cleanup lightened
    # red seal ink, the original warped there.
    if plan.original is plan.gray:
        gray = _cut(page, box, out, None)
    else:
        gray = _warp_to(plan.original, to_compare, out, plan)
    return mark_seals(comparison, gray), np.ascontiguousarray(to_compare[:2])


def _warp_to(
    image: np.ndarray, matrix: np.ndarray, size: tuple[int, int], plan: CleanupPlan
) -> np.ndarray:
    """`image` (original pixels) warped by the 3x3 `matrix` to `size`, as the cleanup
    warps: paper outside the cleanup's crop, replicated edges on a noisy page. A large
    downscale goes through an integer-factor area shrink first, as bilinear sampling alone
    would skip thin strokes."""
    top, bottom, left, right = plan.crop
    page = image[top:bottom, left:right]
    matrix = matrix @ np.array([[1, 0, left], [0, 1, top], [0, 0, 1]], np.float64)
    k = int(1.0 / max(abs(np.linalg.det(matrix[:2, :2])) ** 0.5, 1e-6))
    if k >= 2:
        page = shrink_by(page, k)
        matrix = matrix @ np.array([[k, 0, (k - 1) / 2], [0, k, (k - 1) / 2], [0, 0, 1]])
    return plan.warp(page, matrix, size, cubic=abs(np.linalg.det(matrix[:2, :2])) > 1.1)


# Stored comparison images: the raw levels, zstd level 3, behind a small header. Measured
# on an 1800 x 1828 page: 2.2 ms to write and 1.1 ms to read for 79 KB, where the
# run-length PNG used before took 9 ms and 15 ms for 73 KB (each near check reads one).
# A page stored after its own reading also carries its letter height and text zones
# (StoredPage.structure, ~13 ms to derive, ~20 KB): made once at ingest, not on every
# near check against it.
_STORED_MAGIC = b"DCM2"


def encode_comparison(image: np.ndarray, page: StoredPage | None = None) -> bytes:
    """A comparison image as stored (read back by load_stored_page), with the structure
    of `page` (a StoredPage of this image) when given."""
    from imagecodecs import zstd_encode  # numpy's companion, imported when first needed

    pixels = zstd_encode(np.ascontiguousarray(image, np.uint8).tobytes(), level=3)
    data = _STORED_MAGIC + struct.pack(">III", *image.shape, len(pixels)) + pixels
    if page is not None:
        _, char, zones = page.structure
        data += struct.pack(">d", char) + zstd_encode(zones.tobytes(), level=3)
    return data


def load_comparison(path: Path) -> np.ndarray | None:
    """A stored comparison image (None: missing or unreadable)."""
    page = load_stored_page(path)
    return None if page is None else page.image


def load_stored_page(path: Path) -> StoredPage | None:
    """A stored comparison image as a StoredPage, its structure filled in when stored with
    it (None: missing or unreadable: the page is then read, not reused). PNGs stored by
    versions before the zstd format are still read."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    if not data.startswith(_STORED_MAGIC):
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_GRAYSCALE)
        return StoredPage(image) if image is not None and image.ndim == 2 else None
    from imagecodecs import zstd_decode

    try:
        height, width, size = struct.unpack(">III", data[4:16])
        image = np.frombuffer(zstd_decode(data[16 : 16 + size]), np.uint8)
        image = image.reshape(height, width)
        page = StoredPage(image)
        rest = data[16 + size :]
        if rest:
            (char,) = struct.unpack(">d", rest[:8])
            zones = np.frombuffer(zstd_decode(rest[8:]), np.uint8)
            page.keep_structure(char, zones.reshape(height // 2, width // 2).copy())
    except Exception:  # damaged (a short read, a bad block): proves nothing
        return None
    return page


def page_hash(comparison: np.ndarray) -> int:
    """64-bit layout hash: signs of the 64 lowest non-constant DCT frequencies of a
    blurred density map of the page's letters. At text-line scale it is deaf to noise,
    stroke weight, seals and photos, so re-scans agree bit for bit or nearly."""
    small, _ = _small_ink(_ink_mask(comparison), 600, whole_cells=True)
    letters, _ = _letters(small)
    density = cv2.resize(letters.astype(np.float32), (64, 64), interpolation=cv2.INTER_AREA)
    density = cv2.GaussianBlur(density, (0, 0), 1.5)
    coefficients = cv2.dct(density - density.mean())
    bits = [coefficients[u, v] > 0 for u, v in _ZIGZAG]
    return sum(1 << i for i, bit in enumerate(bits) if bit)


# The 64 lowest frequencies in zig-zag order, without the constant term.
_ZIGZAG = sorted(
    ((u, v) for u in range(12) for v in range(12) if (u, v) != (0, 0)),
    key=lambda uv: (uv[0] + uv[1], uv[0]),
)[:64]


# --- confirmation ---------------------------------------------------------------------------


class StoredPage:
    """A stored comparison image, with what every confirmation against it derives from it
    alone (its ink at full and half size, the alignment's copies, letter height, text
    zones), each made on first use and kept: a worker's matcher keeps the recent ones, and
    pages of one template keep proposing the same stored pages. The kept arrays are
    read-only."""

    def __init__(self, image: np.ndarray):
        self.image = image

    def keep_structure(self, char: float, zones: np.ndarray) -> None:
        """Take `structure`'s letter height and text zones as stored at ingest."""
        binary = _half_binary(self.half)
        self.__dict__["structure"] = (_frozen(binary), float(char), _frozen(zones))

    @cached_property
    def ink(self) -> np.ndarray:
        """The ink mask (255 = ink) at full size."""
        return _frozen(_ink_mask(self.image))

    @cached_property
    def seal_box(self) -> tuple[int, int, int, int] | None:
        """(x0, y0, x1, y1) around the page's seal regions, None without one."""
        return _seal_box(self.image)

    @cached_property
    def half(self) -> np.ndarray:
        """The ink (255) at half size, by area."""
        return _frozen(_half(self.ink))

    @cached_property
    def ecc_copy(self) -> tuple[float, np.ndarray]:
        """(factor from half size to the global alignment's copy, that copy blurred)."""
        f = ECC_SIDE / max(self.half.shape)  # half size -> small
        small = cv2.resize(self.half, None, fx=f, fy=f, interpolation=cv2.INTER_AREA)
        return f, _frozen(cv2.GaussianBlur(small, (0, 0), 2).astype(np.float32))

    @cached_property
    def tiles(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(half-size ink blurred for the tile search, tile row bounds, column bounds,
        which tiles hold enough ink to match), in half-size pixels."""
        h, w = self.image.shape
        rows, cols = max(1, round(h / TILE)), max(1, round(w / TILE))
        hh, hw = self.half.shape
        ys = np.linspace(0, hh, rows + 1).astype(int)
        xs = np.linspace(0, hw, cols + 1).astype(int)
        # Ink per tile from one pass (a tile with too little ink has nothing to match).
        sums = cv2.integral((self.half > 64).astype(np.float32))
        enough = np.zeros((rows, cols), bool)
        for i in range(rows):
            for j in range(cols):
                y0, y1, x0, x1 = ys[i], ys[i + 1], xs[j], xs[j + 1]
                count = sums[y1, x1] - sums[y0, x1] - sums[y1, x0] + sums[y0, x0]
                enough[i, j] = not count < MIN_TILE_INK * (y1 - y0) * (x1 - x0)
        blurred = cv2.GaussianBlur(self.half, (0, 0), 1.0)
        return _frozen(blurred), ys, xs, enough

    @cached_property
    def structure(self) -> tuple[np.ndarray, float, np.ndarray]:
        """(half-size ink thresholded, letter height, text zones): one labelling serves
        both the letter height and the zones."""
        binary = _half_binary(self.half)
        components = _components(binary)
        char = _char_height(binary, components)
        return _frozen(binary), char, _frozen(_text_zones(binary, char, components))


def _frozen(image: np.ndarray) -> np.ndarray:
    image.flags.writeable = False  # kept between confirmations: nobody may draw on it
    return image


def _global_align(half_q: np.ndarray, stored: StoredPage) -> tuple[np.ndarray | None, float]:
    """(2x3 warp mapping full-size stored pixels to query pixels, ECC correlation), found
    on small blurred copies of the half-size ink (255 = ink): a translation by phase
    correlation, refined to affine by ECC."""
    f, blur_s = stored.ecc_copy
    small_q = cv2.resize(half_q, None, fx=f, fy=f, interpolation=cv2.INTER_AREA)
    # Same canvas for both: the query padded or cut to the stored size.
    canvas = np.zeros(blur_s.shape, np.uint8)
    h, w = min(canvas.shape[0], small_q.shape[0]), min(canvas.shape[1], small_q.shape[1])
    canvas[:h, :w] = small_q[:h, :w]
    blur_q = cv2.GaussianBlur(canvas, (0, 0), 2).astype(np.float32)
    (dx, dy), _ = cv2.phaseCorrelate(blur_s, blur_q)
    warp = np.array([[1, 0, dx], [0, 1, dy]], np.float32)
    criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 60, 1e-4)
    try:
        ecc, warp = cv2.findTransformECC(blur_s, blur_q, warp, cv2.MOTION_AFFINE, criteria, None, 1)
    except cv2.error:
        return None, 0.0
    # Small pixel x covers full pixels around (x + 0.5) / g - 0.5, g = f / 2: the same
    # linear part, the translation carried through both scalings.
    g = f / 2
    a, t = warp[:, :2].astype(np.float64), warp[:, 2].astype(np.float64)
    c = (g / 2 - 0.5) * np.ones(2)
    full = np.hstack([a, ((a @ c + t + 0.5) / g - 0.5)[:, None]])
    return full, float(ecc)


def _half(ink: np.ndarray) -> np.ndarray:
    """`ink` at half size by area (exact 2x2 means: OpenCV's fast path; an odd last row
    or column, paper margin, is dropped). Half pixel (i, j) covers full pixels 2i, 2i+1."""
    return shrink_by(ink, 2)


def _half_binary(half: np.ndarray) -> np.ndarray:
    """A half-size ink copy as plain ink (255 where at least two of the four pixels were
    ink): what the page's structure (letter height, text zones, rules) is found on."""
    return cv2.threshold(half, 96, 255, cv2.THRESH_BINARY)[1]


def _peak(response: np.ndarray) -> tuple[float, float]:
    """(x, y) of the best match, refined to a fraction of a pixel by a parabola through
    the peak and its neighbours (the search runs on a half-size copy)."""
    _, _, _, (bx, by) = cv2.minMaxLoc(response)

    def refine(left: float, mid: float, right: float) -> float:
        bend = left - 2 * mid + right
        return 0.0 if bend >= 0 else max(-0.5, min(0.5, 0.5 * (left - right) / bend))

    dx = refine(*response[by, bx - 1 : bx + 2]) if 0 < bx < response.shape[1] - 1 else 0.0
    dy = refine(*response[by - 1 : by + 2, bx]) if 0 < by < response.shape[0] - 1 else 0.0
    return bx + dx, by + dy


def _half_warp(warp: np.ndarray) -> np.ndarray:
    """The full-size warp in half-size pixels (half pixel i sits at full 2i + 0.5)."""
    a, t = warp[:, :2], warp[:, 2]
    return np.hstack([a, ((a @ np.full(2, 0.5) + t - 0.5) / 2)[:, None]])


def _local_shifts(half_q: np.ndarray, stored: StoredPage, warp: np.ndarray) -> np.ndarray:
    """A best shift per tile (rows, cols, 2; full-size pixels, applied before `warp`):
    scanners stretch sheets a little unevenly, and one affine leaves pixels of error at
    the far corners. Searched on the half-size ink (the query moved by `warp` there), to
    a fraction of a pixel."""
    bs, ys, xs, enough = stored.tiles
    rows, cols = enough.shape
    hh, hw = bs.shape
    moved = cv2.warpAffine(
        half_q, _half_warp(warp), (hw, hh), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    )
    # Matched as 8-bit images (what the blur gives): ~30% faster than as float copies of
    # them, the same correlations to a float rounding (~2e-7).
    bq = cv2.GaussianBlur(moved, (0, 0), 1.0)
    reach = (MAX_SHIFT + 1) // 2
    padded = cv2.copyMakeBorder(bq, *(reach,) * 4, cv2.BORDER_CONSTANT, value=0)
    shifts = np.full((rows, cols, 2), np.nan, np.float32)
    for i, j in zip(*np.nonzero(enough), strict=True):
        y0, y1, x0, x1 = ys[i], ys[i + 1], xs[j], xs[j + 1]
        region = padded[y0 : y1 + 2 * reach, x0 : x1 + 2 * reach]
        bx, by = _peak(cv2.matchTemplate(region, bs[y0:y1, x0:x1], cv2.TM_CCORR_NORMED))
        shifts[i, j] = (2 * (bx - reach), 2 * (by - reach))
    known = ~np.isnan(shifts[..., 0])
    if not known.any():
        return np.zeros_like(shifts)
    # Empty tiles take the median shift; one odd tile is outvoted by its neighbours.
    shifts[~known] = np.median(shifts[known], axis=0)  # no NaN among the known ones
    return np.stack([cv2.medianBlur(shifts[..., c].copy(), 3) for c in range(2)], axis=-1)


def _alignment_maps(warp: np.ndarray, shifts: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The (x, y) map (one 2-channel float image) for one cv2.remap of the query: stored
    pixel p shows query pixel warp(p + shift(p)), the tile shifts interpolated between
    tile centres. One remap instead of a warp and then a remap: half the full-page
    interpolation. The maps are smooth, so they are computed at half size and enlarged
    (exact for the affine part; the outermost pixel row and column, paper margin, take
    their neighbour's value). Both coordinates in one image: one enlargement instead of
    two (~40% less time; values within a float32 rounding of two separate ones)."""
    w, h = size
    hw, hh = (w + 1) // 2, (h + 1) // 2
    a, t = warp[:, :2].astype(np.float32), warp[:, 2].astype(np.float32)
    # warp is affine, so warp(p + s) = warp(p) + A s, and A s interpolates like s.
    moved = (shifts.reshape(-1, 2) @ a.T).reshape(shifts.shape)
    # Half pixel i sits at full 2i + 0.5.
    xs = 2 * np.arange(hw, dtype=np.float32) + 0.5
    ys = 2 * np.arange(hh, dtype=np.float32) + 0.5
    field = cv2.resize(np.ascontiguousarray(moved), (hw, hh), interpolation=cv2.INTER_LINEAR)
    for k in range(2):
        field[..., k] += a[k, 0] * xs
        field[..., k] += (a[k, 1] * ys + t[k])[:, None]
    # Exactly twice the size (then cut to the page): a factor off 2 would drift.
    full = cv2.resize(field, (2 * hw, 2 * hh), interpolation=cv2.INTER_LINEAR)
    return full if (hw * 2, hh * 2) == (w, h) else np.ascontiguousarray(full[:h, :w])


def _char_height(ink: np.ndarray, components: tuple | None = None) -> float:
    """Median height of letter-sized components (leader dots and tone marks left out).
    `components`: the mask's connectedComponentsWithStats, when the caller has it."""
    _, _, stats, _ = components or _components(ink)
    w, h = stats[1:, cv2.CC_STAT_WIDTH], stats[1:, cv2.CC_STAT_HEIGHT]
    least = max(6, ink.shape[1] // 250)
    letters = h[(h >= least) & (h < ink.shape[0] / 15) & (w < 3 * h)]
    return float(np.median(letters)) if len(letters) >= 10 else 25.0


def _text_zones(ink: np.ndarray, char: float, components: tuple | None = None) -> np.ndarray:
    """Where the text lines are (255): letter-sized components joined along the line,
    kept where at least three letters make a line that is longer than it is tall.

    Only text is compared: seals, photos, signatures and emblems sit near the
    binarization threshold (a red seal scans mid-gray), so two scans of one sheet
    disagree there by whole strokes, while text either matches or differs by a character.
    A seal's ring arc or a signature stroke is one component, never three letters."""
    count, labels, stats, _ = components or _components(ink)
    w, h = stats[:, cv2.CC_STAT_WIDTH], stats[:, cv2.CC_STAT_HEIGHT]
    letter = (h >= 0.35 * char) & (h <= 1.8 * char) & (w <= 6 * char)
    letter[0] = False
    # 0/255 per label, gathered by np.take (~2.5x faster than indexing, no extra pass).
    letters = np.take(np.where(letter, 255, 0).astype(np.uint8), labels)
    reach = max(3, round(0.9 * char))
    lines = cv2.morphologyEx(letters, cv2.MORPH_CLOSE, np.ones((1, reach), np.uint8))
    n_lines, line_labels, line_stats, _ = _components(lines)
    # Letters per line: each letter lies in one line (the closing only adds ink), so one
    # pixel of each names its line (no sort of all the pixels' label pairs).
    on = np.flatnonzero(letters)
    line_of = np.zeros(count, np.int64)
    line_of[labels.ravel()[on]] = line_labels.ravel()[on]
    per_line = np.bincount(line_of[letter], minlength=n_lines)
    lw, lh = line_stats[:, cv2.CC_STAT_WIDTH], line_stats[:, cv2.CC_STAT_HEIGHT]
    keep = (per_line >= 3) & (lw >= 1.5 * lh) & (lh <= 2.5 * char)
    keep[0] = False
    zones = np.take(np.where(keep, 255, 0).astype(np.uint8), line_labels)
    # Tone marks above and dots below belong to the line: grow it by half a letter.
    grow = max(3, round(0.5 * char)) | 1
    zones = cv2.dilate(zones, np.ones((grow, grow), np.uint8))
    # Stacked marks (the tilde over the Ê of NGUYỄN) reach most of a letter above the
    # capitals: the zone reaches up that far, or a missing tilde is never compared.
    up = max(2, round(ZONE_UP * char))
    return cv2.dilate(zones, np.ones((up + 1, 1), np.uint8), anchor=(0, 0))


def _differences(
    ink_q: np.ndarray,
    ink_s: np.ndarray,
    char: float,
    where: np.ndarray,
) -> tuple[np.ndarray, list[tuple[int, int, int, int, int]]]:
    """(mask of ink found in one page only, stroke-sized blobs as (x, y, w, h, area)),
    counted only `where` (255).

    A pixel differs when the other page has no ink within TOLERANCE; an opening then
    removes the slivers that stroke-weight changes leave along every edge, and what is
    left is a blob only if it is as big as a fraction of a character."""
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * TOLERANCE + 1,) * 2)
    # a AND NOT b of 0/255 masks is a saturating a - b: one pass instead of two.
    only_q = cv2.subtract(ink_q, cv2.dilate(ink_s, kernel))
    only_s = cv2.subtract(ink_s, cv2.dilate(ink_q, kernel))
    diff = cv2.bitwise_and(cv2.bitwise_or(only_q, only_s), where)
    diff = cv2.morphologyEx(diff, cv2.MORPH_OPEN, np.ones((2, 2), np.uint8))
    # What is left is a few specks at most (none on most re-scans): labelled within their
    # bounding box only, not over the whole page (~10 ms; same blobs, in the same order).
    x, y, bw, bh = cv2.boundingRect(diff)
    if bw == 0:
        return diff, []
    count, _, stats, _ = _components(diff[y : y + bh, x : x + bw])
    least = MIN_BLOB * char * char
    blobs = [
        (int(sx) + x, int(sy) + y, int(sw), int(sh), int(area))
        for sx, sy, sw, sh, area in stats[1:count]
        if area >= least
    ]
    return diff, blobs


def _as_letters(
    blobs: list[tuple[int, int, int, int, int]], reach: float
) -> list[tuple[int, int, int, int, int]]:
    """The blobs grouped as one changed letter leaves them: several specks a few pixels
    apart (a 6 turned 8 differs only where strokes were added), each too small alone.
    Blobs whose boxes lie within `reach` of each other become one (x, y, w, h, area) with
    their summed area; a lone blob stays as it is."""
    if len(blobs) < 2:
        return blobs
    b = np.asarray(blobs, np.float64)
    x0, y0, x1, y1 = b[:, 0], b[:, 1], b[:, 0] + b[:, 2], b[:, 1] + b[:, 3]
    gap_x = np.maximum(0, np.maximum(x0[:, None], x0[None]) - np.minimum(x1[:, None], x1[None]))
    gap_y = np.maximum(0, np.maximum(y0[:, None], y0[None]) - np.minimum(y1[:, None], y1[None]))
    near = (gap_x <= reach) & (gap_y <= reach)
    group = np.arange(len(blobs))
    for _ in range(len(blobs)):  # the smallest index of each connected group
        joined = np.where(near, group[None, :], len(blobs)).min(axis=1)
        if np.array_equal(joined, group):
            break
        group = joined
    out = []
    for g in np.unique(group):
        members = b[group == g]
        left, top = members[:, 0].min(), members[:, 1].min()
        right = (members[:, 0] + members[:, 2]).max()
        bottom = (members[:, 1] + members[:, 3]).max()
        out.append(
            (int(left), int(top), int(right - left), int(bottom - top), int(members[:, 4].sum()))
        )
    return out


def _field_mask(fields: Sequence[FieldBox], shape: tuple[int, int]) -> np.ndarray:
    """255 on the key-field boxes, grown by a third of their height (tone marks above,
    a little misplacement of the box)."""
    mask = np.zeros(shape, np.uint8)
    for box in fields:
        x0, y0, x1, y1 = box.bbox
        pad = max(4, (y1 - y0) // 3)
        cv2.rectangle(mask, (x0 - pad, y0 - pad), (x1 + pad, y1 + pad), 255, -1)
    return mask


def confirm(
    query: np.ndarray, stored: np.ndarray | StoredPage, fields: Sequence[FieldBox] = ()
) -> Confirmation:
    """Whether `query` shows the same filled-in paper as `stored` (both from
    comparison_image; the stored one bare or as a StoredPage kept between confirmations).
    Refuses whenever it cannot prove the pages agree."""
    started = time.perf_counter()
    page = stored if isinstance(stored, StoredPage) else StoredPage(stored)
    stored = page.image

    def refuse(reason: str, **kw) -> Confirmation:
        return Confirmation(False, kw.pop("score", 0.0), reason, seconds=_since(started), **kw)

    if query.size == 0 or stored.size == 0:
        return refuse("an empty page")
    ratio = (query.shape[0] / query.shape[1]) / (stored.shape[0] / stored.shape[1])
    if not 0.8 < ratio < 1.25:
        return refuse("the text blocks have different shapes")
    # The levels (faint ink, seal regions) are read once, then both pages are plain ink on
    # paper again: interpolating a faint level would thin the query's strokes.
    levels_q = _level_kinds(query)
    ink_s, ink_q = page.ink, _ink_mask(query)
    half_q = _half(ink_q)
    warp, ecc = _global_align(half_q, page)
    if warp is None or ecc < MIN_ECC:
        return refuse("the pages do not align", ecc=ecc)
    h, w = stored.shape
    shifts = _local_shifts(half_q, page, warp)
    maps = _alignment_maps(warp, shifts, (w, h))
    # One interpolation of the query's ink (255 = ink); thresholded as a paper page would be.
    moved = cv2.remap(ink_q, maps, None, cv2.INTER_LINEAR, borderValue=0)
    ink_q = cv2.threshold(moved, 127, 255, cv2.THRESH_BINARY)[1]
    # Inside a seal region of either page, faint ink is left out of both; the rest of
    # the ink, the text under a seal included, must be matched as everywhere.
    dark_s, dark_q = _without_faint_in_seals(query, levels_q, page, ink_q, maps, warp, shifts)
    # Structure on half-size copies: four times cheaper, and letters are still ~12 px.
    half_q = _half_binary(_half(ink_q))
    half_s, char, zones_s = page.structure
    zones = cv2.bitwise_or(zones_s, _text_zones(half_q, char))
    # Table rules and underlines are not text: now that zones reach up to the rule above
    # a line, a rule a pixel thicker on one scan would differ along its whole length.
    run = max(8, round(RULE_LENGTH * char))
    rules = cv2.morphologyEx(
        cv2.bitwise_or(half_s, half_q), cv2.MORPH_OPEN, np.ones((1, run), np.uint8)
    )
    rules = cv2.dilate(rules, np.ones((5, 1), np.uint8))
    zones = cv2.subtract(zones, rules)  # 0/255 masks: zones AND NOT rules
    zones = cv2.resize(zones, (w - w % 2, h - h % 2), interpolation=cv2.INTER_NEAREST)
    zones = cv2.copyMakeBorder(zones, 0, h % 2, 0, w % 2, cv2.BORDER_REPLICATE)
    if np.count_nonzero(cv2.bitwise_and(ink_s, zones)) < MIN_TEXT * np.count_nonzero(ink_s):
        return refuse("too little text to compare", ecc=ecc)
    # Differences are found everywhere at the same tolerance. One in a key field, or one
    # the size of a digit's stroke anywhere, refuses. Smaller ones outside the key fields
    # (seal fragments, broken strokes of a hard scan) are forgiven only when the key
    # fields, re-read on the query as recorded, prove the paper is the same; with no key fields
    # every difference refuses.
    strict = _field_mask(fields, (h, w))
    diff, found = _differences(dark_q, dark_s, 2 * char, cv2.bitwise_or(zones, strict))
    ink_total = max(cv2.countNonZero(ink_s) + cv2.countNonZero(ink_q), 1)
    score = round(1.0 - 2.0 * cv2.countNonZero(diff) / ink_total, 4)  # a float, for JSON
    least = LOOSE_MIN_BLOB * (2 * char) ** 2
    in_fields = [b for b in found if strict[b[1] : b[1] + b[3], b[0] : b[0] + b[2]].any()]
    blocking = (
        found
        if not fields
        else in_fields
        + [
            b
            for b in _as_letters(found, CLUSTER_REACH * 2 * char)
            if b[4] >= least and b not in in_fields
        ]
    )
    if blocking:
        return refuse(
            f"{len(blocking)} stroke-sized differences ({len(in_fields)} in key fields)",
            score=score, differences=len(blocking), ecc=ecc,
            boxes=[(x, y, x + bw, y + bh) for x, y, bw, bh, _ in blocking],
        )  # fmt: skip
    if not found:
        # Strictly equal ink: proof enough (no re-reading, which costs a Tesseract run).
        return Confirmation(True, score, "the ink agrees everywhere", 0, ecc, _since(started))
    differing, unproven = _fields_differ(cv2.bitwise_not(moved), fields)
    if differing or unproven:
        problem = [f"{n} read differently than recorded" for n in differing] + [
            f"{n} not found where recorded" for n in unproven
        ]  # a box off its value proves nothing
        return refuse(
            f"{len(found)} small differences and {', '.join(problem)}", score=score, ecc=ecc
        )
    reason = (
        f"{len(found)} small differences outside the key fields; "
        f"{len(fields)} key fields read the same as recorded"
    )
    return Confirmation(True, score, reason, 0, ecc, _since(started))


def _without_faint_in_seals(
    query: np.ndarray,
    levels_q: str | None,
    page: StoredPage,
    ink_q: np.ndarray,
    maps: np.ndarray,
    warp: np.ndarray,
    shifts: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """(stored ink, aligned query ink), each without its faint ink inside the seal regions
    of either page (the query's levels moved by `maps`, nearest: a level is not
    interpolated). Only the box around those regions is worked on: nothing changes
    outside it, and a seal is a small part of a page."""
    ink_s = page.ink
    boxes = [page.seal_box] if page.seal_box is not None else []
    # Faint ink matters only inside a seal region: without one on either page the query's
    # levels are not needed (a remap only moves levels, so it makes no seal appear).
    if levels_q == "seal":
        box_q = _seal_box(query)
        if box_q is not None:
            boxes.append(_reach_in_stored(box_q, warp, shifts, ink_s.shape))
    if not boxes:
        return ink_s, ink_q
    x0, y0 = min(b[0] for b in boxes), min(b[1] for b in boxes)
    x1, y1 = max(b[2] for b in boxes), max(b[3] for b in boxes)
    if x1 <= x0 or y1 <= y0:
        return ink_s, ink_q
    part = np.s_[y0:y1, x0:x1]
    # A remapped pixel depends on its own map entry only: this is the whole-page remap's
    # box, pixel for pixel.
    moved = None
    if levels_q is not None:
        moved = cv2.remap(query, maps[part], None, cv2.INTER_NEAREST, borderValue=255)
    stored = page.image[part]
    region = cv2.LUT(stored, _SEAL_LEVELS)
    if moved is not None:
        region = cv2.bitwise_or(region, cv2.LUT(moved, _SEAL_LEVELS))
    dark_s, dark_q = ink_s, ink_q
    if moved is not None:
        dark_q = ink_q.copy()
        dark_q[part] = _without(ink_q[part], region, cv2.LUT(moved, _FAINT_LEVELS))
    faint_s = cv2.LUT(stored, _FAINT_LEVELS)
    if cv2.countNonZero(faint_s):
        dark_s = ink_s.copy()
        dark_s[part] = _without(ink_s[part], region, faint_s)
    return dark_s, dark_q


def _seal_box(image: np.ndarray) -> tuple[int, int, int, int] | None:
    """(x0, y0, x1, y1) around the seal levels of a comparison image, None without any."""
    x, y, w, h = cv2.boundingRect(cv2.LUT(image, _SEAL_LEVELS))
    return (x, y, x + w, y + h) if w and h else None


def _reach_in_stored(
    box: tuple[int, int, int, int], warp: np.ndarray, shifts: np.ndarray, shape: tuple[int, int]
) -> tuple[int, int, int, int]:
    """The stored pixels whose alignment map can land in `box` (query pixels): the map is
    warp(p + s) with s between the tile shifts, enlarged from half size (a pixel and a
    half more) and rounded to the nearest pixel, so `box` is grown by the farthest that
    moves a point, and taken back through the warp."""
    a = warp[:, :2]
    most = float(np.abs(shifts).max()) + 3.0
    grow = np.abs(a).sum(axis=1) * most + 2.0  # per query axis
    x0, y0, x1, y1 = box
    corners = np.array(
        [[x0 - grow[0], y0 - grow[1]], [x1 + grow[0], y0 - grow[1]],
         [x0 - grow[0], y1 + grow[1]], [x1 + grow[0], y1 + grow[1]]]
    )  # fmt: skip
    inverse = cv2.invertAffineTransform(warp)
    back = corners @ inverse[:, :2].T + inverse[:, 2]
    h, w = shape
    return (
        max(0, int(np.floor(back[:, 0].min())) - 1),
        max(0, int(np.floor(back[:, 1].min())) - 1),
        min(w, int(np.ceil(back[:, 0].max())) + 2),
        min(h, int(np.ceil(back[:, 1].max())) + 2),
    )


def _level_kinds(image: np.ndarray) -> str | None:
    """ "seal" when the image has a seal region, "faint" when it has faint ink only, None
    when neither (one table look-up and one pass for its maximum, no full masks)."""
    most = cv2.minMaxLoc(cv2.LUT(image, _LEVEL_KINDS))[1]
    return "seal" if most == 2 else "faint" if most == 1 else None


_SEAL_LEVELS = np.zeros(256, np.uint8)
_SEAL_LEVELS[[SEAL_INK, SEAL_FAINT, SEAL_PAPER]] = 255
_FAINT_LEVELS = np.zeros(256, np.uint8)
_FAINT_LEVELS[[FAINT, SEAL_FAINT]] = 255
_LEVEL_KINDS = np.zeros(256, np.uint8)
_LEVEL_KINDS[_FAINT_LEVELS > 0] = 1
_LEVEL_KINDS[_SEAL_LEVELS > 0] = 2  # a seal level wins (SEAL_FAINT is both)


def _without(ink: np.ndarray, region: np.ndarray, faint: np.ndarray) -> np.ndarray:
    """`ink` less its faint ink inside `region` (the seals of either page)."""
    return cv2.subtract(ink, cv2.bitwise_and(region, faint))  # 0/255 masks: a AND NOT b


def _field_key(name: str, text: str) -> str:
    """What must be equal: the digits of a number, the folded letters of anything else."""
    from pipeline.textnorm import fold

    if name.endswith(("id_number", "doc_number", "number")):
        return "".join(ch for ch in text if ch.isdigit())
    return "".join(ch for ch in fold(text) if ch.isalnum())


def _fields_differ(aligned: np.ndarray, fields: Sequence[FieldBox]) -> tuple[list[str], list[str]]:
    """(names of key fields whose region on the aligned query reads otherwise than the
    value recorded for the stored page, names of those where nothing reads at all).

    The query's crops are read in one Tesseract run (one line each, stacked). Reading
    the recorded value there proves both that the box sits on the value and that the
    query shows it: the box's ink already matched the stored page's stroke for stroke
    (a difference in a key field refuses before this), so the stored page shows it too.
    The stored crops are not read again (half the reading, the same proof)."""
    gap = max(40, max((b.bbox[3] - b.bbox[1] for b in fields), default=0))
    strips, bands = [], []
    y = gap
    for box in fields:
        x0, y0, x1, y1 = box.bbox
        pad = max(4, (y1 - y0) // 4)
        top, bottom = min(pad, y0), min(pad, y0) + (y1 - y0)  # the box within the strip
        x0, y0 = max(0, x0 - pad), max(0, y0 - pad)
        x1, y1 = min(aligned.shape[1], x1 + pad), min(aligned.shape[0], y1 + pad)
        strip = _only_the_line(aligned[y0:y1, x0:x1], top, bottom)
        strips.append((y, strip))
        bands.append((y, y + strip.shape[0]))
        y += strip.shape[0] + gap
    width = max((s.shape[1] for _, s in strips), default=1) + 2 * gap
    sheet = np.full((y, width), 255, np.uint8)
    for top, strip in strips:
        sheet[top : top + strip.shape[0], gap : gap + strip.shape[1]] = strip
    # Smoothed: the comparison image is binary and jagged, which Tesseract misreads more.
    sheet = cv2.GaussianBlur(sheet, (0, 0), 1.0)
    words = _read_words(sheet)
    texts = [[] for _ in bands]
    for text, (_, top, _, bottom) in sorted(words, key=lambda w: w[1][0]):
        middle = (top + bottom) / 2
        for i, (top, bottom) in enumerate(bands):
            if top <= middle < bottom:
                texts[i].append(text)
    differing, unproven = [], []
    for box, text in zip(fields, texts, strict=True):
        read, recorded = _field_key(box.name, " ".join(text)), _field_key(box.name, box.value)
        if not read or not recorded:
            unproven.append(box.name)
        elif read != recorded:
            differing.append(box.name)
    return differing, unproven


# The re-reading's Tesseract, loaded once per worker thread: a Tesseract process per
# confirmation spends ~0.2-0.3 s starting and loading its models before reading a few
# lines (measured in-process: 0.03-0.05 s per sheet after a one-time 0.2 s load).
# Vietnamese alone: key fields are Vietnamese names and numbers, and a second model
# costs a quarter more per sheet (26 vs 34 ms) for the same 116 near_bench decisions.
_READER_LANG = "vie"
_reader = threading.local()


def _tessdata() -> str | None:
    """The system Tesseract's model folder (the in-process reader uses the same models)."""
    import os
    import re
    import subprocess

    if os.environ.get("TESSDATA_PREFIX"):
        return os.environ["TESSDATA_PREFIX"]
    try:
        out = subprocess.run(
            ["tesseract", "--list-langs"], capture_output=True, text=True, timeout=30
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    found = re.search(r'"([^"]+)"', out)
    return found.group(1) if found else None


def _load_reader():
    """A new in-process Tesseract, or None (tesserocr missing or not loadable)."""
    try:
        import tesserocr

        path = _tessdata()
        if path is not None:
            return tesserocr.PyTessBaseAPI(
                path=path, lang=_READER_LANG, psm=tesserocr.PSM.SINGLE_BLOCK
            )
    except (ImportError, RuntimeError) as exc:
        log.debug("in-process Tesseract unavailable (%s); using the program", exc)
    return None


def reader_ready() -> None:
    """Load this thread's reader now (a worker's one-time start, paid before any page's
    timed near stage, in the thread that then reads); its first reading then costs what
    every later one does."""
    _api()
    # Imported on the first reading otherwise (~0.1 s on a busy machine).
    from PIL import Image  # noqa: F401


def _api():
    """This thread's in-process Tesseract (never shared between threads), or None
    (tesserocr missing or not loadable): then each re-reading runs the Tesseract
    program, as page OCR does."""
    if not hasattr(_reader, "api"):
        _reader.api = _load_reader()
    return _reader.api


def _read_words(sheet: np.ndarray) -> list[tuple[str, tuple[int, int, int, int]]]:
    """(text, box) of each word Tesseract reads on `sheet` (one block of lines)."""
    api = _api()
    if api is None:
        from ocr.tesseract import ocr_image

        result = ocr_image(sheet, lang=_READER_LANG, dpi=300, timeout=20.0, want_pdf=False, psm=6)
        return [(w.text, w.bbox) for w in result.words]
    import tesserocr
    from PIL import Image

    api.SetImage(Image.fromarray(sheet))
    api.SetSourceResolution(300)
    api.Recognize()
    words = []
    level = tesserocr.RIL.WORD
    iterator = api.GetIterator()
    for word in tesserocr.iterate_level(iterator, level) if iterator is not None else ():
        text, box = word.GetUTF8Text(level), word.BoundingBox(level)
        if text and text.strip() and box is not None:
            words.append((text.strip(), tuple(box)))
    api.Clear()
    return words


def _only_the_line(strip: np.ndarray, top: int, bottom: int) -> np.ndarray:
    """The strip with the ink of neighbouring lines (cut by the padding) whitened: only
    components centred between rows `top` and `bottom` stay, so Tesseract reads one line
    and does not merge a cut label into it. The same cleaning for both pages."""
    ink = _ink_mask(strip)
    count, labels, stats, _ = _components(ink)
    middle = stats[:, cv2.CC_STAT_TOP] + stats[:, cv2.CC_STAT_HEIGHT] / 2
    # Specks far smaller than a dot below a vowel go too (a JPEG artefact read as a mark).
    least = ((bottom - top) / 16) ** 2
    keep = (middle >= top) & (middle <= bottom) & (stats[:, cv2.CC_STAT_AREA] >= least)
    keep[0] = True  # paper
    return np.where(keep[labels] & (ink > 0), 0, 255).astype(np.uint8)


def _since(started: float) -> float:
    return round(time.perf_counter() - started, 4)
