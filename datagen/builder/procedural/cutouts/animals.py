"""Cutouts of animals seen from the side: quadrupeds and birds."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from datagen.builder.procedural.common import (
    grey,
    hsv_colour,
    mix,
    random_colour,
    tinted,
    value_noise,
)
from datagen.builder.procedural.cutouts.raster import Part
from datagen.builder.procedural.cutouts.shapes import (
    Shape,
    capsule,
    circle,
    curve,
    ellipse,
    polygon,
    rbox,
    union,
)
from datagen.builder.procedural.cutouts.textures import (
    Texture,
    darker,
    fading,
    furry,
    patched,
    plain,
    striped,
)


@dataclass(frozen=True)
class _Species:
    """Proportions of a quadruped seen from the side, in body lengths (chest to rump)."""

    length: tuple[float, float]
    """Body length in metres."""
    leg: tuple[float, float]
    girth: tuple[float, float]
    neck: tuple[float, float]
    neck_angle: tuple[float, float]
    """Degrees above horizontal."""
    head: tuple[float, float]
    snout: tuple[float, float]
    """Snout length, in head radii."""
    ears: str
    tail: str
    coats: tuple[str, ...]


# fmt: off
SPECIES = {
    "dog": _Species(
        length=(0.6, 1.0), leg=(0.45, 0.65), girth=(0.32, 0.42), neck=(0.2, 0.3),
        neck_angle=(35, 60), head=(0.14, 0.18), snout=(0.9, 1.4),
        ears="dog", tail="up", coats=("solid", "two-tone", "spots"),
    ),
    "cat": _Species(
        length=(0.4, 0.5), leg=(0.4, 0.5), girth=(0.3, 0.36), neck=(0.12, 0.18),
        neck_angle=(30, 55), head=(0.15, 0.18), snout=(0.35, 0.5),
        ears="pointy", tail="long", coats=("solid", "two-tone", "stripes"),
    ),
    "horse": _Species(
        length=(1.6, 2.0), leg=(0.85, 1.0), girth=(0.42, 0.5), neck=(0.45, 0.55),
        neck_angle=(50, 65), head=(0.11, 0.13), snout=(2.2, 2.8),
        ears="small", tail="hair", coats=("solid", "solid", "two-tone"),
    ),
    "cow": _Species(
        length=(1.8, 2.2), leg=(0.5, 0.6), girth=(0.55, 0.62), neck=(0.2, 0.26),
        neck_angle=(10, 25), head=(0.13, 0.15), snout=(1.2, 1.5),
        ears="horns", tail="rope", coats=("patches",),
    ),
    "sheep": _Species(
        length=(1.0, 1.3), leg=(0.45, 0.55), girth=(0.5, 0.6), neck=(0.15, 0.22),
        neck_angle=(25, 45), head=(0.11, 0.13), snout=(1.2, 1.5),
        ears="small", tail="stub", coats=("wool",),
    ),
}
# fmt: on

_FUR = {
    "dog": ((0.05, 0.11), (0.2, 0.7), (0.1, 0.85)),
    "cat": ((0.04, 0.1), (0.0, 0.75), (0.1, 0.9)),
    "horse": ((0.03, 0.08), (0.3, 0.75), (0.08, 0.6)),
    "cow": ((0.05, 0.1), (0.0, 0.35), (0.55, 0.95)),
    "sheep": ((0.08, 0.12), (0.05, 0.2), (0.75, 0.95)),
}


def _fur_coat(rng: np.random.Generator, kind: str, colour: np.ndarray, belly_y: float) -> Texture:
    """A species' coat: fur streaks with spots, stripes, a pale belly, or wool."""
    style = rng.choice(SPECIES[kind].coats)
    pale = mix(colour, np.ones(3, np.float32), 0.7)
    if style == "wool":
        return lambda x, y, px: tinted(colour, 0.75 + 0.5 * value_noise(x * 60, y * 60, rough=True))
    fur = furry(colour, 0.0)
    if style == "spots":
        other = pale if rng.random() < 0.5 else mix(colour, np.zeros(3, np.float32), 0.8)
        return patched(fur, other, rng.uniform(3.0, 8.0), rng.uniform(0.3, 0.5), rng.uniform(0, 99))
    if style == "stripes":
        dark = mix(colour, np.zeros(3, np.float32), 0.6)
        stripes = striped(colour, dark, rng.uniform(0.03, 0.05), math.pi / 2 + 0.3)
        return fading(stripes, pale, belly_y - 0.05, belly_y + 0.05)
    if style == "two-tone":
        return fading(fur, pale, belly_y - 0.05, belly_y + 0.05)
    if style == "patches":
        dark = random_colour(rng, hue=(0.03, 0.08), sat=(0.0, 0.6), val=(0.02, 0.3))
        return patched(fur, dark, rng.uniform(1.5, 3.0), rng.uniform(0.35, 0.5), rng.uniform(0, 99))
    return fur


