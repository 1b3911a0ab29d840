"""OpenCV page cleanup before OCR: grayscale, border crop, orientation, deskew, text-scale
normalization, denoise and binarization, each chosen from what is measured on the page.

Measurements are made on a small working copy (about 1400 px on the long side); the
full-resolution page is touched by at most one resize and one warp, so a 300-dpi A4 page
costs a few tens of milliseconds. The affine `transform` maps original page pixels to the
cleaned image, so word boxes read on the cleaned image can be mapped back.

`cleanup` is `plan_cleanup` (every measurement and decision, on the working copy) then
`finish_cleanup` (the full-resolution work): the page worker checks for a re-scan on file
between the two (near.page_comparison works from the plan), so a page reused as a re-scan
is never cleaned at full resolution.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import cv2
import numpy as np

from pipeline.model import CleanupMetrics

log = logging.getLogger(__name__)

# Long side of the measuring copy: large enough that an x-height of ~20 px at 300 dpi is
# still ~8 px, small enough that every measurement is a few milliseconds.
WORK_SIDE = 1400
# Median character height (connected components, in pixels) that Tesseract reads best:
# 10-11 pt forms at 300 dpi (x-height ~21-24 px, cap height ~29-33 px) measure about 30-33.
TARGET_CHAR_HEIGHT = 30.0
# Leave the page at its size when the text is already close to the target (resampling
# costs time and a little sharpness for nothing).
KEEP_SCALE = (0.8, 1.3)
SCALE_LIMITS = (0.25, 4.0)
MAX_SKEW = 10.0  # degrees searched either way
MIN_SKEW = 0.1  # below this the page is left unrotated
NOISE_MEDIAN = 6.0  # gray-level noise sigma above which a median filter is applied
NOISE_STRONG = 25.0
UNEVEN_LIGHTING = 0.2  # background spread (fraction of paper-to-ink contrast) calling for adaptive
OSD_MIN_CONFIDENCE = 2.0
OWN_SIDEWAYS_RATIO = 1.6  # profile-sharpness ratio that makes the own 90/270 test confident
OWN_FLIP_RATIO = 1.5  # ink above/below the x-height band that lets the own test turn a page
OWN_UPRIGHT_RATIO = 1.2  # ... and that spares the OSD call on a page that reads upright
# Log-odds of letters' nearest neighbours lying beside them (not above or below) that
# settles the 90/270 question when the profiles cannot (an ID card: photo, emblem and
# short fields). Measured on the samples and their four turns: upright pages 2.2-4.6
# (cards 2.7-4.4), sideways ones -1.1 to -2.6.
OWN_NEIGHBOUR_LEAN = 1.5
OSD_QUICK_CHARACTERS = 20  # letters OSD reads first to confirm a turn the own test found


@dataclass
class CleanPage:
    image: np.ndarray  # uint8, 2-D, what Tesseract should read
    metrics: CleanupMetrics
    transform: np.ndarray  # 2x3 affine: original page pixel -> cleaned image pixel
    dpi: int  # effective resolution of the cleaned image (Tesseract --dpi)


def _to_uint8(image: np.ndarray) -> np.ndarray:
    if image.dtype == np.uint8:
        return image
    if image.dtype == bool:
        return image.astype(np.uint8) * 255
    if image.dtype == np.uint16:
        return (image >> 8).astype(np.uint8)
    if np.issubdtype(image.dtype, np.floating):
        top = 1.0 if float(np.nanmax(image)) <= 1.0 else 255.0
        return np.clip(np.nan_to_num(image) * (255.0 / top), 0, 255).astype(np.uint8)
    top = max(int(image.max()), 1)
    scale = 255.0 / top if top > 255 else 1.0
    return np.clip(image.astype(np.float32) * scale, 0, 255).astype(np.uint8)


def _flatten_alpha(color: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Composite over white paper; a fully transparent image keeps its colour data."""
    if alpha.min() == 255 or alpha.max() == 0:
        return color
    a = alpha.astype(np.float32)[..., None] / 255.0 if color.ndim == 3 else alpha / 255.0
    return (color.astype(np.float32) * a + 255.0 * (1.0 - a)).astype(np.uint8)


def to_color_and_gray(image: np.ndarray) -> tuple[np.ndarray | None, np.ndarray]:
    """(BGR or None, uint8 gray) for any image shape: gray, gray+alpha, BGR, BGRA, 16-bit,
    float or bool."""
    img = _to_uint8(np.asarray(image))
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[..., 0]
    if img.ndim == 2:
        return None, img
    if img.ndim != 3:
        raise ValueError(f"not an image: shape {img.shape}")
    channels = img.shape[2]
    if channels == 2:
        return None, _flatten_alpha(img[..., 0], img[..., 1])
    bgr = _flatten_alpha(img[..., :3], img[..., 3]) if channels >= 4 else img
    bgr = np.ascontiguousarray(bgr)
    return bgr, cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)


def to_gray(image: np.ndarray) -> np.ndarray:
    """uint8 2-D gray of any input image (alpha composited over white)."""
    return to_color_and_gray(image)[1]


