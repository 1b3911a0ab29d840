"""Near-duplicate confirmation: is this cleaned page a re-scan of that stored page?

The perceptual hash only proposes candidates: a page of the same template filled for
another person can be as close in hash as a re-scan. Here the two cleaned pages are
aligned (ORB features + RANSAC similarity, refined by ECC) and their ink compared: a
re-scan differs by noise and stroke thickness, another document by whole characters
(a name, a digit of an ID number). Any character-sized difference refuses the match.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

# Pages are compared at this width (about 200 dpi for A4): small enough to be fast, large
# enough that one changed digit is still dozens of pixels.
COMPARE_WIDTH = 1600
ALIGN_WIDTH = 800
MIN_INLIERS = 40
# A difference blob at least this tall (as a share of the median character height) and
# with this much ink is a character, not noise.
CHAR_SHARE = 0.45
MIN_BLOB_INK = 0.12
TOLERANCE_PX = 2  # stroke-thickness and sub-pixel misalignment allowance


@dataclass
class Confirmation:
    same: bool
    score: float  # 0..1, share of ink that agrees
    reason: str
    differing_blobs: int = 0
    inliers: int = 0


def comparison_image(clean: np.ndarray) -> np.ndarray:
    """The form kept for later comparisons: the cleaned page as gray, COMPARE_WIDTH wide."""
    if clean.ndim == 3:
        clean = cv2.cvtColor(clean, cv2.COLOR_BGR2GRAY)
    height, width = clean.shape
    if width == 0 or height == 0:
        return clean
    scale = COMPARE_WIDTH / width
    size = (COMPARE_WIDTH, max(1, round(height * scale)))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    return cv2.resize(clean, size, interpolation=interpolation)


def _ink(gray: np.ndarray) -> np.ndarray:
    _, ink = cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY_INV | cv2.THRESH_OTSU)
    return ink


def _align(query: np.ndarray, stored: np.ndarray) -> tuple[np.ndarray | None, int]:
    """2x3 transform mapping query pixels onto stored pixels, and the inlier count."""
    scale = ALIGN_WIDTH / stored.shape[1]
    small_q = cv2.resize(query, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    small_s = cv2.resize(stored, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    orb = cv2.ORB_create(nfeatures=3000)
    kq, dq = orb.detectAndCompute(small_q, None)
    ks, ds = orb.detectAndCompute(small_s, None)
    if dq is None or ds is None or len(kq) < MIN_INLIERS or len(ks) < MIN_INLIERS:
        return None, 0
    matcher = cv2.BFMatcher(cv2.NORM_HAMMING, crossCheck=True)
    matches = matcher.match(dq, ds)
    if len(matches) < MIN_INLIERS:
        return None, 0
    src = np.float32([kq[m.queryIdx].pt for m in matches]).reshape(-1, 1, 2)
    dst = np.float32([ks[m.trainIdx].pt for m in matches]).reshape(-1, 1, 2)
    matrix, mask = cv2.estimateAffinePartial2D(
        src, dst, method=cv2.RANSAC, ransacReprojThreshold=3.0, maxIters=4000
    )
    inliers = int(mask.sum()) if mask is not None else 0
    if matrix is None or inliers < MIN_INLIERS:
        return None, inliers
    # Back to full comparison resolution: translation scales, the linear part does not.
    matrix = matrix.astype(np.float64)
    matrix[:, 2] /= scale
    return _refine(query, stored, matrix), inliers


def _refine(query: np.ndarray, stored: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """ECC refinement on blurred pages; keeps the feature estimate if ECC fails."""
    blur_q = cv2.GaussianBlur(query, (0, 0), 3).astype(np.float32)
    blur_s = cv2.GaussianBlur(stored, (0, 0), 3).astype(np.float32)
    warp = matrix.astype(np.float32)
    criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 50, 1e-5)
    try:
        # ECC warps the template (stored) onto the input (query): invert around it.
        inverse = cv2.invertAffineTransform(warp)
        _, refined = cv2.findTransformECC(
            blur_s, blur_q, inverse, cv2.MOTION_AFFINE, criteria, None, 1
        )
        return cv2.invertAffineTransform(refined).astype(np.float64)
    except cv2.error:
        return matrix


def _char_height(ink: np.ndarray) -> float:
    count, _, stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=8)
    heights = stats[1:, cv2.CC_STAT_HEIGHT]
    widths = stats[1:, cv2.CC_STAT_WIDTH]
    plausible = heights[(heights >= 6) & (heights <= 120) & (widths <= 4 * heights)]
    return float(np.median(plausible)) if len(plausible) >= 10 else 20.0


def confirm(query: np.ndarray, stored: np.ndarray) -> Confirmation:
    """Whether `query` shows the same filled-in paper as `stored` (both from
    comparison_image). Refuses whenever it cannot prove the pages agree."""
    transform, inliers = _align(query, stored)
    if transform is None:
        return Confirmation(False, 0.0, "the pages could not be aligned", inliers=inliers)
    height, width = stored.shape
    warped = cv2.warpAffine(query, transform, (width, height), borderValue=255)
    ink_q, ink_s = _ink(warped), _ink(stored)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * TOLERANCE_PX + 1,) * 2)
    only_q = cv2.bitwise_and(ink_q, cv2.bitwise_not(cv2.dilate(ink_s, kernel)))
    only_s = cv2.bitwise_and(ink_s, cv2.bitwise_not(cv2.dilate(ink_q, kernel)))
    # The border strip outside the warped query carries no information.
    valid = cv2.warpAffine(
        np.full(query.shape, 255, np.uint8), transform, (width, height), borderValue=0
    )
    valid = cv2.erode(valid, np.ones((15, 15), np.uint8))
    difference = cv2.bitwise_and(cv2.bitwise_or(only_q, only_s), valid)

    char = _char_height(ink_s)
    # Merge a character's leftover strokes into one blob before measuring it.
    close = max(3, int(char * 0.3)) | 1
    merged = cv2.morphologyEx(difference, cv2.MORPH_CLOSE, np.ones((close, close), np.uint8))
    count, labels, stats, _ = cv2.connectedComponentsWithStats(merged, connectivity=8)
    blobs = 0
    for label in range(1, count):
        x, y, w, h, _area = stats[label]
        if max(w, h) < CHAR_SHARE * char:
            continue
        ink_share = np.count_nonzero(difference[y : y + h, x : x + w]) / float(w * h)
        if ink_share >= MIN_BLOB_INK:
            blobs += 1
    ink_total = max(np.count_nonzero(ink_s) + np.count_nonzero(ink_q), 1)
    agreement = 1.0 - np.count_nonzero(difference) / ink_total
    score = round(float(agreement), 4)
    if blobs:
        return Confirmation(False, score, f"{blobs} character-sized differences", blobs, inliers)
    return Confirmation(True, score, "the ink agrees everywhere", 0, inliers)
