"""Tests of the built-in procedural asset set (bg scenes with exact depth, fg cutouts)."""

import re
import time

import numpy as np
import pytest

from datagen.builder import procedural
from datagen.builder.procedural.cutouts.cutout import CUTOUT_CATEGORIES, procedural_kind
from datagen.builder.procedural.scenes.camera import Camera
from datagen.builder.procedural.scenes.lighting import indoor_lighting
from datagen.builder.procedural.scenes.materials import flat
from datagen.builder.procedural.scenes.primitives import Box, Ground
from datagen.builder.procedural.scenes.render import World, render_world

SIZE = 64
KINDS = ("room", "corridor", "warehouse", "street", "courtyard", "park")
CATEGORIES = {
    "person": "people",
    **dict.fromkeys(("dog", "cat", "horse", "cow", "sheep", "bird"), "animals"),
    **dict.fromkeys(("chair", "table", "sofa", "lamp", "plant", "cabinet"), "furniture"),
    **dict.fromkeys(("car", "van", "bike"), "vehicles"),
    **dict.fromkeys(("bottle", "vase", "sign", "cone", "hydrant", "bin", "suitcase"), "misc"),
}


@pytest.fixture(scope="module")
def scenes() -> list[procedural.Scene]:
    """Two full rounds of scene kinds at a small size."""
    return [procedural.render_scene(7, i, SIZE) for i in range(2 * len(KINDS))]


@pytest.fixture(scope="module")
def cutouts() -> list[tuple[str, np.ndarray]]:
    return [procedural.render_cutout(7, i, 48) for i in range(100)]


def _ground_depth(scene: procedural.Scene, size: int) -> np.ndarray:
    """Depth of the ground plane at every pixel centre (inf at and above the horizon)."""
    below = np.arange(size) + 0.5 - scene.horizon_y
    with np.errstate(divide="ignore"):
        rows = np.where(below > 0, scene.ground_k / below, np.inf)
    return np.broadcast_to(rows[:, None], (size, size))


# -- scenes ------------------------------------------------------------------------------------


def test_scene_is_deterministic() -> None:
    a, b = procedural.render_scene(3, 5, SIZE), procedural.render_scene(3, 5, SIZE)
    assert a.name == b.name
    assert a.rgb.tobytes() == b.rgb.tobytes()
    assert a.depth.tobytes() == b.depth.tobytes()
    assert (a.horizon_y, a.ground_k) == (b.horizon_y, b.ground_k)


def test_scenes_differ_by_index_and_seed() -> None:
    base = procedural.render_scene(3, 5, SIZE).rgb
    assert procedural.render_scene(3, 6, SIZE).rgb.tobytes() != base.tobytes()
    assert procedural.render_scene(4, 5, SIZE).rgb.tobytes() != base.tobytes()


def test_scene_names_and_kinds(scenes: list[procedural.Scene]) -> None:
    kinds = [re.fullmatch(r"proc-bg-(\d{3})-([a-z]+)", s.name) for s in scenes]
    assert all(kinds)
    assert [int(m.group(1)) for m in kinds] == list(range(len(scenes)))
    # Every run of len(KINDS) consecutive indices holds each kind once.
    assert sorted(m.group(2) for m in kinds[: len(KINDS)]) == sorted(KINDS)


def test_scene_arrays(scenes: list[procedural.Scene]) -> None:
    for s in scenes:
        assert s.rgb.shape == (SIZE, SIZE, 3)
        assert s.rgb.dtype == np.uint8
        assert s.rgb.flags.c_contiguous and s.depth.flags.c_contiguous
        assert s.depth.shape == (SIZE, SIZE)
        assert s.depth.dtype == np.float32
        assert np.isfinite(s.depth).all()
        assert s.depth.min() > 0
        assert s.depth.max() <= 30.0
        assert 0.25 * SIZE <= s.horizon_y <= 0.6 * SIZE
        assert s.ground_k > 0
        assert s.rgb.std() > 10, f"{s.name} is nearly flat"