def drop_red(bgr: np.ndarray, gray: np.ndarray) -> tuple[np.ndarray, bool]:
    """Lighten the red ink of seals (stamps) so text under them binarizes as text alone.

    Only roughly round, large red marks are seals; red print (a card's title and number,
    a red heading) runs in long lines and is kept. Black text under red ink stays dark in
    all three channels, so it is not touched."""
    # A red pixel (r - max(g, b) > 70) is at least 49 levels brighter in red than in gray
    # (gray = 0.299 r + 0.587 g + 0.114 b, so r - gray >= 0.701 * 71 - 0.5): where no pixel
    # is even 40 brighter (a gray page rendered in colour, as scanned PDFs are), there is no
    # red, found from one channel instead of splitting three (~12 ms instead of ~40 ms CPU).
    r = cv2.extractChannel(bgr, 2)
    if not cv2.countNonZero(cv2.threshold(cv2.subtract(r, gray), 40, 1, cv2.THRESH_BINARY)[1]):
        return gray, False
    b, g, r = cv2.split(bgr)
    redness = cv2.subtract(r, cv2.max(g, b))
    # OpenCV thresholds (0/1) and a count: a third of numpy's full-page comparisons' time.
    mask = cv2.bitwise_and(
        cv2.threshold(redness, 70, 1, cv2.THRESH_BINARY)[1],
        cv2.threshold(r, 110, 1, cv2.THRESH_BINARY)[1],
    )
    if not cv2.countNonZero(mask):
        return gray, False
    seals = _seal_mask(mask)
    if not cv2.countNonZero(seals):
        return gray, False
    out = gray.copy()
    cv2.copyTo(r, seals, out)  # out[seals] = r[seals], without two boolean gathers
    return out, True