@dataclass(frozen=True)
class _Build:
    """Sizes of one animal in metres: body length (chest to rump), leg length and girth."""

    length: float
    leg: float
    girth: float

    @property
    def body_y(self) -> float:
        """Height of the body's centre line."""
        return self.leg + self.girth * 0.45


def draw_quadruped(rng: np.random.Generator, kind: str) -> list[Part]:
    """A four-legged animal standing or walking, seen from the side, facing right."""
    sp = SPECIES[kind]
    L = rng.uniform(*sp.length)
    build = _Build(L, rng.uniform(*sp.leg) * L, rng.uniform(*sp.girth) * L)
    by, girth = build.body_y, build.girth
    colour = random_colour(rng, *_FUR[kind])
    coat = _fur_coat(rng, kind, colour, by - girth * 0.25)
    dark = plain(grey(rng, 0.02, 0.08), 0.1)
    skin = dark if kind == "sheep" else coat  # a sheep's face and legs are bare and dark
    hair = plain(mix(colour, np.zeros(3, np.float32), 0.6), 0.3, 80) if kind == "horse" else coat
    far_legs, near_legs = _beast_legs(rng, build, kind, skin, dark)

    neck = (0.42 * L, by + girth * 0.15)
    angle = math.radians(rng.uniform(*sp.neck_angle))
    reach = rng.uniform(*sp.neck) * L
    head_c = (neck[0] + reach * math.cos(angle), neck[1] + reach * math.sin(angle))
    head_r = rng.uniform(*sp.head) * L
    head, nose = _beast_head(rng, kind, head_c, head_r)
    far_ear, near_ear = _ears(sp.ears, head_c, head_r, rng)
    tail = _tail(sp.tail, (-0.5 * L, by + girth * 0.2), L, girth, rng)

    parts = [*far_legs, Part(tail, hair, girth * 0.08)]
    if far_ear is not None:
        parts.append(Part(far_ear, darker(skin, 0.75), head_r * 0.2))
    parts.append(Part(_beast_body(rng, build, kind, neck, head_c, head_r), coat, girth * 0.45))
    if kind == "cow":
        udder = ellipse(-0.15 * L, by - girth * 0.5, 0.08 * L, 0.06 * L)
        parts.append(Part(udder, plain(hsv_colour(0.98, 0.35, 0.85)), 0.05 * L))
    parts += near_legs
    if kind == "horse":
        crest = (neck[0] - 0.06 * L, neck[1] + girth * 0.35)
        middle = ((crest[0] + head_c[0]) / 2, head_c[1] - head_r * 0.2)
        poll = (head_c[0] - head_r * 0.5, head_c[1] + head_r * 0.8)
        parts.append(
            Part(curve([crest, middle, poll], girth * 0.12, girth * 0.06), hair, girth * 0.05)
        )
    parts.append(Part(head, skin, head_r * 0.8))
    if near_ear is not None:
        parts.append(Part(near_ear, skin, head_r * 0.2))
    if kind == "cow":
        parts.append(
            Part(_horn(head_c, head_r), plain(hsv_colour(0.12, 0.15, 0.85)), head_r * 0.1, 0.3)
        )
    eye = circle(head_c[0] + head_r * 0.35, head_c[1] + head_r * 0.3, head_r * 0.13)
    parts.append(Part(eye, plain(grey(rng, 0.0, 0.02)), head_r * 0.1, 0.6))
    parts.append(Part(ellipse(*nose, head_r * 0.2, head_r * 0.15), dark, head_r * 0.1, 0.3))
    return parts


