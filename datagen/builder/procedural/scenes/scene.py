"""Procedural bg scenes: the kinds of scene and :func:`render_scene`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from datagen.builder.procedural.common import asset_rng, pick_kind
from datagen.builder.procedural.scenes.camera import random_camera
from datagen.builder.procedural.scenes.indoor import corridor, room_primitives, warehouse
from datagen.builder.procedural.scenes.lighting import indoor_lighting, outdoor_lighting
from datagen.builder.procedural.scenes.outdoor import courtyard, park, street
from datagen.builder.procedural.scenes.primitives import Primitive
from datagen.builder.procedural.scenes.render import World, render_world
from datagen.builder.shadows import scene_light
from datagen.store.schema import SceneLight

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

    build: Callable[[np.random.Generator], list[Primitive]]
    indoor: bool
    max_yaw: float
    """Degrees the camera may turn away from looking straight down the scene."""


_SCENE_LAYOUTS = {
    "room": _Layout(room_primitives, indoor=True, max_yaw=25.0),
    "corridor": _Layout(corridor, indoor=True, max_yaw=12.0),
    "warehouse": _Layout(warehouse, indoor=True, max_yaw=25.0),
    "street": _Layout(street, indoor=False, max_yaw=20.0),
    "courtyard": _Layout(courtyard, indoor=False, max_yaw=25.0),
    "park": _Layout(park, indoor=False, max_yaw=45.0),
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
    kind = pick_kind(seed, index, list(_SCENE_LAYOUTS), _SCENE_KIND_SALT)
    layout = _SCENE_LAYOUTS[kind]
    rng = asset_rng(seed, index, _SCENE_SALT)
    camera = random_camera(rng, size, layout.max_yaw)
    lighting = indoor_lighting(rng) if layout.indoor else outdoor_lighting(rng)
    world = World(camera, lighting, tuple(layout.build(rng)))
    rgb, depth = render_world(world, max_depth)
    return Scene(
        name=f"proc-bg-{index:03d}-{kind}",
        rgb=rgb,
        depth=depth,
        horizon_y=camera.horizon_y,
        ground_k=camera.focal * camera.height,
        light=scene_light(lighting.sun, camera.yaw, lighting.sun_colour, lighting.ambient),
    )
