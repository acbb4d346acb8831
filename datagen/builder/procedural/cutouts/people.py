"""Cutouts of people: a standing figure, seen from the front."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from datagen.builder.procedural.common import grey, random_colour
from datagen.builder.procedural.cutouts.raster import Part
from datagen.builder.procedural.cutouts.shapes import (
    Shape,
    capsule,
    circle,
    cut,
    ellipse,
    polygon,
    rbox,
    union,
)
from datagen.builder.procedural.cutouts.textures import Texture, cloth, cloth_texture, plain


def _skin(rng: np.random.Generator) -> np.ndarray:
    return random_colour(rng, hue=(0.03, 0.09), sat=(0.3, 0.6), val=(0.3, 0.95))


def _hair(rng: np.random.Generator) -> np.ndarray:
    if rng.random() < 0.15:
        return grey(rng, 0.5, 0.85)
    return random_colour(rng, hue=(0.03, 0.11), sat=(0.3, 0.8), val=(0.08, 0.7))


#: Arm poses: (upper arm, forearm) angle ranges in degrees from hanging straight down (outwards
#: positive), and how often each is struck.
_ARM_POSES = {
    "hang": ((3, 12), (0, 12), 0.4),
    "hips": ((35, 50), (-75, -50), 0.1),
    "hold": ((5, 20), (-80, -50), 0.1),
    "phone": ((5, 20), (150, 170), 0.08),
    "wave": ((120, 160), (150, 185), 0.12),
    "out": ((70, 95), (65, 110), 0.1),
    "raise": ((160, 175), (165, 180), 0.1),
}


def _limb(
    start: tuple[float, float],
    angles: tuple[float, float],
    lengths: tuple[float, float],
    radii: tuple[float, float, float],
    side: int,
) -> tuple[Shape, tuple[float, float]]:
    """A two-segment limb from `start`, bent at the joint, on the left (-1) or right (+1).

    Returns the shape and where the limb ends (a hand, a foot).
    """
    (ax, ay), (l1, l2), (r0, r1, r2) = start, lengths, radii
    a1, a2 = (math.radians(a) for a in angles)
    joint = (ax + side * l1 * math.sin(a1), ay - l1 * math.cos(a1))
    end = (joint[0] + side * l2 * math.sin(a2), joint[1] - l2 * math.cos(a2))
    shape = union(capsule(start, joint, r0, r1), capsule(joint, end, r1, r2), k=r1 * 0.5)
    return shape, end


@dataclass(frozen=True)
class _Figure:
    """Proportions of a person standing with feet at y = 0, in metres."""

    height: float
    head: float
    """Head radius."""
    build: float
    """Width factor: 1 is average."""
    shoulder: float
    waist: float
    hip: float
    """Heights of shoulders, waist and hips."""
    shoulder_w: float
    waist_w: float
    hip_w: float
    """Half-widths at those heights."""

    @classmethod
    def draw(cls, rng: np.random.Generator) -> _Figure:
        child = rng.random() < 0.15
        h = rng.uniform(1.0, 1.35) if child else rng.uniform(1.55, 1.9)
        build = rng.uniform(0.85, 1.3)
        return cls(
            height=h,
            head=h * (0.085 if child else rng.uniform(0.06, 0.07)),
            build=build,
            shoulder=h * 0.81,
            waist=h * 0.6,
            hip=h * (0.47 if child else 0.5),
            shoulder_w=h * 0.115 * build,
            waist_w=h * 0.08 * build,
            hip_w=h * 0.09 * build,
        )


def _head(
    rng: np.random.Generator, cx: float, cy: float, r: float, skin: Texture, hair: Texture
) -> tuple[list[Part], list[Part]]:
    """(parts behind the body, parts in front) of a head of radius r: long hair or a ponytail
    behind; ears, face, eyes and short hair, a bun or a hat in front."""
    rx, ry = r * 0.86, r * 1.05
    ears = union(*(ellipse(cx + s * rx, cy - 0.1 * r, 0.2 * r, 0.3 * r) for s in (-1, 1)))
    eyes = union(*(ellipse(cx + s * 0.36 * rx, cy + 0.02 * r, 0.1 * r, 0.13 * r) for s in (-1, 1)))
    front = [
        Part(ears, skin, 0.2 * r),
        Part(ellipse(cx, cy, rx, ry), skin, r * 0.9),
        Part(eyes, plain(grey(rng, 0.0, 0.03)), r * 0.05, 0.5),
    ]
    behind: list[Part] = []
    style = rng.choice(["short", "short", "long", "bun", "bald", "hat", "ponytail"])
    if style == "long":
        behind.append(Part(rbox(cx, cy - 0.9 * r, rx * 1.2, ry * 1.5, r * 0.8), hair, r * 0.5))
    elif style == "ponytail":
        tail = capsule((cx + rx * 0.6, cy), (cx + rx * 1.2, cy - 1.6 * r), 0.35 * r, 0.15 * r)
        behind.append(Part(tail, hair, r * 0.3))
    elif style == "bun":
        front.append(Part(circle(cx, cy + ry * 1.05, r * 0.45), hair, r * 0.4))
    if style == "hat":
        crown = rbox(cx, cy + ry * 0.75, rx * 0.95, ry * 0.45, r * 0.3)
        brim = rbox(cx, cy + ry * 0.4, rx * rng.uniform(1.15, 1.7), r * 0.09, r * 0.08)
        front.append(Part(union(crown, brim), cloth_texture(rng, cloth(rng)), r * 0.3))
    elif style != "bald":
        face = ellipse(cx, cy - 0.3 * r, rx * 0.92, ry * 0.92)
        cap = cut(ellipse(cx, cy + 0.06 * r, rx * 1.1, ry * 1.06), face)
        front.append(Part(cap, hair, r * 0.4))
    return behind, front


def draw_person(rng: np.random.Generator) -> list[Part]:
    """A person standing, seen from the front, in one of several outfits and arm poses."""
    fig = _Figure.draw(rng)
    h = fig.height
    skin, hair = plain(_skin(rng), 0.05), plain(_hair(rng), 0.25, 80.0)
    top, bottom = cloth_texture(rng, cloth(rng)), cloth_texture(rng, cloth(rng))
    outfit = rng.choice(["trousers", "trousers", "shorts", "skirt", "dress", "coat"])
    legs, feet = _legs(rng, fig)
    behind, head = _head(rng, 0.0, fig.shoulder + 0.04 * h + fig.head, fig.head, skin, hair)
    neck = capsule((0, fig.shoulder - 0.02 * h), (0, fig.shoulder + 0.05 * h), 0.028 * h)
    shoes = plain(grey(rng, 0.02, 0.5), 0.05)
    return [
        *behind,
        *_legwear(rng, fig, outfit, legs, skin, dress=top, bottom=bottom),
        *(Part(ellipse(x * 1.15, h * 0.03, 0.05 * h, 0.03 * h), shoes, 0.02 * h) for x in feet),
        Part(neck, skin, 0.025 * h),
        Part(_torso(fig, long=outfit == "coat"), top, 0.07 * h),
        *_arms(rng, fig, skin, sleeves=top),
        *head,
    ]


def _legs(rng: np.random.Generator, fig: _Figure) -> tuple[Shape, list[float]]:
    """Both legs, feet a little apart and knees a little bent; and the x of each foot."""
    h = fig.height
    spread = rng.uniform(0.0, 0.09) * h
    legs, feet = [], []
    for side in (-1, 1):
        hip = (side * fig.hip_w * 0.5, fig.hip)
        foot = (side * (fig.hip_w * 0.45 + spread), h * 0.04)
        knee = (
            (hip[0] + foot[0]) / 2 + side * rng.uniform(-0.01, 0.02) * h,
            (hip[1] + foot[1]) / 2,
        )
        thigh = capsule(hip, knee, 0.055 * h * fig.build**0.5, 0.036 * h)
        legs.append(union(thigh, capsule(knee, foot, 0.036 * h, 0.024 * h), k=0.02 * h))
        feet.append(foot[0])
    return union(*legs), feet


def _torso(fig: _Figure, long: bool) -> Shape:
    """Sloping shoulders narrowing to the waist, then the hips; to the knees for a coat."""
    h, sw, ww, hw = fig.height, fig.shoulder_w, fig.waist_w, fig.hip_w
    drop = 0.035 * h
    hem = (hw * 1.25, h * 0.3) if long else (hw, fig.hip)
    outline = [
        (-sw, fig.shoulder - drop),
        (-sw * 0.45, fig.shoulder + 0.01 * h),
        (sw * 0.45, fig.shoulder + 0.01 * h),
        (sw, fig.shoulder - drop),
        (ww, fig.waist),
        hem,
        (-hem[0], hem[1]),
        (-ww, fig.waist),
    ]
    return polygon(outline, 0.035 * h)


def _legwear(
    rng: np.random.Generator,
    fig: _Figure,
    outfit: str,
    legs: Shape,
    skin: Texture,
    dress: Texture,
    bottom: Texture,
) -> list[Part]:
    """Trousers over the legs, or bare legs under shorts, a skirt or a dress."""
    h = fig.height
    pelvis = rbox(0.0, fig.hip + 0.02 * h, fig.hip_w, 0.07 * h, 0.04 * h)
    if outfit in ("trousers", "coat"):
        return [Part(union(pelvis, legs, k=0.02 * h), bottom, 0.05 * h)]
    bare = Part(legs, skin, 0.035 * h)
    if outfit == "shorts":
        shorts = [
            capsule(
                (s * fig.hip_w * 0.5, fig.hip), (s * fig.hip_w * 0.55, fig.hip - 0.17 * h), 0.06 * h
            )
            for s in (-1, 1)
        ]
        return [bare, Part(union(pelvis, *shorts, k=0.02 * h), bottom, 0.05 * h)]
    hem = h * rng.uniform(0.22, 0.38)
    flare = fig.hip_w * rng.uniform(1.1, 1.6)
    ww = fig.waist_w
    skirt = polygon([(-ww, fig.waist), (ww, fig.waist), (flare, hem), (-flare, hem)], 0.015 * h)
    return [bare, Part(skirt, dress if outfit == "dress" else bottom, 0.06 * h)]


def _arms(rng: np.random.Generator, fig: _Figure, skin: Texture, sleeves: Texture) -> list[Part]:
    """Two arms, each in its own pose, in long or short sleeves, with hands."""
    h = fig.height
    names = list(_ARM_POSES)
    weights = np.array([w for _, _, w in _ARM_POSES.values()])
    long_sleeves = rng.random() < 0.6
    parts = []
    for side in (-1, 1):
        upper, fore, _ = _ARM_POSES[names[rng.choice(len(names), p=weights / weights.sum())]]
        angles = (rng.uniform(*upper), rng.uniform(*fore))
        shoulder = (side * (fig.shoulder_w - 0.015 * h), fig.shoulder - 0.045 * h)
        radii = (0.034 * h, 0.027 * h, 0.021 * h)
        arm, hand = _limb(shoulder, angles, (0.18 * h, 0.16 * h), radii, side)
        if long_sleeves:
            parts.append(Part(arm, sleeves, 0.03 * h))
        else:
            sleeve, _ = _limb(shoulder, (angles[0],) * 2, (0.09 * h, 0.0), (0.04 * h,) * 3, side)
            parts += [Part(arm, skin, 0.03 * h), Part(sleeve, sleeves, 0.03 * h)]
        parts.append(Part(circle(*hand, 0.03 * h), skin, 0.025 * h))
    return parts
