"""End-to-end builds: the CLI, the reader, plain zarr, determinism, resume, integrity."""

from __future__ import annotations

import builtins
import errno
import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import zarr
from click.testing import CliRunner
from PIL import Image

import datagen.builder.build
import datagen.store.storage
from cli import fgd
from datagen.builder import procedural
from datagen.builder.build import (
    build_shard,
    build_store,
    encode_in_slot,
    preload_assets,
    regenerate,
)
from datagen.builder.procedural.cutouts.cutout import procedural_kind
from datagen.common.errors import InputError
from datagen.common.imaging import decode_jpeg, encode_jpeg
from datagen.store import schema
from datagen.store.reader import open_store
from datagen.store.storage import storage_at
from tests.datagen.conftest import as_format_2, stored_arrays, tiny_config, unpacked_rows
from tests.datagen.test_bad_input import write_bg, write_fg


def assert_same_arrays(a: Path, b: Path) -> None:
    left, right = stored_arrays(a), stored_arrays(b)
    for name in left:
        np.testing.assert_array_equal(left[name], right[name], err_msg=name)


def test_cli_build_reads_back_through_open_store(tmp_path: Path) -> None:
    out = tmp_path / "s.zarr"
    args = ["datagen", "build", "--out", str(out), "--size", "64", "--n-bg", "2", "--n-fg", "3",
            "--positions", "2", "--workers", "1", "--quiet"]  # fmt: skip
    result = CliRunner().invoke(fgd, args)
    assert result.exit_code == 0, result.output
    assert "24 samples" in result.output
    ds = open_store(out)
    assert len(ds) == 2 * 3 * 2 * 2
    sample = ds[5]
    assert sample["bg"].shape == sample["fgbg"].shape == (64, 64, 3)
    assert sample["mask"].shape == sample["depth"].shape == (64, 64)
    assert sample["fgbg"].dtype == np.uint8 and sample["depth"].dtype == np.float32
    meta = ds.meta(5)
    assert meta["bg_name"] == ds.bg_names[meta["bg_id"]]
    assert {"bg_id", "fg_id", "flip", "x", "y", "scale", "box"} <= meta.keys()


def test_labels_csv_gives_the_kinds_and_only_it_writes_them(tmp_path: Path) -> None:
    bg, fg = write_bg(tmp_path / "bg"), write_fg(tmp_path / "fg")
    plain = tmp_path / "plain.zarr"
    args = ["datagen", "build", "--size", "64", "--positions", "1", "--workers", "1", "--quiet",
            "--bg", str(bg), "--fg", str(fg), "--builtin-fg", "2"]  # fmt: skip
    assert CliRunner().invoke(fgd, [*args, "--out", str(plain)]).exit_code == 0
    assert "fg_kinds" not in zarr.open_group(str(plain), mode="r").attrs  # stores stay as they were
    assert open_store(plain).root.fg_kinds is None
    (fg / "labels.csv").write_text("name,kind\nfg_1.png, vehicle\n\nfg_0.png,person\n")
    labelled = tmp_path / "labelled.zarr"
    result = CliRunner().invoke(fgd, [*args, "--out", str(labelled)])
    assert result.exit_code == 0, result.output
    ds = open_store(labelled)
    assert ds.fg_names[:2] == ["fg_0.png", "fg_1.png"]  # labels.csv is no cutout
    builtin = [procedural_kind(n) for n in ds.fg_names[2:]]
    assert ds.root.fg_kinds == ["person", "vehicle", *builtin]
    assert None not in builtin
    assert_same_arrays(plain, labelled)  # the labels change no sample
    (fg / "labels.csv").write_text("name,kind\nfg_0.png,person\nfg_1.png,object\n")
    again = CliRunner().invoke(fgd, [*args, "--out", str(labelled)])
    assert again.exit_code == 2 and "another config" in again.output  # other labels: another store


def test_every_sample_is_consistent(tiny_store: Path) -> None:
    ds = open_store(tiny_store)
    batch = ds.read_range(0, len(ds))
    assert set(np.unique(batch["mask"])) <= {0, 255}
    assert (batch["mask"] > 0).any(axis=(1, 2)).mean() > 0.9  # fgs are mostly visible
    depth = batch["depth"]
    assert np.isfinite(depth).all() and (depth > 0).all() and depth.max() <= ds.depth_max
    for i in range(len(ds)):
        y0, x0, y1, x1 = ds.meta(i)["box"]
        outside = np.ones((ds.size, ds.size), bool)
        outside[y0:y1, x0:x1] = False
        np.testing.assert_array_equal(batch["fgbg"][i][outside], batch["bg"][i][outside])
        assert not batch["mask"][i][outside].any()
        bg_depth = ds.bg_depth[ds.meta(i)["bg_id"]]
        fg = batch["mask"][i] > 0
        np.testing.assert_array_equal(depth[i][~fg], bg_depth[~fg])
        if fg.any():  # the fg is at its contact depth and in front of what it covers
            assert np.allclose(depth[i][fg], ds.meta(i)["contact_depth"], atol=1e-3)
            assert (depth[i][fg] <= bg_depth[fg] * (1 + 1e-3) + 1e-3).all()


