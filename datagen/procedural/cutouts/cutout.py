"""Procedural fg cutouts: the kinds of cutout and :func:`render_cutout`."""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np

from datagen.procedural.common import _pick_kind, _rng
from datagen.procedural.cutouts.animals import _SPECIES, _draw_bird, _draw_quadruped
from datagen.procedural.cutouts.furniture import (
    _draw_cabinet,
    _draw_chair,
    _draw_lamp,
    _draw_plant,
    _draw_sofa,
    _draw_table,
)
from datagen.procedural.cutouts.misc import (
    _draw_bin,
    _draw_bottle,
    _draw_cone,
    _draw_hydrant,
    _draw_sign,
    _draw_suitcase,
    _draw_vase,
)
from datagen.procedural.cutouts.people import _draw_person
from datagen.procedural.cutouts.raster import _LIGHT, _Part, _rasterise
from datagen.procedural.cutouts.vehicles import _draw_bike, _draw_vehicle

_CUTOUT_SALT = 0xC0707
_CUTOUT_KIND_SALT = 0xC0708


_CUTOUT_BUILDERS: dict[str, Callable[[np.random.Generator], list[_Part]]] = {
    "person": _draw_person,
    **{kind: functools.partial(_draw_quadruped, kind=kind) for kind in _SPECIES},
    "bird": _draw_bird,
    "chair": _draw_chair,
    "table": _draw_table,
    "sofa": _draw_sofa,
    "lamp": _draw_lamp,
    "plant": _draw_plant,
    "cabinet": _draw_cabinet,
    "car": functools.partial(_draw_vehicle, kind="car"),
    "van": functools.partial(_draw_vehicle, kind="van"),
    "bike": _draw_bike,
    "bottle": _draw_bottle,
    "vase": _draw_vase,
    "sign": _draw_sign,
    "cone": _draw_cone,
    "hydrant": _draw_hydrant,
    "bin": _draw_bin,
    "suitcase": _draw_suitcase,
}

#: Kinds dealt to indices, weighted by repetition: people most often, then animals.
_CUTOUT_KINDS = (
    ("person",) * 5
    + ("dog", "dog", "cat", "horse", "cow", "sheep", "bird", "bird")
    + ("chair", "chair", "table", "sofa", "lamp", "plant", "plant", "cabinet")
    + ("car", "car", "van", "bike")
    + ("bottle", "vase", "sign", "cone", "hydrant", "bin", "suitcase")
)


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
    kind = _pick_kind(seed, index, _CUTOUT_KINDS, _CUTOUT_KIND_SALT)
    rng = _rng(seed, index, _CUTOUT_SALT)
    parts = _CUTOUT_BUILDERS[kind](rng)
    flip = bool(rng.random() < 0.5)
    light = _LIGHT * np.array([-1.0 if flip else 1.0, 1.0, 1.0])
    rgba = _rasterise(parts, height, light)
    return f"proc-fg-{index:03d}-{kind}", np.ascontiguousarray(rgba[:, ::-1] if flip else rgba)
