r"""The shadow a placed object casts on the ground of its fg_bg shot, and its contact shadow.

A real second shot differs from the bg shot outside the object too: the object blocks part of
the light (a cast shadow) and part of the sky above the ground around its feet (ambient
occlusion). Both only ever *darken bg pixels*, so they are a multiplicative factor on the bg
applied before the object is composited on top (:func:`apply_shadow`); the mask (the object's
alpha) and the depth (the object's contact depth over the bg depth) do not change.

**Geometry.** The camera is the pinhole of :mod:`datagen.assets`: principal point at the frame
centre, horizon row ``horizon_y``, focal length ``f`` pixels (:func:`prior_focal` when the scene
does not say), image coordinates with pixel centres at ``row + 0.5``. The object stands on the
ground at image point :math:`(u_0, v_c)` (its contact column and row), at depth
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
from dataclasses import astuple, dataclass, fields

import cv2
import numpy as np

from datagen.assets import PRIOR_HFOV_DEG
from datagen.imaging import alpha_bbox

#: Blur of the hard shadow at the contact point, in pixels (anti-aliasing only).
SIGMA_MIN = 0.5
#: Factors at least this close to 1 change no uint8 value: they are snapped to 1.
SNAP = 0.5 / 255
#: Rows of the silhouette, as a fraction of its height, that make up its footprint.
FOOTPRINT_BAND = 0.04
#: Highest light elevation drawn or accepted: straight overhead the sprite plane is undefined.
MAX_ELEVATION_DEG = 80.0
#: Rec. 709 luma weights (linear light), for a scene light's shadow strength.
_LUMA = np.array([0.2126, 0.7152, 0.0722])
#: Gamma of the procedural renderer's encoding (``datagen.procedural.common._encode``).
_GAMMA = 2.2
#: Gaussian sigma of a linear ramp of unit width (the renderer's penumbra is a linear ramp).
_RAMP_SIGMA = 0.4
#: The renderer's penumbra grows by this many metres per metre from the caster.
_RENDER_PENUMBRA_SLOPE = 0.03


@dataclass(frozen=True)
class ShadowParams:
    """How one sample's object shades the ground; every field is a float32-exact float.

    Attributes:
        azimuth_deg: Horizontal direction towards the light in the camera frame: 0 straight
            ahead (light behind the object, its shadow falls towards the camera), 90 from the
            right, +-180 from behind the camera (shadow falls away, behind the object).
        elevation_deg: Height of the light above the horizon, in (0, 80]; the shadow of a point
            ``h`` above the ground is ``h / tan(elevation)`` long.
        strength: Fraction of the bg's (gamma-encoded) value the umbra removes; 0 = no cast
            shadow (overcast light, or a sample drawn without one).
        softness: Penumbra sigma per pixel of distance between occluder and shadow: about the
            angular radius (radians) of the light. 0.01 is a clear sun, 0.1 a hazy sky.
        ao_strength: Darkening of the ground right at the object's footprint, in [0, 1).
        ao_radius: Reach of that darkening across the ground, in object heights.
    """

    azimuth_deg: float
    elevation_deg: float
    strength: float
    softness: float
    ao_strength: float
    ao_radius: float

    def __post_init__(self) -> None:
        if not 0 < self.elevation_deg <= MAX_ELEVATION_DEG:
            raise ValueError(f"elevation_deg must be in (0, {MAX_ELEVATION_DEG}]")
        if not (0 <= self.strength < 1 and 0 <= self.ao_strength < 1):
            raise ValueError("strength and ao_strength must be in [0, 1)")
        if self.softness < 0 or self.ao_radius <= 0:
            raise ValueError("softness must be >= 0 and ao_radius > 0")

    def light(self) -> np.ndarray:
        """Unit vector towards the light in the camera frame (x right, y up, z forward)."""
        az, el = math.radians(self.azimuth_deg), math.radians(self.elevation_deg)
        return np.array([math.sin(az) * math.cos(el), math.sin(el), math.cos(az) * math.cos(el)])

    def record(self) -> tuple[float, ...]:
        """The values for the placement record's float columns (:data:`RECORD_COLUMNS` order);
        ``ShadowParams(*row)`` rebuilds the params from them."""
        return astuple(self)


#: Record column names of :meth:`ShadowParams.record`, prefixed for the placement record.
RECORD_COLUMNS = tuple(f"shadow_{f.name}" for f in fields(ShadowParams))

#: No darkening at all: the record of a sample built without shadows.
NO_SHADOW = ShadowParams(0.0, 45.0, 0.0, 0.0, 0.0, 0.1)


@dataclass(frozen=True)
class SceneLight:
    """What a procedural scene knows about its key light, in the camera frame.

    Attributes:
        azimuth_deg, elevation_deg: As in :class:`ShadowParams`.
        strength: Cast-shadow strength the scene's own renderer gives its ground.
        softness: Penumbra slope of the scene's own renderer.
    """

    azimuth_deg: float
    elevation_deg: float
    strength: float
    softness: float


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
    rng: np.random.Generator, light: SceneLight | None = None, p_cast: float = 0.8
) -> ShadowParams:
    """The shadow of one sample, drawn from `rng` (always the same 7 draws, whatever is used).

    Args:
        rng: The sample's placement generator, after :func:`~datagen.composite.draw_placement`.
        light: The scene's light; None for a user photo (a direction and strength are drawn).
        p_cast: Probability of a cast shadow for a user photo (otherwise only the contact
            shadow): photos taken under diffuse light have none. A scene's light is always used.

    All values are rounded to float32, so the float32 placement record reproduces them exactly.
    """
    azimuth = rng.uniform(-180.0, 180.0)
    elevation = rng.uniform(*PHOTO_ELEVATION_DEG)
    strength = rng.uniform(*PHOTO_STRENGTH)
    softness = math.exp(rng.uniform(*np.log(PHOTO_SOFTNESS)))
    cast = rng.random() < p_cast
    ao_strength = rng.uniform(*AO_STRENGTH)
    ao_radius = rng.uniform(*AO_RADIUS)
    if light is not None:
        azimuth, elevation = light.azimuth_deg, light.elevation_deg
        strength, softness, cast = light.strength, light.softness, True
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


def prior_focal(size: int) -> float:
    """Focal length in pixels of the ground-plane prior's camera (``datagen.assets``)."""
    return (size / 2) / math.tan(math.radians(PRIOR_HFOV_DEG) / 2)


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

    Args:
        alpha: (S, S) float32 alpha in [0, 1] of the placed object in the frame (before
            occlusion by nearer bg: a hidden part still blocks the light).
        params: The sample's :class:`ShadowParams`.
        contact: (row, column) of the object's ground contact point: the placed box's bottom
            row and its centre column (the column may lie outside the frame).
        horizon_y: The bg's horizon row (``bg_ground[:, 0]``).
        focal: Focal length in pixels; default :func:`prior_focal` (procedural cameras lie
            within 10 % of it).
        receiver: (S, S) bool or float where the ground is visible (:func:`ground_receiver`);
            None = everywhere.
    """
    size = alpha.shape[0]
    focal = prior_focal(size) if focal is None else focal
    row, col = contact
    depth_rows = max(row + 0.5 - horizon_y, 1.0)  # D; an object at the horizon: a flat shadow
    darkness = np.zeros(alpha.shape, np.float32)
    if params.strength > 0:
        darkness += params.strength * _cast_shadow(alpha, params, row, col, horizon_y, focal)
    if params.ao_strength > 0:
        ao = _contact_shadow(alpha, params, row, depth_rows / focal)
        darkness = 1 - (1 - darkness) * (1 - params.ao_strength * ao)
    if receiver is not None:
        darkness *= receiver
    factor = 1 - darkness
    factor[factor >= 1 - SNAP] = 1.0
    return factor


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


def _cast_shadow(
    alpha: np.ndarray, params: ShadowParams, row: float, col: float, horizon_y: float, focal: float
) -> np.ndarray:
    """(S, S) float32 cast-shadow coverage in [0, 1], penumbra included.

    The penumbra is blurred into the silhouette before it is warped (the warp then foreshortens
    it as the ground does): a point ``r`` pixels up is ``r / sin(elevation)`` from its shadow,
    so its rows get sigma ``SIGMA_MIN + softness * r / sin(elevation)``. That matches the
    penumbra across the light direction; along it the ground stretches a real penumbra by a
    further ``1 / cos(elevation)`` - the difference is small next to the blur itself.
    """
    size = alpha.shape[0]
    rows = np.flatnonzero(alpha.any(axis=1))
    cols = np.flatnonzero(alpha.any(axis=0))
    bottom = int(min(row, size - 1))
    if rows.size == 0 or rows[0] > bottom:
        return np.zeros(alpha.shape, np.float32)
    top, left, right = int(rows[0]), int(cols[0]), int(cols[-1]) + 1
    sine = params.light()[1]
    sigma_top = min(SIGMA_MIN + params.softness * (row - top) / sine, size / 8)
    pad = math.ceil(3 * sigma_top)
    # The silhouette above the contact row, padded for the blur (zeros outside the frame).
    crop = np.zeros((bottom + 1 - top + 2 * pad, right - left + 2 * pad), np.float32)
    crop[pad : pad + bottom + 1 - top, pad : pad + right - left] = alpha[
        top : bottom + 1, left:right
    ]
    crop_rows = np.arange(crop.shape[0], dtype=np.float64) + (top - pad)
    sigma = np.minimum(
        SIGMA_MIN + params.softness * np.maximum(row - crop_rows, 0) / sine, size / 8
    )
    crop = _row_blur(crop, sigma)
    # Back in the crop's frame: drop what lies under the ground or throws its shadow behind
    # the camera (w below w_min lands beyond 2 frame heights under the horizon).
    matrix = shadow_homography(params, row, col, horizon_y, focal, size)
    xs = np.arange(crop.shape[1], dtype=np.float64) + (left - pad)
    w = matrix[2, 0] * xs[None, :] + matrix[2, 1] * crop_rows[:, None] + matrix[2, 2]
    depth_rows = max(row + 0.5 - horizon_y, 1.0)
    crop[(w <= depth_rows / (2 * size)) | (crop_rows[:, None] > row)] = 0
    shift = np.array([[1.0, 0.0, left - pad], [0.0, 1.0, top - pad], [0.0, 0.0, 1.0]])
    return cv2.warpPerspective(
        crop, matrix @ shift, (size, size), flags=cv2.INTER_LINEAR, borderValue=0.0
    )


def _row_blur(image: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """Gaussian blur whose sigma varies by row (`sigma`, one per row): a per-row blend of blurs
    at the ladder 0.5, 1, 2, 4 ... (linear in log sigma between two rungs)."""
    ladder = [SIGMA_MIN]
    while ladder[-1] < sigma.max():
        ladder.append(ladder[-1] * 2)
    if len(ladder) == 1:
        return cv2.GaussianBlur(image, (0, 0), SIGMA_MIN, borderType=cv2.BORDER_CONSTANT)
    position = np.clip(np.log2(np.maximum(sigma, SIGMA_MIN) / SIGMA_MIN), 0, len(ladder) - 1)
    lower = np.minimum(position.astype(np.int64), len(ladder) - 2)
    t = (position - lower).astype(np.float32)[:, None]
    out = np.zeros_like(image)
    for k, s in enumerate(ladder):
        weight = np.where(lower == k, 1 - t[:, 0], 0) + np.where(lower == k - 1, t[:, 0], 0)
        used = np.flatnonzero(weight)
        if used.size == 0:
            continue
        # Rows using this rung, plus the blur's reach: the rest of the image does not matter.
        lo, hi = (
            max(0, used[0] - math.ceil(3 * s)),
            min(len(sigma), used[-1] + math.ceil(3 * s) + 1),
        )
        blurred = _gaussian_blur(image[lo:hi], s)
        out[used] += weight[used, None].astype(np.float32) * blurred[used - lo]
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
    alpha: np.ndarray, params: ShadowParams, row: float, foreshortening: float
) -> np.ndarray:
    """(S, S) float32 contact-shadow coverage in [0, 1] around the silhouette's footprint."""
    size = alpha.shape[0]
    rows = np.flatnonzero(alpha.any(axis=1))
    if rows.size == 0:
        return np.zeros(alpha.shape, np.float32)
    height = row - rows[0] + 1
    band = max(1, round(FOOTPRINT_BAND * height))
    bottom = int(min(max(row, 0), size - 1))
    footprint = alpha[max(0, bottom - band + 1) : bottom + 1].max(axis=0)
    sigma_x = max(params.ao_radius * height, SIGMA_MIN)
    across = cv2.GaussianBlur(
        footprint[None].astype(np.float32), (0, 0), sigma_x, borderType=cv2.BORDER_REPLICATE
    )[0]
    sigma_y = max(sigma_x * foreshortening, SIGMA_MIN)
    down = np.exp(-0.5 * ((np.arange(size) - row) / sigma_y) ** 2).astype(np.float32)
    return down[:, None] * across[None, :]
