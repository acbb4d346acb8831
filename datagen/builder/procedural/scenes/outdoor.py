"""Layouts of outdoor scenes: street, courtyard, park."""

from __future__ import annotations

import math

import numpy as np

from datagen.builder.procedural.common import (
    fabric_colour,
    grey,
    hsv_colour,
    random_colour,
    wood_colour,
)
from datagen.builder.procedural.scenes.materials import (
    Marking,
    Material,
    Opening,
    Surface,
    asphalt,
    bricks,
    concrete,
    door_material,
    fabric_material,
    facade,
    flat,
    foliage,
    framed,
    glass_material,
    grass_material,
    metal_material,
    paving,
    speckled,
    tiles,
    with_markings,
    wood_material,
    zones,
)
from datagen.builder.procedural.scenes.primitives import (
    Box,
    Cylinder,
    Ground,
    Primitive,
    Sphere,
)
from datagen.builder.procedural.scenes.props import (
    Floorplan,
    Frame,
    bench,
    car,
    chair,
    lamp_post,
    table,
    tree,
)


def _facade_material(rng: np.random.Generator) -> Material:
    """A building face: brick, render or concrete, with windows, shop fronts and a door."""
    style = rng.choice(["bricks", "render", "concrete"])
    if style == "bricks":
        brick = random_colour(rng, hue=(0.0, 0.07), sat=(0.4, 0.75), val=(0.3, 0.6))
        wall = bricks(brick, grey(rng, 0.5, 0.8), int(rng.integers(1 << 16)))
    elif style == "render":
        wall = flat(random_colour(rng, hue=(0.0, 0.2), sat=(0.05, 0.45), val=(0.5, 0.95)), 0.08)
    else:
        wall = concrete(grey(rng, 0.4, 0.75), rng.uniform(1.5, 3.0))
    frame = grey(rng, 0.05, 0.9)
    sky = random_colour(rng, hue=(0.55, 0.62), sat=(0.15, 0.4), val=(0.5, 0.9))
    glass = framed(glass_material(sky, sky * 0.15, (int(rng.integers(1, 3)), 2)), frame, 0.07)
    shop = framed(glass_material(sky * 0.6, random_colour(rng, val=(0.1, 0.5)), (3, 1)), frame, 0.1)
    door = framed(
        door_material(random_colour(rng, val=(0.1, 0.6)), grey(rng, 0.6, 0.9)), frame, 0.07
    )
    wide = rng.uniform(0.15, 0.3)
    return facade(
        wall,
        [
            Opening(lambda c, r, n: r >= 1, (wide, 0.3, 1 - wide, 0.8), glass),
            Opening(lambda c, r, n: (r == 0) & (c != n // 2), (0.08, 0.05, 0.92, 0.8), shop),
            Opening(lambda c, r, n: (r == 0) & (c == n // 2), (0.3, 0.0, 0.7, 0.75), door),
        ],
        storey=rng.uniform(2.8, 3.6),
        bay=rng.uniform(2.2, 4.0),
    )


def _row_of_buildings(
    rng: np.random.Generator, face_x: float, side: int, z_range: tuple[float, float], gaps: bool
) -> list[Box]:
    """Buildings along z whose street faces lie at x = face_x, on the left (-1) or right (+1)."""
    boxes, z = [], z_range[0]
    while z < z_range[1]:
        width = rng.uniform(8.0, 24.0)
        if gaps and z > 8.0 and rng.random() < 0.15:
            z += rng.uniform(8.0, 14.0)
            continue
        front = face_x + side * rng.uniform(0.0, 0.8)
        back = front + side * rng.uniform(10.0, 20.0)
        height = rng.uniform(6.0, 30.0)
        boxes.append(
            Box(
                (min(front, back), 0.0, z),
                (max(front, back), height, z + width),
                _facade_material(rng),
            )
        )
        z += width
    return boxes


def street(rng: np.random.Generator) -> list[Primitive]:
    """A street between rows of buildings, with parked cars, trees and lamp posts."""
    centre, half, walk = rng.uniform(-2.0, 2.0), rng.uniform(3.0, 6.0), rng.uniform(2.0, 4.5)
    left, right = centre - half - walk, centre + half + walk
    prims: list[Primitive] = [Ground(_street_ground(rng, centre, half))]
    prims += _row_of_buildings(rng, left, -1, (-8.0, 120.0), gaps=True)
    prims += _row_of_buildings(rng, right, 1, (-8.0, 120.0), gaps=True)
    if rng.random() < 0.5:
        far_end = ((left - 30, 0.0, 120.0), (right + 30, rng.uniform(10, 30), 140.0))
        prims.append(Box(*far_end, _facade_material(rng)))
    for side in (-1, 1):
        prims += _kerbside(rng, centre + side * half, side, walk)
    return prims


def _street_ground(rng: np.random.Generator, centre: float, half: float) -> Material:
    """A marked road `2 * half` wide centred on x = `centre`, kerbs, then paved pavements."""
    white = grey(rng, 0.75, 0.9)
    paint = hsv_colour(0.13, 0.85, 0.9) if rng.random() < 0.4 else white
    road = with_markings(
        asphalt(grey(rng, 0.04, 0.12)),
        [
            Marking(centre, 0.15, paint, dash=rng.uniform(4.0, 9.0)),
            Marking(centre - half + 0.4, 0.12, white),
            Marking(centre + half - 0.4, 0.12, white),
        ],
    )
    kerb = flat(grey(rng, 0.35, 0.6))
    setts = (rng.uniform(0.3, 0.6), rng.uniform(0.3, 0.6))
    stone = random_colour(rng, sat=(0.0, 0.2), val=(0.35, 0.7))
    pavement = paving(stone, setts, int(rng.integers(999)))

    def zone(s: Surface) -> np.ndarray:
        off = np.abs(s.u - centre)
        return np.where(off < half, 0, np.where(off < half + 0.25, 1, 2))

    return zones(zone, [road, kerb, pavement])


def _kerbside(rng: np.random.Generator, kerb: float, side: int, walk: float) -> list[Primitive]:
    """Parked cars along the kerb at x = `kerb`; trees and lamp posts on the pavement beyond."""
    prims: list[Primitive] = []
    for z in np.arange(rng.uniform(6.0, 10.0), 70.0, rng.uniform(5.5, 8.0)):
        if rng.random() < 0.55:
            prims += car(kerb - side * rng.uniform(1.0, 1.4), z, rng)
    if rng.random() < 0.6:
        for z in np.arange(rng.uniform(2.0, 8.0), 80.0, rng.uniform(7.0, 14.0)):
            prims += tree(kerb + side * walk * 0.45, z, rng, scale=rng.uniform(0.6, 0.9))
    metal = metal_material(grey(rng, 0.05, 0.4))
    glow = flat(grey(rng, 0.9, 1.0) * 2.0)
    for z in np.arange(rng.uniform(4.0, 12.0), 90.0, rng.uniform(15.0, 25.0)):
        prims += lamp_post(kerb + side * 0.5, z, -side * 1.2, metal, glow)
    return prims


def courtyard(rng: np.random.Generator) -> list[Primitive]:
    """A paved yard closed by buildings (or a garden wall), with planters, benches, trees..."""
    half, depth = rng.uniform(6.0, 12.0), rng.uniform(14.0, 28.0)
    shift = rng.uniform(-0.4, 0.4) * half
    x0, x1 = shift - half, shift + half
    back = ((x0 - 30.0, 0.0, depth), (x1 + 30.0, rng.uniform(8.0, 22.0), depth + 12.0))
    prims: list[Primitive] = [Ground(_yard_ground(rng)), Box(*back, _facade_material(rng))]
    prims += _row_of_buildings(rng, x0, -1, (-8.0, depth), gaps=False)
    if rng.random() < 0.7:
        prims += _row_of_buildings(rng, x1, 1, (-8.0, depth), gaps=False)
    else:
        brick = random_colour(rng, hue=(0.0, 0.08), sat=(0.3, 0.6), val=(0.3, 0.6))
        wall = bricks(brick, grey(rng, 0.5, 0.8), int(rng.integers(999)))
        prims.append(Box((x1, 0.0, -8.0), (x1 + 0.4, rng.uniform(1.5, 2.5), depth), wall))
        for z in np.arange(2.0, depth, rng.uniform(5.0, 9.0)):
            prims += tree(x1 + 4.0, z, rng)
    plan = Floorplan(rng)
    area = (x0 + 1.0, x1 - 1.0), (4.0, depth - 1.5)
    if rng.random() < 0.5 and (spot := plan.claim(*area, 5.0, 5.0)):
        prims += _fountain(rng, *spot)
    wood, metal = wood_material(wood_colour(rng)), metal_material(grey(rng, 0.05, 0.6))
    for _ in range(rng.integers(3, 9)):
        spot = plan.claim(*area, 2.0, 2.0)
        if spot is not None:
            prims += _yard_piece(rng, *spot, wood, metal)
    return prims


def _yard_ground(rng: np.random.Generator) -> Material:
    """Paving setts, gravel or large flags."""
    stone = random_colour(rng, hue=(0.05, 0.12), sat=(0.05, 0.3), val=(0.4, 0.8))
    salt = int(rng.integers(999))
    style = rng.choice(["paving", "gravel", "flags"])
    if style == "paving":
        return paving(stone, (rng.uniform(0.15, 0.5), rng.uniform(0.1, 0.3)), salt)
    if style == "gravel":
        return speckled(stone)
    return tiles(stone, None, rng.uniform(0.5, 1.0), stone * 0.5, salt)


def _fountain(rng: np.random.Generator, x: float, z: float) -> list[Primitive]:
    """A round basin of water with a column in the middle."""
    stone = concrete(grey(rng, 0.5, 0.8), 10.0)
    water = glass_material(hsv_colour(0.55, 0.4, 0.7), hsv_colour(0.5, 0.5, 0.3), (1, 1))
    radius = rng.uniform(1.4, 2.2)
    return [
        Cylinder((x, z), radius, 0.0, 0.5, stone, water),
        Cylinder((x, z), 0.2, 0.0, 1.4, stone),
    ]


def _yard_piece(
    rng: np.random.Generator, x: float, z: float, wood: Material, metal: Material
) -> list[Primitive]:
    """A planter, bench, tree, cafe table under a parasol, or a row of bollards."""
    piece = rng.choice(["planter", "bench", "tree", "cafe", "bollards"])
    if piece == "planter":
        pot = concrete(grey(rng, 0.4, 0.8), 10.0)
        leaves = foliage(random_colour(rng, hue=(0.2, 0.35), sat=(0.4, 0.8), val=(0.2, 0.5)))
        return [
            Box((x - 0.5, 0.0, z - 0.5), (x + 0.5, 0.6, z + 0.5), pot),
            Sphere((x, 0.9, z), 0.6, leaves),
        ]
    if piece == "bench":
        return bench(Frame(x, z, (0, -1)), wood, metal)
    if piece == "tree":
        return tree(x, z, rng, scale=rng.uniform(0.6, 1.0))
    if piece == "cafe":
        canopy = fabric_material(fabric_colour(rng))
        return [
            *table(Frame(x, z, (0, -1)), 0.7, 0.7, 0.74, metal),
            *chair(Frame(x, z + 0.6, (0, -1)), metal, metal),
            Cylinder((x, z), 0.03, 0.74, 2.3, metal),
            Cylinder((x, z), rng.uniform(1.0, 1.5), 2.2, 2.35, canopy),
        ]
    return [Cylinder((x + a, z), 0.1, 0.0, 0.9, metal) for a in (-0.8, 0.0, 0.8)]


def park(rng: np.random.Generator) -> list[Primitive]:
    """Grass with a winding gravel path, trees, benches and lamps, and woods on the horizon."""
    grass = grass_material(
        random_colour(rng, hue=(0.22, 0.3), sat=(0.5, 0.8), val=(0.3, 0.6)),
        random_colour(rng, hue=(0.12, 0.18), sat=(0.4, 0.7), val=(0.4, 0.7)),
    )
    gravel = speckled(random_colour(rng, hue=(0.07, 0.12), sat=(0.15, 0.4), val=(0.5, 0.8)))
    centre, sway, wiggle = rng.uniform(-3.0, 3.0), rng.uniform(0.5, 4.0), rng.uniform(0.05, 0.2)
    width = rng.uniform(0.8, 2.0)

    def path_x(z: np.ndarray | float) -> np.ndarray | float:
        return centre + sway * np.sin(z * wiggle)

    def zone(s: Surface) -> np.ndarray:
        return (np.abs(s.u - path_x(s.v)) < width).astype(int)

    prims: list[Primitive] = [Ground(zones(zone, [grass, gravel]))]
    far = rng.uniform(35.0, 60.0)
    for bearing in np.arange(-1.4, 1.4, rng.uniform(5.0, 9.0) / far):
        distance = far + rng.uniform(0, 15.0)
        prims += tree(math.sin(bearing) * distance, math.cos(bearing) * distance, rng, 2.0, 3)
    plan = Floorplan(rng)
    for _ in range(rng.integers(3, 10)):
        spot = plan.claim((-20.0, 20.0), (5.0, 30.0), 3.0, 3.0)
        if spot and abs(spot[0] - path_x(spot[1])) > width + 1.5:
            prims += tree(*spot, rng, scale=rng.uniform(0.8, 1.4))
    wood, metal = wood_material(wood_colour(rng)), metal_material(grey(rng, 0.05, 0.4))
    lamp = flat(grey(rng, 0.9, 1.0) * 2.0)
    for z in np.arange(rng.uniform(4.0, 8.0), 30.0, rng.uniform(6.0, 12.0)):
        side = int(rng.choice([-1, 1]))
        x = path_x(z) + side * (width + 0.6)
        if rng.random() < 0.6:
            prims += bench(Frame(x, z, (-side, 0)), wood, metal)
        else:
            prims += lamp_post(x, z, 0.0, metal, lamp)
    if rng.random() < 0.5:
        hedge = foliage(random_colour(rng, hue=(0.22, 0.33), sat=(0.5, 0.8), val=(0.2, 0.4)))
        x, z = rng.uniform(-12, 12), rng.uniform(8, 20)
        length = rng.uniform(4, 12)
        prims.append(Box((x - length / 2, 0.0, z), (x + length / 2, 1.2, z + 1.0), hedge))
    return prims