def test_read_batch_equals_single_reads_in_any_order(tiny_store: Path) -> None:
    ds = open_store(tiny_store)
    indices = [17, 3, 3, 30, 0]
    batch = ds.read_batch(indices)
    for row, index in enumerate(indices):
        single = ds[index]
        for key in single:
            np.testing.assert_array_equal(batch[key][row], single[key], err_msg=key)
    chunk = ds.read_chunk(1)
    np.testing.assert_array_equal(chunk["fgbg"], ds.read_batch(range(8, 16))["fgbg"])


def test_read_batch_into_given_arrays_with_depth_units(tiny_store: Path) -> None:
    ds = open_store(tiny_store)
    indices = np.array([30, 2, 9, 2])
    s = ds.size
    out = {
        "bg": np.zeros((4, s, s, 3), np.uint8),
        "fgbg": np.zeros((4, s, s, 3), np.uint8),
        "mask": np.zeros((4, s, s), np.uint8),
        "depth": np.zeros((4, s, s), np.uint16),
    }
    assert ds.read_batch(indices, depth_units=True, out=out) is out
    metres = ds.read_batch(indices)
    for key in ("bg", "fgbg", "mask"):
        np.testing.assert_array_equal(out[key], metres[key], err_msg=key)
    np.testing.assert_array_equal(schema.depth_metres(out["depth"]), metres["depth"])
    assert (out["depth"] > 0).all()