def _beast_legs(
    rng: np.random.Generator, build: _Build, kind: str, skin: Texture, hoof: Texture
) -> tuple[list[Part], list[Part]]:
    """(far, near) legs with their paws or hooves; hind legs bend back at the hock, and a
    walking gait swings near and far legs apart."""
    L, by = build.length, build.body_y
    thick = {"horse": 0.06, "sheep": 0.045}.get(kind, 0.075) * L
    stride = rng.uniform(0.0, 0.12) * L
    far: list[Part] = []
    near: list[Part] = []
    for hip_x, hind in ((0.3, False), (-0.32, True)):
        for side, parts in ((-1, far), (1, near)):
            x = hip_x * L - (0.05 * L if side < 0 else 0.0)
            foot_x = x + (side if hind else -side) * stride + (0.03 * L if hind else 0.0)
            joint = (x - (0.08 * L if hind else -0.01 * L), build.leg * 0.45)
            leg = union(
                capsule((x, by - build.girth * 0.1), joint, thick * 1.2, thick * 0.7),
                capsule(joint, (foot_x, thick * 0.5), thick * 0.7, thick * 0.55),
                k=thick * 0.5,
            )
            shade = 0.7 if side < 0 else 1.0
            parts.append(Part(leg, darker(skin, shade), thick))
            if kind != "cat":
                foot = rbox(foot_x + 0.01 * L, thick * 0.4, thick * 0.7, thick * 0.42, thick * 0.3)
                parts.append(Part(foot, darker(hoof, shade), thick * 0.4))
    return far, near


def _beast_body(
    rng: np.random.Generator,
    build: _Build,
    kind: str,
    neck: tuple[float, float],
    head_c: tuple[float, float],
    head_r: float,
) -> Shape:
    """Deep chest, rump and belly blended with the neck; a sheep's fleece is puffy."""
    L, by, girth = build.length, build.body_y, build.girth
    body = union(
        ellipse(0.22 * L, by - girth * 0.05, 0.3 * L, girth * 0.55),
        ellipse(-0.28 * L, by + girth * 0.05, 0.26 * L, girth * 0.45),
        ellipse(0.0, by + girth * 0.02, 0.34 * L, girth * 0.38),
        capsule(neck, head_c, girth * 0.3, head_r * 0.75),
        k=0.1 * L,
    )
    if kind != "sheep":
        return body
    puffs = rng.uniform([-0.45, -0.35, 0.25], [0.45, 0.35, 0.4], (14, 3))
    return union(body, *(circle(x * L, by + y * girth, r * girth) for x, y, r in puffs))


def _beast_head(
    rng: np.random.Generator, kind: str, centre: tuple[float, float], r: float
) -> tuple[Shape, tuple[float, float]]:
    """Cranium and muzzle (long and drooping for grazers); and where the nose is."""
    length = rng.uniform(*SPECIES[kind].snout) * r
    droop = math.radians(rng.uniform(-40, -15) if kind in ("horse", "cow") else rng.uniform(-20, 0))
    nose = (centre[0] + length * math.cos(droop), centre[1] + length * math.sin(droop))
    head = union(circle(*centre, r), capsule(centre, nose, r * 0.75, r * 0.45), k=r * 0.4)
    return head, nose


def _horn(head_c: tuple[float, float], r: float) -> Shape:
    hx, hy = head_c
    return curve(
        [
            (hx - 0.2 * r, hy + 0.6 * r),
            (hx - 0.1 * r, hy + 1.3 * r),
            (hx + 0.35 * r, hy + 1.45 * r),
        ],
        r * 0.16,
        r * 0.06,
    )


