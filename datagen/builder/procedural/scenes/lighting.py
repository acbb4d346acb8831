"""Lighting of scenes: sun (or key light), sky and atmosphere, outdoors and indoors."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from datagen.builder.procedural.common import grey, hsv_colour, mix, random_colour


@dataclass(frozen=True)
class Lighting:
    """Sun (or key light), sky and atmosphere of one scene; colours are linear RGB."""

    sun: np.ndarray
    """Unit vector towards the light, pointing up."""
    sun_colour: np.ndarray
    ambient: np.ndarray
    zenith: np.ndarray
    horizon: np.ndarray
    clouds: float
    """Cloud cover in [0, 1]."""
    haze: float
    """Distance (m) at which haze has covered 63 % of a surface's colour."""
    exposure: float
    vignette: float


def _sun_direction(elevation_deg: float, azimuth_deg: float) -> np.ndarray:
    el, az = math.radians(elevation_deg), math.radians(azimuth_deg)
    return np.array(
        [math.sin(az) * math.cos(el), math.sin(el), math.cos(az) * math.cos(el)], np.float32
    )


def outdoor_lighting(rng: np.random.Generator) -> Lighting:
    """Sunny, golden-hour, overcast or hazy daylight, the sun mostly behind or beside the camera."""
    mood = rng.choice(["sunny", "sunny", "golden", "overcast", "hazy"])
    azimuth = 180.0 + rng.uniform(-110.0, 110.0)
    zenith = random_colour(rng, hue=(0.56, 0.63), sat=(0.45, 0.7), val=(0.7, 0.95))
    horizon = random_colour(rng, hue=(0.55, 0.62), sat=(0.08, 0.25), val=(0.88, 1.0))
    sun_colour = hsv_colour(rng.uniform(0.08, 0.13), rng.uniform(0.05, 0.2), 1.0) * 2.6
    elevation, clouds, haze = rng.uniform(30, 65), rng.uniform(0.0, 0.5), rng.uniform(150, 400)
    if mood == "golden":
        elevation = rng.uniform(10, 22)
        sun_colour = hsv_colour(rng.uniform(0.06, 0.1), rng.uniform(0.35, 0.55), 1.0) * 2.4
        horizon = hsv_colour(rng.uniform(0.04, 0.1), rng.uniform(0.25, 0.45), 1.0)
    elif mood == "overcast":
        sun_colour, clouds = sun_colour * 0.35, rng.uniform(0.75, 0.95)
        zenith = horizon = grey(rng, 0.7, 0.9)
    elif mood == "hazy":
        haze = rng.uniform(60, 100)
        zenith = mix(zenith, horizon, 0.5)
    return Lighting(
        sun=_sun_direction(elevation, azimuth),
        sun_colour=sun_colour,
        ambient=mix(horizon, zenith, 0.5) * rng.uniform(0.55, 0.75),
        zenith=zenith,
        horizon=horizon,
        clouds=clouds,
        haze=haze,
        exposure=rng.uniform(0.6, 0.8),
        vignette=rng.uniform(0.0, 0.3),
    )


def indoor_lighting(rng: np.random.Generator) -> Lighting:
    """A warm or cool key light from above plus soft fill; no sky is visible."""
    warm = rng.random() < 0.7
    tint = hsv_colour(
        rng.uniform(0.06, 0.12) if warm else rng.uniform(0.55, 0.62), rng.uniform(0.0, 0.22), 1.0
    )
    return Lighting(
        sun=_sun_direction(rng.uniform(40, 75), rng.uniform(0, 360)),
        sun_colour=tint * rng.uniform(1.0, 1.8),
        ambient=tint * rng.uniform(0.6, 0.9),
        zenith=tint,
        horizon=tint * 0.8,
        clouds=0.0,
        haze=rng.uniform(150, 400),
        exposure=rng.uniform(0.7, 0.9),
        vignette=rng.uniform(0.1, 0.45),
    )