def test_many_scenes_render() -> None:
    """Eight rounds of scene kinds render (at a tiny size, to stay fast): most layout branches."""
    for i in range(8 * len(KINDS)):
        s = procedural.render_scene(11, i, 24)
        assert np.isfinite(s.depth).all()
        assert s.depth.min() > 0


def test_depth_respects_max_depth() -> None:
    s = procedural.render_scene(7, 3, SIZE, max_depth=12.5)
    assert s.depth.max() == pytest.approx(12.5)


@pytest.mark.parametrize("size", [32, 97, 160])
def test_other_sizes(size: int) -> None:
    s = procedural.render_scene(1, 2, size)
    assert s.rgb.shape == (size, size, 3)
    assert s.depth.shape == (size, size)
    assert 0.25 * size <= s.horizon_y <= 0.6 * size


def test_scene_geometry_does_not_depend_on_size() -> None:
    small, large = procedural.render_scene(2, 4, 64), procedural.render_scene(2, 4, 128)
    assert small.name == large.name
    assert large.horizon_y == pytest.approx(2 * small.horizon_y)
    assert large.ground_k == pytest.approx(2 * small.ground_k)


def test_depth_matches_ground_plane(scenes: list[procedural.Scene]) -> None:
    """Visible ground has depth ground_k / (row + 0.5 - horizon_y), and nothing lies beyond it."""
    for s in scenes:
        ground = _ground_depth(s, SIZE)
        below = ground < np.inf
        expected = np.minimum(ground, 30.0)
        # Nothing below the horizon is seen through the ground ...
        assert (s.depth[below] <= expected[below] * (1 + 1e-5)).all(), s.name
        # ... and much of it is the ground itself, to 1e-3 relative.
        on_ground = np.abs(s.depth - ground) <= 1e-3 * ground
        assert on_ground[below].mean() > 0.2, s.name


def test_objects_occlude_the_ground(scenes: list[procedural.Scene]) -> None:
    """Objects standing on the floor are nearer than the floor behind them."""
    for s in scenes:
        ground = _ground_depth(s, SIZE)
        below = ground < np.inf
        assert (s.depth[below] < 0.98 * np.minimum(ground[below], 30.0)).any(), s.name


