"""Depth teachers: the disparity alignment rule, transformers models loaded offline, the
teacher's record and fits in the store, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import zarr

from datagen.builder.build import build_store, regenerate
from datagen.builder.camera_prior import ground_prior
from datagen.builder.teacher import DepthTeacher, align_disparity, prior_ground_rows
from datagen.common.errors import InputError
from datagen.store import audit, schema
from datagen.store.reader import open_store
from datagen.store.schema import TeacherAttrs
from tests.datagen.conftest import tiny_config
from tests.datagen.test_bad_input import assert_one_line_error, build_args, run

torch = pytest.importorskip("torch")

SIZE, MAX_DEPTH = 64, 30.0


def _synthetic_scene(scale: float, shift: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A depth map that follows the prior on its ground rows (random elsewhere), and the
    disparity a relative model with that scale and shift would give for it."""
    prior, _, _ = ground_prior(SIZE, MAX_DEPTH)
    rows = prior_ground_rows(prior, MAX_DEPTH)
    depth = np.random.default_rng(0).uniform(2.0, 25.0, prior.shape)
    depth[rows] = prior[rows]
    return (1.0 / depth - shift) / scale, prior, depth


# ----------------------------------------------------------------------------- alignment


def test_alignment_recovers_a_known_scale_and_shift():
    disparity, prior, depth = _synthetic_scene(scale=0.02, shift=0.01)
    rows = prior_ground_rows(prior, MAX_DEPTH)
    assert rows.sum() > SIZE // 3  # the fit has many rows to work with
    aligned, s, t = align_disparity(disparity, prior, rows)
    assert s == pytest.approx(0.02, rel=1e-6)
    assert t == pytest.approx(0.01, rel=1e-6)
    np.testing.assert_allclose(aligned, depth, rtol=1e-5)  # also off the ground rows
    assert aligned.dtype == np.float32


def test_alignment_without_a_positive_scale_drops_the_shift():
    prior, _, _ = ground_prior(SIZE, MAX_DEPTH)
    rows = prior_ground_rows(prior, MAX_DEPTH)
    reversed_disparity = 1.0 / prior[::-1].astype(np.float64)  # nearer rows look farther
    _, s, t = align_disparity(reversed_disparity, prior, rows)
    d, q = reversed_disparity[rows].ravel(), 1.0 / prior[rows].astype(np.float64).ravel()
    assert t == 0.0
    assert s == pytest.approx((d @ q) / (d @ d))


def test_alignment_of_zero_disparity_is_the_mean_prior_depth():
    prior, _, _ = ground_prior(SIZE, MAX_DEPTH)
    rows = prior_ground_rows(prior, MAX_DEPTH)
    depth, s, t = align_disparity(np.zeros((SIZE, SIZE)), prior, rows)
    assert s == 0.0
    assert t == pytest.approx(np.mean(1.0 / prior[rows]))
    np.testing.assert_allclose(depth, 1.0 / t, rtol=1e-6)


def test_non_positive_aligned_disparity_is_infinitely_far():
    prior, _, _ = ground_prior(SIZE, MAX_DEPTH)
    rows = prior_ground_rows(prior, MAX_DEPTH)
    disparity, _, _ = _synthetic_scene(scale=0.02, shift=0.01)
    disparity[:5] = -10.0  # the sky of a model that overshoots
    depth, _, _ = align_disparity(disparity, prior, rows)
    assert np.isinf(depth[:5]).all()
    assert np.isfinite(depth[rows]).all()


def _teacher(network, rule="ground-fit", user_scale=None) -> DepthTeacher:
    return DepthTeacher(
        "fake", "transformers", network, rule, user_scale, torch.device("cpu"), MAX_DEPTH
    )


def test_estimate_fits_each_image_and_clips_to_the_far_limit():
    first, _, depth = _synthetic_scene(scale=0.02, shift=0.01)
    second, _, _ = _synthetic_scene(scale=0.5, shift=-0.001)
    disparities = np.stack([first, second]).astype(np.float32)
    teacher = _teacher(lambda images: disparities[: len(images)])
    result = teacher.estimate(np.zeros((2, SIZE, SIZE, 3), np.uint8))
    np.testing.assert_allclose(result.scale, [0.02, 0.5], rtol=1e-4)
    np.testing.assert_allclose(result.shift, [0.01, -0.001], rtol=1e-3, atol=1e-6)
    np.testing.assert_allclose(result.depth[0], np.clip(depth, 1e-3, MAX_DEPTH), rtol=1e-4)
    assert result.depth.max() <= MAX_DEPTH and result.depth.min() >= 1e-3
    assert teacher.record() == {"model": "fake", "kind": "transformers", "rule": "ground-fit"}