def _ears(
    style: str, head_c: tuple[float, float], r: float, rng: np.random.Generator
) -> tuple[Shape | None, Shape | None]:
    """(far ear, near ear): pointed, floppy or small; a far ear only shows when pointed."""
    hx, hy = head_c
    if style == "dog":
        style = "pointy" if rng.random() < 0.5 else "floppy"
    if style == "pointy":
        tip = rng.uniform(0.9, 1.4) * r
        ear = [
            (hx - 0.6 * r, hy + 0.5 * r),
            (hx - 0.1 * r, hy + 0.8 * r),
            (hx - 0.45 * r, hy + 0.55 * r + tip),
        ]
        return polygon(ear, r * 0.05), polygon([(x + 0.25 * r, y) for x, y in ear])
    if style == "floppy":
        return None, ellipse(hx - 0.45 * r, hy - 0.1 * r, 0.3 * r, 0.75 * r, -0.3)
    if style == "horns":  # a cow's ear sticks out sideways under its horns
        return None, ellipse(hx - 0.9 * r, hy + 0.3 * r, 0.45 * r, 0.18 * r, 0.3)
    return None, ellipse(hx - 0.35 * r, hy + 0.95 * r, 0.16 * r, 0.4 * r, 0.4)


#: Tails: the middle and end control points (in body lengths from the root, the end's rise
#: scaled by how cocked the tail is), and radii at root and tip in body lengths.
_TAILS = {
    "long": ((-0.35, -0.1), (-0.3, 0.45), 0.035, 0.025),
    "up": ((-0.2, 0.05), (-0.25, 0.3), 0.045, 0.02),
    "hair": ((-0.15, -0.1), (-0.12, -0.55), 0.05, 0.035),
    "rope": ((-0.06, -0.2), (-0.05, -0.45), 0.02, 0.035),
}


def _tail(
    style: str, root: tuple[float, float], L: float, girth: float, rng: np.random.Generator
) -> Shape:
    """A tail curving from `root`; a stub is a round tuft."""
    if style not in _TAILS:
        return circle(root[0] + 0.02 * L, root[1], girth * 0.15)
    (mx, my), (ex, ey), r0, r1 = _TAILS[style]
    cocked = rng.uniform(0.2, 1.0) if ey > 0 else 1.0
    middle = (root[0] + mx * L, root[1] + my * L)
    end = (root[0] + ex * L, root[1] + ey * L * cocked)
    return curve([root, middle, end], r0 * L, r1 * L, 8)


ColourRange = tuple[tuple[float, float], tuple[float, float], tuple[float, float]]
"""Ranges of hue, saturation and value to draw a colour from."""


@dataclass(frozen=True)
class _BirdKind:
    size: float
    """Metres from breast to tail."""
    plumage: ColourRange
    accent: ColourRange | None
    """Colour of the head (`hood`) or of the breast; None: paler plumage."""
    hood: bool
    legs: float
    """Leg length, in sizes."""
    lean: tuple[float, float]
    """Degrees the body is tilted, head up."""
    beak: float
    """Beak length, in head radii."""


# fmt: off
_BIRDS = {
    "pigeon": _BirdKind(
        0.3, plumage=((0, 1), (0, 0.08), (0.3, 0.55)),
        accent=((0.35, 0.8), (0.5, 0.5), (0.45, 0.45)),
        hood=True, legs=0.25, lean=(10, 35), beak=0.8),
    "songbird": _BirdKind(
        0.15, plumage=((0.05, 0.12), (0.3, 0.6), (0.3, 0.6)),
        accent=None,
        hood=False, legs=0.25, lean=(15, 40), beak=0.8),
    "crow": _BirdKind(
        0.45, plumage=((0, 1), (0, 0.08), (0.03, 0.08)),
        accent=((0, 1), (0, 0.08), (0.03, 0.08)),
        hood=True, legs=0.25, lean=(10, 30), beak=1.0),
    "duck": _BirdKind(
        0.5, plumage=((0.06, 0.1), (0.3, 0.6), (0.3, 0.6)),
        accent=((0.36, 0.36), (0.7, 0.7), (0.35, 0.35)),
        hood=True, legs=0.2, lean=(0, 10), beak=1.1),
    "chicken": _BirdKind(
        0.5, plumage=((0.05, 0.1), (0.0, 0.7), (0.4, 0.95)),
        accent=None,
        hood=False, legs=0.35, lean=(10, 30), beak=0.7),
    "parrot": _BirdKind(
        0.4, plumage=((0.0, 0.7), (0.7, 0.95), (0.5, 0.9)),
        accent=((0, 1), (0.7, 1.0), (0.5, 0.9)),
        hood=True, legs=0.25, lean=(25, 45), beak=1.1),
}
# fmt: on


