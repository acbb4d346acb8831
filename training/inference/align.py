r"""Register a bg photo to its fg_bg photo before prediction: features, RANSAC, then ECC.

Two hand-held shots are never pixel-aligned, and a network that compares them reads every
misaligned edge as "object". :func:`align_bg` finds the homography :math:`H` that maps bg
pixels onto fg_bg pixels (exact for a camera that only turned, or a scene that is far or flat)
and warps the bg by it:

1. Both photos are converted to grey and shrunk so that the long side is at most
   ``AlignConfig.max_side`` (detail finer than that adds time, not accuracy: ECC below is
   sub-pixel at that scale). A side below :data:`MIN_ALIGN_SIDE` then can hold no feature:
   such a pair fails here.
2. ORB features, matched by Hamming distance with Lowe's ratio test, and a MAGSAC++ homography
   (``cv2.USAC_MAGSAC``): the object's features have no partner in the bg, so they end up
   outliers however much of the frame the object covers, as long as some bg is visible. When
   the inliers bunch in a small part of the frame, a similarity (4 degrees of freedom) is the
   safer start: a homography fitted there can put the far corners tens of pixels off.
3. ECC refinement (``cv2.findTransformECCWithMask``, motion ``MOTION_HOMOGRAPHY``) on a
   two-level pyramid, maximising the correlation coefficient between the fg_bg and the warped
   bg (invariant to a change of exposure: gain and offset). Its template mask leaves out where
   the two shots still differ most after step 2 (the object and its shadow, dilated), what
   the bg does not see, and clipped (near-black or near-white) pixels of either shot. The
   result must still fit the feature inliers, else the features' homography stands.
4. Plausibility: enough inliers, a scale (determinant of the affine part) near 1, a corner
   displacement of at most ``max_corner_shift`` of the diagonal, and a small residual. A
   failure returns the bg unchanged with ``ok=False`` and a one-line ``reason``.

Where the warped bg has no pixels (beyond its frame), the fg_bg's own pixels fill in: no
difference there, which reads as "background" - the one guess that invents no object.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from training.options import METHODS, Method

#: ORB's border (its ``edgeThreshold`` and ``patchSize``, OpenCV's defaults): it finds no
#: feature nearer than this to an image's edge ...
ORB_BORDER = 31
#: ... so a working image must be larger than twice that on each side to hold one (and OpenCV's
#: ORB fails outright on a side of 1 px).
MIN_ALIGN_SIDE = 2 * ORB_BORDER + 1


@dataclass(frozen=True)
class AlignConfig:
    """Settings of :func:`align_bg`, with the reason for each default.

    Attributes:
        max_side: Long side (px) the registration runs at; 1024 keeps a 1080p pair under a
            second on one core while ECC still resolves a tenth of a pixel there.
        features: ORB keypoints per image; 3000 leaves a hundred bg matches or more even when the
            object hides most of the frame.
        ratio: Lowe's ratio test: a match must be this much closer than the runner-up.
        ransac_px: MAGSAC++ inlier threshold at the working scale.
        min_inliers: Fewer RANSAC inliers than this is no registration: chance matches between
            unrelated images reach about 10.
        min_spread: Inliers whose convex hull covers less of the frame than this (the object
            hides the rest) start ECC from a similarity instead of their homography.
        max_corner_shift: Largest plausible displacement of a frame corner, as a fraction of
            the diagonal (hand-held re-framing stays well under 10 %).
        scale_range: Plausible zoom between the shots (determinant of the affine part).
        max_residual_px: Largest plausible median inlier error after refinement, full-size px.
        ecc_iterations, ecc_eps: ECC stopping rule per pyramid level.
        min_shift_px: Below this largest corner displacement the bg is already aligned and is
            returned as it is (a warp would only blur it).
    """

    max_side: int = 1024
    features: int = 3000
    ratio: float = 0.8
    ransac_px: float = 2.0
    min_inliers: int = 25
    min_spread: float = 0.25
    max_corner_shift: float = 0.1
    scale_range: tuple[float, float] = (0.8, 1.25)
    max_residual_px: float = 3.0
    ecc_iterations: int = 60
    ecc_eps: float = 1e-6
    min_shift_px: float = 0.1


@dataclass(frozen=True)
class AlignResult:
    """What :func:`align_bg` found.

    Attributes:
        warped_bg: (H, W, 3) uint8 bg registered to fg_bg (the input bg when not ``ok``, when
            off, or when already aligned).
        homography: 3x3 float64 map from bg pixels to fg_bg pixels (identity when not ``ok``).
        residual_px: Median distance (full-size px) of the RANSAC inliers from where the final
            homography puts them; NaN when off or failed before matching.
        inliers: RANSAC inliers (0 when off).
        ok: Registration succeeded (or was not asked for).
        reason: One line: what was done, or why it failed.
    """

    warped_bg: np.ndarray
    homography: np.ndarray
    residual_px: float
    inliers: int
    ok: bool
    reason: str


def align_bg(
    bg: np.ndarray,
    fgbg: np.ndarray,
    method: Method = "auto",
    config: AlignConfig = AlignConfig(),
) -> AlignResult:
    """Register `bg` to `fgbg` (both (H, W, 3) uint8 RGB of one size) and warp it.

    ``method``: ``"off"`` returns `bg` as it is; ``"auto"`` and ``"homography"`` register it
    the same way - the caller decides what a failure means (``auto``: say so and go on without
    alignment; ``homography``: stop).
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    if bg.shape != fgbg.shape:
        raise ValueError(f"bg {bg.shape} and fg_bg {fgbg.shape} differ in size")
    identity = np.eye(3)
    if method == "off":
        return AlignResult(bg, identity, math.nan, 0, True, "alignment off")
    h, w = fgbg.shape[:2]
    scale = min(1.0, config.max_side / max(h, w))
    size = (max(1, round(w * scale)), max(1, round(h * scale)))

    def failed(reason: str, inliers: int = 0, residual: float = math.nan) -> AlignResult:
        return AlignResult(bg, identity, residual, inliers, False, reason)

    if min(size) < MIN_ALIGN_SIDE:
        working = f"{size[0]}x{size[1]} px" + (" at the working scale" if scale < 1 else "")
        return failed(
            f"{working}, too small to register (features need {MIN_ALIGN_SIDE} px a side)"
        )
    small_bg, small_fgbg = (cv2.resize(i, size, interpolation=cv2.INTER_AREA) for i in (bg, fgbg))
    grey_bg, grey_fgbg = (cv2.cvtColor(i, cv2.COLOR_RGB2GRAY) for i in (small_bg, small_fgbg))

    src, dst = _matches(grey_bg, grey_fgbg, config)
    if len(src) < config.min_inliers:
        return failed(f"only {len(src)} feature matches (need {config.min_inliers})")
    coarse, inlier_mask = cv2.findHomography(
        src, dst, cv2.USAC_MAGSAC, config.ransac_px, maxIters=10000, confidence=0.9999
    )
    inliers = int(inlier_mask.sum()) if inlier_mask is not None else 0
    if coarse is None or inliers < config.min_inliers:
        return failed(f"only {inliers} consistent matches (need {config.min_inliers})", inliers)
    keep = inlier_mask.ravel().astype(bool)
    spread = cv2.contourArea(cv2.convexHull(src[keep])) / (size[0] * size[1])
    if spread < config.min_spread:
        # Inliers bunched in one part of the frame fix a homography there only; its corners
        # can be far off. A similarity extrapolates safely, and ECC adds the rest.
        similarity, _ = cv2.estimateAffinePartial2D(
            src[keep], dst[keep], method=cv2.RANSAC, ransacReprojThreshold=config.ransac_px
        )
        if similarity is not None:
            coarse = np.vstack([similarity, [0.0, 0.0, 1.0]])
    problem = _implausible(coarse, size, config)
    if problem:
        return failed(problem, inliers)
    template_mask = _static_mask(small_bg, small_fgbg, coarse)
    refined = _refine_ecc(grey_bg, grey_fgbg, template_mask, coarse, config)
    moved = cv2.perspectiveTransform(src[keep], refined)
    if np.median(np.linalg.norm((moved - dst[keep])[:, 0], axis=1)) > config.ransac_px:
        refined = coarse  # ECC left the features behind (another optimum): keep theirs
    to_full = _scaling(size, (w, h))
    homography = to_full @ refined @ np.linalg.inv(to_full)
    homography /= homography[2, 2]
    full_src = cv2.perspectiveTransform(src[keep], to_full)
    full_dst = cv2.perspectiveTransform(dst[keep], to_full)
    moved = cv2.perspectiveTransform(full_src, homography)
    residual = float(np.median(np.linalg.norm((moved - full_dst)[:, 0], axis=1)))
    if residual > config.max_residual_px:
        return failed(
            f"median residual {residual:.2f} px exceeds {config.max_residual_px} px "
            "(the scene is not a plane seen from one point?)",
            inliers,
            residual,
        )
    shift = _corner_shift(homography, np.eye(3), (w, h))
    if shift < config.min_shift_px:
        return AlignResult(
            bg, identity, residual, inliers, True, f"already aligned (corners move {shift:.2f} px)"
        )
    return AlignResult(
        _warp(bg, fgbg, homography),
        homography,
        residual,
        inliers,
        True,
        f"aligned: corners moved up to {shift:.1f} px, {inliers} inliers, "
        f"residual {residual:.2f} px",
    )


