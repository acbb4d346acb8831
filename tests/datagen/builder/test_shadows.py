"""Cast and contact shadows: only bg pixels darken, in the light's direction, reproducibly."""

from __future__ import annotations

import math

import numpy as np
import pytest

from datagen.builder.composite import IDENTITY_JITTER, prepare_cutout, render
from datagen.builder.procedural import render_cutout
from datagen.builder.shadows import (
    apply_shadow,
    changed_box,
    draw_shadow_params,
    ground_receiver,
    scene_light,
    shadow_factor,
)
from datagen.common.imaging import premultiply, resize_premultiplied
from datagen.store.schema import NO_SHADOW, Placement, PlanEntry, SceneLight, ShadowParams
from datagen.store.schema import RECORD_SHADOW_COLUMNS as RECORD_COLUMNS

SIZE = 96
HORIZON = 0.4 * SIZE


def person(height: int = 48, width: int = 20) -> np.ndarray:
    """(h, w, 4) uint8 RGBA: an opaque upright box with a soft 2-px edge."""
    rgba = np.full((height, width, 4), 200, np.uint8)
    alpha = np.ones((height, width), np.float32)
    for k in range(2):
        alpha[:, k] = alpha[:, -1 - k] = alpha[k, :] = (k + 1) / 3
    rgba[..., 3] = np.rint(alpha * 255).astype(np.uint8)
    return rgba


def placed(x: int = 38, bottom: int = 80, cutout: np.ndarray | None = None) -> Placement:
    cutout = person() if cutout is None else cutout
    height, width = cutout.shape[:2]
    return Placement(
        entry=PlanEntry(bg_id=0, fg_id=0, flip=False, position=0),
        scale=height / SIZE, x=x, y=bottom - height, width=width, height=height,
        contact_depth=4.0, jitter=IDENTITY_JITTER,
    )  # fmt: skip


def frame_alpha(place: Placement, cutout: np.ndarray) -> np.ndarray:
    """The placed cutout's alpha in the frame, as the builder would hand it over."""
    alpha = np.zeros((SIZE, SIZE), np.float32)
    layer = resize_premultiplied(premultiply(cutout), place.width, place.height)[..., 3]
    alpha[place.y : place.y + place.height, place.x : place.x + place.width] = layer
    return alpha


def contact(place: Placement) -> tuple[float, float]:
    return place.y + place.height - 1, place.x + place.width / 2


def factor_for(params: ShadowParams, place: Placement | None = None, **kwargs) -> np.ndarray:
    place = placed() if place is None else place
    alpha = frame_alpha(place, person())
    return shadow_factor(alpha, params, contact=contact(place), horizon_y=HORIZON, **kwargs)


def sun(azimuth: float, elevation: float = 40.0, softness: float = 0.02) -> ShadowParams:
    return ShadowParams(azimuth, elevation, 0.5, softness, 0.0, 0.05)


def test_factor_is_a_darkening_only_below_the_horizon() -> None:
    factor = factor_for(ShadowParams(150.0, 35.0, 0.5, 0.05, 0.4, 0.08))
    assert factor.dtype == np.float32 and factor.shape == (SIZE, SIZE)
    assert factor.min() >= 0.5 * 0.6 - 1e-6 and factor.max() == 1.0
    assert (factor < 1).any()
    assert (factor[: math.floor(HORIZON)] == 1).all()  # the sky never darkens


