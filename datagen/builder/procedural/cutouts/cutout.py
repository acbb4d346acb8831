"""Procedural fg cutouts: the kinds of cutout and :func:`render_cutout`."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable

import numpy as np

from datagen.builder.procedural.common import asset_rng, pick_kind
from datagen.builder.procedural.cutouts.animals import SPECIES, draw_bird, draw_quadruped
from datagen.builder.procedural.cutouts.furniture import (
    draw_cabinet,
    draw_chair,
    draw_lamp,
    draw_plant,
    draw_sofa,
    draw_table,
)
from datagen.builder.procedural.cutouts.misc import (
    draw_bin,
    draw_bottle,
    draw_cone,
    draw_hydrant,
    draw_sign,
    draw_suitcase,
    draw_vase,
)
from datagen.builder.procedural.cutouts.people import draw_person
from datagen.builder.procedural.cutouts.raster import LIGHT, Part, rasterise
from datagen.builder.procedural.cutouts.vehicles import draw_bike, draw_vehicle

_CUTOUT_SALT = 0xC0707
_CUTOUT_KIND_SALT = 0xC0708


_CUTOUT_BUILDERS: dict[str, Callable[[np.random.Generator], list[Part]]] = {
    "person": draw_person,
    **{kind: functools.partial(draw_quadruped, kind=kind) for kind in SPECIES},
    "bird": draw_bird,
    "chair": draw_chair,
    "table": draw_table,
    "sofa": draw_sofa,
    "lamp": draw_lamp,
    "plant": draw_plant,
    "cabinet": draw_cabinet,
    "car": functools.partial(draw_vehicle, kind="car"),
    "van": functools.partial(draw_vehicle, kind="van"),
    "bike": draw_bike,
    "bottle": draw_bottle,
    "vase": draw_vase,
    "sign": draw_sign,
    "cone": draw_cone,
    "hydrant": draw_hydrant,
    "bin": draw_bin,
    "suitcase": draw_suitcase,
}

#: Kinds dealt to indices, weighted by repetition: people most often, then animals.
_CUTOUT_KINDS = (
    ("person",) * 5
    + ("dog", "dog", "cat", "horse", "cow", "sheep", "bird", "bird")
    + ("chair", "chair", "table", "sofa", "lamp", "plant", "plant", "cabinet")
    + ("car", "car", "van", "bike")
    + ("bottle", "vase", "sign", "cone", "hydrant", "bin", "suitcase")
)

#: The kind each procedural cutout counts as where metrics are reported per kind (``fgd eval``),
#: in the words a ``labels.csv`` of user cutouts uses (data/README.md).
CUTOUT_CATEGORIES: dict[str, str] = {
    "person": "person",
    **dict.fromkeys((*SPECIES, "bird"), "animal"),
    **dict.fromkeys(("chair", "table", "sofa", "lamp", "plant", "cabinet"), "furniture"),
    **dict.fromkeys(("car", "van", "bike"), "vehicle"),
    **dict.fromkeys(("bottle", "vase", "sign", "cone", "hydrant", "bin", "suitcase"), "object"),
}

_NAME = re.compile(r"proc-fg-\d{3,}-([a-z]+)")


def procedural_kind(name: str) -> str | None:
    """The :data:`CUTOUT_CATEGORIES` kind of a built-in cutout named by :func:`render_cutout`
    (every store of them carries it in its fg names); None for any other name."""
    match = _NAME.fullmatch(name)
    return CUTOUT_CATEGORIES.get(match.group(1)) if match else None


def render_cutout(seed: int, index: int, height: int) -> tuple[str, np.ndarray]:
    """Render fg cutout `index` of the procedural set drawn from `seed`.

    Args:
        seed: Seed of the whole set.
        index: Which cutout (>= 0); consecutive indices cycle through all kinds.
        height: Height of the cutout in pixels.

    Returns:
        (name, rgba): name like ``"proc-fg-042-dog"``; rgba is (height, w, 4) uint8 with
        straight alpha, cropped tightly to alpha > 0, w following the object's aspect.
    """
    if height < 8:
        raise ValueError(f"cutout height must be at least 8 pixels, got {height}")
    kind = pick_kind(seed, index, _CUTOUT_KINDS, _CUTOUT_KIND_SALT)
    rng = asset_rng(seed, index, _CUTOUT_SALT)
    parts = _CUTOUT_BUILDERS[kind](rng)
    flip = bool(rng.random() < 0.5)
    light = LIGHT * np.array([-1.0 if flip else 1.0, 1.0, 1.0])
    rgba = rasterise(parts, height, light)
    return f"proc-fg-{index:03d}-{kind}", np.ascontiguousarray(rgba[:, ::-1] if flip else rgba)