def _matches(
    grey_bg: np.ndarray, grey_fgbg: np.ndarray, config: AlignConfig
) -> tuple[np.ndarray, np.ndarray]:
    """(n, 1, 2) float32 matched points in bg and in fg_bg (working-scale pixels)."""
    orb = cv2.ORB_create(
        nfeatures=config.features, edgeThreshold=ORB_BORDER, patchSize=ORB_BORDER, fastThreshold=10
    )
    kp_bg, desc_bg = orb.detectAndCompute(grey_bg, None)
    kp_fgbg, desc_fgbg = orb.detectAndCompute(grey_fgbg, None)
    empty = np.zeros((0, 1, 2), np.float32)
    if desc_bg is None or desc_fgbg is None or len(kp_bg) < 2 or len(kp_fgbg) < 2:
        return empty, empty
    pairs = cv2.BFMatcher(cv2.NORM_HAMMING).knnMatch(desc_bg, desc_fgbg, k=2)
    good = [p[0] for p in pairs if len(p) == 2 and p[0].distance < config.ratio * p[1].distance]
    if not good:
        return empty, empty
    src = np.float32([kp_bg[m.queryIdx].pt for m in good]).reshape(-1, 1, 2)
    dst = np.float32([kp_fgbg[m.trainIdx].pt for m in good]).reshape(-1, 1, 2)
    return src, dst