def test_user_scale_rule_is_inverse_disparity_times_the_scale():
    disparity = np.full((1, SIZE, SIZE), 0.25, np.float32)
    disparity[0, 0, 0] = 0.0  # no disparity: at the far limit, not at the near one
    teacher = _teacher(lambda images: disparity, rule="user-scale", user_scale=2.0)
    result = teacher.estimate(np.zeros((1, SIZE, SIZE, 3), np.uint8))
    assert result.depth[0, 1, 1] == pytest.approx(2.0)  # 1 / (2 * 0.25)
    assert result.depth[0, 0, 0] == MAX_DEPTH
    assert (result.scale, result.shift) == (2.0, 0.0)
    assert teacher.record()["scale"] == 2.0


# ----------------------------------------------------------------------------- transformers


def _tiny_depth_anything(folder: Path, **config: object) -> Path:
    """A randomly initialised Depth Anything of ~0.1 M parameters, saved the ordinary way."""
    transformers = pytest.importorskip("transformers")
    backbone = transformers.Dinov2Config(
        hidden_size=32,
        num_hidden_layers=4,
        num_attention_heads=2,
        intermediate_size=64,
        patch_size=14,
        image_size=56,
        out_features=["stage1", "stage2", "stage3", "stage4"],
        reshape_hidden_states=False,
    )
    cfg = transformers.DepthAnythingConfig(
        backbone_config=backbone,
        neck_hidden_sizes=[16, 16, 16, 16],
        reassemble_hidden_size=32,
        fusion_hidden_size=16,
        head_hidden_size=8,
        patch_size=14,
        **config,
    )
    torch.manual_seed(0)
    model = transformers.DepthAnythingForDepthEstimation(cfg).eval()
    with torch.no_grad():  # a random head's ReLU output is ~0; give it a visible range
        model.head.conv3.bias.fill_(1.0)
    model.save_pretrained(folder)
    transformers.DPTImageProcessor(
        size={"height": 56, "width": 56}, keep_aspect_ratio=True, ensure_multiple_of=14
    ).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def relative_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _tiny_depth_anything(tmp_path_factory.mktemp("hf") / "tiny-depth-anything")


@pytest.fixture(scope="module")
def metric_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("hf") / "tiny-metric"
    return _tiny_depth_anything(folder, depth_estimation_type="metric", max_depth=20)