@pytest.mark.parametrize("seed", range(4))
def test_shadow_never_changes_the_mask_or_the_object(seed: int) -> None:
    """The shadow darkens the bg before compositing: mask, depth inputs and opaque object pixels
    come out byte for byte as without it."""
    rng = np.random.default_rng(seed)
    bg = rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)
    bg_depth = np.full((SIZE, SIZE), 30.0, np.float32)
    depth_before = bg_depth.copy()
    _, cutout = render_cutout(seed, seed, 56)
    cutout = cutout[:, : SIZE - 8]
    place = placed(x=(SIZE - cutout.shape[1]) // 2, bottom=90, cutout=cutout)
    fg = prepare_cutout(cutout, False, IDENTITY_JITTER)
    params = draw_shadow_params(rng, p_cast=1.0)
    factor = shadow_factor(
        frame_alpha(place, cutout), params, contact=contact(place), horizon_y=HORIZON
    )
    plain = render(place, bg, bg_depth, fg)
    shaded = render(place, apply_shadow(bg, factor), bg_depth, fg)
    assert (factor < 1).any()
    np.testing.assert_array_equal(shaded.mask, plain.mask)
    assert shaded.box == plain.box
    np.testing.assert_array_equal(bg_depth, depth_before)
    alpha = resize_premultiplied(fg, place.width, place.height)[..., 3]
    y0, x0, y1, x1 = plain.box
    opaque = alpha[y0 - place.y : y1 - place.y, x0 - place.x : x1 - place.x] == 1
    np.testing.assert_array_equal(shaded.rgb[opaque], plain.rgb[opaque])


def test_same_params_give_the_same_bytes_and_survive_a_float32_record() -> None:
    a = draw_shadow_params(np.random.default_rng(7))
    b = draw_shadow_params(np.random.default_rng(7))
    assert a == b
    row = np.array(a.record(), dtype=np.float32)  # the store's records_f are float32
    assert len(row) == len(RECORD_COLUMNS)
    again = ShadowParams(*(float(v) for v in row))
    assert again == a
    np.testing.assert_array_equal(factor_for(a).view(np.uint32), factor_for(again).view(np.uint32))


def test_light_from_the_right_darkens_the_left() -> None:
    factor = factor_for(sun(90.0))
    left, right = factor[:, :38].mean(), factor[:, 58:].mean()
    assert left < right - 0.01
    assert (factor[:, 58:] == 1).all()


def test_light_behind_the_camera_throws_the_shadow_back_and_in_front_towards_the_camera() -> None:
    place = placed()
    back = factor_for(sun(180.0), place)
    front = factor_for(sun(0.0), place)
    row = place.y + place.height - 1
    columns = slice(place.x, place.x + place.width)
    # Behind: above the contact row (farther), hidden partly by the object itself.
    assert back[:row, columns].min() < 0.7 and (back[row + 2 :] == 1).all()
    # In front: below the contact row (nearer the camera), nothing above it.
    assert front[row + 2 :, columns].min() < 0.7 and (front[: row - 1] == 1).all()


def test_low_light_casts_a_longer_shadow() -> None:
    long, short = (changed_box(factor_for(sun(90.0, el))) for el in (20.0, 60.0))
    assert long is not None and short is not None
    assert long[3] - long[1] > 1.5 * (short[3] - short[1])


def test_softness_widens_the_penumbra() -> None:
    def penumbra(softness: float) -> int:
        darkness = 1 - factor_for(sun(150.0, softness=softness))
        return int(((darkness > 0.02) & (darkness < 0.48)).sum())

    assert penumbra(0.1) > 1.5 * penumbra(0.01)


def test_contact_shadow_hugs_the_feet() -> None:
    place = placed()
    factor = factor_for(ShadowParams(0.0, 45.0, 0.0, 0.0, 0.4, 0.08), place)
    row = place.y + place.height - 1
    under = factor[row + 1, place.x + place.width // 2]
    assert under < 0.8
    assert factor[row + 1, 0] > under and (factor[: place.y] == 1).all()
    assert (factor_for(NO_SHADOW) == 1).all()


def test_changed_box_holds_every_changed_byte() -> None:
    bg = np.random.default_rng(3).integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)
    factor = factor_for(ShadowParams(120.0, 30.0, 0.45, 0.06, 0.3, 0.06))
    changed = (apply_shadow(bg, factor) != bg).any(axis=2)
    y0, x0, y1, x1 = changed_box(factor)
    outside = changed.copy()
    outside[y0:y1, x0:x1] = False
    assert changed.any() and not outside.any()
    np.testing.assert_array_equal(apply_shadow(bg, np.ones((SIZE, SIZE), np.float32)), bg)


def test_receiver_keeps_shadows_off_what_stands_on_the_ground() -> None:
    ground_k = 100.0
    rows = np.arange(SIZE) + 0.5 - HORIZON
    depth = np.where(rows > 0, ground_k / np.maximum(rows, 1e-9), 30.0)[:, None].repeat(SIZE, 1)
    depth = depth.astype(np.float32)
    depth[:, :30] = 1.0  # a wall on the left, nearer than the ground behind it
    receiver = ground_receiver(depth, HORIZON, ground_k)
    assert receiver[60:, 40:].all() and not receiver[:, :30].any()
    factor = factor_for(sun(90.0), receiver=receiver)
    assert (factor[:, :30] == 1).all() and (factor[:, 30:38] < 1).any()


def test_scene_light_in_camera_frame_and_used_as_is() -> None:
    # World sun up-right-behind the camera; the camera turned 30 degrees to the right.
    el, az = math.radians(40), math.radians(120)
    vector = np.array([math.sin(az) * math.cos(el), math.sin(el), math.cos(az) * math.cos(el)])
    light = scene_light(vector, math.radians(30), np.array([2.0, 2.0, 2.0]), np.array([0.5] * 3))
    assert light.azimuth_deg == pytest.approx(90.0)
    assert light.elevation_deg == pytest.approx(40.0)
    # ground lit 0.5 + 2 sin(40) = 1.79, shadow 0.5: keeps (0.5 / 1.79) ** (1 / 2.2)
    assert light.strength == pytest.approx(1 - (0.5 / (0.5 + 2 * math.sin(el))) ** (1 / 2.2))
    params = draw_shadow_params(np.random.default_rng(0), light, p_cast=0.0)
    assert (params.azimuth_deg, params.elevation_deg) == pytest.approx((90.0, 40.0))
    assert params.strength == pytest.approx(light.strength)


def test_photo_draws_stay_in_their_documented_ranges() -> None:
    rng = np.random.default_rng(11)
    drawn = [draw_shadow_params(rng) for _ in range(200)]
    assert all(25 <= p.elevation_deg <= 70 for p in drawn)
    assert all(0.01 <= p.softness <= 0.1 for p in drawn)
    cast = np.mean([p.strength > 0 for p in drawn])
    assert 0.7 < cast < 0.9  # p_cast = 0.8
    with pytest.raises(ValueError, match="elevation"):
        ShadowParams(0.0, 90.0, 0.5, 0.02, 0.3, 0.05)


def test_scene_light_unused_fields_do_not_leak() -> None:
    light = SceneLight(azimuth_deg=10.0, elevation_deg=50.0, strength=0.0, softness=0.012)
    params = draw_shadow_params(np.random.default_rng(1), light)
    assert params.strength == 0.0 and params.ao_strength > 0  # overcast: contact shadow only