def _implausible(homography: np.ndarray, size: tuple[int, int], config: AlignConfig) -> str:
    """Why `homography` (working scale) is no plausible second shot, or "" if it is."""
    h = homography / homography[2, 2]
    det = float(np.linalg.det(h[:2, :2]))
    lo, hi = config.scale_range
    if not lo <= det <= hi:
        return f"implausible zoom between the shots (scale {det:.2f}, expected {lo}-{hi})"
    shift = _corner_shift(h, np.eye(3), size)
    limit = config.max_corner_shift * math.hypot(*size)
    if shift > limit:
        return (
            f"implausible motion: a corner moves {shift / math.hypot(*size):.0%} of the "
            f"diagonal (at most {config.max_corner_shift:.0%})"
        )
    return ""


def _refine_ecc(
    grey_bg: np.ndarray,
    grey_fgbg: np.ndarray,
    template_mask: np.ndarray,
    coarse: np.ndarray,
    config: AlignConfig,
) -> np.ndarray:
    """Refine the bg -> fg_bg homography with ECC over `template_mask` (fg_bg frame) on a
    two-level pyramid."""
    w, h = grey_fgbg.shape[1], grey_fgbg.shape[0]
    if template_mask.mean() < 0.1 * 255:
        return coarse  # too little static bg to correlate on
    criteria = (
        cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS,
        config.ecc_iterations,
        config.ecc_eps,
    )
    # ECC's warp maps template (fg_bg) pixels to input (bg) pixels: the inverse of ours.
    current = np.linalg.inv(coarse)
    for factor in (0.5, 1.0):
        size = (max(8, round(w * factor)), max(8, round(h * factor)))
        if factor == 1.0:
            size = (w, h)
        level = _scaling((w, h), size)
        images = [
            cv2.resize(g, size, interpolation=cv2.INTER_AREA).astype(np.float32)
            for g in (grey_fgbg, grey_bg)
        ]
        mask = cv2.resize(template_mask, size, interpolation=cv2.INTER_NEAREST)
        mask &= _unclipped(images[0])
        warp = (level @ current @ np.linalg.inv(level)).astype(np.float32)
        try:
            _, warp = cv2.findTransformECCWithMask(
                images[0],
                images[1],
                mask,
                _unclipped(images[1]),
                warp,
                cv2.MOTION_HOMOGRAPHY,
                criteria,
                5,
            )
        except cv2.error:
            return coarse  # no convergence: keep the features' answer
        current = np.linalg.inv(level) @ warp.astype(np.float64) @ level
    refined = np.linalg.inv(current)
    return refined / refined[2, 2]


