"""One sample: where the fg goes (a :class:`Placement`) and the composite it yields.

Plan: samples are enumerated bg-major as ``plan_index = ((bg * n_fg + fg) * n_flips + flip) *
positions + position``; each sample draws its placement from its own generator keyed by
``(seed, plan_index)``, so a sample never depends on which process or shard renders it.

Placement follows the bg's ground plane. A fg of relative height ``s`` (drawn from the scale
range) stands with its feet on row ``horizon + (s / s_max) * (H - horizon)``: the largest fg
touches the bottom of the frame, smaller ones stand farther back, so nearer is larger as in a
perspective view. Its depth is the ground depth at its feet (or the bg depth map there when the
bg has no ground model) and it occludes only what lies behind it: bg pixels nearer than the fg
(furniture in front of it) stay in front.

Shadows (:mod:`datagen.builder.shadows`) darken the bg before the fg is composited over it; the box
of a composite then holds the shadow too, and its mask stays the fg's.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from datagen.builder.shadows import Shade
from datagen.common.imaging import alpha_bbox, premultiply, resize_premultiplied
from datagen.store.schema import MASK_THRESHOLD
from datagen.store.schema.records import Composite, Placement, PlanEntry

#: A fg pixel is hidden by bg pixels nearer than ``contact_depth * (1 - tolerance)``.
OCCLUSION_TOLERANCE = 1e-3

#: Ranges of the optional fg jitter: brightness and contrast factors, hue shift (fraction of
#: the colour circle), Gaussian blur sigma in pixels (0 for half of the samples).
JITTER_BRIGHTNESS = (0.75, 1.25)
JITTER_CONTRAST = (0.75, 1.25)
JITTER_HUE = (-0.05, 0.05)
JITTER_BLUR = (0.3, 1.2)
IDENTITY_JITTER = (1.0, 1.0, 0.0, 0.0)


def plan_entry(plan_index: int, n_fg: int, n_flips: int, positions: int) -> PlanEntry:
    """Decode a plan index into (bg, fg, flip, position)."""
    rest, position = divmod(plan_index, positions)
    rest, flip = divmod(rest, n_flips)
    bg_id, fg_id = divmod(rest, n_fg)
    return PlanEntry(bg_id=bg_id, fg_id=fg_id, flip=bool(flip), position=position)


def draw_placement(
    entry: PlanEntry,
    rng: np.random.Generator,
    *,
    size: int,
    fg_shape: tuple[int, int],
    horizon_y: float,
    ground_k: float,
    bg_depth: np.ndarray,
    scale_range: tuple[float, float],
    max_outside: float,
    max_depth: float,
    jitter: bool,
) -> Placement:
    """Draw where and how large the fg stands (see the module docstring for the model)."""
    scale_min, scale_max = scale_range
    scale = float(rng.uniform(scale_min, scale_max))
    fg_h, fg_w = fg_shape
    height = max(1, round(scale * size))
    width = max(1, round(height * fg_w / fg_h))
    if width > size:  # too wide for the frame at this height: shrink to fit
        width, height = size, max(1, round(size * fg_h / fg_w))
        scale = height / size
    feet = horizon_y + (scale / scale_max) * (size - horizon_y)
    bottom = min(size, max(height, round(feet)))
    slack = int(max_outside * width)
    x = int(rng.integers(-slack, size - width + slack + 1))
    contact_row = bottom - 1
    if np.isfinite(ground_k):
        contact_depth = ground_k / max(contact_row + 0.5 - horizon_y, 0.5)
    else:
        column = min(size - 1, max(0, x + width // 2))
        contact_depth = float(bg_depth[contact_row, column])
    return Placement(
        entry=entry,
        scale=scale,
        x=x,
        y=bottom - height,
        width=width,
        height=height,
        contact_depth=float(min(contact_depth, max_depth)),
        jitter=_draw_jitter(rng) if jitter else IDENTITY_JITTER,
    )


def placement_rng(seed: int, plan_index: int) -> np.random.Generator:
    """The generator a sample's placement is drawn from: Philox keyed by (seed, plan index).

    A counter-based generator keyed directly is cheaper than ``default_rng([...])``, which
    hashes its seed sequence (figures in data/README.md).
    """
    return np.random.Generator(np.random.Philox(key=(seed << 64) | plan_index))


class PlacementStreams:
    """:func:`placement_rng` for one sample after another, at a fraction of its cost.

    Constructing a Philox generator draws a seed from the operating system's entropy even when
    a key then overrides it; here one generator is re-keyed for each sample instead. The
    generator :meth:`of` returns is valid until its next call: keep one per thread.
    """

    def __init__(self, seed: int) -> None:
        self._seed = seed
        self._bits = np.random.Philox(key=0)
        self._rng = np.random.Generator(self._bits)

    def of(self, plan_index: int) -> np.random.Generator:
        """The stream of ``placement_rng(seed, plan_index)``, from its start."""
        key = (self._seed << 64) | plan_index
        self._bits.state = {
            "bit_generator": "Philox",
            "state": {
                "counter": np.zeros(4, np.uint64),
                "key": np.array([key & _WORD, key >> 64 & _WORD], np.uint64),
            },
            "buffer": np.zeros(4, np.uint64),
            "buffer_pos": 4,  # empty: the next draw starts at the counter
            "has_uint32": 0,
            "uinteger": 0,
        }
        return self._rng


_WORD = (1 << 64) - 1


def prepare_cutout(
    fg_working: np.ndarray, flip: bool, jitter: tuple[float, float, float, float]
) -> np.ndarray:
    """The fg as :func:`render` takes it: mirrored if asked, jittered, premultiplied float32.

    Args:
        fg_working: (h, w, 4) uint8 straight RGBA working copy of the fg (cropped to its size).
        flip: Mirror it left to right.
        jitter: (brightness, contrast, hue, blur sigma), see :func:`apply_jitter`.
    """
    rgba = fg_working[:, ::-1] if flip else fg_working
    return premultiply(apply_jitter(rgba, jitter))


#: ``caster(alpha, origin)``: the shadow of the placed fg, from its alpha cropped to the frame
#: (before occlusion) and the crop's (row, column) in the frame; None for no shadow.
Caster = Callable[[np.ndarray, tuple[int, int]], Shade | None]


def render(
    placement: Placement,
    bg: np.ndarray,
    bg_depth: np.ndarray,
    fg_premultiplied: np.ndarray,
    caster: Caster | None = None,
) -> Composite:
    """Composite the placed fg over `bg` (premultiplied "over"), hidden where bg is nearer.

    Args:
        placement: Where the fg goes.
        bg: (S, S, 3) uint8 RGB bg.
        bg_depth: (S, S) float32 bg depth in metres.
        fg_premultiplied: The fg from :func:`prepare_cutout` for this placement, or one of its
            :func:`~datagen.common.imaging.mip_levels` (at least as large as the placed fg).
        caster: The fg's shadow, if it casts one: the bg is darkened by it
            (``rint(bg * factor)``, :func:`datagen.builder.shadows.apply_shadow`) before the fg is
            composited, and the box grows to hold it.
    """
    size = bg.shape[0]
    placed = resize_premultiplied(fg_premultiplied, placement.width, placement.height)
    x0, y0 = max(placement.x, 0), max(placement.y, 0)
    x1 = min(placement.x + placement.width, size)
    y1 = min(placement.y + placement.height, size)
    placed = placed[y0 - placement.y : y1 - placement.y, x0 - placement.x : x1 - placement.x]
    shade = caster(placed[..., 3], (y0, x0)) if caster is not None else None
    in_front = bg_depth[y0:y1, x0:x1] >= placement.contact_depth * (1 - OCCLUSION_TOLERANCE)
    if not in_front.all():
        placed = _hide(placed, in_front)
    box = alpha_bbox(placed[..., 3])
    if box is None and shade is None:
        empty = (y0, x0, y0, x0)
        return Composite(empty, np.zeros((0, 0, 3), np.uint8), np.zeros((0, 0), np.uint8))
    fg_box = None if box is None else (y0 + box[0], x0 + box[1], y0 + box[2], x0 + box[3])
    out = _union(fg_box, None if shade is None else shade.box)
    oy, ox = out[0], out[1]
    rgb = bg[out[0] : out[2], out[1] : out[3]].copy()
    if shade is not None:
        sy0, sx0, sy1, sx1 = shade.box
        _darken(rgb[sy0 - oy : sy1 - oy, sx0 - ox : sx1 - ox], shade.factor)
    mask = np.zeros(rgb.shape[:2], np.uint8)
    if box is not None:
        by0, bx0, by1, bx1 = box
        fy0, fx0, fy1, fx1 = (fg_box[0] - oy, fg_box[1] - ox, fg_box[2] - oy, fg_box[3] - ox)
        _over(rgb[fy0:fy1, fx0:fx1], mask[fy0:fy1, fx0:fx1], placed[by0:by1, bx0:bx1])
    return Composite(out, rgb, mask)


def _hide(placed: np.ndarray, visible: np.ndarray) -> np.ndarray:
    """`placed` (h, w, 4) float32 with its pixels zeroed where `visible` is False.

    A masked copy into zeros: the values a multiply by 0/1 gives (premultiplied values are
    never negative, so no -0.0), without making the 4-channel 0/1 operand.
    """
    hidden = np.zeros(placed.shape, np.float32)
    cv2.copyTo(placed, visible.view(np.uint8), hidden)
    return hidden


def _darken(region: np.ndarray, factor: np.ndarray) -> None:
    """``region = rint(region * factor)`` in float32, in place: (h, w, 3) uint8, (h, w) factor."""
    region[...] = np.rint(region * cv2.merge((factor, factor, factor)))


def _over(rgb: np.ndarray, mask: np.ndarray, placed: np.ndarray) -> None:
    """Composite premultiplied `placed` over the uint8 `rgb` in place, and write its `mask`.

    ``rgb = rint(rgb * (1 - alpha) + placed_rgb * 255)`` in float32; it stays within [0, 255]
    by construction. Every operand is a contiguous (h, w, 3) array: numpy broadcasting the
    alpha over 3 channels (or reading 3 of 4 channels) would run an inner loop of 3 elements.
    """
    alpha = cv2.extractChannel(placed, 3)
    keep = 1.0 - alpha
    out = rgb.astype(np.float32)
    out *= cv2.merge((keep, keep, keep))
    fg = cv2.cvtColor(placed, cv2.COLOR_RGBA2RGB)
    fg *= 255.0
    out += fg
    rgb[...] = np.rint(out, out=out)
    mask[...] = (alpha >= MASK_THRESHOLD).view(np.uint8) * np.uint8(255)


def _union(
    a: tuple[int, int, int, int] | None, b: tuple[int, int, int, int] | None
) -> tuple[int, int, int, int]:
    """The smallest box holding boxes `a` and `b` (at least one of them given)."""
    boxes = [box for box in (a, b) if box is not None]
    return (
        min(box[0] for box in boxes),
        min(box[1] for box in boxes),
        max(box[2] for box in boxes),
        max(box[3] for box in boxes),
    )


def apply_jitter(rgba: np.ndarray, jitter: tuple[float, float, float, float]) -> np.ndarray:
    """Photometric variation of a cutout's colour (albumentations' torchvision-style ops)."""
    brightness, contrast, hue, blur = jitter
    if jitter == IDENTITY_JITTER:
        return rgba
    # Imported here: albumentations imports torch, ~5 s that every build worker would pay.
    import albumentations.augmentations.pixel.functional as album

    rgb = np.ascontiguousarray(rgba[..., :3])
    rgb = album.adjust_brightness_torchvision(rgb, np.array([brightness]))
    rgb = album.adjust_contrast_torchvision(rgb, contrast)
    rgb = album.adjust_hue_torchvision(rgb, hue)
    if blur > 0:
        rgb = cv2.GaussianBlur(rgb, (0, 0), sigmaX=blur)
    return np.concatenate([rgb, rgba[..., 3:]], axis=-1)


def _draw_jitter(rng: np.random.Generator) -> tuple[float, float, float, float]:
    brightness = float(rng.uniform(*JITTER_BRIGHTNESS))
    contrast = float(rng.uniform(*JITTER_CONTRAST))
    hue = float(rng.uniform(*JITTER_HUE))
    blur = float(rng.uniform(*JITTER_BLUR)) if rng.random() < 0.5 else 0.0
    return brightness, contrast, hue, blur
