r"""The shadow a placed object casts on the ground of its fg_bg shot, and its contact shadow.

A real second shot differs from the bg shot outside the object too: the object blocks part of
the light (a cast shadow) and part of the sky above the ground around its feet (ambient
occlusion). Both only ever *darken bg pixels*, so they are a multiplicative factor on the bg
applied before the object is composited on top (:func:`apply_shadow`); the mask (the object's
alpha) and the depth (the object's contact depth over the bg depth) do not change.

**Geometry.** The camera is the pinhole of :mod:`datagen.builder.camera_prior`: principal point
at the frame centre, horizon row ``horizon_y``, focal length ``f`` pixels (:func:`prior_focal`
when the scene does not say), image coordinates with pixel centres at ``row + 0.5``. The object
stands on the ground at image point :math:`(u_0, v_c)` (its contact column and row), at depth
:math:`d = k / D` with :math:`D = v_c + 0.5 - y_h`. A flat cutout casts no shadow when lit from
the side, so the caster is the silhouette on the vertical plane through the contact point that
faces the light's horizontal direction (the sprite shadow of games; right for an object that is
roughly as deep as it is wide). Its horizontal axis is :math:`e = (-L_z, L_x) / |(L_x, L_z)|`,
oriented so that :math:`e_x \ge 0`. With the light direction :math:`L` (unit, towards the light,
camera frame: x right, y up, z forward), a silhouette point ``r = v_c - v`` pixels above the
contact and ``x = u - u_0`` beside it lands on the ground at

.. math::

    u' = c_x + \frac{u_0 - c_x + x e_x - r L_x / L_y}{w}, \quad
    v' = y_h + \frac{D}{w}, \quad
    w = 1 + \frac{x e_z}{f} - \frac{r L_z}{f L_y}

(all lengths in pixels at the object's depth; the camera height cancels). That is a homography
of the image plane, so the hard shadow is one ``cv2.warpPerspective`` of the alpha. Silhouette
points with :math:`w` near or below 0 would throw their shadow behind the camera; their shadow
lies beyond twice the frame height below the horizon, so they are dropped before warping.

**Penumbra.** An occluder point at distance :math:`\ell = (r / L_y) / w` pixels (along the light
ray, at the shadow's depth) from the ground blurs its shadow by
:math:`\sigma = \sigma_0 + \text{softness} \cdot \ell`: shadows are hard at the feet and soft far
from them, as under a light of angular radius :math:`\approx` softness. The variable blur is a
per-pixel blend of the hard shadow blurred at a ladder of sigmas, each twice the last.

**Contact shadow.** The ground within ``ao_radius`` object heights of the footprint (the columns
the silhouette's bottom rows cover) is darkened by up to ``ao_strength``: a Gaussian in the
ground plane, horizontal sigma :math:`\sigma_x` = ``ao_radius`` x object height, vertical sigma
:math:`\sigma_x D / f` (a ground disc at depth ``d`` is foreshortened by ``D / f``).

The factor is :math:`(1 - \text{strength} \cdot S) (1 - \text{ao\_strength} \cdot A)` where it
falls on the ground (``receiver``), 1 elsewhere, with values within half a grey level of 1
snapped to exactly 1, so the pixels a shadow changes lie inside :func:`changed_box`. It is not
forced to 1 under the object: opaque pixels are replaced by the object anyway, and at its soft
edge the bg that shows through is the shaded ground. The cast shadow always lies below the
horizon (:math:`w > 0` puts :math:`v'` below :math:`y_h`), as does the contact shadow.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from datagen.builder.camera_prior import prior_focal
from datagen.common.imaging import alpha_bbox
from datagen.store.schema.records import MAX_ELEVATION_DEG, NO_SHADOW, SceneLight, ShadowParams

#: Blur of the hard shadow at the contact point, in pixels (anti-aliasing only).
SIGMA_MIN = 0.5
#: Factors at least this close to 1 change no uint8 value: they are snapped to 1.
SNAP = 0.5 / 255
#: The cast shadow of a larger frame is worked on a grid about this many cells across.
CAST_GRID = 112
#: Rows of the silhouette, as a fraction of its height, that make up its footprint.
FOOTPRINT_BAND = 0.04
#: Rec. 709 luma weights (linear light), for a scene light's shadow strength.
_LUMA = np.array([0.2126, 0.7152, 0.0722])
#: Gamma of the procedural renderer's encoding (``datagen.builder.procedural.common._encode``).
_GAMMA = 2.2
#: Gaussian sigma of a linear ramp of unit width (the renderer's penumbra is a linear ramp).
_RAMP_SIGMA = 0.4
#: The renderer's penumbra grows by this many metres per metre from the caster.
_RENDER_PENUMBRA_SLOPE = 0.03


def scene_light(
    sun: np.ndarray, yaw: float, sun_colour: np.ndarray, ambient: np.ndarray
) -> SceneLight:
    """The :class:`SceneLight` of a procedural scene from its lighting and camera.

    Args:
        sun: World unit vector towards the light (``_Lighting.sun``).
        yaw: Camera yaw in radians (``_Camera.yaw``): camera azimuth = world azimuth - yaw.
        sun_colour, ambient: Linear RGB of the light and of the ambient term
            (``_Lighting.sun_colour``, ``_Lighting.ambient``).

    The renderer lights flat ground by ``ambient + sun_colour * L_y`` and its shadow by
    ``ambient`` alone; after the gamma encoding the shadowed pixel keeps
    ``(Y_ambient / Y_lit) ** (1 / 2.2)`` of its value (tone mapping and haze ignored).
    """
    sun = np.asarray(sun, dtype=np.float64)
    azimuth = math.degrees(math.atan2(sun[0], sun[2]) - yaw)
    azimuth = (azimuth + 180.0) % 360.0 - 180.0
    elevation = min(math.degrees(math.asin(float(np.clip(sun[1], -1, 1)))), MAX_ELEVATION_DEG)
    shade = float(_LUMA @ np.asarray(ambient, np.float64))
    lit = shade + float(_LUMA @ np.asarray(sun_colour, np.float64)) * max(float(sun[1]), 0.0)
    strength = 1.0 - (shade / lit) ** (1 / _GAMMA) if lit > 0 else 0.0
    return SceneLight(
        azimuth_deg=azimuth,
        elevation_deg=max(elevation, 1.0),
        strength=min(max(strength, 0.0), 0.95),
        softness=_RAMP_SIGMA * _RENDER_PENUMBRA_SLOPE,
    )


#: Ranges drawn for a user photo, whose light is unknown. Any direction (the camera sees the
#: object from any side of the sun); elevations of daylight and ceiling lights; a shadow that
#: keeps 45-80 % of the ground's value, as on photos of sunlit and indoor floors; softness from a
#: clear sun to a bright overcast sky (log-uniform: the perceptual scale).
PHOTO_ELEVATION_DEG = (25.0, 70.0)
PHOTO_STRENGTH = (0.2, 0.55)
PHOTO_SOFTNESS = (0.01, 0.1)
#: Contact shadows, drawn for every sample: they exist under any light.
AO_STRENGTH = (0.15, 0.45)
AO_RADIUS = (0.03, 0.1)


def draw_shadow_params(
    rng: np.random.Generator,
    light: SceneLight | None = None,
    p_cast: float = 0.8,
    *,
    strength_range: tuple[float, float] = PHOTO_STRENGTH,
    hard: bool = False,
    p_shadow: float = 1.0,
) -> ShadowParams:
    """The shadow of one sample, drawn from `rng` (always the same 8 draws, whatever is used).

    Args:
        rng: The sample's placement generator, after
            :func:`~datagen.builder.composite.draw_placement`.
        light: The scene's light; None for a user photo (a direction and strength are drawn).
        p_cast: Probability of a cast shadow for a user photo (otherwise only the contact
            shadow): photos taken under diffuse light have none. A scene's light is always used.
        strength_range: Range of a user photo's cast-shadow strength.
        hard: No penumbra (softness 0).
        p_shadow: Probability that the sample is shaded at all; otherwise :data:`NO_SHADOW`.

    All values are rounded to float32, so the float32 placement record reproduces them exactly.
    """
    # One call for the 8 uniforms: `Generator.uniform(a, b)` is `a + (b - a) * random()` in
    # double precision, so these are the same values as 8 scalar draws, at a fraction of the
    # per-call cost.
    u = rng.random(8).tolist()
    azimuth = _between(-180.0, 180.0, u[0])
    elevation = _between(*PHOTO_ELEVATION_DEG, u[1])
    strength = _between(*strength_range, u[2])
    softness = math.exp(_between(*_LOG_PHOTO_SOFTNESS, u[3]))
    cast = u[4] < p_cast
    ao_strength = _between(*AO_STRENGTH, u[5])
    ao_radius = _between(*AO_RADIUS, u[6])
    if u[7] >= p_shadow:
        return NO_SHADOW
    if light is not None:
        azimuth, elevation = light.azimuth_deg, light.elevation_deg
        strength, softness, cast = light.strength, light.softness, True
    if hard:
        softness = 0.0
    return ShadowParams(
        *(
            float(np.float32(v))
            for v in (
                azimuth,
                elevation,
                strength if cast else 0.0,
                softness,
                ao_strength,
                ao_radius,
            )
        )
    )


def _between(low: float, high: float, u: float) -> float:
    """`u` in [0, 1) mapped onto [low, high) exactly as ``Generator.uniform(low, high)`` does."""
    return low + (high - low) * u


_LOG_PHOTO_SOFTNESS = tuple(float(v) for v in np.log(PHOTO_SOFTNESS))


def ground_receiver(
    bg_depth: np.ndarray, horizon_y: float, ground_k: float, tolerance: float = 0.02
) -> np.ndarray:
    """(S, S) bool: where the visible bg surface is the ground plane (within `tolerance`,
    relative), so a shadow on the ground would be seen there. Anything standing on the ground
    (furniture, walls) is nearer than the plane and receives none. All True for NaN ground_k."""
    size = bg_depth.shape[0]
    if not math.isfinite(ground_k):
        return np.ones(bg_depth.shape, dtype=bool)
    rows = np.arange(size, dtype=np.float64) + 0.5 - horizon_y
    plane = np.where(rows > 0, ground_k / np.maximum(rows, 1e-9), np.inf)
    return bg_depth >= (plane * (1 - tolerance))[:, None]


@dataclass(frozen=True)
class Shade:
    """One sample's shadow, restricted to the pixels it darkens.

    Attributes:
        box: (y0, x0, y1, x1) frame pixels: the bounding box of the factors below 1.
        factor: (y1 - y0, x1 - x0) float32 darkening in (0, 1] inside the box.
    """

    box: tuple[int, int, int, int]
    factor: np.ndarray

    def full(self, size: int) -> np.ndarray:
        """The (size, size) factor of the whole frame (1 outside the box)."""
        out = np.ones((size, size), np.float32)
        y0, x0, y1, x1 = self.box
        out[y0:y1, x0:x1] = self.factor
        return out


def shade(
    alpha: np.ndarray,
    origin: tuple[int, int],
    params: ShadowParams,
    *,
    size: int,
    contact: tuple[float, float],
    horizon_y: float,
    focal: float | None = None,
    receiver: np.ndarray | None = None,
) -> Shade | None:
    """The darkening of the bg under the placed object, computed only where it can reach.

    Args:
        alpha: (h, w) float32 alpha in [0, 1] of the placed object, cropped to the frame
            (before occlusion by nearer bg: a hidden part still blocks the light).
        origin: (row, column) of ``alpha[0, 0]`` in the frame.
        params: The sample's :class:`ShadowParams`.
        size: The frame's side in pixels.
        contact: (row, column) of the object's ground contact point: the placed box's bottom
            row and its centre column (the column may lie outside the frame).
        horizon_y: The bg's horizon row (``bg_ground[:, 0]``).
        focal: Focal length in pixels; default :func:`prior_focal` (procedural cameras lie
            within 10 % of it).
        receiver: (S, S) bool or float where the ground is visible (:func:`ground_receiver`);
            None = everywhere.

    Returns:
        The factor inside the box of the pixels it darkens, or None where it darkens none.
    """
    focal = prior_focal(size) if focal is None else focal
    extent = alpha_bbox(alpha)
    if extent is None or (params.strength <= 0 and params.ao_strength <= 0):
        return None
    oy, ox = origin
    silhouette = (oy + extent[0], ox + extent[1], oy + extent[2], ox + extent[3])
    row, col = contact
    # Every part is (box, coverage in [0, 1]) and lies below the horizon.
    floor_row = max(0, math.floor(horizon_y))
    cast = ao = None
    if params.strength > 0:
        cast = _cast_shadow(
            alpha, origin, silhouette, params, row, col, horizon_y, focal, size, floor_row
        )
    if params.ao_strength > SNAP:
        depth_rows = max(row + 0.5 - horizon_y, 1.0)  # D; an object at the horizon: flat
        ao = _contact_shadow(
            alpha, origin, silhouette, params, row, depth_rows / focal, size, floor_row
        )
    parts = [part for part in (cast, ao) if part is not None]
    if not parts:
        return None
    y0, x0 = min(p[0][0] for p in parts), min(p[0][1] for p in parts)
    y1, x1 = max(p[0][2] for p in parts), max(p[0][3] for p in parts)
    darkness = np.zeros((y1 - y0, x1 - x0), np.float32)
    if cast is not None:
        (cy0, cx0, cy1, cx1), coverage = cast
        darkness[cy0 - y0 : cy1 - y0, cx0 - x0 : cx1 - x0] = params.strength * coverage
    if ao is not None:
        (ay0, ax0, ay1, ax1), coverage = ao
        part = darkness[ay0 - y0 : ay1 - y0, ax0 - x0 : ax1 - x0]
        part[...] = 1 - (1 - part) * (1 - params.ao_strength * coverage)
    if receiver is not None:
        darkness *= receiver[y0:y1, x0:x1]
    factor = 1 - darkness
    factor[factor >= 1 - SNAP] = 1.0
    tight = changed_box(factor)
    if tight is None:
        return None
    ty0, tx0, ty1, tx1 = tight
    return Shade((y0 + ty0, x0 + tx0, y0 + ty1, x0 + tx1), factor[ty0:ty1, tx0:tx1])


def shadow_factor(
    alpha: np.ndarray,
    params: ShadowParams,
    *,
    contact: tuple[float, float],
    horizon_y: float,
    focal: float | None = None,
    receiver: np.ndarray | None = None,
) -> np.ndarray:
    """(S, S) float32 darkening in (0, 1] of the bg under the placed object (1 = unchanged).

    :func:`shade` over a whole frame: `alpha` is the (S, S) alpha of the placed object in the
    frame; the other arguments are :func:`shade`'s.
    """
    size = alpha.shape[0]
    found = shade(
        alpha,
        (0, 0),
        params,
        size=size,
        contact=contact,
        horizon_y=horizon_y,
        focal=focal,
        receiver=receiver,
    )
    return np.ones(alpha.shape, np.float32) if found is None else found.full(size)


def apply_shadow(bg: np.ndarray, factor: np.ndarray) -> np.ndarray:
    """(S, S, 3) uint8 bg darkened by `factor`: ``rint(bg * factor)``; bytes where it is 1."""
    return np.rint(bg.astype(np.float32) * factor[..., None]).astype(np.uint8)


def changed_box(factor: np.ndarray) -> tuple[int, int, int, int] | None:
    """(y0, x0, y1, x1) of the pixels a shadow darkens (``factor < 1``), or None."""
    return alpha_bbox(1.0 - factor)


def shadow_homography(
    params: ShadowParams, row: float, col: float, horizon_y: float, focal: float, size: int
) -> np.ndarray:
    """3x3 map from silhouette pixels (x = column, y = row, cv2 convention) to their shadow on
    the ground (the module docstring's formula)."""
    lx, ly, lz = params.light()
    horizontal = math.hypot(lx, lz)
    ex, ez = (-lz / horizontal, lx / horizontal) if horizontal > 1e-9 else (1.0, 0.0)
    if ex < 0:
        ex, ez = -ex, -ez
    cx, hc, vc = size / 2 - 0.5, horizon_y - 0.5, row  # in cv2 pixel coordinates
    depth_rows = max(row + 0.5 - horizon_y, 1.0)
    a, b, e = lx / ly, lz / (ly * focal), ez / focal
    c0 = 1 - col * e - vc * b
    return np.array(
        [
            [ex + cx * e, a + cx * b, col - cx - col * ex - a * vc + cx * c0],
            [hc * e, hc * b, hc * c0 + depth_rows],
            [e, b, c0],
        ]
    )


Part = tuple[tuple[int, int, int, int], np.ndarray]


def _cast_shadow(
    alpha: np.ndarray,
    origin: tuple[int, int],
    silhouette: tuple[int, int, int, int],
    params: ShadowParams,
    row: float,
    col: float,
    horizon_y: float,
    focal: float,
    size: int,
    floor_row: int,
) -> Part | None:
    """Cast-shadow coverage in [0, 1], penumbra included, in the box of the frame it reaches
    (`silhouette`: the frame box of the nonzero alpha, which lies at `origin`).

    The penumbra is blurred into the silhouette before it is warped (the warp then foreshortens
    it as the ground does): a point ``r`` pixels up is ``r / sin(elevation)`` from its shadow,
    so its rows get sigma ``SIGMA_MIN + softness * r / sin(elevation)``. That matches the
    penumbra across the light direction; along it the ground stretches a real penumbra by a
    further ``1 / cos(elevation)`` - the difference is small next to the blur itself.

    Frames larger than :data:`CAST_GRID` pixels are worked on a grid ``r = size // CAST_GRID``
    times coarser (area-averaged silhouette, blur and warp on that grid, the coverage enlarged
    bilinearly): the shadow is soft anyway, and the hard edge at the feet is blurred by about
    ``r`` pixels instead of ``SIGMA_MIN``.
    """
    oy, ox = origin
    top, left, _, right = silhouette
    bottom = int(min(row, size - 1))
    if top > bottom:
        return None
    r = max(1, size // CAST_GRID)
    sine = params.light()[1]
    sigma_top = min(SIGMA_MIN * r + params.softness * (row - top) / sine, size / 8)
    pad = r * math.ceil(3 * sigma_top / r)
    # The silhouette above the contact row, padded for the blur (zeros outside the frame) to
    # whole cells of the coarse grid.
    height, width = bottom + 1 - top + 2 * pad, right - left + 2 * pad
    crop = np.zeros((-(-height // r) * r, -(-width // r) * r), np.float32)
    source = alpha[top - oy : bottom + 1 - oy, left - ox : right - ox]
    crop[pad : pad + source.shape[0], pad : pad + source.shape[1]] = source
    if r > 1:
        crop = cv2.resize(crop, (crop.shape[1] // r, crop.shape[0] // r), cv2.INTER_AREA)
    # Frame row of each grid row's centre; sigmas in grid pixels.
    crop_rows = np.arange(crop.shape[0], dtype=np.float64) * r + (top - pad + (r - 1) / 2)
    sigma = np.minimum(
        SIGMA_MIN + params.softness * np.maximum(row - crop_rows, 0) / (sine * r), size / (8 * r)
    )
    crop = _row_blur(crop, sigma)
    # Back in the crop's frame: drop what lies under the ground or throws its shadow behind
    # the camera (w below w_min lands beyond 2 frame heights under the horizon).
    matrix = shadow_homography(params, row, col, horizon_y, focal, size)
    grid = np.array([[r, 0.0, (r - 1) / 2], [0.0, r, (r - 1) / 2], [0.0, 0.0, 1.0]])
    shift = np.array([[1.0, 0.0, left - pad], [0.0, 1.0, top - pad], [0.0, 0.0, 1.0]])
    to_frame = matrix @ shift @ grid
    w_min = max(row + 0.5 - horizon_y, 1.0) / (2 * size)
    xs = np.arange(crop.shape[1], dtype=np.float64)
    w = to_frame[2, 0] * xs[None, :] + to_frame[2, 1] * np.arange(crop.shape[0])[:, None]
    crop[(w + to_frame[2, 2] <= w_min) | (crop_rows[:, None] > row)] = 0
    box = _warped_box(to_frame, crop.shape, w_min, size, floor_row, r)
    if box is None:
        return None
    y0, x0, y1, x1 = box
    # Frame -> the box's grid: the inverse of `grid` after moving the box to the origin.
    half = (r - 1) / 2
    to_grid = np.array([[1 / r, 0.0, -(x0 + half) / r], [0.0, 1 / r, -(y0 + half) / r], [0, 0, 1]])
    to_box = to_grid @ to_frame
    cells = (-(-(x1 - x0) // r), -(-(y1 - y0) // r))
    coverage = cv2.warpPerspective(crop, to_box, cells, flags=cv2.INTER_LINEAR, borderValue=0.0)
    if r > 1:
        coverage = cv2.resize(coverage, (cells[0] * r, cells[1] * r), cv2.INTER_LINEAR)
    return box, coverage[: y1 - y0, : x1 - x0]


def _warped_box(
    matrix: np.ndarray,
    shape: tuple[int, int],
    w_min: float,
    size: int,
    floor_row: int,
    margin: int = 1,
) -> tuple[int, int, int, int] | None:
    """Frame box (within rows floor_row.. and the frame) that `matrix` maps the (h, w) crop to.

    The crop's pixels and their one-pixel bilinear reach span [-1, w] x [-1, h], and the
    enlargement of a coarse grid adds `margin` frame pixels around them; only the part
    with ``w >= w_min`` can land in the frame (the rest lies beyond two frame heights below the
    horizon), and a homography maps that convex part onto the convex hull of its corners.
    """
    h, w = shape
    corners = [(-1.0, -1.0), (float(w), -1.0), (float(w), float(h)), (-1.0, float(h))]
    depth = [matrix[2, 0] * x + matrix[2, 1] * y + matrix[2, 2] - w_min for x, y in corners]
    kept: list[tuple[float, float]] = []
    for k, (point, d) in enumerate(zip(corners, depth, strict=True)):
        following, d_next = corners[(k + 1) % 4], depth[(k + 1) % 4]
        if d >= 0:
            kept.append(point)
        if (d >= 0) != (d_next >= 0):  # the edge crosses w = w_min
            t = d / (d - d_next)
            kept.append(
                (point[0] + t * (following[0] - point[0]), point[1] + t * (following[1] - point[1]))
            )
    if not kept:
        return None
    (a, b, c), (d, e, f), (g, h_, i) = matrix.tolist()
    xs, ys = [], []
    for x, y in kept:
        w_ = g * x + h_ * y + i
        xs.append((a * x + b * y + c) / w_)
        ys.append((d * x + e * y + f) / w_)

    def clip(value: float, low: int) -> int:
        return int(min(max(value, low), size))

    x0, x1 = clip(math.floor(min(xs)) - margin, 0), clip(math.ceil(max(xs)) + 1 + margin, 0)
    y0 = clip(math.floor(min(ys)) - margin, floor_row)
    y1 = clip(math.ceil(max(ys)) + 1 + margin, floor_row)
    return (y0, x0, y1, x1) if y1 > y0 and x1 > x0 else None


def _row_blur(image: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """Gaussian blur whose sigma varies by row (`sigma`, one per row, monotone): a per-row blend
    of blurs at the ladder 0.5, 1, 2, 4 ... (linear in log sigma between two rungs)."""
    ladder = [SIGMA_MIN]
    while ladder[-1] < sigma.max():
        ladder.append(ladder[-1] * 2)
    if len(ladder) == 1:
        return cv2.GaussianBlur(image, (0, 0), SIGMA_MIN, borderType=cv2.BORDER_CONSTANT)
    position = np.clip(np.log2(np.maximum(sigma, SIGMA_MIN) / SIGMA_MIN), 0, len(ladder) - 1)
    lower = np.minimum(position.astype(np.int64), len(ladder) - 2)
    t = (position - lower).astype(np.float32)
    out = np.zeros_like(image)
    for k, s in enumerate(ladder):
        weight = np.where(lower == k, 1 - t, 0) + np.where(lower == k - 1, t, 0)
        used = np.flatnonzero(weight)
        if used.size == 0:
            continue
        # sigma is monotone, so the rows using this rung are one band (a row of weight 0
        # inside it adds nothing); the blur needs that band plus its reach.
        a, b = int(used[0]), int(used[-1]) + 1
        lo, hi = max(0, a - math.ceil(3 * s)), min(len(sigma), b + math.ceil(3 * s))
        blurred = _gaussian_blur(image[lo:hi], s)
        out[a:b] += weight[a:b, None].astype(np.float32) * blurred[a - lo : b - lo]
    return out


def _gaussian_blur(image: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur, zero outside; a wide one runs on a copy shrunk to a sigma of 2 pixels.

    Shrinking by ``f`` (area average) and enlarging back (bilinear) blur by about ``f / 2``
    themselves, so the small copy is blurred by the rest, ``sqrt(sigma^2 - f^2 / 4) / f``.
    """
    factor = int(sigma // 2)
    h, w = image.shape
    if factor < 2 or min(h, w) < 2 * factor:
        return cv2.GaussianBlur(image, (0, 0), sigma, borderType=cv2.BORDER_CONSTANT)
    # Padded to whole cells so that the small copy covers exactly the same area.
    padded = np.zeros((-(-h // factor) * factor, -(-w // factor) * factor), np.float32)
    padded[:h, :w] = image
    size = (padded.shape[1] // factor, padded.shape[0] // factor)
    small = cv2.resize(padded, size, interpolation=cv2.INTER_AREA)
    rest = math.sqrt(sigma**2 - factor**2 / 4) / factor
    small = cv2.GaussianBlur(small, (0, 0), rest, borderType=cv2.BORDER_CONSTANT)
    return cv2.resize(small, padded.shape[::-1], interpolation=cv2.INTER_LINEAR)[:h, :w]


def _contact_shadow(
    alpha: np.ndarray,
    origin: tuple[int, int],
    silhouette: tuple[int, int, int, int],
    params: ShadowParams,
    row: float,
    foreshortening: float,
    size: int,
    floor_row: int,
) -> Part | None:
    """Contact-shadow coverage in [0, 1] around the silhouette's footprint, in the box where
    it can reach ``SNAP / ao_strength`` (beyond, its darkening is snapped away)."""
    oy, ox = origin
    height = row - silhouette[0] + 1
    band = max(1, round(FOOTPRINT_BAND * height))
    bottom = int(min(max(row, 0), size - 1))
    footprint_rows = alpha[max(0, bottom - band + 1 - oy) : max(0, bottom + 1 - oy)]
    if footprint_rows.shape[0] == 0:
        return None
    sigma_x = max(params.ao_radius * height, SIGMA_MIN)
    sigma_y = max(sigma_x * foreshortening, SIGMA_MIN)
    # Reach in sigmas where the Gaussian still darkens by SNAP; the blur's kernel reaches 4.
    reach = math.sqrt(2 * math.log(params.ao_strength / SNAP))
    x0, x1 = (
        max(0, ox - math.ceil(4 * sigma_x)),
        min(size, ox + alpha.shape[1] + math.ceil(4 * sigma_x)),
    )
    y0 = max(floor_row, math.floor(row - reach * sigma_y))
    y1 = min(size, math.ceil(row + reach * sigma_y) + 1)
    if y1 <= y0 or x1 <= x0:
        return None
    # Zeros beside the object, and the frame's edge replicated as over the whole frame.
    footprint = np.zeros((1, x1 - x0), np.float32)
    footprint[0, ox - x0 : ox - x0 + alpha.shape[1]] = footprint_rows.max(axis=0)
    across = cv2.GaussianBlur(footprint, (0, 0), sigma_x, borderType=cv2.BORDER_REPLICATE)[0]
    down = np.exp(-0.5 * ((np.arange(y0, y1) - row) / sigma_y) ** 2).astype(np.float32)
    return (y0, x0, y1, x1), down[:, None] * across[None, :]
