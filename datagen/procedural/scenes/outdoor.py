"""Layouts of outdoor scenes: street, courtyard, park."""

from __future__ import annotations

import math

import numpy as np

from datagen.procedural.common import _colour, _fabric_colour, _grey, _random_colour, _wood_colour
from datagen.procedural.scenes.materials import (
    Material,
    _asphalt,
    _bricks,
    _concrete,
    _door,
    _fabric,
    _facade,
    _flat,
    _foliage,
    _framed,
    _glass,
    _grass,
    _Marking,
    _metal,
    _Opening,
    _paving,
    _speckled,
    _Surface,
    _tiles,
    _with_markings,
    _wood,
    _zones,
)
from datagen.procedural.scenes.primitives import _Box, _Cylinder, _Ground, _Primitive, _Sphere
from datagen.procedural.scenes.props import (
    _bench,
    _car,
    _chair,
    _Floorplan,
    _Frame,
    _lamp_post,
    _table,
    _tree,
)


def _facade_material(rng: np.random.Generator) -> Material:
    """A building face: brick, render or concrete, with windows, shop fronts and a door."""
    style = rng.choice(["bricks", "render", "concrete"])
    if style == "bricks":
        brick = _random_colour(rng, hue=(0.0, 0.07), sat=(0.4, 0.75), val=(0.3, 0.6))
        wall = _bricks(brick, _grey(rng, 0.5, 0.8), int(rng.integers(1 << 16)))
    elif style == "render":
        wall = _flat(_random_colour(rng, hue=(0.0, 0.2), sat=(0.05, 0.45), val=(0.5, 0.95)), 0.08)
    else:
        wall = _concrete(_grey(rng, 0.4, 0.75), rng.uniform(1.5, 3.0))
    frame = _grey(rng, 0.05, 0.9)
    sky = _random_colour(rng, hue=(0.55, 0.62), sat=(0.15, 0.4), val=(0.5, 0.9))
    glass = _framed(_glass(sky, sky * 0.15, (int(rng.integers(1, 3)), 2)), frame, 0.07)
    shop = _framed(_glass(sky * 0.6, _random_colour(rng, val=(0.1, 0.5)), (3, 1)), frame, 0.1)
    door = _framed(_door(_random_colour(rng, val=(0.1, 0.6)), _grey(rng, 0.6, 0.9)), frame, 0.07)
    wide = rng.uniform(0.15, 0.3)
    return _facade(
        wall,
        [
            _Opening(lambda c, r, n: r >= 1, (wide, 0.3, 1 - wide, 0.8), glass),
            _Opening(lambda c, r, n: (r == 0) & (c != n // 2), (0.08, 0.05, 0.92, 0.8), shop),
            _Opening(lambda c, r, n: (r == 0) & (c == n // 2), (0.3, 0.0, 0.7, 0.75), door),
        ],
        storey=rng.uniform(2.8, 3.6),
        bay=rng.uniform(2.2, 4.0),
    )


def _row_of_buildings(
    rng: np.random.Generator, face_x: float, side: int, z_range: tuple[float, float], gaps: bool
) -> list[_Box]:
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
            _Box(
                (min(front, back), 0.0, z),
                (max(front, back), height, z + width),
                _facade_material(rng),
            )
        )
        z += width
    return boxes


def _street(rng: np.random.Generator) -> list[_Primitive]:
    """A street between rows of buildings, with parked cars, trees and lamp posts."""
    centre, half, walk = rng.uniform(-2.0, 2.0), rng.uniform(3.0, 6.0), rng.uniform(2.0, 4.5)
    left, right = centre - half - walk, centre + half + walk
    prims: list[_Primitive] = [_Ground(_street_ground(rng, centre, half))]
    prims += _row_of_buildings(rng, left, -1, (-8.0, 120.0), gaps=True)
    prims += _row_of_buildings(rng, right, 1, (-8.0, 120.0), gaps=True)
    if rng.random() < 0.5:
        far_end = ((left - 30, 0.0, 120.0), (right + 30, rng.uniform(10, 30), 140.0))
        prims.append(_Box(*far_end, _facade_material(rng)))
    for side in (-1, 1):
        prims += _kerbside(rng, centre + side * half, side, walk)
    return prims


def _street_ground(rng: np.random.Generator, centre: float, half: float) -> Material:
    """A marked road `2 * half` wide centred on x = `centre`, kerbs, then paved pavements."""
    white = _grey(rng, 0.75, 0.9)
    paint = _colour(0.13, 0.85, 0.9) if rng.random() < 0.4 else white
    road = _with_markings(
        _asphalt(_grey(rng, 0.04, 0.12)),
        [
            _Marking(centre, 0.15, paint, dash=rng.uniform(4.0, 9.0)),
            _Marking(centre - half + 0.4, 0.12, white),
            _Marking(centre + half - 0.4, 0.12, white),
        ],
    )
    kerb = _flat(_grey(rng, 0.35, 0.6))
    setts = (rng.uniform(0.3, 0.6), rng.uniform(0.3, 0.6))
    stone = _random_colour(rng, sat=(0.0, 0.2), val=(0.35, 0.7))
    pavement = _paving(stone, setts, int(rng.integers(999)))

    def zone(s: _Surface) -> np.ndarray:
        off = np.abs(s.u - centre)
        return np.where(off < half, 0, np.where(off < half + 0.25, 1, 2))

    return _zones(zone, [road, kerb, pavement])


def _kerbside(rng: np.random.Generator, kerb: float, side: int, walk: float) -> list[_Primitive]:
    """Parked cars along the kerb at x = `kerb`; trees and lamp posts on the pavement beyond."""
    prims: list[_Primitive] = []
    for z in np.arange(rng.uniform(6.0, 10.0), 70.0, rng.uniform(5.5, 8.0)):
        if rng.random() < 0.55:
            prims += _car(kerb - side * rng.uniform(1.0, 1.4), z, rng)
    if rng.random() < 0.6:
        for z in np.arange(rng.uniform(2.0, 8.0), 80.0, rng.uniform(7.0, 14.0)):
            prims += _tree(kerb + side * walk * 0.45, z, rng, scale=rng.uniform(0.6, 0.9))
    metal = _metal(_grey(rng, 0.05, 0.4))
    glow = _flat(_grey(rng, 0.9, 1.0) * 2.0)
    for z in np.arange(rng.uniform(4.0, 12.0), 90.0, rng.uniform(15.0, 25.0)):
        prims += _lamp_post(kerb + side * 0.5, z, -side * 1.2, metal, glow)
    return prims


def _courtyard(rng: np.random.Generator) -> list[_Primitive]:
    """A paved yard closed by buildings (or a garden wall), with planters, benches, trees..."""
    half, depth = rng.uniform(6.0, 12.0), rng.uniform(14.0, 28.0)
    shift = rng.uniform(-0.4, 0.4) * half
    x0, x1 = shift - half, shift + half
    back = ((x0 - 30.0, 0.0, depth), (x1 + 30.0, rng.uniform(8.0, 22.0), depth + 12.0))
    prims: list[_Primitive] = [_Ground(_yard_ground(rng)), _Box(*back, _facade_material(rng))]
    prims += _row_of_buildings(rng, x0, -1, (-8.0, depth), gaps=False)
    if rng.random() < 0.7:
        prims += _row_of_buildings(rng, x1, 1, (-8.0, depth), gaps=False)
    else:
        brick = _random_colour(rng, hue=(0.0, 0.08), sat=(0.3, 0.6), val=(0.3, 0.6))
        wall = _bricks(brick, _grey(rng, 0.5, 0.8), int(rng.integers(999)))
        prims.append(_Box((x1, 0.0, -8.0), (x1 + 0.4, rng.uniform(1.5, 2.5), depth), wall))
        for z in np.arange(2.0, depth, rng.uniform(5.0, 9.0)):
            prims += _tree(x1 + 4.0, z, rng)
    plan = _Floorplan(rng)
    area = (x0 + 1.0, x1 - 1.0), (4.0, depth - 1.5)
    if rng.random() < 0.5 and (spot := plan.claim(*area, 5.0, 5.0)):
        prims += _fountain(rng, *spot)
    wood, metal = _wood(_wood_colour(rng)), _metal(_grey(rng, 0.05, 0.6))
    for _ in range(rng.integers(3, 9)):
        spot = plan.claim(*area, 2.0, 2.0)
        if spot is not None:
            prims += _yard_piece(rng, *spot, wood, metal)
    return prims


def _yard_ground(rng: np.random.Generator) -> Material:
    """Paving setts, gravel or large flags."""
    stone = _random_colour(rng, hue=(0.05, 0.12), sat=(0.05, 0.3), val=(0.4, 0.8))
    salt = int(rng.integers(999))
    style = rng.choice(["paving", "gravel", "flags"])
    if style == "paving":
        return _paving(stone, (rng.uniform(0.15, 0.5), rng.uniform(0.1, 0.3)), salt)
    if style == "gravel":
        return _speckled(stone)
    return _tiles(stone, None, rng.uniform(0.5, 1.0), stone * 0.5, salt)


def _fountain(rng: np.random.Generator, x: float, z: float) -> list[_Primitive]:
    """A round basin of water with a column in the middle."""
    stone = _concrete(_grey(rng, 0.5, 0.8), 10.0)
    water = _glass(_colour(0.55, 0.4, 0.7), _colour(0.5, 0.5, 0.3), (1, 1))
    radius = rng.uniform(1.4, 2.2)
    return [
        _Cylinder((x, z), radius, 0.0, 0.5, stone, water),
        _Cylinder((x, z), 0.2, 0.0, 1.4, stone),
    ]


def _yard_piece(
    rng: np.random.Generator, x: float, z: float, wood: Material, metal: Material
) -> list[_Primitive]:
    """A planter, bench, tree, cafe table under a parasol, or a row of bollards."""
    piece = rng.choice(["planter", "bench", "tree", "cafe", "bollards"])
    if piece == "planter":
        pot = _concrete(_grey(rng, 0.4, 0.8), 10.0)
        leaves = _foliage(_random_colour(rng, hue=(0.2, 0.35), sat=(0.4, 0.8), val=(0.2, 0.5)))
        return [
            _Box((x - 0.5, 0.0, z - 0.5), (x + 0.5, 0.6, z + 0.5), pot),
            _Sphere((x, 0.9, z), 0.6, leaves),
        ]
    if piece == "bench":
        return _bench(_Frame(x, z, (0, -1)), wood, metal)
    if piece == "tree":
        return _tree(x, z, rng, scale=rng.uniform(0.6, 1.0))
    if piece == "cafe":
        canopy = _fabric(_fabric_colour(rng))
        return [
            *_table(_Frame(x, z, (0, -1)), 0.7, 0.7, 0.74, metal),
            *_chair(_Frame(x, z + 0.6, (0, -1)), metal, metal),
            _Cylinder((x, z), 0.03, 0.74, 2.3, metal),
            _Cylinder((x, z), rng.uniform(1.0, 1.5), 2.2, 2.35, canopy),
        ]
    return [_Cylinder((x + a, z), 0.1, 0.0, 0.9, metal) for a in (-0.8, 0.0, 0.8)]


def _park(rng: np.random.Generator) -> list[_Primitive]:
    """Grass with a winding gravel path, trees, benches and lamps, and woods on the horizon."""
    grass = _grass(
        _random_colour(rng, hue=(0.22, 0.3), sat=(0.5, 0.8), val=(0.3, 0.6)),
        _random_colour(rng, hue=(0.12, 0.18), sat=(0.4, 0.7), val=(0.4, 0.7)),
    )
    gravel = _speckled(_random_colour(rng, hue=(0.07, 0.12), sat=(0.15, 0.4), val=(0.5, 0.8)))
    centre, sway, wiggle = rng.uniform(-3.0, 3.0), rng.uniform(0.5, 4.0), rng.uniform(0.05, 0.2)
    width = rng.uniform(0.8, 2.0)

    def path_x(z: np.ndarray | float) -> np.ndarray | float:
        return centre + sway * np.sin(z * wiggle)

    def zone(s: _Surface) -> np.ndarray:
        return (np.abs(s.u - path_x(s.v)) < width).astype(int)

    prims: list[_Primitive] = [_Ground(_zones(zone, [grass, gravel]))]
    far = rng.uniform(35.0, 60.0)
    for bearing in np.arange(-1.4, 1.4, rng.uniform(5.0, 9.0) / far):
        distance = far + rng.uniform(0, 15.0)
        prims += _tree(math.sin(bearing) * distance, math.cos(bearing) * distance, rng, 2.0, 3)
    plan = _Floorplan(rng)
    for _ in range(rng.integers(3, 10)):
        spot = plan.claim((-20.0, 20.0), (5.0, 30.0), 3.0, 3.0)
        if spot and abs(spot[0] - path_x(spot[1])) > width + 1.5:
            prims += _tree(*spot, rng, scale=rng.uniform(0.8, 1.4))
    wood, metal = _wood(_wood_colour(rng)), _metal(_grey(rng, 0.05, 0.4))
    lamp = _flat(_grey(rng, 0.9, 1.0) * 2.0)
    for z in np.arange(rng.uniform(4.0, 8.0), 30.0, rng.uniform(6.0, 12.0)):
        side = int(rng.choice([-1, 1]))
        x = path_x(z) + side * (width + 0.6)
        if rng.random() < 0.6:
            prims += _bench(_Frame(x, z, (-side, 0)), wood, metal)
        else:
            prims += _lamp_post(x, z, 0.0, metal, lamp)
    if rng.random() < 0.5:
        hedge = _foliage(_random_colour(rng, hue=(0.22, 0.33), sat=(0.5, 0.8), val=(0.2, 0.4)))
        x, z = rng.uniform(-12, 12), rng.uniform(8, 20)
        length = rng.uniform(4, 12)
        prims.append(_Box((x - length / 2, 0.0, z), (x + length / 2, 1.2, z + 1.0), hedge))
    return prims