def _static_mask(bg: np.ndarray, fgbg: np.ndarray, homography: np.ndarray) -> np.ndarray:
    """uint8 mask (fg_bg frame) of where the RGB shots agree after `homography`: not the
    object, its shadow or the border the bg does not see.

    Each channel of the warped bg is scaled to the fg_bg first (exposure and white balance may
    differ), and the largest channel difference counts: an object can match its
    bg in grey and still differ in colour. Holes are closed and the region grown, so that the
    object's uniform patches and its soft edge stay out too.
    """
    h, w = fgbg.shape[:2]
    warped = cv2.warpPerspective(bg, homography, (w, h), flags=cv2.INTER_LINEAR)
    seen = cv2.warpPerspective(np.full((h, w), 255, np.uint8), homography, (w, h)) == 255
    blur = max(3, round(0.01 * max(w, h)) | 1)
    a, b = (cv2.GaussianBlur(image, (blur, blur), 0).astype(np.float32) for image in (warped, fgbg))
    if seen.any():
        # The median ratio of pixel pairs: the bg's share of the frame decides it, not the
        # object's (whole-image statistics would follow the object).
        a *= np.median(b[seen] / np.maximum(a[seen], 1.0), axis=0)
    diff = np.abs(a - b).max(axis=2)
    valid = diff[seen]
    # Misalignment leaves small differences everywhere; the object leaves large ones.
    threshold = max(20.0, 4.0 * float(np.median(valid))) if valid.size else 20.0
    moving = (diff > threshold).astype(np.uint8)
    close = max(3, round(0.06 * max(w, h)))
    moving = cv2.morphologyEx(
        moving, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (close, close))
    )
    grow = max(3, round(0.03 * max(w, h)))
    moving = cv2.dilate(moving, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (grow, grow)))
    border = cv2.erode(seen.astype(np.uint8), np.ones((5, 5), np.uint8)) == 1
    return np.where((moving == 0) & border, np.uint8(255), np.uint8(0))


def _unclipped(grey: np.ndarray) -> np.ndarray:
    """uint8 mask of pixels away from black and white: where an exposure change clips one shot
    and not the other, edges move, and ECC would follow them."""
    valid = np.where((grey > 5) & (grey < 250), np.uint8(255), np.uint8(0))
    return cv2.erode(valid, np.ones((7, 7), np.uint8))  # and ECC's blur of their edges


def _scaling(src: tuple[int, int], dst: tuple[int, int]) -> np.ndarray:
    """Map pixel coordinates (centres at integers) of an image of size `src` (w, h) onto a
    resized copy of size `dst`: ``x' = (x + 0.5) * dst / src - 0.5``."""
    sx, sy = dst[0] / src[0], dst[1] / src[1]
    return np.array([[sx, 0, 0.5 * sx - 0.5], [0, sy, 0.5 * sy - 0.5], [0, 0, 1.0]])


def _corner_shift(a: np.ndarray, b: np.ndarray, size: tuple[int, int]) -> float:
    """Largest distance between where `a` and `b` put the corners of a (w, h) frame."""
    return float(_corner_distances(a, b, size).max())


def _corner_distances(a: np.ndarray, b: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    w, h = size
    corners = np.float64([[[0, 0]], [[w - 1, 0]], [[0, h - 1]], [[w - 1, h - 1]]])
    moved_a, moved_b = cv2.perspectiveTransform(corners, a), cv2.perspectiveTransform(corners, b)
    return np.linalg.norm(moved_a - moved_b, axis=2).ravel()


def _warp(bg: np.ndarray, fgbg: np.ndarray, homography: np.ndarray) -> np.ndarray:
    h, w = fgbg.shape[:2]
    warped = cv2.warpPerspective(bg, homography, (w, h), flags=cv2.INTER_LINEAR)
    seen = cv2.warpPerspective(
        np.full((h, w), 255, np.uint8), homography, (w, h), flags=cv2.INTER_NEAREST
    )
    return np.where((seen == 255)[..., None], warped, fgbg)


def corner_error(estimated: np.ndarray, truth: np.ndarray, size: tuple[int, int]) -> float:
    """Mean distance (px) between where two homographies put the corners of a (w, h) frame."""
    return float(_corner_distances(estimated, truth, size).mean())
