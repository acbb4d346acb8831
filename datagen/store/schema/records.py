"""What one sample's placement record holds: its columns, and the values the builder renders
a sample from and the reader rebuilds it with.

The builder (:mod:`datagen.builder`) draws a :class:`Placement` and a :class:`ShadowParams` per
sample and renders a :class:`Composite`; :class:`Rendered` bundles them for the encoders of
:data:`datagen.store.schema.arrays.ARRAYS`. The reader and ``regenerate()`` read the same values
back from the record arrays, so these types belong to the store contract, not to the renderer.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

RECORD_COLUMNS = (
    "plan_index",
    "bg_id",
    "fg_id",
    "flip",
    "position",
    "x",
    "y",
    "width",
    "height",
    "box_y0",
    "box_x0",
    "box_y1",
    "box_x1",
    "jpeg_bytes",
    "jpeg_quality",
)
RECORD_F_COLUMNS = (
    "scale",
    "contact_depth",
    "jitter_brightness",
    "jitter_contrast",
    "jitter_hue",
    "jitter_blur",
)
#: Columns of ``teacher_fit`` and ``bg_teacher_fit``: :math:`s, t` of :math:`1/d = s D + t`
#: (:mod:`datagen.builder.teacher`; 1, 0 for a metric model).
TEACHER_FIT_COLUMNS = ("scale", "shift")
COLUMN = {name: i for i, name in enumerate(RECORD_COLUMNS)}
#: The record's box: every pixel where a sample's fg_bg differs from its bg.
BOX_COLUMNS = ("box_y0", "box_x0", "box_y1", "box_x1")
COLUMN_F = {name: i for i, name in enumerate(RECORD_F_COLUMNS)}

#: The order in which samples are enumerated (the ``plan`` root attribute).
PLAN_COLUMNS = ("bg_id", "fg_id", "flip", "position")

#: Highest light elevation drawn or accepted: straight overhead the sprite plane is undefined.
MAX_ELEVATION_DEG = 80.0


@dataclass(frozen=True)
class PlanEntry:
    """Which assets a sample combines: bg, fg, whether the fg is mirrored, which placement."""

    bg_id: int
    fg_id: int
    flip: bool
    position: int


@dataclass(frozen=True)
class Placement:
    """Everything needed to regenerate a sample from its assets.

    Attributes:
        scale: Placed fg height as a fraction of the frame height.
        x: Column of the placed fg's left edge (negative when it leaves the frame at the left).
        y: Row of the placed fg's top edge.
        width: Placed fg width in pixels.
        height: Placed fg height in pixels.
        contact_depth: Depth of the fg (its ground contact point), in metres.
        jitter: (brightness, contrast, hue, blur sigma); identity (1, 1, 0, 0) when off.
    """

    entry: PlanEntry
    scale: float
    x: int
    y: int
    width: int
    height: int
    contact_depth: float
    jitter: tuple[float, float, float, float]


@dataclass(frozen=True)
class Composite:
    """The rendered sample, restricted to the box where it differs from its bg.

    Attributes:
        box: (y0, x0, y1, x1) in frame pixels: the fg's and its shadow's; empty (y0 == y1)
            when the fg is fully hidden and casts no shadow.
        rgb: (y1-y0, x1-x0, 3) uint8 fg_bg pixels inside the box.
        mask: (y1-y0, x1-x0) uint8, 255 where the composited alpha is >= 0.5, else 0.
    """

    box: tuple[int, int, int, int]
    rgb: np.ndarray
    mask: np.ndarray

    def paste(self, bg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Full-frame (fg_bg, mask) of this sample over its (H, W, 3) bg."""
        y0, x0, y1, x1 = self.box
        fgbg = bg.copy()
        fgbg[y0:y1, x0:x1] = self.rgb
        mask = np.zeros(bg.shape[:2], dtype=np.uint8)
        mask[y0:y1, x0:x1] = self.mask
        return fgbg, mask


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
        """The values for the placement record's float columns (:data:`RECORD_SHADOW_COLUMNS`
        order); ``ShadowParams(*row)`` rebuilds the params from them."""
        # Not dataclasses.astuple, which deep-copies every field: this runs once per sample.
        return (
            self.azimuth_deg,
            self.elevation_deg,
            self.strength,
            self.softness,
            self.ao_strength,
            self.ao_radius,
        )


#: Columns of ``records_shadow`` (format 2): :meth:`ShadowParams.record`, prefixed.
RECORD_SHADOW_COLUMNS = tuple(f"shadow_{f.name}" for f in dataclasses.fields(ShadowParams))

#: No darkening at all: the record of a sample built without shadows.
NO_SHADOW = ShadowParams(0.0, 45.0, 0.0, 0.0, 0.0, 0.125)


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


#: Columns of ``bg_light``: the scene's :class:`SceneLight` (NaN: a photo).
LIGHT_COLUMNS = tuple(f.name for f in dataclasses.fields(SceneLight))


@dataclass(frozen=True)
class Rendered:
    """One rendered sample, as the per-sample encoders take it.

    Attributes:
        plan_index: The sample's place in the plan.
        placement: Where its fg went (with its plan entry).
        composite: The exact composite inside its box, and the box.
        jpeg: The JPEG of ``composite.rgb`` that fits the slot (empty for an empty box).
        quality: The JPEG quality used (0 for an empty box).
        fg_units: The fg's depth in store units.
        shadow: The shadow it was rendered with (``NO_SHADOW`` for none).
    """

    plan_index: int
    placement: Placement
    composite: Composite
    jpeg: bytes
    quality: int
    fg_units: int
    shadow: ShadowParams
