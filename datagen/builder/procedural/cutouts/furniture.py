"""Cutouts of furniture: chairs, tables, sofas, lamps, plants, cabinets."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from datagen.builder.procedural.common import (
    SPINES,
    channels,
    grey,
    hash,
    lines,
    mix,
    random_colour,
    wood_colour,
)
from datagen.builder.procedural.cutouts.raster import Part
from datagen.builder.procedural.cutouts.shapes import (
    Shape,
    capsule,
    circle,
    curve,
    ellipse,
    lathe,
    polygon,
    rbox,
    union,
)
from datagen.builder.procedural.cutouts.textures import (
    Texture,
    cloth,
    cloth_texture,
    darker,
    furry,
    grain_texture,
    plain,
    striped,
)


def _furniture_colour(rng: np.random.Generator) -> np.ndarray:
    if rng.random() < 0.6:
        return wood_colour(rng)
    return random_colour(rng, sat=(0.0, 0.6), val=(0.1, 0.9))


def _one_of(
    rng: np.random.Generator, styles: Sequence[Callable[..., list[Part]]], *args: object
) -> list[Part]:
    """Draw with one of several styles, picked at random (repeat a style to favour it)."""
    return styles[rng.integers(len(styles))](rng, *args)


def draw_chair(rng: np.random.Generator) -> list[Part]:
    """A dining chair, bar stool, office chair or armchair, from the front."""
    return _one_of(rng, [_dining_chair, _dining_chair, _stool, _office_chair, _armchair])


def _dining_chair(rng: np.random.Generator) -> list[Part]:
    colour = _furniture_colour(rng)
    frame = grain_texture(colour)
    seat_h, w, t = rng.uniform(0.42, 0.5), rng.uniform(0.4, 0.5), rng.uniform(0.02, 0.03)
    back_h = seat_h + rng.uniform(0.4, 0.55)
    post = w / 2 - t * 1.5
    back_legs = union(
        *(rbox(s * post, back_h / 2 + 0.04, t * 0.8, back_h / 2 - 0.04, t * 0.3) for s in (-1, 1))
    )
    rest_h = rng.uniform(0.1, 0.3)
    rest = rbox(0.0, back_h - rest_h / 2 - 0.02, post, rest_h / 2, t * 0.5)
    slats = striped(colour, colour * 0.3, rng.uniform(0.04, 0.08), math.pi / 2)
    top = seat_h + 0.07  # the seat is seen a little from above
    seat = polygon(
        [(-w / 2, seat_h), (w / 2, seat_h), (w / 2 - 0.03, top), (-w / 2 + 0.03, top)], t * 0.5
    )
    front_legs = union(
        *(rbox(s * (w / 2 - t), seat_h / 2, t, seat_h / 2, t * 0.3) for s in (-1, 1))
    )
    cushion = cloth_texture(rng, cloth(rng)) if rng.random() < 0.5 else frame
    return [
        Part(back_legs, darker(frame, 0.7), t),
        Part(rest, slats if rng.random() < 0.5 else darker(frame, 0.85), t),
        Part(seat, cushion, t * 1.5),
        Part(front_legs, frame, t),
    ]


def _stool(rng: np.random.Generator) -> list[Part]:
    seat_h = rng.uniform(0.6, 0.8)
    legs = [capsule((s * 0.1, seat_h), (s * 0.2, 0.0), 0.015) for s in (-1, -0.35, 0.35, 1)]
    ring = rbox(0.0, seat_h * 0.35, 0.16, 0.012, 0.01)
    seat = ellipse(0.0, seat_h + 0.02, 0.19, 0.04)
    frame = grain_texture(_furniture_colour(rng))
    return [
        Part(union(*legs, ring), frame, 0.015, 0.3),
        Part(seat, cloth_texture(rng, cloth(rng)), 0.04),
    ]


def _office_chair(rng: np.random.Generator) -> list[Part]:
    seat_h = rng.uniform(0.42, 0.5)
    metal = plain(_furniture_colour(rng) * 0.3, 0.05)
    fabric = cloth_texture(rng, cloth(rng))
    feet = (-0.3, -0.12, 0.12, 0.3)
    star = [capsule((0.0, 0.08), (x, 0.05), 0.015) for x in feet]
    column = rbox(0.0, 0.25, 0.025, 0.17, 0.01)
    back = rbox(0.0, seat_h + rng.uniform(0.3, 0.45), 0.22, rng.uniform(0.2, 0.3), 0.06)
    arms = [rbox(s * 0.28, seat_h + 0.15, 0.02, 0.1, 0.015) for s in (-1, 1)]
    return [
        Part(union(*(circle(x, 0.03, 0.03) for x in feet)), plain(grey(rng, 0.01, 0.05)), 0.02),
        Part(union(*star, column), metal, 0.012, 0.4),
        Part(back, fabric, 0.06),
        Part(union(*arms), metal, 0.015, 0.3),
        Part(rbox(0.0, seat_h, 0.26, 0.05, 0.04), fabric, 0.04),
    ]


def _armchair(rng: np.random.Generator) -> list[Part]:
    seat_h, w = rng.uniform(0.42, 0.5), rng.uniform(0.7, 0.95)
    fabric = cloth_texture(rng, cloth(rng))
    legs = union(*(rbox(s * (w / 2 - 0.06), 0.05, 0.02, 0.05, 0.01) for s in (-1, 1)))
    back = rbox(0.0, seat_h + 0.25, w / 2 - 0.05, 0.35, 0.1)
    seat = rbox(0.0, seat_h - 0.05, w / 2, 0.14, 0.06)
    arms = union(*(rbox(s * (w / 2 - 0.06), seat_h + 0.05, 0.07, 0.22, 0.06) for s in (-1, 1)))
    return [
        Part(legs, grain_texture(_furniture_colour(rng)), 0.02),
        Part(back, darker(fabric, 0.85), 0.12),
        Part(seat, fabric, 0.08),
        Part(arms, fabric, 0.07),
    ]


def draw_table(rng: np.random.Generator) -> list[Part]:
    """A table from the front: on four legs (two in front, two behind) or one pedestal."""
    wood = grain_texture(_furniture_colour(rng), vertical=False)
    h, w, t = rng.uniform(0.7, 0.78), rng.uniform(0.8, 1.8), rng.uniform(0.03, 0.06)
    top = Part(rbox(0.0, h - t / 2, w / 2, t / 2, t * 0.3), wood, t)
    if rng.random() < 0.35:
        pedestal = union(
            rbox(0.0, h / 2, 0.04, h / 2, 0.02), rbox(0.0, 0.02, w * 0.25, 0.02, 0.015)
        )
        return [Part(pedestal, darker(wood, 0.8), 0.03), top]
    inset, leg = rng.uniform(0.02, 0.1), rng.uniform(0.02, 0.04)
    far = union(*(rbox(s * (w / 2 - inset - 0.15), h / 2, leg * 0.9, h / 2, 0.01) for s in (-1, 1)))
    near = union(
        *(rbox(s * (w / 2 - inset), h / 2, leg, h / 2, 0.01) for s in (-1, 1)),
        rbox(0.0, h - t - 0.04, w / 2 - inset, 0.04, 0.01),
    )
    return [Part(far, darker(wood, 0.6), leg), Part(near, wood, leg), top]


def draw_sofa(rng: np.random.Generator) -> list[Part]:
    """A sofa from the front: back, base, two or three seat cushions, arms, little legs."""
    fabric = cloth_texture(rng, cloth(rng))
    w = rng.uniform(1.5, 2.4)
    seats = int(rng.integers(2, 4))
    pitch = (w - 0.4) / seats
    cushions = [
        rbox(-w / 2 + 0.2 + pitch * (i + 0.5), 0.47, pitch / 2 - 0.01, 0.07, 0.05)
        for i in range(seats)
    ]
    return [
        Part(
            union(*(rbox(s * (w / 2 - 0.1), 0.04, 0.025, 0.04, 0.01) for s in (-1, 1))),
            grain_texture(wood_colour(rng)),
            0.02,
        ),
        Part(rbox(0.0, 0.6, w / 2 - 0.1, 0.28, 0.1), darker(fabric, 0.85), 0.15),
        Part(rbox(0.0, 0.28, w / 2, 0.17, 0.06), darker(fabric, 0.9), 0.08),
        Part(union(*cushions), fabric, 0.07),
        Part(
            union(*(rbox(s * (w / 2 - 0.09), 0.4, 0.1, 0.25, 0.08) for s in (-1, 1))), fabric, 0.1
        ),
    ]


def draw_lamp(rng: np.random.Generator) -> list[Part]:
    """A floor lamp, desk lamp or table lamp."""
    metal = plain(random_colour(rng, sat=(0.0, 0.5), val=(0.1, 0.85)), 0.05)
    shade = plain(random_colour(rng, hue=(0.05, 0.15), sat=(0.05, 0.5), val=(0.6, 0.98)), 0.1)
    return _one_of(rng, [_standard_lamp, _desk_lamp, _table_lamp], metal, shade)


def _standard_lamp(rng: np.random.Generator, metal: Texture, fabric: Texture) -> list[Part]:
    h = rng.uniform(1.4, 1.8)
    r0, r1 = rng.uniform(0.1, 0.18), rng.uniform(0.18, 0.28)
    stand = union(ellipse(0.0, 0.02, 0.16, 0.025), rbox(0.0, h / 2, 0.012, h / 2))
    shade = polygon([(-r1, h - 0.3), (r1, h - 0.3), (r0, h), (-r0, h)], 0.01)
    return [Part(stand, metal, 0.01, 0.5), Part(shade, fabric, 0.08)]


def _desk_lamp(rng: np.random.Generator, metal: Texture, fabric: Texture) -> list[Part]:
    elbow = (rng.uniform(-0.2, -0.05), rng.uniform(0.25, 0.4))
    hx, hy = elbow[0] + rng.uniform(0.2, 0.3), elbow[1] + rng.uniform(0.05, 0.15)
    arm = union(capsule((0.0, 0.04), elbow, 0.012), capsule(elbow, (hx, hy), 0.012))
    cone = [
        (hx - 0.02, hy + 0.04),
        (hx + 0.06, hy - 0.13),
        (hx + 0.16, hy - 0.06),
        (hx + 0.04, hy + 0.05),
    ]
    base = ellipse(0.0, 0.02, 0.09, 0.02)
    return [
        Part(union(arm, base), metal, 0.01, 0.5),
        Part(polygon(cone, 0.01), metal, 0.04, 0.6),
    ]


def _table_lamp(rng: np.random.Generator, metal: Texture, fabric: Texture) -> list[Part]:
    body = lathe(
        0.0, [(0.0, 0.06), (0.05, 0.1), (0.15, 0.12), (0.25, 0.08), (0.3, 0.03), (0.35, 0.02)]
    )
    glaze = plain(random_colour(rng, sat=(0.2, 0.8), val=(0.2, 0.9)), 0.05)
    shade = polygon([(-0.2, 0.33), (0.2, 0.33), (0.13, 0.58), (-0.13, 0.58)], 0.01)
    return [Part(body, glaze, 0.08, 0.7), Part(shade, fabric, 0.06)]


def draw_plant(rng: np.random.Generator) -> list[Part]:
    """A potted plant: leafy, a little tree, a cactus or tall blades."""
    r, h = rng.uniform(0.1, 0.25), rng.uniform(0.15, 0.4)
    green = random_colour(rng, hue=(0.22, 0.38), sat=(0.4, 0.85), val=(0.2, 0.6))
    return _one_of(rng, [_leaves, _blades, _potted_tree, _cactus], r, h, green) + _pot(rng, r, h)


def _pot(rng: np.random.Generator, r: float, h: float) -> list[Part]:
    """A flower pot `h` tall, `r` wide at the rim: terracotta, or glazed in any colour."""
    clay = random_colour(rng, hue=(0.02, 0.1), sat=(0.2, 0.75), val=(0.3, 0.85))
    if rng.random() < 0.4:
        clay = random_colour(rng, sat=(0.0, 0.6), val=(0.2, 0.95))
    body = polygon([(-r * 0.75, 0.0), (r * 0.75, 0.0), (r, h * 0.9), (-r, h * 0.9)], r * 0.03)
    rim = rbox(0.0, h * 0.93, r * 1.08, h * 0.07, r * 0.04)
    return [Part(body, plain(clay, 0.1), r * 0.6, 0.2), Part(rim, plain(clay * 0.9), h * 0.05)]


def _leaves(
    rng: np.random.Generator, r: float, h: float, green: np.ndarray, blade: float = 0.0
) -> list[Part]:
    """Leaves fanning out of the pot at height h, in two layers; narrow blades when `blade`."""
    layers: tuple[list[Shape], list[Shape]] = ([], [])
    for i in range(rng.integers(7, 13)):
        angle = math.radians(rng.uniform(-70, 70))
        length = rng.uniform(0.3, 0.7) * (1.6 if blade else 1.0)
        width = length * (blade or rng.uniform(0.2, 0.3))
        centre = (math.sin(angle) * length * 0.5, h + math.cos(angle) * length * 0.5)
        layers[i % 2].append(ellipse(*centre, width, length * 0.5, -angle))
    veins = (striped(green * 0.7, green * 0.5, 0.04), striped(green, green * 0.7, 0.04))
    return [Part(union(*layer), tex, 0.03) for layer, tex in zip(layers, veins, strict=True)]


def _blades(rng: np.random.Generator, r: float, h: float, green: np.ndarray) -> list[Part]:
    return _leaves(rng, r, h, green, blade=0.08)


def _potted_tree(rng: np.random.Generator, r: float, h: float, green: np.ndarray) -> list[Part]:
    top, canopy = h + rng.uniform(0.5, 1.2), rng.uniform(0.25, 0.45)
    trunk = capsule((0.0, h * 0.8), (rng.uniform(-0.05, 0.05), top), 0.02, 0.015)
    centres = np.array([0.0, top]) + rng.normal(0.0, canopy * 0.4, (7, 2))
    blobs = [circle(x, y, canopy * rng.uniform(0.5, 0.8)) for x, y in centres]
    return [
        Part(trunk, grain_texture(wood_colour(rng) * 0.6), 0.02),
        Part(union(*blobs), furry(green, 0.0, 0.5), canopy * 0.6),
    ]


def _cactus(rng: np.random.Generator, r: float, h: float, green: np.ndarray) -> list[Part]:
    height = rng.uniform(0.3, 0.9)
    arms = [
        curve(
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
    body = union(capsule((0.0, h), (0.0, h + height), r * 0.6), *arms, k=r * 0.1)
    return [Part(body, striped(green, green * 0.6, r * 0.25, math.pi / 2), r * 0.5)]


def draw_cabinet(rng: np.random.Generator) -> list[Part]:
    """A bookcase or a chest of drawers, from the front."""
    colour = _furniture_colour(rng)
    w, h = rng.uniform(0.6, 1.4), rng.uniform(0.7, 2.0)
    carcass = rbox(0.0, h / 2, w / 2, h / 2, 0.01)
    return _one_of(rng, [_bookcase, _drawers], colour, w, h, carcass)


def _bookcase(
    rng: np.random.Generator, colour: np.ndarray, w: float, h: float, carcass: Shape
) -> list[Part]:
    shelves = int(max(2, h // 0.35))
    pitch = (h - 0.1) / shelves
    salt = int(rng.integers(999))

    def books(x: np.ndarray, y: np.ndarray, px: float) -> np.ndarray:
        row = np.floor((y - 0.05) / pitch)
        slot = np.floor(x / 0.035 + 3.7 * row)
        spine = SPINES[:, (hash(slot, row, salt) * len(SPINES[0])).astype(int)]
        spine = spine * (0.6 + 0.4 * hash(slot, row, salt + 2))
        filled = ((y - 0.05) / pitch - row) < 0.6 + 0.35 * hash(slot, row, salt + 1)
        gaps = lines(x + 3.7 * row * 0.035, 0.035, 0.004, px)
        return np.where(filled, mix(spine, colour * 0.2, gaps), channels(colour * 0.25, 2))

    inside = rbox(0.0, h / 2 + 0.01, w / 2 - 0.03, h / 2 - 0.04)
    return [Part(carcass, grain_texture(colour), 0.02), Part(inside, books, 0.005)]


def _drawers(
    rng: np.random.Generator, colour: np.ndarray, w: float, h: float, carcass: Shape
) -> list[Part]:
    count = int(rng.integers(3, 6))
    pitch = (h - 0.1) / count
    heights = [0.08 + pitch * (i + 0.5) for i in range(count)]
    fronts = [rbox(0.0, y, w / 2 - 0.03, pitch / 2 - 0.01, 0.01) for y in heights]
    knobs = [circle(s * (w / 2 - 0.03) * 0.5, y, 0.018) for y in heights for s in (-1, 1)]
    return [
        Part(carcass, darker(grain_texture(colour), 0.8), 0.02),
        Part(union(*fronts), grain_texture(colour, vertical=False), 0.015),
        Part(union(*knobs), plain(grey(rng, 0.3, 0.8)), 0.015, 0.8),
    ]
