"""Procedural bg scenes: the kinds of scene and :func:`render_scene`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from datagen.procedural.common import _pick_kind, _rng
from datagen.procedural.scenes.camera import _random_camera
from datagen.procedural.scenes.indoor import _corridor, _room, _warehouse
from datagen.procedural.scenes.lighting import _indoor_lighting, _outdoor_lighting
from datagen.procedural.scenes.outdoor import _courtyard, _park, _street
from datagen.procedural.scenes.primitives import _Primitive
from datagen.procedural.scenes.render import _render, _World
from datagen.shadows import SceneLight, scene_light

_SCENE_SALT = 0x5CE4E
_SCENE_KIND_SALT = 0x5CE4F


@dataclass(frozen=True)
class Scene:
    """One procedural bg scene.

    Attributes:
        name: Stable id from index and kind, e.g. ``"proc-bg-017-street"``.
        rgb: (size, size, 3) uint8.
        depth: (size, size) float32 Z-depth in metres at pixel centres, in (0, max_depth].
        horizon_y: Image row of the ground plane's vanishing line (the principal point's row).
        ground_k: Focal length in pixels times camera height in metres: the ground at pixel row
            ``y`` has depth ``ground_k / (y + 0.5 - horizon_y)``.
        light: The key light in the camera frame, for the shadows of composited objects.
    """

    name: str
    rgb: np.ndarray
    depth: np.ndarray
    horizon_y: float
    ground_k: float
    light: SceneLight


@dataclass(frozen=True)
class _Layout:
    """How to build one kind of scene."""

    build: Callable[[np.random.Generator], list[_Primitive]]
    indoor: bool
    max_yaw: float
    """Degrees the camera may turn away from looking straight down the scene."""


_SCENE_LAYOUTS = {
    "room": _Layout(_room, indoor=True, max_yaw=25.0),
    "corridor": _Layout(_corridor, indoor=True, max_yaw=12.0),
    "warehouse": _Layout(_warehouse, indoor=True, max_yaw=25.0),
    "street": _Layout(_street, indoor=False, max_yaw=20.0),
    "courtyard": _Layout(_courtyard, indoor=False, max_yaw=25.0),
    "park": _Layout(_park, indoor=False, max_yaw=45.0),
}


def render_scene(seed: int, index: int, size: int, max_depth: float = 30.0) -> Scene:
    """Render bg scene `index` of the procedural set drawn from `seed`.

    Args:
        seed: Seed of the whole set.
        index: Which scene (>= 0); consecutive indices cycle through all kinds.
        size: Side of the square image in pixels.
        max_depth: Depth of sky and of anything farther, in metres.

    Returns:
        The scene; its bytes depend only on (seed, index, size, max_depth).
    """
    if size < 8:
        raise ValueError(f"scene size must be at least 8 pixels, got {size}")
    kind = _pick_kind(seed, index, list(_SCENE_LAYOUTS), _SCENE_KIND_SALT)
    layout = _SCENE_LAYOUTS[kind]
    rng = _rng(seed, index, _SCENE_SALT)
    camera = _random_camera(rng, size, layout.max_yaw)
    lighting = _indoor_lighting(rng) if layout.indoor else _outdoor_lighting(rng)
    world = _World(camera, lighting, tuple(layout.build(rng)))
    rgb, depth = _render(world, max_depth)
    return Scene(
        name=f"proc-bg-{index:03d}-{kind}",
        rgb=rgb,
        depth=depth,
        horizon_y=camera.horizon_y,
        ground_k=camera.focal * camera.height,
        light=scene_light(lighting.sun, camera.yaw, lighting.sun_colour, lighting.ambient),
    )
