"""Cutouts of furniture: chairs, tables, sofas, lamps, plants, cabinets."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from datagen.procedural.common import (
    _SPINES,
    _channels,
    _grey,
    _hash,
    _lines,
    _mix,
    _random_colour,
    _wood_colour,
)
from datagen.procedural.cutouts.raster import _Part
from datagen.procedural.cutouts.shapes import (
    _capsule,
    _circle,
    _curve,
    _ellipse,
    _lathe,
    _polygon,
    _rbox,
    _Shape,
    _union,
)
from datagen.procedural.cutouts.textures import (
    Texture,
    _cloth,
    _cloth_texture,
    _darker,
    _furry,
    _grain,
    _plain,
    _striped,
)


def _furniture_colour(rng: np.random.Generator) -> np.ndarray:
    if rng.random() < 0.6:
        return _wood_colour(rng)
    return _random_colour(rng, sat=(0.0, 0.6), val=(0.1, 0.9))


def _one_of(
    rng: np.random.Generator, styles: Sequence[Callable[..., list[_Part]]], *args: object
) -> list[_Part]:
    """Draw with one of several styles, picked at random (repeat a style to favour it)."""
    return styles[rng.integers(len(styles))](rng, *args)


def _draw_chair(rng: np.random.Generator) -> list[_Part]:
    """A dining chair, bar stool, office chair or armchair, from the front."""
    return _one_of(rng, [_dining_chair, _dining_chair, _stool, _office_chair, _armchair])


def _dining_chair(rng: np.random.Generator) -> list[_Part]:
    colour = _furniture_colour(rng)
    frame = _grain(colour)
    seat_h, w, t = rng.uniform(0.42, 0.5), rng.uniform(0.4, 0.5), rng.uniform(0.02, 0.03)
    back_h = seat_h + rng.uniform(0.4, 0.55)
    post = w / 2 - t * 1.5
    back_legs = _union(
        *(_rbox(s * post, back_h / 2 + 0.04, t * 0.8, back_h / 2 - 0.04, t * 0.3) for s in (-1, 1))
    )
    rest_h = rng.uniform(0.1, 0.3)
    rest = _rbox(0.0, back_h - rest_h / 2 - 0.02, post, rest_h / 2, t * 0.5)
    slats = _striped(colour, colour * 0.3, rng.uniform(0.04, 0.08), math.pi / 2)
    top = seat_h + 0.07  # the seat is seen a little from above
    seat = _polygon(
        [(-w / 2, seat_h), (w / 2, seat_h), (w / 2 - 0.03, top), (-w / 2 + 0.03, top)], t * 0.5
    )
    front_legs = _union(
        *(_rbox(s * (w / 2 - t), seat_h / 2, t, seat_h / 2, t * 0.3) for s in (-1, 1))
    )
    cushion = _cloth_texture(rng, _cloth(rng)) if rng.random() < 0.5 else frame
    return [
        _Part(back_legs, _darker(frame, 0.7), t),
        _Part(rest, slats if rng.random() < 0.5 else _darker(frame, 0.85), t),
        _Part(seat, cushion, t * 1.5),
        _Part(front_legs, frame, t),
    ]


def _stool(rng: np.random.Generator) -> list[_Part]:
    seat_h = rng.uniform(0.6, 0.8)
    legs = [_capsule((s * 0.1, seat_h), (s * 0.2, 0.0), 0.015) for s in (-1, -0.35, 0.35, 1)]
    ring = _rbox(0.0, seat_h * 0.35, 0.16, 0.012, 0.01)
    seat = _ellipse(0.0, seat_h + 0.02, 0.19, 0.04)
    frame = _grain(_furniture_colour(rng))
    return [
        _Part(_union(*legs, ring), frame, 0.015, 0.3),
        _Part(seat, _cloth_texture(rng, _cloth(rng)), 0.04),
    ]


def _office_chair(rng: np.random.Generator) -> list[_Part]:
    seat_h = rng.uniform(0.42, 0.5)
    metal = _plain(_furniture_colour(rng) * 0.3, 0.05)
    fabric = _cloth_texture(rng, _cloth(rng))
    feet = (-0.3, -0.12, 0.12, 0.3)
    star = [_capsule((0.0, 0.08), (x, 0.05), 0.015) for x in feet]
    column = _rbox(0.0, 0.25, 0.025, 0.17, 0.01)
    back = _rbox(0.0, seat_h + rng.uniform(0.3, 0.45), 0.22, rng.uniform(0.2, 0.3), 0.06)
    arms = [_rbox(s * 0.28, seat_h + 0.15, 0.02, 0.1, 0.015) for s in (-1, 1)]
    return [
        _Part(
            _union(*(_circle(x, 0.03, 0.03) for x in feet)), _plain(_grey(rng, 0.01, 0.05)), 0.02
        ),
        _Part(_union(*star, column), metal, 0.012, 0.4),
        _Part(back, fabric, 0.06),
        _Part(_union(*arms), metal, 0.015, 0.3),
        _Part(_rbox(0.0, seat_h, 0.26, 0.05, 0.04), fabric, 0.04),
    ]


def _armchair(rng: np.random.Generator) -> list[_Part]:
    seat_h, w = rng.uniform(0.42, 0.5), rng.uniform(0.7, 0.95)
    fabric = _cloth_texture(rng, _cloth(rng))
    legs = _union(*(_rbox(s * (w / 2 - 0.06), 0.05, 0.02, 0.05, 0.01) for s in (-1, 1)))
    back = _rbox(0.0, seat_h + 0.25, w / 2 - 0.05, 0.35, 0.1)
    seat = _rbox(0.0, seat_h - 0.05, w / 2, 0.14, 0.06)
    arms = _union(*(_rbox(s * (w / 2 - 0.06), seat_h + 0.05, 0.07, 0.22, 0.06) for s in (-1, 1)))
    return [
        _Part(legs, _grain(_furniture_colour(rng)), 0.02),
        _Part(back, _darker(fabric, 0.85), 0.12),
        _Part(seat, fabric, 0.08),
        _Part(arms, fabric, 0.07),
    ]


def _draw_table(rng: np.random.Generator) -> list[_Part]:
    """A table from the front: on four legs (two in front, two behind) or one pedestal."""
    wood = _grain(_furniture_colour(rng), vertical=False)
    h, w, t = rng.uniform(0.7, 0.78), rng.uniform(0.8, 1.8), rng.uniform(0.03, 0.06)
    top = _Part(_rbox(0.0, h - t / 2, w / 2, t / 2, t * 0.3), wood, t)
    if rng.random() < 0.35:
        pedestal = _union(
            _rbox(0.0, h / 2, 0.04, h / 2, 0.02), _rbox(0.0, 0.02, w * 0.25, 0.02, 0.015)
        )
        return [_Part(pedestal, _darker(wood, 0.8), 0.03), top]
    inset, leg = rng.uniform(0.02, 0.1), rng.uniform(0.02, 0.04)
    far = _union(
        *(_rbox(s * (w / 2 - inset - 0.15), h / 2, leg * 0.9, h / 2, 0.01) for s in (-1, 1))
    )
    near = _union(
        *(_rbox(s * (w / 2 - inset), h / 2, leg, h / 2, 0.01) for s in (-1, 1)),
        _rbox(0.0, h - t - 0.04, w / 2 - inset, 0.04, 0.01),
    )
    return [_Part(far, _darker(wood, 0.6), leg), _Part(near, wood, leg), top]


def _draw_sofa(rng: np.random.Generator) -> list[_Part]:
    """A sofa from the front: back, base, two or three seat cushions, arms, little legs."""
    fabric = _cloth_texture(rng, _cloth(rng))
    w = rng.uniform(1.5, 2.4)
    seats = int(rng.integers(2, 4))
    pitch = (w - 0.4) / seats
    cushions = [
        _rbox(-w / 2 + 0.2 + pitch * (i + 0.5), 0.47, pitch / 2 - 0.01, 0.07, 0.05)
        for i in range(seats)
    ]
    return [
        _Part(
            _union(*(_rbox(s * (w / 2 - 0.1), 0.04, 0.025, 0.04, 0.01) for s in (-1, 1))),
            _grain(_wood_colour(rng)),
            0.02,
        ),
        _Part(_rbox(0.0, 0.6, w / 2 - 0.1, 0.28, 0.1), _darker(fabric, 0.85), 0.15),
        _Part(_rbox(0.0, 0.28, w / 2, 0.17, 0.06), _darker(fabric, 0.9), 0.08),
        _Part(_union(*cushions), fabric, 0.07),
        _Part(
            _union(*(_rbox(s * (w / 2 - 0.09), 0.4, 0.1, 0.25, 0.08) for s in (-1, 1))), fabric, 0.1
        ),
    ]


def _draw_lamp(rng: np.random.Generator) -> list[_Part]:
    """A floor lamp, desk lamp or table lamp."""
    metal = _plain(_random_colour(rng, sat=(0.0, 0.5), val=(0.1, 0.85)), 0.05)
    shade = _plain(_random_colour(rng, hue=(0.05, 0.15), sat=(0.05, 0.5), val=(0.6, 0.98)), 0.1)
    return _one_of(rng, [_standard_lamp, _desk_lamp, _table_lamp], metal, shade)


def _standard_lamp(rng: np.random.Generator, metal: Texture, fabric: Texture) -> list[_Part]:
    h = rng.uniform(1.4, 1.8)
    r0, r1 = rng.uniform(0.1, 0.18), rng.uniform(0.18, 0.28)
    stand = _union(_ellipse(0.0, 0.02, 0.16, 0.025), _rbox(0.0, h / 2, 0.012, h / 2))
    shade = _polygon([(-r1, h - 0.3), (r1, h - 0.3), (r0, h), (-r0, h)], 0.01)
    return [_Part(stand, metal, 0.01, 0.5), _Part(shade, fabric, 0.08)]


def _desk_lamp(rng: np.random.Generator, metal: Texture, fabric: Texture) -> list[_Part]:
    elbow = (rng.uniform(-0.2, -0.05), rng.uniform(0.25, 0.4))
    hx, hy = elbow[0] + rng.uniform(0.2, 0.3), elbow[1] + rng.uniform(0.05, 0.15)
    arm = _union(_capsule((0.0, 0.04), elbow, 0.012), _capsule(elbow, (hx, hy), 0.012))
    cone = [
        (hx - 0.02, hy + 0.04),
        (hx + 0.06, hy - 0.13),
        (hx + 0.16, hy - 0.06),
        (hx + 0.04, hy + 0.05),
    ]
    base = _ellipse(0.0, 0.02, 0.09, 0.02)
    return [
        _Part(_union(arm, base), metal, 0.01, 0.5),
        _Part(_polygon(cone, 0.01), metal, 0.04, 0.6),
    ]


def _table_lamp(rng: np.random.Generator, metal: Texture, fabric: Texture) -> list[_Part]:
    body = _lathe(
        0.0, [(0.0, 0.06), (0.05, 0.1), (0.15, 0.12), (0.25, 0.08), (0.3, 0.03), (0.35, 0.02)]
    )
    glaze = _plain(_random_colour(rng, sat=(0.2, 0.8), val=(0.2, 0.9)), 0.05)
    shade = _polygon([(-0.2, 0.33), (0.2, 0.33), (0.13, 0.58), (-0.13, 0.58)], 0.01)
    return [_Part(body, glaze, 0.08, 0.7), _Part(shade, fabric, 0.06)]


def _draw_plant(rng: np.random.Generator) -> list[_Part]:
    """A potted plant: leafy, a little tree, a cactus or tall blades."""
    r, h = rng.uniform(0.1, 0.25), rng.uniform(0.15, 0.4)
    green = _random_colour(rng, hue=(0.22, 0.38), sat=(0.4, 0.85), val=(0.2, 0.6))
    return _one_of(rng, [_leaves, _blades, _potted_tree, _cactus], r, h, green) + _pot(rng, r, h)


def _pot(rng: np.random.Generator, r: float, h: float) -> list[_Part]:
    """A flower pot `h` tall, `r` wide at the rim: terracotta, or glazed in any colour."""
    clay = _random_colour(rng, hue=(0.02, 0.1), sat=(0.2, 0.75), val=(0.3, 0.85))
    if rng.random() < 0.4:
        clay = _random_colour(rng, sat=(0.0, 0.6), val=(0.2, 0.95))
    body = _polygon([(-r * 0.75, 0.0), (r * 0.75, 0.0), (r, h * 0.9), (-r, h * 0.9)], r * 0.03)
    rim = _rbox(0.0, h * 0.93, r * 1.08, h * 0.07, r * 0.04)
    return [_Part(body, _plain(clay, 0.1), r * 0.6, 0.2), _Part(rim, _plain(clay * 0.9), h * 0.05)]


def _leaves(
    rng: np.random.Generator, r: float, h: float, green: np.ndarray, blade: float = 0.0
) -> list[_Part]:
    """Leaves fanning out of the pot at height h, in two layers; narrow blades when `blade`."""
    layers: tuple[list[_Shape], list[_Shape]] = ([], [])
    for i in range(rng.integers(7, 13)):
        angle = math.radians(rng.uniform(-70, 70))
        length = rng.uniform(0.3, 0.7) * (1.6 if blade else 1.0)
        width = length * (blade or rng.uniform(0.2, 0.3))
        centre = (math.sin(angle) * length * 0.5, h + math.cos(angle) * length * 0.5)
        layers[i % 2].append(_ellipse(*centre, width, length * 0.5, -angle))
    veins = (_striped(green * 0.7, green * 0.5, 0.04), _striped(green, green * 0.7, 0.04))
    return [_Part(_union(*layer), tex, 0.03) for layer, tex in zip(layers, veins, strict=True)]


def _blades(rng: np.random.Generator, r: float, h: float, green: np.ndarray) -> list[_Part]:
    return _leaves(rng, r, h, green, blade=0.08)


def _potted_tree(rng: np.random.Generator, r: float, h: float, green: np.ndarray) -> list[_Part]:
    top, canopy = h + rng.uniform(0.5, 1.2), rng.uniform(0.25, 0.45)
    trunk = _capsule((0.0, h * 0.8), (rng.uniform(-0.05, 0.05), top), 0.02, 0.015)
    centres = np.array([0.0, top]) + rng.normal(0.0, canopy * 0.4, (7, 2))
    blobs = [_circle(x, y, canopy * rng.uniform(0.5, 0.8)) for x, y in centres]
    return [
        _Part(trunk, _grain(_wood_colour(rng) * 0.6), 0.02),
        _Part(_union(*blobs), _furry(green, 0.0, 0.5), canopy * 0.6),
    ]


def _cactus(rng: np.random.Generator, r: float, h: float, green: np.ndarray) -> list[_Part]:
    height = rng.uniform(0.3, 0.9)
    arms = [
        _curve(
            [
                (0.0, h + height * y),
                (s * r * 1.6, h + height * y),
                (s * r * 1.6, h + height * (y + 0.3)),
            ],
            r * 0.35,
            r * 0.3,
        )
        for s, y in ((-1, rng.uniform(0.3, 0.5)), (1, rng.uniform(0.4, 0.6)))
    ]
    body = _union(_capsule((0.0, h), (0.0, h + height), r * 0.6), *arms, k=r * 0.1)
    return [_Part(body, _striped(green, green * 0.6, r * 0.25, math.pi / 2), r * 0.5)]


def _draw_cabinet(rng: np.random.Generator) -> list[_Part]:
    """A bookcase or a chest of drawers, from the front."""
    colour = _furniture_colour(rng)
    w, h = rng.uniform(0.6, 1.4), rng.uniform(0.7, 2.0)
    carcass = _rbox(0.0, h / 2, w / 2, h / 2, 0.01)
    return _one_of(rng, [_bookcase, _drawers], colour, w, h, carcass)


def _bookcase(
    rng: np.random.Generator, colour: np.ndarray, w: float, h: float, carcass: _Shape
) -> list[_Part]:
    shelves = int(max(2, h // 0.35))
    pitch = (h - 0.1) / shelves
    salt = int(rng.integers(999))

    def books(x: np.ndarray, y: np.ndarray, px: float) -> np.ndarray:
        row = np.floor((y - 0.05) / pitch)
        slot = np.floor(x / 0.035 + 3.7 * row)
        spine = _SPINES[:, (_hash(slot, row, salt) * len(_SPINES[0])).astype(int)]
        spine = spine * (0.6 + 0.4 * _hash(slot, row, salt + 2))
        filled = ((y - 0.05) / pitch - row) < 0.6 + 0.35 * _hash(slot, row, salt + 1)
        gaps = _lines(x + 3.7 * row * 0.035, 0.035, 0.004, px)
        return np.where(filled, _mix(spine, colour * 0.2, gaps), _channels(colour * 0.25, 2))

    inside = _rbox(0.0, h / 2 + 0.01, w / 2 - 0.03, h / 2 - 0.04)
    return [_Part(carcass, _grain(colour), 0.02), _Part(inside, books, 0.005)]


def _drawers(
    rng: np.random.Generator, colour: np.ndarray, w: float, h: float, carcass: _Shape
) -> list[_Part]:
    count = int(rng.integers(3, 6))
    pitch = (h - 0.1) / count
    heights = [0.08 + pitch * (i + 0.5) for i in range(count)]
    fronts = [_rbox(0.0, y, w / 2 - 0.03, pitch / 2 - 0.01, 0.01) for y in heights]
    knobs = [_circle(s * (w / 2 - 0.03) * 0.5, y, 0.018) for y in heights for s in (-1, 1)]
    return [
        _Part(carcass, _darker(_grain(colour), 0.8), 0.02),
        _Part(_union(*fronts), _grain(colour, vertical=False), 0.015),
        _Part(_union(*knobs), _plain(_grey(rng, 0.3, 0.8)), 0.015, 0.8),
    ]
