"""Layouts of indoor scenes: room, corridor, warehouse."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from datagen.builder.procedural.common import (
    fabric_colour,
    grey,
    hsv_colour,
    paint_colour,
    random_colour,
    wood_colour,
)
from datagen.builder.procedural.scenes.materials import (
    Marking,
    Material,
    Panel,
    bricks,
    carpet,
    concrete,
    corrugated,
    door_material,
    fabric_material,
    flat,
    framed,
    glass_material,
    light_panel,
    lit_ceiling,
    metal_material,
    picture,
    planks,
    speckled,
    stripes,
    tiles,
    with_markings,
    with_panels,
    with_skirting,
    wood_material,
)
from datagen.builder.procedural.scenes.primitives import (
    Box,
    Cylinder,
    Ground,
    Primitive,
    Shell,
)
from datagen.builder.procedural.scenes.props import (
    Floorplan,
    Frame,
    Rect,
    bench,
    cabinet,
    chair,
    crate_stack,
    doors_material,
    floor_lamp,
    plant,
    shelves,
    sofa,
    table,
)


@dataclass(frozen=True)
class _Decor:
    """The coherent set of materials one interior is furnished with."""

    wood: Material
    fabric: Material
    accent: Material
    metal: Material
    dark: Material
    paint: np.ndarray
    handle: np.ndarray

    @classmethod
    def draw(cls, rng: np.random.Generator) -> _Decor:
        """A random but coherent set: one wood, two fabrics, one metal, one wall paint."""
        return cls(
            wood=wood_material(wood_colour(rng)),
            fabric=fabric_material(fabric_colour(rng)),
            accent=fabric_material(fabric_colour(rng)),
            metal=metal_material(grey(rng, 0.1, 0.8)),
            dark=flat(grey(rng, 0.03, 0.1)),
            paint=paint_colour(rng),
            handle=grey(rng, 0.5, 0.9),
        )


def _window(rng: np.random.Generator, frame: np.ndarray) -> Material:
    """A framed window onto a bright sky over greenery."""
    sky = random_colour(rng, hue=(0.52, 0.62), sat=(0.1, 0.4), val=(0.85, 1.0)) * 1.6
    ground = random_colour(rng, hue=(0.15, 0.35), sat=(0.2, 0.5), val=(0.4, 0.7))
    mullions = (int(rng.integers(1, 4)), int(rng.integers(1, 3)))
    return framed(glass_material(sky, ground, mullions), frame, 0.06)


def _wall_panels(
    rng: np.random.Generator, face: int, span: tuple[float, float], ceiling: float, decor: _Decor
) -> list[Panel]:
    """Windows, doors and pictures along one wall, left to right, not overlapping."""
    frame = grey(rng, 0.6, 0.95)
    panels, u = [], span[0] + rng.uniform(0.2, 1.5)
    while True:
        kind = rng.choice(["window", "door", "picture", "gap"], p=[0.35, 0.2, 0.3, 0.15])
        width = {"window": (0.9, 2.0), "door": (0.8, 1.0), "picture": (0.4, 1.2), "gap": (0.3, 1.5)}
        w = rng.uniform(*width[kind])
        if u + w > span[1] - 0.2:
            return panels
        if kind == "window":
            panels.append(Panel(face, u, 0.9, u + w, min(2.3, ceiling - 0.25), _window(rng, frame)))
        elif kind == "door":
            door = framed(door_material(wood_colour(rng), decor.handle), frame, 0.06)
            panels.append(Panel(face, u, 0.0, u + w, 2.05, door))
        elif kind == "picture":
            v0 = rng.uniform(1.2, 1.6)
            panels.append(Panel(face, u, v0, u + w, v0 + w * rng.uniform(0.6, 1.2), picture(rng)))
        u += w + rng.uniform(0.3, 1.8)


def _plain_wall(rng: np.random.Generator, decor: _Decor) -> Material:
    """Paint, striped wallpaper or bare brick, with a skirting board."""
    style = rng.choice(["paint", "paint", "stripes", "bricks"])
    if style == "stripes":
        wall = stripes(decor.paint, decor.paint * rng.uniform(0.6, 0.85), rng.uniform(0.1, 0.4))
    elif style == "bricks":
        brick = random_colour(rng, hue=(0.0, 0.07), sat=(0.4, 0.7), val=(0.35, 0.65))
        wall = bricks(brick, grey(rng, 0.5, 0.8), int(rng.integers(1 << 16)))
    else:
        wall = flat(decor.paint, 0.04)
    return with_skirting(wall, grey(rng, 0.1, 0.95), rng.uniform(0.06, 0.15))


def _floor(rng: np.random.Generator, styles: Sequence[str]) -> Material:
    """An indoor floor in one of `styles`: planks, tiles, carpet, lino or concrete."""
    salt = int(rng.integers(1 << 16))
    style = rng.choice(styles)
    if style == "planks":
        return planks(wood_colour(rng), rng.uniform(0.1, 0.25), rng.uniform(0.9, 2.5), salt)
    if style == "tiles":
        colour = random_colour(rng, sat=(0.0, 0.35), val=(0.3, 0.95))
        other = random_colour(rng, sat=(0.0, 0.35), val=(0.1, 0.9)) if rng.random() < 0.4 else None
        return tiles(colour, other, rng.uniform(0.25, 0.8), grey(rng, 0.2, 0.8), salt)
    if style == "carpet":
        return carpet(fabric_colour(rng))
    if style == "lino":
        return speckled(random_colour(rng, sat=(0.0, 0.3), val=(0.4, 0.8)) * 0.9)
    return concrete(grey(rng, 0.35, 0.7), rng.uniform(3.0, 6.0))


def _wall_spot(plan: Floorplan, wall: str, room: Rect, w: float, d: float) -> Frame | None:
    """A free w (along the wall) x d (deep) footprint against one wall of room (x0, x1, z0, z1)."""
    x0, x1, z0, z1 = room
    if wall == "back":
        spot, facing = plan.claim((x0, x1), (z1 - d - 0.02, z1 - 0.01), w, d), (0, -1)
    elif wall == "left":
        spot, facing = plan.claim((x0 + 0.01, x0 + d + 0.02), (z0, z1), d, w), (1, 0)
    else:
        spot, facing = plan.claim((x1 - d - 0.02, x1 - 0.01), (z0, z1), d, w), (-1, 0)
    return None if spot is None else Frame(*spot, facing)


def _wall_piece(
    rng: np.random.Generator, plan: Floorplan, wall: str, room: Rect, decor: _Decor
) -> list[Primitive]:
    """One piece of furniture against a wall: sofa, cabinet, bookshelf, plant or lamp."""
    piece = rng.choice(["sofa", "cabinet", "shelf", "plant", "lamp", "sideboard"])
    if piece == "sofa":
        width = rng.uniform(1.6, 2.6)
        f = _wall_spot(plan, wall, room, width, 0.9)
        return [] if f is None else sofa(f, width, decor.fabric, decor.dark)
    if piece in ("cabinet", "shelf", "sideboard"):
        w, h, d = {
            "cabinet": (rng.uniform(0.6, 1.4), rng.uniform(1.6, 2.2), 0.55),
            "shelf": (rng.uniform(0.8, 2.0), rng.uniform(1.6, 2.2), 0.35),
            "sideboard": (rng.uniform(1.0, 2.0), rng.uniform(0.7, 0.95), 0.45),
        }[piece]
        f = _wall_spot(plan, wall, room, w, d)
        if f is None:
            return []
        body = decor.wood if rng.random() < 0.6 else flat(paint_colour(rng))
        colour = wood_colour(rng) if rng.random() < 0.5 else paint_colour(rng)
        if piece == "shelf":
            front = shelves(colour, (rng.uniform(0.03, 0.06), 0.28), 0.38, int(rng.integers(999)))
        else:
            front = doors_material(colour, decor.handle, rng.uniform(0.4, 0.6))
        return cabinet(f, (w, h, d), front, body)
    f = _wall_spot(plan, wall, room, 0.6, 0.6)
    if f is None:
        return []
    return plant(f.x, f.z, rng) if piece == "plant" else floor_lamp(f.x, f.z, rng)


def _centre_pieces(
    rng: np.random.Generator, plan: Floorplan, room: Rect, decor: _Decor
) -> list[Primitive]:
    """A dining set or a coffee table with a rug, and maybe a plant, in the middle of a room."""
    x0, x1, z0, z1 = room
    middle = (x0 + 1.0, x1 - 1.0), (z0 + 0.5, z1 - 1.2)
    prims: list[Primitive] = []
    w, d = rng.uniform(0.9, 1.8), rng.uniform(0.7, 1.0)
    spot = plan.claim(*middle, w + 1.1, d + 1.1)
    if spot is not None:
        x, z = spot
        if rng.random() < 0.5:
            prims += table(Frame(x, z, (0, -1)), w, d, 0.75, decor.wood)
            for facing in ((0, -1), (0, 1), (1, 0), (-1, 0))[: rng.integers(2, 5)]:
                cx, cz = x - facing[0] * (w / 2 + 0.15), z - facing[1] * (d / 2 + 0.15)
                prims += chair(Frame(cx, cz, facing), decor.accent, decor.wood)
        else:
            rug = carpet(fabric_colour(rng))
            prims.append(
                Box(
                    (x - w / 2 - 0.5, 0.0, z - d / 2 - 0.5),
                    (x + w / 2 + 0.5, 0.012, z + d / 2 + 0.5),
                    rug,
                )
            )
            prims += table(Frame(x, z, (0, -1)), w * 0.8, d * 0.7, 0.42, decor.wood)
    spot = plan.claim(*middle, 0.6, 0.6)
    if spot is not None and rng.random() < 0.6:
        prims += plant(*spot, rng)
    return prims


def room_primitives(rng: np.random.Generator) -> list[Primitive]:
    """A living or dining room: furniture along the walls and in the middle."""
    half, depth, ceiling = rng.uniform(2.5, 4.5), rng.uniform(6.0, 12.0), rng.uniform(2.6, 3.3)
    shift = rng.uniform(-1.0, 1.0) * (half - 1.2)
    x0, x1 = shift - half, shift + half
    decor = _Decor.draw(rng)
    panels = (
        _wall_panels(rng, 4, (0.0, x1 - x0), ceiling, decor)
        + _wall_panels(rng, 1, (2.0, depth + 1.0), ceiling, decor)
        + _wall_panels(rng, 0, (2.0, depth + 1.0), ceiling, decor)
    )
    walls = with_panels(_plain_wall(rng, decor), panels)
    prims: list[Primitive] = [
        Ground(_floor(rng, ["planks", "planks", "tiles", "carpet", "concrete"])),
        Shell(
            (x0, 0.0, -1.0),
            (x1, ceiling, depth),
            walls,
            lit_ceiling(rng, x1 - x0, depth + 1.0, (0.5, 0.5), int(rng.integers(1, 3))),
        ),
    ]
    plan = Floorplan(rng)
    bounds = (x0, x1, 2.0, depth)
    for wall in ("back", "left", "right", "back", "left", "right"):
        if rng.random() < 0.7:
            prims += _wall_piece(rng, plan, wall, bounds, decor)
    return prims + _centre_pieces(rng, plan, bounds, decor)


def corridor(rng: np.random.Generator) -> list[Primitive]:
    """A long corridor lined with doors, a window at the end, a few things along the walls."""
    half, depth, ceiling = rng.uniform(1.0, 1.8), rng.uniform(14.0, 30.0), rng.uniform(2.4, 3.0)
    shift = rng.uniform(-0.4, 0.4) * half
    x0, x1 = shift - half, shift + half
    decor = _Decor.draw(rng)
    frame = grey(rng, 0.3, 0.95)
    panels = [Panel(4, 0.2 * half, 0.9, 1.8 * half, ceiling - 0.3, _window(rng, frame))]
    for face in (0, 1):
        u = rng.uniform(1.5, 4.0)
        door = framed(door_material(paint_colour(rng) * 0.7, decor.handle), frame, 0.06)
        while u < depth:
            panels.append(Panel(face, u, 0.0, u + 0.95, 2.1, door))
            u += rng.uniform(3.0, 6.0)
    ceiling_material = lit_ceiling(rng, 2 * half, depth + 1.0, (0.6, 1.2), 1)
    prims: list[Primitive] = [
        Ground(_floor(rng, ["tiles", "lino", "planks"])),
        Shell(
            (x0, 0.0, -1.0),
            (x1, ceiling, depth),
            with_panels(_plain_wall(rng, decor), panels),
            ceiling_material,
        ),
    ]
    plan = Floorplan(rng)
    for _ in range(rng.integers(2, 6)):
        wall = rng.choice(["left", "right"])
        f = _wall_spot(plan, wall, (x0, x1, 2.5, depth - 0.5), rng.uniform(0.5, 1.6), 0.45)
        if f is None:
            continue
        piece = rng.choice(["bench", "plant", "bin", "cabinet"])
        if piece == "bench":
            prims += bench(f, decor.wood, decor.metal)
        elif piece == "plant":
            prims += plant(f.x, f.z, rng)
        elif piece == "bin":
            prims.append(Cylinder((f.x, f.z), 0.2, 0.0, 0.6, decor.metal))
        else:
            prims += cabinet(
                f, (0.8, 1.1, 0.45), doors_material(decor.paint, decor.handle, 0.4), decor.metal
            )
    return prims


def warehouse(rng: np.random.Generator) -> list[Primitive]:
    """A tall shed: racks along ribbed walls, pillars, crates and barrels on a concrete floor."""
    half, depth, ceiling = rng.uniform(7.0, 14.0), rng.uniform(18.0, 32.0), rng.uniform(6.0, 10.0)
    shift = rng.uniform(-0.4, 0.4) * half
    x0, x1 = shift - half, shift + half
    yellow = hsv_colour(rng.uniform(0.11, 0.15), 0.85, 0.9)
    lanes = [Marking(x, 0.12, yellow) for x in (shift - 2.0, shift + 2.0)]
    floor = with_markings(concrete(grey(rng, 0.3, 0.65), rng.uniform(4.0, 7.0)), lanes)
    prims: list[Primitive] = [
        Ground(floor),
        Shell(
            (x0, 0.0, -1.0),
            (x1, ceiling, depth),
            _shed_walls(rng, 2 * half, depth + 1.0, ceiling),
            _shed_roof(rng, 2 * half, depth + 1.0),
        ),
    ]
    plan = Floorplan(rng)
    racks = random_colour(rng, sat=(0.5, 0.9), val=(0.3, 0.7))
    for wall in ("left", "right", "back"):
        for _ in range(rng.integers(1, 3)):
            length, height = rng.uniform(4.0, 12.0), rng.uniform(2.5, min(6.0, ceiling - 1.0))
            f = _wall_spot(plan, wall, (x0, x1, 3.0, depth), length, 1.1)
            if f is not None:
                front = shelves(racks, (rng.uniform(0.4, 0.8), 0.6), 1.2, int(rng.integers(999)))
                prims += cabinet(f, (length, height, 1.1), front, metal_material(racks))
    pillar = metal_material(grey(rng, 0.4, 0.8))
    for z in np.arange(rng.uniform(4.0, 8.0), depth - 2.0, rng.uniform(6.0, 9.0)):
        for x in (shift - half * 0.45, shift + half * 0.45):
            if plan.claim((x - 0.3, x + 0.3), (z - 0.3, z + 0.3), 0.5, 0.5):
                prims.append(Box((x - 0.2, 0.0, z - 0.2), (x + 0.2, ceiling, z + 0.2), pillar))
    crates = wood_material(wood_colour(rng))
    barrel = metal_material(random_colour(rng, sat=(0.5, 0.9), val=(0.3, 0.7)))
    for _ in range(rng.integers(3, 9)):
        spot = plan.claim((x0 + 1.5, x1 - 1.5), (3.0, depth - 2.0), 1.2, 1.2)
        if spot is not None and rng.random() < 0.6:
            prims += crate_stack(*spot, rng, crates)
        elif spot is not None:
            prims.append(Cylinder(spot, 0.3, 0.0, 0.9, barrel))
    return prims


def _shed_walls(rng: np.random.Generator, width: float, depth: float, height: float) -> Material:
    """Ribbed cladding over a concrete plinth, a row of high windows, a gate in the back wall."""
    frame = grey(rng, 0.2, 0.6)
    gate = rng.uniform(3.0, 6.0)
    gate_u = rng.uniform(1.0, width - gate - 1.0)
    gate_door = framed(corrugated(grey(rng, 0.4, 0.8)), frame, 0.12)
    panels = [Panel(4, gate_u, 0.0, gate_u + gate, gate * 0.9, gate_door)]
    window = _window(rng, frame)
    for face, length in ((4, width), (0, depth), (1, depth)):
        for u in np.arange(2.0, length - 2.0, rng.uniform(3.0, 5.0)):
            panels.append(Panel(face, u, height - 2.0, u + 2.0, height - 0.6, window))
    cladding = corrugated(random_colour(rng, sat=(0.0, 0.35), val=(0.4, 0.85)))
    return with_panels(with_skirting(cladding, grey(rng, 0.3, 0.6), 1.0), panels)


def _shed_roof(rng: np.random.Generator, width: float, depth: float) -> Material:
    """Ribbed roofing with long skylights running back."""
    skylight = light_panel(grey(rng, 0.85, 1.0))
    skylights = [
        Panel(2, u, 0.0, u + 1.5, depth, skylight)
        for u in np.arange(2.0, width - 2.0, rng.uniform(4.0, 7.0))
    ]
    return with_panels(corrugated(grey(rng, 0.3, 0.7)), skylights)
