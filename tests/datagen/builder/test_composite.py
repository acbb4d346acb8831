"""Compositing, masks, placement, flips and occlusion of single samples."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from datagen.builder.composite import (
    IDENTITY_JITTER,
    PlacementStreams,
    apply_jitter,
    draw_placement,
    placement_rng,
    plan_entry,
    prepare_cutout,
    render,
)
from datagen.common.imaging import resize_premultiplied, unpremultiply
from datagen.store.schema import Placement, PlanEntry

SIZE = 64
FAR = np.full((SIZE, SIZE), 30.0, np.float32)


def soft_disc(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A straight-alpha RGBA ellipse with textured colour and a soft 3-px edge."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:height, :width]
    r = np.hypot((yy + 0.5 - height / 2) / (height / 2), (xx + 0.5 - width / 2) / (width / 2))
    alpha = np.clip((1.0 - r) * min(height, width) / 6, 0, 1)
    rgba = rng.integers(0, 256, (height, width, 4), dtype=np.uint8)
    rgba[..., 3] = np.rint(alpha * 255).astype(np.uint8)
    return rgba


def placement(
    x: int, y: int, width: int, height: int, depth: float = 5.0, flip: bool = False
) -> Placement:
    return Placement(
        entry=PlanEntry(bg_id=0, fg_id=0, flip=flip, position=0),
        scale=height / SIZE, x=x, y=y, width=width, height=height,
        contact_depth=depth, jitter=IDENTITY_JITTER,
    )  # fmt: skip


@pytest.mark.parametrize(("x", "y"), [(10, 5), (-7, 20), (40, 30)])
def test_composite_matches_pil_alpha_composite(x: int, y: int) -> None:
    bg = np.random.default_rng(1).integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)
    cutout = soft_disc(50, 30)
    place = placement(x, y, 30, 40)
    composite = render(place, bg, FAR, prepare_cutout(cutout, False, IDENTITY_JITTER))

    placed = unpremultiply(
        resize_premultiplied(prepare_cutout(cutout, False, IDENTITY_JITTER), 30, 40)
    )
    layer = Image.new("RGBA", (SIZE, SIZE), (0, 0, 0, 0))
    layer.paste(Image.fromarray(placed), (x, y))
    reference = np.asarray(Image.alpha_composite(Image.fromarray(bg).convert("RGBA"), layer))

    fgbg, _ = composite.paste(bg)
    diff = np.abs(fgbg.astype(int) - reference[..., :3].astype(int))
    assert diff.max() <= 2, diff.max()
    assert diff.mean() < 0.2


def test_mask_is_alpha_at_least_half_and_box_is_tight() -> None:
    bg = np.zeros((SIZE, SIZE, 3), np.uint8)
    cutout = soft_disc(40, 40)
    premultiplied = prepare_cutout(cutout, False, IDENTITY_JITTER)
    composite = render(placement(12, 8, 40, 40), bg, FAR, premultiplied)
    alpha = np.zeros((SIZE, SIZE), np.float32)
    alpha[8:48, 12:52] = premultiplied[..., 3]
    _, mask = composite.paste(bg)
    np.testing.assert_array_equal(mask, np.where(alpha >= 0.5, 255, 0))
    rows, cols = np.nonzero(alpha > 0)
    assert composite.box == (rows.min(), cols.min(), rows.max() + 1, cols.max() + 1)


def test_outside_the_box_fgbg_equals_bg() -> None:
    bg = np.random.default_rng(2).integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)
    composite = render(
        placement(5, 5, 20, 30), bg, FAR, prepare_cutout(soft_disc(30, 20), False, IDENTITY_JITTER)
    )
    fgbg, _ = composite.paste(bg)
    y0, x0, y1, x1 = composite.box
    outside = np.ones((SIZE, SIZE), bool)
    outside[y0:y1, x0:x1] = False
    np.testing.assert_array_equal(fgbg[outside], bg[outside])
    assert (fgbg[y0:y1, x0:x1] != bg[y0:y1, x0:x1]).any()


def test_flip_mirrors_the_cutout() -> None:
    cutout = soft_disc(30, 21, seed=3)
    cutout[:, :5, 3] = 0  # make it asymmetric
    plain = prepare_cutout(cutout, False, IDENTITY_JITTER)
    mirrored = prepare_cutout(cutout, True, IDENTITY_JITTER)
    np.testing.assert_array_equal(mirrored, plain[:, ::-1])
    assert not np.array_equal(mirrored, plain)


def test_nearer_bg_occludes_the_fg() -> None:
    bg = np.full((SIZE, SIZE, 3), 100, np.uint8)
    cutout = np.full((40, 20, 4), 255, np.uint8)  # opaque white block
    depth = FAR.copy()
    depth[:, 30:] = 2.0  # a pillar nearer than the fg (at 5 m) covers the right half
    composite = render(
        placement(20, 10, 20, 40, depth=5.0),
        bg,
        depth,
        prepare_cutout(cutout, False, IDENTITY_JITTER),
    )
    fgbg, mask = composite.paste(bg)
    assert (mask[10:50, 20:30] == 255).all()  # in front of the far wall: visible
    assert (mask[:, 30:] == 0).all()  # behind the pillar: hidden
    np.testing.assert_array_equal(fgbg[:, 30:], bg[:, 30:])


def test_fully_hidden_fg_gives_an_empty_box() -> None:
    bg = np.zeros((SIZE, SIZE, 3), np.uint8)
    near = np.full((SIZE, SIZE), 1.0, np.float32)
    composite = render(
        placement(10, 10, 20, 20, depth=5.0),
        bg,
        near,
        prepare_cutout(soft_disc(20, 20), False, IDENTITY_JITTER),
    )
    y0, x0, y1, x1 = composite.box
    assert y0 == y1 and x0 == x1
    assert composite.mask.size == 0


def test_plan_entry_enumerates_every_combination_once() -> None:
    n_bg, n_fg, n_flips, positions = 3, 4, 2, 5
    entries = {
        (e.bg_id, e.fg_id, e.flip, e.position)
        for e in (
            plan_entry(i, n_fg, n_flips, positions)
            for i in range(n_bg * n_fg * n_flips * positions)
        )
    }
    assert len(entries) == n_bg * n_fg * n_flips * positions
    assert max(e[0] for e in entries) == n_bg - 1


@pytest.mark.parametrize("fg_shape", [(64, 20), (30, 64), (64, 64)])
def test_placements_stay_in_bounds_and_nearer_is_larger(fg_shape: tuple[int, int]) -> None:
    horizon, max_outside = 24.0, 0.1
    scales, feet = [], []
    for index in range(300):
        place = draw_placement(
            plan_entry(index, 1, 1, 300), placement_rng(7, index), size=SIZE,
            fg_shape=fg_shape, horizon_y=horizon, ground_k=100.0, bg_depth=FAR,
            scale_range=(0.3, 0.8), max_outside=max_outside, max_depth=30.0, jitter=False,
        )  # fmt: skip
        assert 0 <= place.y and place.y + place.height <= SIZE
        slack = int(max_outside * place.width)
        assert -slack <= place.x and place.x + place.width <= SIZE + slack
        assert place.width <= SIZE
        assert 0.3 - 1 / SIZE <= place.scale <= 0.8 + 1 / SIZE or place.width == SIZE
        assert place.y + place.height > horizon
        expected_depth = 100.0 / (place.y + place.height - 1 + 0.5 - horizon)
        assert place.contact_depth == pytest.approx(min(expected_depth, 30.0), rel=1e-6)
        scales.append(place.scale)
        feet.append(place.y + place.height)
    order = np.argsort(scales)
    assert (np.diff(np.asarray(feet)[order]) >= -1).all()  # larger fg stand lower (nearer)


def test_placement_is_a_function_of_seed_and_plan_index() -> None:
    def draw(seed: int, index: int) -> Placement:
        return draw_placement(
            plan_entry(index, 2, 2, 5), placement_rng(seed, index), size=SIZE,
            fg_shape=(50, 20), horizon_y=20.0, ground_k=80.0, bg_depth=FAR,
            scale_range=(0.3, 0.8), max_outside=0.1, max_depth=30.0, jitter=True,
        )  # fmt: skip

    assert draw(1, 5) == draw(1, 5)
    assert draw(1, 5) != draw(2, 5)
    assert draw(1, 5) != draw(1, 6)


def test_placement_streams_are_placement_rng_re_keyed() -> None:
    for seed in (0, 7, 2**63 + 5):
        streams = PlacementStreams(seed)
        for index in (0, 1, 399_999, 2**40, 3, 0):  # any order, a repeat
            mine, theirs = streams.of(index), placement_rng(seed, index)
            # Each kind of draw the builder makes, half-used 32-bit words included.
            assert mine.integers(0, 1000, 3).tolist() == theirs.integers(0, 1000, 3).tolist()
            assert mine.random(5).tolist() == theirs.random(5).tolist()
            assert mine.uniform(0.3, 0.8) == theirs.uniform(0.3, 0.8)
            assert mine.normal() == theirs.normal()
            assert mine.random(dtype=np.float32) == theirs.random(dtype=np.float32)


def test_jitter_changes_colour_not_alpha() -> None:
    cutout = soft_disc(30, 30, seed=4)
    assert apply_jitter(cutout, IDENTITY_JITTER) is cutout
    jittered = apply_jitter(cutout, (1.2, 0.8, 0.04, 0.8))
    np.testing.assert_array_equal(jittered[..., 3], cutout[..., 3])
    assert np.abs(jittered[..., :3].astype(int) - cutout[..., :3]).mean() > 3
    np.testing.assert_array_equal(jittered, apply_jitter(cutout, (1.2, 0.8, 0.04, 0.8)))