def draw_bird(rng: np.random.Generator) -> list[Part]:
    """A bird standing, seen from the side, facing right: pigeon, songbird, crow, duck..."""
    name = rng.choice(list(_BIRDS))
    kind = _BIRDS[name]
    size = kind.size * rng.uniform(0.85, 1.15)
    plumage = random_colour(rng, *kind.plumage)
    accent = (
        random_colour(rng, *kind.accent)
        if kind.accent
        else mix(plumage, np.ones(3, np.float32), 0.35)
    )
    lean = math.radians(rng.uniform(*kind.lean))
    bx, by = 0.0, size * (kind.legs + 0.3)
    rx, ry = size * 0.5, size * 0.3
    head_c = (bx + rx * 0.85, by + ry * (0.9 if name == "duck" else 1.1))
    head_r = size * (0.2 if name == "songbird" else 0.17)
    hx, hy = head_c
    feathers = furry(plumage, lean, 0.2)
    body = union(
        ellipse(bx, by, rx, ry, lean),
        circle(*head_c, head_r),
        capsule((bx + rx * 0.4, by + ry * 0.2), head_c, ry * 0.6, head_r * 0.8),
        k=size * 0.1,
    )
    tip = (bx - rx * 1.45, by + ry * (1.2 if name == "chicken" else -0.6))
    tail = polygon(
        [
            (bx - rx * 0.5, by + ry * 0.3),
            (tip[0], tip[1] + ry * 0.3),
            (tip[0] + rx * 0.1, tip[1] - ry * 0.3),
            (bx - rx * 0.4, by - ry * 0.3),
        ],
        size * 0.02,
    )
    wing = ellipse(bx - rx * 0.1, by + ry * 0.1, rx * 0.75, ry * 0.55, lean - 0.1)
    coverts = mix(plumage, np.zeros(3, np.float32), 0.35)
    beak = polygon(
        [
            (hx + head_r * 0.7, hy + head_r * 0.25),
            (hx + head_r * (0.7 + kind.beak), hy - head_r * 0.05),
            (hx + head_r * 0.7, hy - head_r * 0.25),
        ],
        head_r * 0.08,
    )
    parts = [
        Part(
            _bird_legs(bx, by - ry * 0.7, size),
            plain(random_colour(rng, (0, 0.1), (0.3, 0.8), (0.3, 0.8))),
            size * 0.01,
        ),
        Part(tail, darker(feathers, 0.8), size * 0.05),
        Part(
            body,
            feathers if kind.hood else fading(feathers, accent, by - ry * 0.6, by + ry * 0.2),
            size * 0.2,
        ),
    ]
    if kind.hood:
        parts.append(Part(circle(*head_c, head_r * 1.02), plain(accent, 0.15), head_r * 0.8))
    parts.append(
        Part(wing, striped(coverts, plumage * 0.6, size * 0.08, lean + math.pi / 2), size * 0.1)
    )
    if name == "chicken":
        comb = union(
            *(circle(hx + d * head_r, hy + head_r * 0.95, head_r * 0.3) for d in (-0.4, 0, 0.4))
        )
        parts.append(Part(comb, plain(hsv_colour(0.0, 0.85, 0.8)), head_r * 0.2))
    bill = random_colour(rng, hue=(0.08, 0.14), sat=(0.5, 0.9), val=(0.5, 0.9))
    eye = circle(hx + head_r * 0.35, hy + head_r * 0.2, head_r * 0.17)
    return [
        *parts,
        Part(beak, plain(bill), head_r * 0.2, 0.3),
        Part(eye, plain(grey(rng, 0.0, 0.02)), head_r * 0.1, 0.7),
    ]


def _bird_legs(x: float, hip: float, size: float) -> Shape:
    """Two thin legs from `hip` height down to toes pointing forward."""
    legs = [
        capsule((x + dx, hip), (x + dx + size * 0.03, 0.01 * size), size * 0.018)
        for dx in (-0.05 * size, 0.05 * size)
    ]
    toes = [
        capsule((x + dx, 0.01 * size), (x + dx + size * 0.12, 0.01 * size), size * 0.012)
        for dx in (-0.03 * size, 0.07 * size)
    ]
    return union(*legs, *toes)