@pytest.mark.parametrize("i", [11, 16, 35])  # in a shard, a shard's first, the last
def test_plain_zarr_reading_as_documented(tiny_store: Path, i: int) -> None:
    """data/README.md's recipe, with zarr and OpenCV only, gives what open_store gives."""
    root = zarr.open_group(str(tiny_store), mode="r")
    # --- the recipe -----------------------------------------------------------------
    records = root["records"]
    column = {name: k for k, name in enumerate(records.attrs["columns"])}
    shard_size = root.attrs["shard_size"]
    first = i - i % shard_size  # the first sample of i's shard
    rec = records[first : i + 1].astype(np.int64)  # its shard's records up to sample i
    y0, x0, y1, x1 = (rec[:, column[k]] for k in ("box_y0", "box_x0", "box_y1", "box_x1"))
    area, jpeg_bytes = (y1 - y0) * (x1 - x0), rec[:, column["jpeg_bytes"]]

    def payload(name: str, lengths: np.ndarray) -> np.ndarray:
        """Sample i's values in a packed array: after those of the samples before it in
        its shard."""
        start = (i // shard_size) * root[name].shards[0] + int(lengths[:-1].sum())
        return root[name][start : start + int(lengths[-1])]

    box = np.s_[y0[-1] : y1[-1], x0[-1] : x1[-1]]
    h, w = int(y1[-1] - y0[-1]), int(x1[-1] - x0[-1])
    bg_id = rec[-1, column["bg_id"]]
    fgbg = root["bg"][bg_id].copy()  # start from the bg ...
    if jpeg_bytes[-1]:  # ... paste the coded box
        coded = cv2.imdecode(payload("fgbg_jpeg", jpeg_bytes), cv2.IMREAD_COLOR)
        fgbg[box] = cv2.cvtColor(coded, cv2.COLOR_BGR2RGB)
    mask = np.zeros(fgbg.shape[:2], np.uint8)
    mask[box] = payload("mask", area).reshape(h, w)
    depth_units = root["bg_depth"][bg_id].copy()
    depth_units[mask > 0] = root["fg_depth"][i, 0]  # the fg's depth on its mask
    depth_m = depth_units * root.attrs["depth"]["scale"]
    # --- what open_store gives ------------------------------------------------------
    sample = open_store(tiny_store)[i]
    np.testing.assert_array_equal(fgbg, sample["fgbg"])
    np.testing.assert_allclose(depth_m, sample["depth"], rtol=1e-6)
    np.testing.assert_array_equal(mask, sample["mask"])


def test_same_bytes_whatever_the_worker_count(tmp_path: Path) -> None:
    build_store(tiny_config(tmp_path / "one.zarr", workers=1), progress=False)
    build_store(tiny_config(tmp_path / "two.zarr", workers=2), progress=False)
    assert_same_arrays(tmp_path / "one.zarr", tmp_path / "two.zarr")
    for name in schema.SAMPLE_ARRAYS:  # the shard objects themselves are identical
        for shard in (tmp_path / "one.zarr" / name / "c").rglob("*"):
            if shard.is_file():
                twin = tmp_path / "two.zarr" / shard.relative_to(tmp_path / "one.zarr")
                assert shard.read_bytes() == twin.read_bytes(), shard


def test_a_shard_stopped_half_way_leaves_nothing_in_the_next(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "s.zarr"
    build_store(tiny_config(out), progress=False)
    stored = zarr.open_group(str(out), mode="r").attrs["integrity"]
    render = datagen.builder.build._render_into

    def render_then_stop(context, plan_index, rng, row, buffers, *args):
        render(context, plan_index, rng, row, buffers, *args)
        for rows in buffers.values():  # debris where the next shard's samples go
            if isinstance(rows, datagen.builder.build._Packed):
                rows.room[rows.filled :] = 7
            else:
                rows[row + 1 :] = 7
        raise KeyboardInterrupt

    with monkeypatch.context() as patched:
        patched.setattr(datagen.builder.build, "_render_into", render_then_stop)
        with pytest.raises(KeyboardInterrupt):
            build_shard(str(out), 0)
    # Shards 0 and 1 hold 16 samples each: shard 1 is built in the memory shard 0 left.
    rebuilt = build_shard(str(out), 1)["checksums"]
    assert rebuilt == {name: checksums[1] for name, checksums in stored.items()}


def test_another_seed_gives_another_dataset(tmp_path: Path, tiny_store: Path) -> None:
    build_store(tiny_config(tmp_path / "seed1.zarr", seed=1), progress=False)
    assert not np.array_equal(
        stored_arrays(tmp_path / "seed1.zarr")["fgbg_jpeg"], stored_arrays(tiny_store)["fgbg_jpeg"]
    )


def test_sigkilled_build_resumes_to_the_same_arrays(tmp_path: Path, tiny_store: Path) -> None:
    out = tmp_path / "killed.zarr"
    args = [sys.executable, "-m", "cli", "datagen", "build", "--out", str(out), "--size", "64",
            "--n-bg", "3", "--n-fg", "3", "--positions", "2", "--workers", "1",
            "--chunk-size", "8", "--shard-size", "8", "--quiet"]  # fmt: skip
    process = subprocess.Popen(args, stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    markers = out / "_build"
    deadline = time.monotonic() + 120
    while not list(markers.glob("shard-*.json")) and time.monotonic() < deadline:
        if process.poll() is not None:
            break
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL, "the build finished before it could be killed"
    done_before = {p.name for p in markers.glob("shard-*.json")}
    assert 0 < len(done_before) < 5
    with pytest.raises(Exception, match="unfinished build"):
        open_store(out)

    rerun = subprocess.run(args, capture_output=True, text=True, check=True)
    built_now = int(rerun.stdout.split("(")[1].split()[0])
    assert built_now == 5 - len(done_before)  # finished shards were not redone
    assert_same_arrays(out, tiny_store)


def test_a_full_disk_stops_the_build_in_one_line_and_a_rerun_finishes_it(
    tmp_path: Path, tiny_store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "full.zarr"
    args = ["datagen", "build", "--out", str(out), "--size", "64", "--n-bg", "3", "--n-fg", "3",
            "--positions", "2", "--workers", "1", "--chunk-size", "8", "--shard-size", "8",
            "--quiet"]  # fmt: skip
    shard_writes = []

    def filling_open(path, mode="r", *rest, **kwargs):  # the disk fills up in shard 1
        handle = builtins.open(path, mode, *rest, **kwargs)  # noqa: SIM115 (returned)
        if "w" in mode and "/c/" in str(path):
            shard_writes.append(path)
            if len(shard_writes) == len(schema.SAMPLE_ARRAYS) + 1:
                handle.write(b"the first bytes")
                handle.close()
                raise OSError(errno.ENOSPC, "No space left on device")
        return handle

    monkeypatch.setattr(datagen.store.storage, "open", filling_open, raising=False)
    result = CliRunner().invoke(fgd, args)
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.output, result.output
    assert "the disk is full" in lines[0] and "rerun the same command" in lines[0]
    assert str(out) in lines[0]  # names the file it could not write
    assert not list(out.rglob("*.tmp-*"))  # the half-written object is gone
    assert [p.name for p in (out / "_build").glob("shard-*.json")] == ["shard-000000.json"]

    monkeypatch.undo()  # room again
    rerun = CliRunner().invoke(fgd, args)
    assert rerun.exit_code == 0, rerun.output
    assert "(4 built now)" in rerun.output
    assert_same_arrays(out, tiny_store)


def test_a_full_disk_anywhere_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def full(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "s.zarr/zarr.json"))

    monkeypatch.setattr("datagen.builder.build.prepare_store", full)
    result = CliRunner().invoke(fgd, ["datagen", "build", "--out", str(tmp_path / "s.zarr")])
    assert result.exit_code == 2, result.output
    assert result.output.strip() == f"fgd: error: {tmp_path / 's.zarr/zarr.json'}: the disk is full"


def test_rerunning_a_finished_build_changes_nothing(tmp_path: Path) -> None:
    config = tiny_config(tmp_path / "s.zarr")
    build_store(config, progress=False)
    before = stored_arrays(tmp_path / "s.zarr")
    summary = build_store(config, progress=False)
    assert summary.shards_built == 0
    after = stored_arrays(tmp_path / "s.zarr")
    for name in before:
        np.testing.assert_array_equal(before[name], after[name])


def test_verify_finds_corrupt_and_missing_shards(tmp_path: Path) -> None:
    out = tmp_path / "s.zarr"
    build_store(tiny_config(out), progress=False)
    runner = CliRunner()
    assert runner.invoke(fgd, ["datagen", "verify", str(out)]).exit_code == 0
    group = zarr.open_group(str(out), mode="r")
    corrupt = out / "mask" / schema.shard_key(group["mask"], 1)
    data = bytearray(corrupt.read_bytes())
    data[len(data) // 2] ^= 0xFF
    corrupt.write_bytes(bytes(data))
    (out / "fg_depth" / schema.shard_key(group["fg_depth"], 2)).unlink()
    result = runner.invoke(fgd, ["datagen", "verify", str(out)])
    assert result.exit_code == 1
    assert "mask shard 1: checksum" in result.output
    assert "fg_depth shard 2: missing" in result.output
    assert "shard 0" not in result.output


def test_stats_match_a_direct_computation(tmp_path: Path) -> None:
    out = tmp_path / "s.zarr"
    build_store(tiny_config(out), progress=False)
    # Three shards: on two processes each adds up its own, and the sums still match.
    result = CliRunner().invoke(fgd, ["datagen", "stats", str(out), "--workers", "2"])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    ds = open_store(out)
    everything = ds.read_range(0, len(ds))
    fgbg = everything["fgbg"].reshape(-1, 3) / 255.0
    bg = everything["bg"].reshape(-1, 3) / 255.0
    np.testing.assert_allclose(printed["fgbg_mean"], fgbg.mean(axis=0), rtol=1e-9)
    np.testing.assert_allclose(printed["fgbg_std"], fgbg.std(axis=0), rtol=1e-6)
    np.testing.assert_allclose(printed["bg_mean"], bg.mean(axis=0), rtol=1e-9)
    np.testing.assert_allclose(printed["bg_std"], bg.std(axis=0), rtol=1e-6)
    assert printed["mask_coverage"] == pytest.approx((everything["mask"] > 0).mean())
    assert printed["depth_max"] == pytest.approx(everything["depth"].max())
    assert printed["depth_min"] == pytest.approx(everything["depth"].min())
    depth = everything["depth"].astype(np.float64)
    assert printed["depth_mean"] == pytest.approx(depth.mean(), rel=1e-12)
    assert printed["depth_std"] == pytest.approx(depth.std(), rel=1e-9)
    assert open_store(out).attrs["stats"] == printed
    one_process = CliRunner().invoke(fgd, ["datagen", "stats", str(out), "--workers", "1"])
    assert json.loads(one_process.stdout) == printed  # the same numbers, to the last bit


def test_info_reports_arrays_and_bytes(tiny_store: Path) -> None:
    result = CliRunner().invoke(fgd, ["datagen", "info", str(tiny_store)])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["n_samples"] == 36
    # Packed: 3 shards of room for 16 frames of 64 x 64 each, in whole inner chunks.
    per_shard = -(-16 * 64 * 64 // schema.PACKED_CHUNK_BYTES) * schema.PACKED_CHUNK_BYTES
    assert report["arrays"]["mask"]["shape"] == [3 * per_shard]
    assert report["arrays"]["mask"]["shards"] == [per_shard]
    assert report["arrays"]["mask"]["layout"] == "packed"
    assert report["arrays"]["records"]["layout"] == "rows"
    assert report["arrays"]["records"]["shape"] == [36, len(schema.RECORD_COLUMNS)]
    assert all(a["bytes_on_disk"] > 0 for a in report["arrays"].values())
    assert report["bytes_on_disk"] >= sum(a["bytes_on_disk"] for a in report["arrays"].values())
    assert report["config"]["seed"] == 0


def test_workers_start_early_only_for_a_plan_of_several_shards(tmp_path: Path) -> None:
    def preload(**overrides: object) -> tuple[str, ...]:
        config = tiny_config(tmp_path / "x.zarr", **{"workers": 2, **overrides})
        return preload_assets(config, storage_at(config.out), None)

    assert preload() == ("datagen.builder.build",)  # 36 samples, shards of 16
    assert preload(workers=1) == ()
    assert preload(shard_size=64) == ()
    assert preload(bg=str(write_bg(tmp_path / "bg", 3)), n_bg=None) == ("datagen.builder.build",)
    # 2 photos x 3 cutouts x 2 flips x 2 placements = 24 samples: one shard of 32
    photos = {"bg": str(tmp_path / "bg"), "n_bg": 2, "shard_size": 32}
    assert preload(**photos) == ()
    assert preload(**photos, positions=3) == ("datagen.builder.build",)


def test_real_photos_and_cutouts(tmp_path: Path, real_samples: Path) -> None:
    out = tmp_path / "real.zarr"
    build_store(
        tiny_config(out, bg=str(real_samples / "bg"), fg=str(real_samples / "fg"), n_bg=None,
                    n_fg=None, size=96, positions=1),
        progress=False,
    )  # fmt: skip
    ds = open_store(out)
    assert len(ds) == 10 * 10 * 2
    assert ds.bg_names[0] == "bg_005.jpg" and ds.fg_names[-1] == "fg_012.png"
    shapes = [c.shape for c in ds.fg_cutouts]
    assert all(max(h, w) == 96 for h, w, _ in shapes)  # fitted into the frame, aspect kept
    masks = ds.read_range(0, len(ds))["mask"]
    assert (masks > 0).any(axis=(1, 2)).all()


def test_teacher_depth_comes_from_the_model(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")

    class Brightness(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return 1.0 + 10.0 * x.mean(dim=1, keepdim=True)

    model_path = tmp_path / "teacher.pt"
    torch.jit.script(Brightness()).save(str(model_path))
    out = tmp_path / "t.zarr"
    build_store(tiny_config(out, depth="teacher", depth_model=str(model_path)), progress=False)
    ds = open_store(out)
    exact = regenerate(str(out), 4)  # the composite the teacher saw, before JPEG coding
    brightness = exact["fgbg"].astype(np.float32).mean(-1) / 255.0
    np.testing.assert_allclose(ds[4]["depth"], 1.0 + 10.0 * brightness, atol=1e-3)
    np.testing.assert_array_equal(ds[4]["depth"], schema.depth_metres(exact["depth"]))
    bg_brightness = ds.bg_images[0].astype(np.float32).mean(-1) / 255.0
    np.testing.assert_allclose(ds.bg_depth[0], 1.0 + 10.0 * bg_brightness, atol=1e-3)


def test_builtin_cutouts_join_the_users_and_regenerate(tmp_path: Path) -> None:
    out = tmp_path / "mixed.zarr"
    fg = write_fg(tmp_path / "fg", 2)
    build_store(tiny_config(out, fg=str(fg), n_fg=None, builtin_fg=3), progress=False)
    ds = open_store(out)
    builtin = [procedural.render_cutout(0, i, 64)[0] for i in range(3)]
    assert ds.fg_names == ["fg_0.png", "fg_1.png", *builtin]
    assert len(ds) == 3 * 5 * 2 * 2
    assert ds.attrs["config"]["builtin_fg"] == 3
    for index in range(0, len(ds), 7):
        np.testing.assert_array_equal(regenerate(str(out), index)["mask"], ds[index]["mask"])
    # Without the option the store is the one of the folder alone, its config without the key.
    plain = tmp_path / "plain.zarr"
    build_store(tiny_config(plain, fg=str(fg), n_fg=None), progress=False)
    assert "builtin_fg" not in open_store(plain).attrs["config"]


def test_samples_regenerate_from_their_records(tiny_store: Path) -> None:
    ds = open_store(tiny_store)
    errors = []
    for index in range(0, len(ds), 5):
        exact = regenerate(str(tiny_store), index)
        stored = ds[index]
        np.testing.assert_array_equal(exact["mask"], stored["mask"])
        depth = np.where(exact["depth"] > 0, exact["depth"], 0)
        fg = stored["mask"] > 0
        np.testing.assert_array_equal(schema.depth_metres(depth)[fg], stored["depth"][fg])
        errors.append(np.square(exact["fgbg"].astype(float) - stored["fgbg"]).mean())
    assert 10 * np.log10(255**2 / np.mean(errors)) >= 40  # JPEG-coded box, lossless elsewhere


def test_fg_jitter_is_recorded_and_regenerates(tmp_path: Path, tiny_store: Path) -> None:
    out = tmp_path / "jitter.zarr"
    build_store(tiny_config(out, fg_jitter=True), progress=False)
    ds = open_store(out)
    jitter = np.array([[ds.meta(i)[f"jitter_{k}"] for k in ("brightness", "contrast", "hue")]
                       for i in range(len(ds))])  # fmt: skip
    assert (jitter != [1.0, 1.0, 0.0]).any(axis=1).all()
    assert len(np.unique(jitter[:, 0])) == len(ds)
    plain = open_store(tiny_store)
    assert not np.array_equal(ds[3]["fgbg"], plain[3]["fgbg"])  # same placements, new colours
    np.testing.assert_array_equal(ds[3]["mask"], plain[3]["mask"])
    np.testing.assert_array_equal(regenerate(str(out), 3)["mask"], ds[3]["mask"])


def test_a_changed_procedural_generator_is_not_taken_for_a_finished_store(tmp_path, monkeypatch):
    out = tmp_path / "s.zarr"
    build_store(tiny_config(out), progress=False)
    original = procedural.render_cutout

    def brighter(seed: int, index: int, size: int):
        name, rgba = original(seed, index, size)
        rgba = rgba.copy()
        rgba[..., :3] //= 2
        return name, rgba

    monkeypatch.setattr(procedural, "render_cutout", brighter)
    with pytest.raises(InputError, match=r"differs in: assets \(files or generated pixels\)"):
        build_store(tiny_config(out), progress=False)


def test_missing_parent_folders_of_out_are_made(tmp_path):
    out = tmp_path / "runs" / "nested" / "s.zarr"
    build_store(tiny_config(out), progress=False)
    assert len(open_store(out)) == 36


def test_bg_depth_maps_give_the_bg_depth(tmp_path: Path) -> None:
    bg, fg, depth = write_bg(tmp_path / "bg"), write_fg(tmp_path / "fg"), tmp_path / "depth"
    depth.mkdir()
    np.save(depth / "bg_0.npy", np.full((80, 90), 5.0))  # metres
    cv2.imwrite(str(depth / "bg_1.png"), np.full((80, 90), 12000, np.uint16))  # millimetres
    out = tmp_path / "s.zarr"
    args = ["datagen", "build", "--out", str(out), "--bg", str(bg), "--fg", str(fg),
            "--bg-depth", str(depth), "--size", "64", "--positions", "2", "--workers", "1",
            "--quiet"]  # fmt: skip
    result = CliRunner().invoke(fgd, args)
    assert result.exit_code == 0, result.output
    ds = open_store(out)
    np.testing.assert_array_equal(ds.bg_depth[0], 5.0)
    np.testing.assert_array_equal(ds.bg_depth[1], 12.0)
    assert np.isnan(zarr.open_group(str(out), mode="r")["bg_ground"][:, 1]).all()
    for i in range(len(ds)):  # no ground model: each fg stands at its bg's depth
        assert ds.meta(i)["contact_depth"] == pytest.approx((5.0, 12.0)[ds.meta(i)["bg_id"]])


def test_no_flip_and_jpeg_quality_reach_the_store(tmp_path: Path) -> None:
    out = tmp_path / "s.zarr"
    args = ["datagen", "build", "--out", str(out), "--size", "64", "--n-bg", "2", "--n-fg", "3",
            "--positions", "2", "--no-flip", "--jpeg-quality", "80", "--workers", "1",
            "--quiet"]  # fmt: skip
    result = CliRunner().invoke(fgd, args)
    assert result.exit_code == 0, result.output
    ds = open_store(out)
    assert len(ds) == 2 * 3 * 2
    assert ds.root.n_flips == 1 and not ds.root.config["flip"]
    assert not ds.records[:, schema.COLUMN["flip"]].any()
    coded = ds.records[:, schema.COLUMN["jpeg_bytes"]] > 0
    assert coded.any() and (ds.records[coded, schema.COLUMN["jpeg_quality"]] == 80).all()
    assert ds.root.config["jpeg_quality"] == 80


# --- shadows (format 2) ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def shadow_pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The same plan and seed built with a shadow on every sample, and without shadows."""
    root = tmp_path_factory.mktemp("shadows")
    on, off = root / "on.zarr", root / "off.zarr"
    build_store(tiny_config(on, shadow_p=1.0), progress=False)
    build_store(tiny_config(off, shadows="off"), progress=False)
    return on, off


def test_shadows_never_enter_the_mask_or_the_depth(shadow_pair: tuple[Path, Path]) -> None:
    on, off = (stored_arrays(path) for path in shadow_pair)
    for name in ("mask", "depth", "records_f", "bg", "bg_depth", "fg"):
        np.testing.assert_array_equal(on[name], off[name], err_msg=name)
    geometry = [schema.COLUMN[c] for c in ("plan_index", "bg_id", "fg_id", "x", "y", "width")]
    np.testing.assert_array_equal(on["records"][:, geometry], off["records"][:, geometry])
    assert (off["records_shadow"] == np.float32(schema.NO_SHADOW.record())).all()
    assert (on["records_shadow"][:, 4] > 0).all()  # every sample has a contact shadow


def test_shadows_darken_only_the_bg_below_the_horizon(shadow_pair: tuple[Path, Path]) -> None:
    on, off = (str(path) for path in shadow_pair)
    ds = open_store(on)
    shaded = 0
    for index in range(len(ds)):
        a, b = regenerate(on, index), regenerate(off, index)
        np.testing.assert_array_equal(a["mask"], b["mask"])
        np.testing.assert_array_equal(a["depth"], b["depth"])
        assert (a["fgbg"] <= b["fgbg"]).all()  # darker, never lighter
        changed = (a["fgbg"] != b["fgbg"]).any(axis=2)
        shaded += bool(changed.any())
        horizon_y = float(zarr.open_group(on, mode="r")["bg_ground"][ds.bg_ids[index], 0])
        assert not changed[: int(horizon_y)].any()  # nothing above the horizon
        # Inside the mask only its soft edge can show the shaded ground through.
        core = cv2.erode(a["mask"], np.ones((5, 5), np.uint8), borderValue=0)
        assert not changed[core > 0].any()
        # The stored box holds every changed pixel: outside it the reader returns the bg.
        y0, x0, y1, x1 = ds.meta(index)["box"]
        outside = changed.copy()
        outside[y0:y1, x0:x1] = False
        assert not outside.any()
    assert shaded > len(ds) // 2


def test_regenerate_reproduces_shadowed_samples_byte_for_byte(
    shadow_pair: tuple[Path, Path],
) -> None:
    on = str(shadow_pair[0])
    ds = open_store(on)
    for index in range(len(ds)):
        again = regenerate(on, index)
        meta = ds.meta(index)
        y0, x0, y1, x1 = meta["box"]
        jpeg = encode_jpeg(again["fgbg"][y0:y1, x0:x1], meta["jpeg_quality"])
        stored = ds.stored("fgbg_jpeg", index, index + 1)[0].tobytes()
        assert jpeg == stored, index
        np.testing.assert_array_equal(again["mask"], unpacked_rows(ds, "mask", index, index + 1)[0])
        np.testing.assert_array_equal(
            again["depth"], unpacked_rows(ds, "depth", index, index + 1)[0]
        )


def test_procedural_scenes_store_their_light_and_photos_none(
    tiny_store: Path, real_samples: Path, tmp_path: Path
) -> None:
    lights = zarr.open_group(str(tiny_store), mode="r")["bg_light"][...]
    assert lights.shape == (3, len(schema.LIGHT_COLUMNS)) and np.isfinite(lights).all()
    assert ((lights[:, 1] > 0) & (lights[:, 1] <= schema.MAX_ELEVATION_DEG)).all()
    out = tmp_path / "real.zarr"
    config = tiny_config(out, bg=str(real_samples / "bg"), fg=str(real_samples / "fg"),
                         n_bg=2, n_fg=2)  # fmt: skip
    build_store(config, progress=False)
    assert np.isnan(zarr.open_group(str(out), mode="r")["bg_light"][...]).all()


def as_format_1(store: Path, out: Path) -> Path:
    """A copy of a ``--shadows off`` store as format 1 wrote it: in format 2's layout
    (:func:`as_format_2`), without the arrays format 2 added and with format 1's root
    attributes (test_store_identity proves the rest of the bytes equal)."""
    as_format_2(store, out)
    for name in ("records_shadow", "bg_light"):
        shutil.rmtree(out / name)
    group = zarr.open_group(str(out), mode="r+")
    attrs = group.attrs.asdict()
    attrs["fgd_format"] = 1
    for key in ("shadows", "shadow_p", "shadow_strength_min", "shadow_strength_max"):
        del attrs["config"][key]
    del attrs["integrity"]["records_shadow"]
    group.attrs.put(attrs)
    return out


@pytest.mark.parametrize(("fmt", "shadowed"), [(1, False), (2, True)])
def test_an_older_store_opens_and_reads_as_before(
    fmt: int, shadowed: bool, shadow_pair: tuple[Path, Path], tmp_path: Path
) -> None:
    store = shadow_pair[0] if shadowed else shadow_pair[1]
    old = (as_format_2 if fmt == 2 else as_format_1)(store, tmp_path / f"v{fmt}.zarr")
    ds, new = open_store(old), open_store(store)
    assert ds.root.fgd_format == fmt and ("records_shadow" in ds.sample_arrays) == (fmt > 1)
    assert (ds.root.fgd_format, new.root.fgd_format) == (fmt, schema.FORMAT_VERSION)
    everything = ds.read_range(0, len(ds))
    for key, value in new.read_range(0, len(new)).items():
        np.testing.assert_array_equal(everything[key], value, err_msg=key)
    batch = [20, 3, 17, 3]  # across shards, out of order, a repeat
    for key, value in new.read_batch(batch).items():
        np.testing.assert_array_equal(ds.read_batch(batch)[key], value, err_msg=key)
    assert ds.meta(3) == new.meta(3)  # format 1 has no shadow columns: read as NO_SHADOW
    again, fresh = regenerate(str(old), 3), regenerate(str(store), 3)
    for key in ("fgbg", "mask", "depth"):
        np.testing.assert_array_equal(again[key], fresh[key], err_msg=key)
    runner = CliRunner()
    for command in (["verify", str(old)], ["stats", str(old)], ["info", str(old)]):
        result = runner.invoke(fgd, ["datagen", *command])
        assert result.exit_code == 0, result.output
    assert f'"format": {fmt}' in runner.invoke(fgd, ["datagen", "info", str(old)]).output


def test_a_rerun_over_an_older_format_store_is_refused_in_one_line(
    shadow_pair: tuple[Path, Path], tmp_path: Path
) -> None:
    # Resuming it would mix formats; rebuilding it needs the user's word.
    old = as_format_2(shadow_pair[0], tmp_path / "v2.zarr")
    with pytest.raises(InputError, match=r"differs in: store format \(2; this fgd writes 3\)"):
        build_store(tiny_config(old, shadow_p=1.0), progress=False)
    assert open_store(old).root.fgd_format == 2


def test_cli_shadow_options_reach_the_store(tmp_path: Path) -> None:
    out = tmp_path / "s.zarr"
    args = ["datagen", "build", "--out", str(out), "--size", "64", "--n-bg", "2", "--n-fg", "2",
            "--positions", "2", "--workers", "1", "--quiet", "--shadows", "hard",
            "--shadow-p", "1", "--shadow-strength", "0.3,0.4"]  # fmt: skip
    result = CliRunner().invoke(fgd, args)
    assert result.exit_code == 0, result.output
    ds = open_store(out)
    config = ds.root.config
    assert (config["shadows"], config["shadow_p"]) == ("hard", 1.0)
    assert (config["shadow_strength_min"], config["shadow_strength_max"]) == (0.3, 0.4)
    assert (ds.records_shadow[:, 3] == 0).all()  # hard: no penumbra
    assert ds.root.fgd_format == schema.FORMAT_VERSION == 3


def test_a_box_too_large_for_its_slot_is_coded_at_a_lower_quality() -> None:
    # Noise over a whole 64 px frame: about 3 bytes per pixel at quality 95, the slot holds 1.
    noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    slot = schema.jpeg_slot_bytes(64)
    assert len(encode_jpeg(noise, 95)) > slot
    data, quality = encode_in_slot(noise, 95, slot)
    assert len(data) <= slot and quality < 95
    assert decode_jpeg(data).shape == noise.shape  # whole, not cut


def test_stats_on_a_full_disk_is_one_line_and_the_store_still_opens(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "s.zarr"
    build_store(tiny_config(out), progress=False)

    def full(self: object, attrs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(zarr.core.attributes.Attributes, "put", full)
    result = CliRunner().invoke(fgd, ["datagen", "stats", str(out), "--workers", "1"])
    assert result.exit_code == 2, result.output
    error = result.output.strip().splitlines()[-1]  # after the progress bar
    assert error == f"fgd: error: {out}: saving the stats: the disk is full"
    assert open_store(out).stats is None


def build_from(bg: Path, fg: Path, out: Path) -> tuple[int, str]:
    """`fgd datagen build` at 64 px, one position per pair, from folders ``bg`` and ``fg``."""
    args = ["datagen", "build", "--out", str(out), "--bg", str(bg), "--fg", str(fg),
            "--size", "64", "--positions", "1", "--workers", "1", "--quiet"]  # fmt: skip
    result = CliRunner().invoke(fgd, args)
    return result.exit_code, result.output


def test_files_that_are_not_images_are_skipped_with_a_note(tmp_path: Path) -> None:
    """Thumbs.db, .DS_Store, a Mac's ._ twin of a photo, notes: passed over, named in one note
    line per folder (the first three, and how many more), and the store is the one the images
    alone give."""
    clean = tmp_path / "clean.zarr"
    assert build_from(write_bg(tmp_path / "bg"), write_fg(tmp_path / "fg"), clean)[0] == 0
    bg, fg = write_bg(tmp_path / "junk_bg"), write_fg(tmp_path / "junk_fg")
    junk = {".DS_Store": b"\0\0\0\1Bud1", "._bg_0.jpg": b"\0\5\26\7", "Thumbs.db": b"\xd0\xcf",
            "notes.txt": b"shot at noon", "readme.md": b"# bg"}  # fmt: skip
    for name, data in junk.items():
        (bg / name).write_bytes(data)
    (fg / "Thumbs.db").write_bytes(b"\xd0\xcf")
    (bg / "sub").mkdir()  # a folder is neither an image nor a skipped file
    code, output = build_from(bg, fg, tmp_path / "junk.zarr")
    assert code == 0, output
    notes = [line for line in output.splitlines() if line.startswith("fgd: note: ")]
    assert len(notes) == 2, output
    named = ", ".join(sorted(junk)[:3])
    assert (
        notes[0]
        == f"fgd: note: --bg {bg}: skipped 5 file(s) that are not images ({named} and 2 more)"
    )
    assert notes[1] == f"fgd: note: --fg {fg}: skipped 1 file(s) that are not images (Thumbs.db)"
    assert open_store(tmp_path / "junk.zarr").bg_names == ["bg_0.jpg", "bg_1.jpg"]
    assert_same_arrays(clean, tmp_path / "junk.zarr")


def test_an_opaque_cutout_is_taken_with_a_warning(tmp_path: Path) -> None:
    fg = write_fg(tmp_path / "fg")
    cv2.imwrite(str(fg / "opaque.png"), np.full((40, 30, 4), 200, np.uint8))  # alpha 200 too
    code, output = build_from(write_bg(tmp_path / "bg"), fg, tmp_path / "s.zarr")
    assert code == 0, output
    (warning,) = [line for line in output.splitlines() if line.startswith("fgd: warning: ")]
    assert f"--fg {fg / 'opaque.png'}: no pixel is transparent" in warning
    ds = open_store(tmp_path / "s.zarr")
    assert ds.fg_names == ["fg_0.png", "fg_1.png", "opaque.png"]


def test_asset_folders_with_shell_metacharacters_are_taken_literally(tmp_path: Path) -> None:
    bg = write_bg(tmp_path / "bg $(touch pwned); `touch pwned` *")
    fg = write_fg(tmp_path / "fg 'x' \"y\" & $HOME | ?")
    (bg / "bg_0.jpg").rename(bg / "a b;$(touch pwned)&.jpg")
    code, output = build_from(bg, fg, tmp_path / "out $(touch pwned).zarr")
    assert code == 0, output
    assert open_store(tmp_path / "out $(touch pwned).zarr").bg_names[0] == "a b;$(touch pwned)&.jpg"
    assert not list(tmp_path.rglob("pwned")) and not Path("pwned").exists()


def test_an_exif_rotated_photo_is_built_as_a_viewer_shows_it(tmp_path: Path) -> None:
    """A portrait photo stored as a landscape frame with EXIF orientation 6 (turn it 90 degrees
    clockwise): its centre crop has the red sky at the top, not at a side."""
    upright = np.zeros((120, 80, 3), np.uint8)
    upright[:60] = (220, 30, 30)  # red top half
    upright[60:] = (30, 30, 220)  # blue bottom half
    exif = Image.Exif()
    exif[0x0112] = 6
    (tmp_path / "bg").mkdir()
    stored = np.ascontiguousarray(np.rot90(upright, 1))  # 80 high, 120 wide
    Image.fromarray(stored).save(tmp_path / "bg" / "portrait.jpg", quality=95, exif=exif.tobytes())
    code, output = build_from(tmp_path / "bg", write_fg(tmp_path / "fg"), tmp_path / "s.zarr")
    assert code == 0, output
    (image,) = open_store(tmp_path / "s.zarr").bg_images.astype(int)
    top, bottom = image[:28].mean(axis=(0, 1)), image[36:].mean(axis=(0, 1))
    assert top[0] > 180 > top[2] and bottom[2] > 180 > bottom[0], (top, bottom)