@pytest.fixture(autouse=True)
def offline_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty Hugging Face cache and no network: nothing here may download."""
    constants = pytest.importorskip("huggingface_hub.constants")

    cache = tmp_path / "hf-home" / "hub"
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(cache.parent))
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    # huggingface_hub reads the variables once, at import; set what it read as well.
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    return cache


def test_relative_model_builds_a_store_offline(relative_model: Path, tmp_path: Path):
    teacher = DepthTeacher.load(str(relative_model), MAX_DEPTH)
    assert (teacher.kind, teacher.rule) == ("transformers", "ground-fit")
    out = tmp_path / "t.zarr"
    build_store(tiny_config(out, depth="teacher", depth_model=str(relative_model)), progress=False)
    ds = open_store(out)
    exact = regenerate(str(out), 4)  # the composite the teacher saw, before JPEG coding
    expected = teacher.predict(exact["fgbg"][None])[0]
    np.testing.assert_allclose(ds[4]["depth"], expected, atol=1e-3)
    np.testing.assert_array_equal(ds[4]["depth"], schema.depth_metres(exact["depth"]))
    np.testing.assert_allclose(ds.bg_depth[0], teacher.predict(ds.bg_images[:1])[0], atol=1e-3)
    assert 0 < ds.bg_depth.min() and ds.bg_depth.max() <= MAX_DEPTH
    fit = teacher.estimate(ds.bg_images)
    assert (fit.scale > 0).all()  # the fitted rule, not the degenerate fallback
    # The record and the fits: what estimate gives on the same images.
    assert ds.root.depth.teacher == TeacherAttrs(str(relative_model), "transformers", "ground-fit")
    group = zarr.open_group(str(out), mode="r")
    np.testing.assert_allclose(group["bg_teacher_fit"][...], fit.fit, rtol=1e-5)
    sample_fit = group["teacher_fit"][...]
    assert sample_fit.shape == (len(ds), 2) and np.isfinite(sample_fit).all()
    assert (sample_fit[:, 0] > 0).all()
    assert group["teacher_fit"].attrs["columns"] == ["scale", "shift"]
    for index in (0, 4, len(ds) - 1):
        again = regenerate(str(out), index)
        expected_fit = teacher.estimate(again["fgbg"][None]).fit[0]
        np.testing.assert_allclose(sample_fit[index], expected_fit, rtol=1e-5)
        np.testing.assert_allclose(again["teacher_fit"], sample_fit[index], rtol=1e-5)
    assert "teacher_fit" in ds.sample_arrays and "bg_teacher_fit" in ds.asset_arrays
    assert len(ds.root.integrity["teacher_fit"]) == ds.root.n_shards  # type: ignore[index]
    assert audit.verify(str(out), progress=False) == []
    # data/README.md's plain-zarr reading of a teacher's depth: whole frames, packed.
    size, shard_size = group.attrs["size"], group.attrs["shard_size"]
    for i in (3, 20):  # in the first shard, in the second
        start = (i // shard_size) * group["depth"].shards[0] + (i % shard_size) * size * size
        frame = group["depth"][start : start + size * size].reshape(size, size)
        np.testing.assert_array_equal(schema.depth_metres(frame), ds[i]["depth"])


def test_user_scale_is_recorded_and_shown_by_info(relative_model: Path, tmp_path: Path):
    teacher = ["--depth", "teacher", "--depth-model", str(relative_model)]
    args = build_args(tmp_path, "--n-bg", "2", "--n-fg", "2", *teacher, "--depth-scale", "2.5")
    code, output = run(*args)
    assert code == 0, output
    code, output = run("datagen", "info", str(tmp_path / "out.zarr"))
    assert code == 0, output
    info = json.loads(output)
    assert info["depth"]["teacher"] == {
        "model": str(relative_model),
        "kind": "transformers",
        "rule": "user-scale",
        "scale": 2.5,
    }
    assert info["config"]["depth_scale"] == 2.5
    assert info["arrays"]["teacher_fit"]["shape"] == [info["n_samples"], 2]
    assert info["arrays"]["bg_teacher_fit"]["shape"] == [2, 2]
    group = zarr.open_group(str(tmp_path / "out.zarr"), mode="r")
    for name in ("teacher_fit", "bg_teacher_fit"):
        fits = group[name][...]
        assert (fits == np.float32([2.5, 0.0])).all(), name


def test_metric_model_build_records_the_metric_rule(metric_model: Path, tmp_path: Path):
    out = tmp_path / "m.zarr"
    build_store(tiny_config(out, depth="teacher", depth_model=str(metric_model)), progress=False)
    ds = open_store(out)
    assert ds.root.depth.teacher == TeacherAttrs(str(metric_model), "transformers", "metric")
    assert "depth_scale" not in ds.root.config
    group = zarr.open_group(str(out), mode="r")
    assert (group["teacher_fit"][...] == np.float32([1.0, 0.0])).all()
    assert (group["bg_teacher_fit"][...] == np.float32([1.0, 0.0])).all()


def test_a_geometric_store_has_no_teacher_record(tiny_store: Path):
    attrs = zarr.open_group(str(tiny_store), mode="r").attrs.asdict()
    assert "teacher" not in attrs["depth"] and "depth_scale" not in attrs["config"]
    assert not {"teacher_fit", "bg_teacher_fit"} & set(open_store(tiny_store).sample_arrays)
    # Nor a depth array: a geometric sample's depth is its fg_depth on its mask.
    assert not {"teacher_fit", "bg_teacher_fit", "depth"} & set(
        zarr.open_group(str(tiny_store), mode="r").array_keys()
    )


def test_teacher_attrs_round_trip_and_refuse_an_unknown_rule():
    record = TeacherAttrs("m", "torchscript", "user-scale", 0.5)
    assert TeacherAttrs.from_dict(record.to_dict()) == record
    assert "scale" not in TeacherAttrs("m", "torchscript", "metric").to_dict()
    with pytest.raises(ValueError, match="teacher rule 'guess'"):
        TeacherAttrs.from_dict({"model": "m", "kind": "torchscript", "rule": "guess"})


@pytest.mark.parametrize(
    ("value", "teacher", "needle"),
    [
        ("2", False, "--depth-scale is only used with --depth teacher"),
        ("0", True, "--depth-scale 0.0: must be a positive number"),
        ("-1", True, "--depth-scale -1.0: must be a positive number"),
        ("nan", True, "--depth-scale nan: must be a positive number"),
    ],
)
def test_a_bad_depth_scale_is_one_line_exit_2(
    relative_model: Path, tmp_path: Path, value: str, teacher: bool, needle: str
):
    extra = ["--depth", "teacher", "--depth-model", str(relative_model)] if teacher else []
    code, output = run(*build_args(tmp_path, *extra, "--depth-scale", value))
    assert_one_line_error(code, output, needle)
    assert not (tmp_path / "out.zarr").exists()


def test_metric_model_is_used_as_it_is(metric_model: Path):
    teacher = DepthTeacher.load(str(metric_model), MAX_DEPTH)
    assert teacher.rule == "metric"
    images = np.random.default_rng(1).integers(0, 256, (3, SIZE, SIZE, 3), dtype=np.uint8)
    raw = teacher.network(images)
    result = teacher.estimate(images)
    np.testing.assert_allclose(result.depth, np.clip(raw, 1e-3, MAX_DEPTH))
    assert (result.scale == 1).all() and (result.shift == 0).all()
    assert raw.std() > 0  # a real prediction, not a constant


def test_metric_model_refuses_a_user_scale(metric_model: Path):
    with pytest.raises(InputError, match=r"--depth-scale applies to relative .* predicts metres"):
        DepthTeacher.load(str(metric_model), MAX_DEPTH, scale=2.0)


def test_uncached_hub_id_offline_names_the_id_and_how_to_get_it(offline_cache: Path):
    hub_id = "depth-anything/Depth-Anything-V2-Small-hf"
    with pytest.raises(InputError) as info:
        DepthTeacher.load(hub_id, MAX_DEPTH)
    message = str(info.value)
    assert message.startswith(f"--depth-model {hub_id}: not in the Hugging Face cache")
    assert f"hf download {hub_id}" in message and str(offline_cache) in message
    assert "\n" not in message


def test_cached_hub_id_loads_offline(relative_model: Path, offline_cache: Path):
    """The cache layout huggingface_hub writes: models--OWNER--NAME/{refs/main, snapshots/REV}."""
    snapshot = offline_cache / "models--fgd-test--tiny-depth" / "snapshots" / ("0" * 40)
    snapshot.mkdir(parents=True)
    for file in relative_model.iterdir():
        (snapshot / file.name).write_bytes(file.read_bytes())
    (snapshot.parents[1] / "refs").mkdir()
    (snapshot.parents[1] / "refs" / "main").write_text("0" * 40)
    teacher = DepthTeacher.load("fgd-test/tiny-depth", MAX_DEPTH)
    local = DepthTeacher.load(str(relative_model), MAX_DEPTH)
    images = np.random.default_rng(2).integers(0, 256, (2, SIZE, SIZE, 3), dtype=np.uint8)
    np.testing.assert_array_equal(teacher.predict(images), local.predict(images))


def test_a_transformers_model_that_is_not_a_depth_model(tmp_path: Path):
    transformers = pytest.importorskip("transformers")
    folder = tmp_path / "dinov2"
    transformers.Dinov2Config(hidden_size=32, num_hidden_layers=1).save_pretrained(folder)
    with pytest.raises(
        InputError, match=r"^--depth-model .*dinov2: not a depth model \(a 'dinov2'"
    ):
        DepthTeacher.load(str(folder), MAX_DEPTH)


def test_a_folder_that_is_not_a_model(tmp_path: Path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match=r"^--depth-model .*empty: not a loadable transformers"):
        DepthTeacher.load(str(tmp_path / "empty"), MAX_DEPTH)


@pytest.mark.parametrize("name", ["missing.pt", "./missing", "/no/such/dir/model"])
def test_a_missing_file_is_not_taken_for_a_hub_id(name: str):
    with pytest.raises(InputError, match=r"no such file or folder$"):
        DepthTeacher.load(name, MAX_DEPTH)


def test_a_non_positive_user_scale_is_refused(relative_model: Path):
    with pytest.raises(InputError, match=r"^--depth-scale -1.0: must be a positive number"):
        DepthTeacher.load(str(relative_model), MAX_DEPTH, scale=-1.0)