def _seal_mask(red: np.ndarray) -> np.ndarray:
    """The part of a red-ink mask (uint8, 1 = red) that belongs to seals (1): blobs (the
    ring and the words in it merged) about as tall as wide and at least a twentieth of the
    page's short side, and red marks inside them."""
    h, w = red.shape
    k = max(1, int(np.ceil(max(h, w) / WORK_SIDE)))
    small = cv2.resize(red * 255, (max(1, w // k), max(1, h // k)), interpolation=cv2.INTER_AREA)
    small = (small > 0).astype(np.uint8)
    # Close the gaps between a seal's ring, star and lettering (a few points at 300 dpi).
    reach = max(3, min(small.shape) // 100)
    joined = cv2.dilate(small, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (reach, reach)))
    count, labels, stats, _ = components(joined)
    bw, bh = stats[:, cv2.CC_STAT_WIDTH], stats[:, cv2.CC_STAT_HEIGHT]
    least = min(small.shape) / 20
    round_ = (bw >= least) & (bh >= least) & (bw <= 1.6 * bh) & (bh <= 1.6 * bw)
    round_[0] = False
    if not round_.any():
        return np.zeros_like(red)
    # The seal's own lettering may stand apart from its ring: inside the ring, it is seal.
    x0, y0 = stats[:, cv2.CC_STAT_LEFT], stats[:, cv2.CC_STAT_TOP]
    seal = round_.copy()
    for i in np.nonzero(round_)[0]:
        seal |= (
            (x0 >= x0[i]) & (y0 >= y0[i]) & (x0 + bw <= x0[i] + bw[i]) & (y0 + bh <= y0[i] + bh[i])
        )
    seal[0] = False
    keep = cv2.resize(seal[labels].astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST)
    return cv2.bitwise_and(red, keep)


def components(ink: np.ndarray) -> tuple:
    """cv2.connectedComponentsWithStats(ink, connectivity=8): the same labels and stats,
    with 16-bit labels by the Spaghetti algorithm (measured on a 300-dpi page: 24 ms,
    against 36 ms for 32-bit BBDT and 75 ms for 32-bit Spaghetti). A page with more
    components than 16 bits hold (OpenCV raises then, it does not wrap) gets 32-bit
    labels by BBDT."""
    try:
        return cv2.connectedComponentsWithStatsWithAlgorithm(ink, 8, cv2.CV_16U, cv2.CCL_SPAGHETTI)
    except cv2.error:
        return cv2.connectedComponentsWithStatsWithAlgorithm(ink, 8, cv2.CV_32S, cv2.CCL_BBDT)


def _shrink(gray: np.ndarray, side: int) -> np.ndarray:
    """Downscale by the smallest integer factor that brings the long side to <= `side`
    (OpenCV's integer-factor area resize is ~5x faster than an arbitrary factor)."""
    k = max(1, int(np.ceil(max(gray.shape) / side)))
    return gray if k == 1 else shrink_by(gray, k)


def shrink_by(image: np.ndarray, k: int) -> np.ndarray:
    """`image` shrunk by the integer factor k, by area, cut to whole k x k cells first (the
    last few rows and columns): OpenCV's exact-factor path, ~5x faster than an arbitrary
    factor. Pixel (i, j) covers pixels k*i .. k*i + k - 1."""
    h, w = (max(k, n - n % k) for n in image.shape[:2])
    return cv2.resize(image[:h, :w], (w // k, h // k), interpolation=cv2.INTER_AREA)


# --- measurements on the working copy -------------------------------------------------


def quantiles(counts: np.ndarray, qs: tuple[float, ...]) -> list[float]:
    """np.percentile(values, q) (its default linear method) of the values whose histogram
    is `counts` (counts[v] = how many equal v): a sort-free pass for 8-bit pixels."""
    cum = np.cumsum(counts)
    n = int(cum[-1])
    result = []
    for q in qs:
        pos = q / 100.0 * (n - 1)
        lo = int(np.floor(pos))
        a, b = np.searchsorted(cum, [lo, min(lo + 1, n - 1)], side="right")
        t = pos - lo
        # numpy's _lerp, so the figures match np.percentile to the last bit.
        value = b - (b - a) * (1 - t) if t >= 0.5 else a + (b - a) * t
        result.append(float(value))
    return result


def _percentiles(image: np.ndarray, *qs: float) -> list[float]:
    """np.percentile of a uint8 image for each q, from its histogram (a few ms less per
    call on the working copy than numpy's partition)."""
    counts = cv2.calcHist([image], [0], None, [256], [0, 256]).ravel().astype(np.int64)
    return quantiles(counts, qs)


def _background(gray: np.ndarray) -> np.ndarray:
    """Paper brightness map: text removed by a gray-level closing at 1/8 scale."""
    h, w = gray.shape
    small = cv2.resize(gray, (max(1, w // 8), max(1, h // 8)), interpolation=cv2.INTER_AREA)
    closed = cv2.dilate(small, cv2.getStructuringElement(cv2.MORPH_RECT, (7, 7)))
    closed = cv2.GaussianBlur(closed, (0, 0), 3)
    return cv2.resize(closed, (w, h), interpolation=cv2.INTER_LINEAR)


def _normalize(gray: np.ndarray, background: np.ndarray) -> np.ndarray:
    """Divide out the paper brightness: uneven lighting becomes a flat white."""
    return cv2.divide(gray, cv2.max(background, 1), scale=255)  # numpy's maximum: 2x the time


def _border_crop(small: np.ndarray) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) rows/columns of dark scanner border on each side."""
    paper = _percentiles(small, 90)[0]
    dark = small < paper * 0.45

    def run(fractions: np.ndarray) -> int:
        n = 0
        limit = len(fractions) // 4  # a border never eats more than a quarter of the page
        while n < limit and fractions[n] > 0.6:
            n += 1
        return n

    rows, cols = dark.mean(axis=1), dark.mean(axis=0)
    return run(rows), run(rows[::-1]), run(cols), run(cols[::-1])


def _sharpness(values: np.ndarray, span: int, angles: np.ndarray, other: np.ndarray) -> np.ndarray:
    """Projection-profile sharpness for each candidate angle (radians): sum of squared
    bin counts, scaled so that a uniform spread scores 1."""
    n = len(values)
    # In place where numpy allows (the same sums and floors, two fewer temporaries).
    projected = values[None, :] * np.cos(angles)[:, None]
    projected += other[None, :] * np.sin(angles)[:, None]
    low = int(np.floor(projected.min()))
    width = int(np.ceil(projected.max())) - low + 1
    offsets = (np.arange(len(angles), dtype=np.int64) * width - low)[:, None]
    bins = np.floor(projected, out=projected).astype(np.int64)
    bins += offsets
    counts = np.bincount(bins.ravel(), minlength=width * len(angles)).reshape(len(angles), width)
    counts = counts.astype(np.float64)
    return np.einsum("ij,ij->i", counts, counts) * span / max(n * n, 1)


def _ink_points(ink: np.ndarray, limit: int = 12000) -> tuple[np.ndarray, np.ndarray]:
    # OpenCV's scan lists the points in np.nonzero's (row-major) order, ~4x faster.
    points = cv2.findNonZero(ink)
    if points is None:
        return np.zeros(0, np.float32), np.zeros(0, np.float32)
    points = points.reshape(-1, 2)  # (x, y) rows (OpenCV 4 adds a middle axis)
    xs, ys = points[:, 0], points[:, 1]
    if len(xs) > limit:
        step = len(xs) // limit + 1
        ys, xs = ys[::step], xs[::step]
    return xs.astype(np.float32), ys.astype(np.float32)


def _best_angle(
    rows: np.ndarray, cols: np.ndarray, span: int, fine: bool = True
) -> tuple[float, float]:
    """(angle in degrees that levels the profile, sharpness there): coarse, then fine."""
    grid = np.deg2rad(np.arange(-MAX_SKEW, MAX_SKEW + 1e-6, 0.5))
    s = _sharpness(rows, span, grid, cols)
    best = float(grid[int(np.argmax(s))])
    if not fine:
        return float(np.rad2deg(best)), float(s.max())
    for step, reach in ((0.05, 0.5), (0.01, 0.05)):
        grid = best + np.deg2rad(np.arange(-reach, reach + 1e-6, step))
        s = _sharpness(rows, span, grid, cols)
        best = float(grid[int(np.argmax(s))])
    return float(np.rad2deg(best)), float(s.max())


def measure_skew(ink: np.ndarray, *, sideways_test: bool = True) -> tuple[float, float, float]:
    """(skew, row sharpness, column sharpness) of an ink mask (ink = nonzero).

    The skew is the counter-clockwise turn in degrees (OpenCV's convention) that levels
    the text lines. Text lines make the row profile far sharper than the column profile;
    the reverse means the page lies on its side."""
    xs, ys = _ink_points(ink)
    if len(xs) < 200:
        return 0.0, 1.0, 1.0
    h, w = ink.shape
    angle, rows = _best_angle(ys, xs, h)
    cols = _best_angle(xs, ys, w, fine=False)[1] if sideways_test else 0.0
    return -angle, rows, cols


def _deskewed(ink: np.ndarray, skew: float) -> np.ndarray:
    if not skew:
        return ink
    r, nw, nh = _rotation3(skew, ink.shape[1], ink.shape[0])
    return cv2.warpAffine(ink, _affine(r), (nw, nh), flags=cv2.INTER_NEAREST, borderValue=0)


def _upside_down_score(ink: np.ndarray) -> float:
    """log ratio of ink above to ink below the x-height band of each text line: Latin
    ascenders, capitals and Vietnamese tone marks sit above, so upright text scores > 0."""
    profile = ink.sum(axis=1).astype(np.float64)
    if profile.max() <= 0:
        return 0.0
    on = profile > 0.08 * profile.max()
    above = below = 0.0
    y, n = 0, len(profile)
    while y < n:
        if not on[y]:
            y += 1
            continue
        start = y
        while y < n and on[y]:
            y += 1
        seg = profile[start:y]
        if len(seg) < 4:
            continue
        core = np.nonzero(seg >= 0.5 * seg.max())[0]
        above += seg[: core[0]].sum()
        below += seg[core[-1] + 1 :].sum()
    if above + below <= 0:
        return 0.0
    return float(np.log((above + 1.0) / (below + 1.0)))


def char_height(ink: np.ndarray) -> float | None:
    """Median height of character-like connected components (pixels), or None.

    On administrative forms (many capitals, ascenders and tone marks) this sits between
    the x-height and the cap height; TARGET_CHAR_HEIGHT is calibrated on the same
    measure."""
    return _char_height(components(ink)[2], ink.shape[0])


def _char_height(stats: np.ndarray, rows: int) -> float | None:
    """char_height() from the components' stats (callers that label anyway pass theirs)."""
    if len(stats) < 12:
        return None
    w, h, area = stats[1:, cv2.CC_STAT_WIDTH], stats[1:, cv2.CC_STAT_HEIGHT], stats[1:, 4]
    fill = area / np.maximum(w * h, 1)
    plausible = (h >= 3) & (h < rows / 15) & (w < 6 * h) & (w * 8 > h) & (fill > 0.1)
    heights = h[plausible]
    if len(heights) < 10:
        return None
    # Tone marks and dots are separate, small components: drop them, then take the median.
    first = float(np.median(heights))
    core = heights[(heights >= 0.55 * first) & (heights <= 2.5 * first)]
    return float(np.median(core)) if len(core) >= 10 else first


def noise_sigma(gray: np.ndarray) -> float:
    """Sensor noise level (gray levels), Immerkaer's Laplacian-difference estimator made
    robust to text edges by a median, on a central patch."""
    h, w = gray.shape
    ph, pw = min(h, 768), min(w, 768)
    y0, x0 = (h - ph) // 2, (w - pw) // 2
    patch = gray[y0 : y0 + ph, x0 : x0 + pw]
    kernel = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], np.float32)
    # Integer weights on 8-bit pixels: a 16-bit response is exact (|value| <= 4080).
    response = np.abs(cv2.filter2D(patch, cv2.CV_16S, kernel)[1:-1, 1:-1])
    median = quantiles(np.bincount(response.ravel()), (50,))[0]
    # float32 arithmetic, as the float filter's median gave (same figure to the bit).
    return float(np.float32(median) / (6.0 * 0.6745))


# --- orientation -------------------------------------------------------------------------


def _text_ink(ink: np.ndarray) -> np.ndarray:
    """The ink of character-sized components only: a card's photo, QR code and emblem, a
    seal or table rules would outweigh the letters' ascenders and tone marks."""
    _, labels, stats, _ = components(ink)
    height = _char_height(stats, ink.shape[0])
    if height is None:
        return ink
    keep = (stats[:, cv2.CC_STAT_HEIGHT] <= 2 * height) & (
        stats[:, cv2.CC_STAT_WIDTH] <= 4 * height
    )
    keep[0] = False
    if not keep.any():
        return ink
    return np.take(keep.astype(ink.dtype), labels)  # ~2x faster than keep[labels]


def _text_area(gray: np.ndarray, ink: np.ndarray) -> np.ndarray:
    """`gray` cropped to where its text is (`ink` is a smaller copy's ink mask): OSD reads
    a card photocopied mid-page far more surely from the card alone (measured: confidence
    1.2 on the A4 sheet, 9.6 on the card)."""
    ys, xs = np.nonzero(_text_ink(ink))
    if len(xs) < 200:
        return gray
    fy, fx = gray.shape[0] / ink.shape[0], gray.shape[1] / ink.shape[1]
    y0, y1 = np.percentile(ys, [0.5, 99.5])
    x0, x1 = np.percentile(xs, [0.5, 99.5])
    margin = int(0.02 * max(gray.shape))
    top, bottom = max(0, int(y0 * fy) - margin), int(y1 * fy) + margin
    left, right = max(0, int(x0 * fx) - margin), int(x1 * fx) + margin
    return gray[top:bottom, left:right]


def neighbour_lean(ink: np.ndarray) -> float | None:
    """log-odds that a letter's nearest letter lies beside it rather than above or below:
    > 0 for lines that run across the image, < 0 for a page lying on its side. None
    when there are too few letters to tell. Tone marks and dots (small components) are
    left out: they sit above their letters."""
    _, _, stats, centroids = components(ink)
    height = _char_height(stats, ink.shape[0])
    if height is None:
        return None
    h, w = stats[1:, cv2.CC_STAT_HEIGHT], stats[1:, cv2.CC_STAT_WIDTH]
    letters = centroids[1:][(h >= 0.55 * height) & (h <= 2 * height) & (w <= 4 * height)]
    if len(letters) < 20:
        return None
    queries = letters[:: len(letters) // 400 + 1]  # a sample keeps the matrix small
    offsets = queries[:, None, :] - letters[None, :, :]
    distance = np.hypot(offsets[..., 0], offsets[..., 1])
    distance[distance == 0] = np.inf
    nearest = offsets[np.arange(len(queries)), np.argmin(distance, axis=1)]
    beside = float(np.mean(np.abs(nearest[:, 0]) > np.abs(nearest[:, 1])))
    return float(np.log((beside + 0.01) / (1.01 - beside)))


def orient(gray: np.ndarray, ink: np.ndarray, cmd: str) -> tuple[int, float, np.ndarray, str]:
    """(clockwise rotation that makes the page upright, skew after it, upright ink mask,
    how it was decided).

    The own test (profile sharpness, or where letters' neighbours lie, for 90/270; ink
    above/below the x-height band for 180) is nearly free; Tesseract OSD (~0.7 s CPU)
    runs only when the own test is not confidently upright, and nothing is turned on low
    confidence."""
    skew, rows, cols = measure_skew(ink)
    sideways = cols > rows
    ratio = max(rows, cols) / max(min(rows, cols), 1e-9)
    sure_sideways = ratio >= OWN_SIDEWAYS_RATIO
    if not sure_sideways:
        lean = neighbour_lean(ink)
        sure_sideways = lean is not None and abs(lean) >= OWN_NEIGHBOUR_LEAN
        sure_sideways = sure_sideways and (lean < 0) == sideways
    upright = ink
    if sideways:
        upright = np.ascontiguousarray(np.rot90(ink, -1))  # k=-1: a clockwise quarter turn
        skew = measure_skew(upright, sideways_test=False)[0]
    score = _upside_down_score(_text_ink(_deskewed(upright, skew)))
    own = (90 if sideways else 0) + (180 if score < 0 else 0)
    confident = sure_sideways and abs(score) >= np.log(OWN_FLIP_RATIO)
    if own == 0 and sure_sideways and score >= np.log(OWN_UPRIGHT_RATIO):
        return 0, skew, ink, "own"
    from ocr.tesseract import detect_orientation  # Tesseract only when really needed

    area = _shrink(_text_area(gray, ink), 2000)
    if confident:
        # A turn both tests agree on needs no more letters (measured: 20 letters take
        # half of OSD's time and agreed with the own test on every turn of the samples).
        osd, conf = detect_orientation(area, timeout=30.0, cmd=cmd, characters=OSD_QUICK_CHARACTERS)
        if osd == own and conf >= OSD_MIN_CONFIDENCE / 2:
            return _turned(ink, sideways, own, skew, f"own, osd {conf:.1f}")
    osd, conf = detect_orientation(area, timeout=30.0, cmd=cmd)
    if conf >= OSD_MIN_CONFIDENCE and (osd == own or not confident):
        rotation, how = osd, f"osd {conf:.1f}"
    elif confident and conf < OSD_MIN_CONFIDENCE:
        rotation, how = own, "own"
    else:
        rotation, how = 0, f"unsure (osd {osd} at {conf:.1f}, own {own})"
    return _turned(ink, sideways, rotation, skew, how)


def _turned(
    ink: np.ndarray, sideways: bool, rotation: int, skew: float, how: str
) -> tuple[int, float, np.ndarray, str]:
    """orient()'s answer for `rotation`: the ink turned upright, and its skew measured
    again when the skew at hand was measured on the page turned the other way."""
    turned = np.ascontiguousarray(np.rot90(ink, -(rotation // 90))) if rotation else ink
    if (rotation % 180 == 90) != sideways:
        skew = measure_skew(turned, sideways_test=False)[0]
    return rotation, skew, turned, how


# --- the stage ------------------------------------------------------------------------------


def _affine(matrix3: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(matrix3[:2, :], dtype=np.float64)


def _rotation3(degrees_ccw: float, w: float, h: float) -> tuple[np.ndarray, int, int]:
    """3x3 rotation about the page centre that keeps the whole rotated page in view."""
    m = cv2.getRotationMatrix2D((w / 2, h / 2), degrees_ccw, 1.0)
    cos, sin = abs(m[0, 0]), abs(m[0, 1])
    nw, nh = int(round(h * sin + w * cos)), int(round(h * cos + w * sin))
    m[0, 2] += nw / 2 - w / 2
    m[1, 2] += nh / 2 - h / 2
    return np.vstack([m, [0, 0, 1]]), nw, nh


def _binarize(gray: np.ndarray, uneven: bool) -> np.ndarray:
    if uneven:
        gray = _normalize(gray, _background(gray))
    _, binary = cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    return binary


def _clear_edge_blobs(binary: np.ndarray) -> bool:
    """Whiten large dark blobs touching the page edge (scanner-lid wedges left after a
    skewed crop). Measured on a quarter-size copy; returns whether any was removed."""
    h, w = binary.shape
    small = _shrink(binary, max(h, w) // 4)
    ink = cv2.threshold(small, 127, 1, cv2.THRESH_BINARY_INV)[1]  # 1 where small < 128
    count, labels, stats, _ = components(ink)
    sh, sw = small.shape
    x, y, bw, bh, area = (stats[:, i] for i in range(5))
    touches = (x == 0) | (y == 0) | (x + bw == sw) | (y + bh == sh)
    big = (bw > sw * 0.25) | (bh > sh * 0.25) | (area > sw * sh * 0.01)
    remove = touches & big
    remove[0] = False
    if not remove.any():
        return False
    k = h // sh  # _shrink drops the last k-1 rows/columns at most
    mask = cv2.resize(
        remove[labels].astype(np.uint8), None, fx=k, fy=k, interpolation=cv2.INTER_NEAREST
    )
    mask = cv2.copyMakeBorder(
        mask, 0, h - mask.shape[0], 0, w - mask.shape[1], cv2.BORDER_REPLICATE
    )
    mask = cv2.dilate(mask, np.ones((5, 5), np.uint8))
    binary[mask > 0] = 255
    return True


LEADER_MIN_DOTS = 5  # "....." : fewer aligned dots are an ellipsis or tone marks


def _colon_dot(
    i: int, dots: np.ndarray, dot_y: np.ndarray, centroids: np.ndarray, char_px: float
) -> bool:
    """Whether dot `i` has another dot straight above it (a colon's, not a leader's).
    `dots` are sorted by height, `dot_y` their heights: only the dots a pixel either side
    of the band searched are tested (exactly as all of them would be), not a page's all."""
    y = centroids[i, 1]
    lo = np.searchsorted(dot_y, y - 0.9 * char_px - 1.0, side="left")
    hi = np.searchsorted(dot_y, y - 0.2 * char_px + 1.0, side="right")
    dots = dots[lo:hi]
    dx = np.abs(centroids[dots, 0] - centroids[i, 0])
    dy = centroids[i, 1] - centroids[dots, 1]
    return bool(np.any((dx < 0.3 * char_px) & (dy > 0.2 * char_px) & (dy < 0.9 * char_px)))


def remove_leaders(binary: np.ndarray, char_px: float) -> int:
    """Whiten dotted leaders ("Họ và tên: ..........NGUYỄN"): runs of at least five small
    dots on one baseline, each within a character height of the next. Tesseract reads
    them as words ("20.0...", "Km...") and loses the value glued to them. Returns how
    many dots were removed. `char_px`: the page's measured character height.

    Dots are found on a half-size copy when the text is large enough for a dot to stay a
    few pixels wide there (4x fewer pixels to label: ~40 ms for an A4 page)."""
    k = 2 if char_px >= 20 else 1
    # Even sizes only: an exact factor of 2 takes OpenCV's fast path (20 -> 2 ms a page).
    small = binary if k == 1 else shrink_by(binary, k)
    ink = cv2.threshold(small, 159, 1, cv2.THRESH_BINARY_INV)[1]  # 1 where small < 160
    _, _, stats, centroids = components(ink)
    char_px /= k
    x, y, w, h = (stats[:, i] for i in range(4))
    limit = 0.4 * char_px
    dot = (w <= limit) & (h <= limit) & (w <= 3 * h) & (h <= 3 * w)
    dot[0] = False
    ids = np.nonzero(dot)[0]
    if len(ids) < LEADER_MIN_DOTS:
        return 0
    ids = ids[np.argsort(centroids[ids, 1])]
    ids_y = centroids[ids, 1]
    # Bands of dots at about one height, then runs along each band: the next dot within
    # a character height to the right and on the same baseline.
    cuts = np.nonzero(np.diff(ids_y) > 0.2 * char_px)[0] + 1
    removed = 0
    for band in np.split(ids, cuts):
        if len(band) < LEADER_MIN_DOTS:
            continue
        band = band[np.argsort(centroids[band, 0])]
        step = np.diff(centroids[band], axis=0)
        breaks = np.nonzero((step[:, 0] > char_px) | (np.abs(step[:, 1]) > 0.2 * char_px))[0]
        for run in np.split(band, breaks + 1):
            # A colon's lower dot sits on the baseline beside the leader ("Số:......"):
            # it keeps its upper dot, and the label its separator.
            while len(run) and _colon_dot(run[0], ids, ids_y, centroids, char_px):
                run = run[1:]
            while len(run) and _colon_dot(run[-1], ids, ids_y, centroids, char_px):
                run = run[:-1]
            if len(run) < LEADER_MIN_DOTS:
                continue
            # Only dots lie in the strip from the first dot to the last, at dot height.
            top, bottom = int(y[run].min()) * k - k, int((y[run] + h[run]).max()) * k + k
            left, right = int(x[run].min()) * k - k, int((x[run] + w[run]).max()) * k + k
            binary[max(top, 0) : bottom, max(left, 0) : right] = 255
            removed += len(run)
    return removed


@dataclass
class CleanupPlan:
    """What cleanup measured on the working copy and decided, before any full-resolution
    pixel is touched. finish_cleanup carries it out; near.page_comparison makes the page's
    comparison image straight from it, so a re-scan found on file is never cleaned at full
    resolution."""

    gray: np.ndarray  # the page in gray, red seal ink lightened (what is binarized)
    original: np.ndarray  # the page as loaded, in gray (seals as dark as scanned)
    metrics: CleanupMetrics
    enabled: bool
    dpi: int  # the cleaned page's resolution (Tesseract --dpi)
    crop: tuple[int, int, int, int] = (0, 0, 0, 0)  # top, bottom, left, right kept (pixels)
    skew: float = 0.0  # degrees, as measured (the metrics keep it rounded)
    scale: float = 1.0
    median: int = 0  # median filter size (0: none)
    noisy: bool = False  # normalized, not thresholded
    uneven: bool = False  # lit unevenly: Otsu after dividing out the paper
    # The working copy (border cropped, paper divided out) and its 3x3 map to original pixels.
    small: np.ndarray | None = None
    small_to_original: np.ndarray | None = None

    def geometry(self) -> tuple[np.ndarray, tuple[int, int] | None, np.ndarray | None, tuple]:
        """(3x3 original -> cleaned pixels, area-downscale size or None, 3x3 warp of the
        cropped and downscaled page or None, cleaned (width, height))."""
        top, bottom, left, right = self.crop
        ph, pw = bottom - top, right - left
        m = np.array([[1, 0, -left], [0, 1, -top], [0, 0, 1]], np.float64)
        resized = None
        if self.scale < 1.0:
            nw, nh = max(1, round(pw * self.scale)), max(1, round(ph * self.scale))
            m = np.diag([nw / pw, nh / ph, 1.0]) @ m
            resized, pw, ph = (nw, nh), nw, nh
        warp = None
        if self.metrics.rotation or self.skew or self.scale > 1.0:
            # Clockwise `rotation` is a counter-clockwise turn of -rotation degrees, plus
            # the deskew, plus any upscale.
            s = max(self.scale, 1.0)
            r, pw, ph = _rotation3(self.skew - self.metrics.rotation, pw * s, ph * s)
            warp = r @ np.diag([s, s, 1.0])
            m = warp @ m
        return m, resized, warp, (pw, ph)

    def warp(
        self, page: np.ndarray, matrix: np.ndarray, size: tuple[int, int], cubic: bool
    ) -> np.ndarray:
        """`page` warped by the 3x3 `matrix` to `size` as the cleanup warps: paper outside
        it, or its edge repeated on a noisy page (which will be normalized, not thresholded,
        so no paper edge may be drawn); cubic for an upscale, so small text keeps its shape."""
        return cv2.warpAffine(
            page,
            _affine(matrix),
            size,
            flags=cv2.INTER_CUBIC if cubic else cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REPLICATE if self.noisy else cv2.BORDER_CONSTANT,
            borderValue=255,
        )


def binarize_page(page: np.ndarray, noisy: bool, uneven: bool) -> tuple[np.ndarray, str]:
    """(the page as Tesseract should read it, how): global Otsu on even pages, Otsu after
    dividing out the paper brightness on unevenly lit ones. A page still noisy after the
    median is only normalized: thresholding noise breaks thin strokes and tone marks, and
    Tesseract reads the gray levels better (measured: CER 0.11 thresholded vs 0.004)."""
    if noisy:
        return _normalize(page, _background(page)), "normalized"
    binary = _binarize(page, uneven)
    # (Share of ink = share of 0 pixels: the binary page is 0/255.)
    if not uneven and 1.0 - cv2.countNonZero(binary) / binary.size > 0.3:
        # Global Otsu split the paper itself (a shaded or tinted page): normalize first.
        uneven = True
        binary = _binarize(page, uneven)
    return binary, "adaptive" if uneven else "otsu"


def median_size(sigma: float) -> int:
    """The median filter a page of this noise level gets (0: none): only what is
    measurably noisy is filtered."""
    return 5 if sigma > NOISE_STRONG else 3 if sigma > NOISE_MEDIAN else 0


def cleanup(
    image: np.ndarray,
    *,
    dpi_hint: int | None,
    enabled: bool = True,
    lang_cmd: str = "tesseract",
) -> CleanPage:
    """Clean one page for OCR; see the module docstring. `enabled=False` only converts
    to grayscale (the benchmark's "cleanup off")."""
    return finish_cleanup(
        plan_cleanup(image, dpi_hint=dpi_hint, enabled=enabled, lang_cmd=lang_cmd)
    )


def plan_cleanup(
    image: np.ndarray,
    *,
    dpi_hint: int | None,
    enabled: bool = True,
    lang_cmd: str = "tesseract",
) -> CleanupPlan:
    """Measure the page on a small working copy and decide every step of its cleanup
    (border crop, orientation, skew, text scale, noise, lighting)."""
    color, gray = to_color_and_gray(image)
    original = gray
    metrics = CleanupMetrics()
    if not enabled or gray.size == 0 or min(gray.shape) < 16:
        return CleanupPlan(gray, original, metrics, False, int(dpi_hint or 300))
    if color is not None:
        gray, _ = drop_red(color, gray)
    h0, w0 = gray.shape

    # Working copy for every measurement.
    small = _shrink(gray, WORK_SIDE)
    k = max(1, int(np.ceil(max(gray.shape) / WORK_SIDE)))  # _shrink's factor
    f = small.shape[1] / w0
    metrics.contrast = round(float(cv2.meanStdDev(small)[1][0, 0]), 2)

    # 1. Dark scanner borders: crop them off in the original frame.
    top, bottom, left, right = _border_crop(small)
    ct, cb = int(top / f), h0 - int(bottom / f)
    cl, cr = int(left / f), w0 - int(right / f)
    metrics.border_removed = bool(top or bottom or left or right)
    small = small[top : small.shape[0] - bottom, left : small.shape[1] - right]

    background = _background(small)
    paper, high, low = _percentiles(background, 50, 95, 5)
    spread = high - low
    # Judge the shading against the text's own contrast: a 20-level shadow is harmless
    # under black print but swallows a faint photocopy (paper 210, ink 130).
    ink_level = _percentiles(small, 1)[0]
    uneven = spread > UNEVEN_LIGHTING * max(paper - ink_level, 1.0)
    normalized = _normalize(small, background)
    _, ink = cv2.threshold(normalized, 0, 1, cv2.THRESH_BINARY_INV | cv2.THRESH_OTSU)

    # 2. Orientation and skew (one projection-profile search serves both).
    rotation, skew, ink, how = orient(gray[ct:cb, cl:cr], ink, lang_cmd)
    metrics.rotation = rotation
    if rotation:
        log.info("page turned %d degrees clockwise (%s)", rotation, how)
    skew = skew if abs(skew) >= MIN_SKEW else 0.0
    metrics.skew_angle = round(skew, 2)

    # 3. Text scale from the page itself, not from the (often wrong) resolution tag.
    height = char_height(ink)
    scale = 1.0
    if height is not None:
        metrics.x_height = round(height / f, 2)
        scale = TARGET_CHAR_HEIGHT / metrics.x_height
        if KEEP_SCALE[0] <= scale <= KEEP_SCALE[1]:
            scale = 1.0
        scale = float(np.clip(scale, *SCALE_LIMITS))
    metrics.scale = round(scale, 4)

    # Noise shrinks with an area downscale; a page that stays noisy will be normalized
    # rather than thresholded, so its warp must not draw a paper edge (replicate instead).
    sigma = noise_sigma(gray[ct:cb, cl:cr]) * min(1.0, scale)
    metrics.noise = round(sigma, 2)
    median = median_size(sigma)
    metrics.denoise = f"median{median}" if median else "none"
    dpi = 300 if height is not None else int(dpi_hint or 300)
    # Working-copy pixel u covers original pixels k*u .. k*u + k - 1 (centre k*u + (k-1)/2).
    to_original = np.array(
        [[k, 0, k * left + (k - 1) / 2], [0, k, k * top + (k - 1) / 2], [0, 0, 1]], np.float64
    )
    return CleanupPlan(
        gray, original, metrics, True, dpi, (ct, cb, cl, cr), skew, scale,
        median, sigma > NOISE_MEDIAN, uneven, normalized, to_original,
    )  # fmt: skip


def finish_cleanup(plan: CleanupPlan) -> CleanPage:
    """Carry the plan out at full resolution: crop, (area-)downscale, one warp, denoise,
    binarize, clear edge blobs and dotted leaders."""
    metrics = plan.metrics
    if not plan.enabled:
        return CleanPage(plan.gray, metrics, np.eye(2, 3), plan.dpi)
    top, bottom, left, right = plan.crop
    m, resized, warp, size = plan.geometry()
    page = plan.gray[top:bottom, left:right]
    if resized is not None:
        page = cv2.resize(page, resized, interpolation=cv2.INTER_AREA)
    if warp is not None:
        page = plan.warp(page, warp, size, cubic=plan.scale > 1.0)
    if plan.median:
        page = cv2.medianBlur(page, plan.median)
    binary, metrics.binarization = binarize_page(page, plan.noisy, plan.uneven)
    if _clear_edge_blobs(binary):
        metrics.border_removed = True
    if metrics.x_height is not None:
        remove_leaders(binary, metrics.x_height * plan.scale)
    return CleanPage(binary, metrics, _affine(m), plan.dpi)