def test_box_front_face_depth_is_exact() -> None:
    """A box's front face is at its exact Z, nearer than the floor it stands on."""
    camera = Camera(size=SIZE, focal=50.0, height=1.5, horizon_y=24.0)
    lighting = indoor_lighting(np.random.default_rng(0))
    paint = flat(np.full(3, 0.5, np.float32))
    box = Box((-1.0, 0.0, 6.0), (1.0, 1.0, 7.0), paint)
    world = World(camera, lighting, (Ground(paint), box))
    _, depth = render_world(world, 30.0)
    row = 40  # the box's front face spans rows 24 + 50 * 0.5 / 6 ~ 28 to 24 + 50 * 1.5 / 6 ~ 36.5
    assert depth[30, SIZE // 2] == pytest.approx(6.0, rel=1e-6)
    assert depth[row, SIZE // 2] == pytest.approx(1.5 * 50.0 / (row + 0.5 - 24.0), rel=1e-6)
    assert depth[30, SIZE // 2] < depth[28, 0]


# -- cutouts -----------------------------------------------------------------------------------


def test_cutout_is_deterministic() -> None:
    a, b = procedural.render_cutout(3, 11, 64), procedural.render_cutout(3, 11, 64)
    assert a[0] == b[0]
    assert a[1].tobytes() == b[1].tobytes()


def test_cutouts_differ_by_index_and_seed() -> None:
    base = procedural.render_cutout(3, 11, 64)[1]
    assert procedural.render_cutout(3, 12, 64)[1].tobytes() != base.tobytes()
    assert procedural.render_cutout(4, 11, 64)[1].tobytes() != base.tobytes()


@pytest.mark.parametrize("height", [16, 64, 224, 333])
def test_cutout_height_is_honoured(height: int) -> None:
    for index in range(0, 60, 12):
        _, rgba = procedural.render_cutout(5, index, height)
        assert rgba.shape[0] == height
        assert rgba.shape[2] == 4
        assert rgba.dtype == np.uint8
        assert rgba.flags.c_contiguous


def test_cutout_crop_is_tight(cutouts: list[tuple[str, np.ndarray]]) -> None:
    for name, rgba in cutouts:
        alpha = rgba[..., 3]
        for edge in (alpha[0], alpha[-1], alpha[:, 0], alpha[:, -1]):
            assert edge.max() > 0, name


def test_cutout_alpha_is_opaque_inside_and_soft_at_the_edge(
    cutouts: list[tuple[str, np.ndarray]],
) -> None:
    opaque = []
    for name, rgba in cutouts:
        alpha = rgba[..., 3]
        ring = np.concatenate([alpha[0], alpha[-1], alpha[:, 0], alpha[:, -1]])
        opaque.append((alpha == 255).mean())
        assert opaque[-1] > 0.02, name  # even a bicycle's thin frame has a solid core
        assert ring.max() < 255, f"{name}: hard edge"
        assert ((alpha > 0) & (alpha < 255)).any(), name
        assert (rgba[..., :3][alpha == 0] == 0).all(), name
    assert np.median(opaque) > 0.3


def test_cutout_names(cutouts: list[tuple[str, np.ndarray]]) -> None:
    for i, (name, _) in enumerate(cutouts):
        match = re.fullmatch(r"proc-fg-(\d{3})-([a-z]+)", name)
        assert match, name
        assert int(match.group(1)) == i
        assert match.group(2) in CATEGORIES


def test_every_cutout_name_carries_its_kind(cutouts: list[tuple[str, np.ndarray]]) -> None:
    """fgd eval reads the kind of a built-in cutout off its name (stores record none)."""
    words = {"people": "person", "animals": "animal", "furniture": "furniture",
             "vehicles": "vehicle", "misc": "object"}  # fmt: skip
    assert CUTOUT_CATEGORIES == {k: words[c] for k, c in CATEGORIES.items()}
    for name, _ in cutouts:
        assert procedural_kind(name) == words[CATEGORIES[name.rsplit("-", 1)[1]]], name
    assert procedural_kind("proc-fg-1234-dog") == "animal"  # past 999 cutouts
    for other in ("dog.png", "proc-fg-001-dragon", "proc-bg-001-room", "xproc-fg-001-dog"):
        assert procedural_kind(other) is None, other


def test_cutouts_are_varied(cutouts: list[tuple[str, np.ndarray]]) -> None:
    kinds = {name.rsplit("-", 1)[1] for name, _ in cutouts}
    assert {CATEGORIES[k] for k in kinds} == set(CATEGORIES.values())
    assert len(kinds) >= 15
    aspects = {round(rgba.shape[1] / rgba.shape[0], 1) for _, rgba in cutouts}
    assert len(aspects) >= 15
    assert min(aspects) < 0.5 and max(aspects) > 2.0  # tall people, wide vehicles
    means = {
        tuple(np.round(rgba[..., :3][rgba[..., 3] == 255].mean(axis=0) / 16).astype(int))
        for _, rgba in cutouts
    }
    assert len(means) >= 50


def test_cutout_sets_differ_by_seed() -> None:
    a = [procedural.render_cutout(1, i, 32)[0] for i in range(10)]
    b = [procedural.render_cutout(2, i, 32)[0] for i in range(10)]
    assert a != b


@pytest.mark.slow
def test_full_set_renders_within_budget() -> None:
    """100 scenes at 224 px and 100 cutouts 224 px tall take at most 15 s of CPU time."""
    start = time.process_time()
    for i in range(100):
        procedural.render_scene(0, i, 224)
        procedural.render_cutout(0, i, 224)
    assert time.process_time() - start <= 15.0
