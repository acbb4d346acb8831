"""`fgd datagen export --format hdf5`: exact round trip, plain-h5py layout, atomic writes."""

from __future__ import annotations

import errno
import json
import sys

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from cli import fgd
from datagen.store import hdf5, schema
from datagen.store.hdf5 import export_hdf5
from datagen.store.reader import open_store


@pytest.fixture(scope="module")
def exported(tiny_store, tmp_path_factory):
    out = tmp_path_factory.mktemp("h5") / "tiny.h5"
    export_hdf5(tiny_store, out, progress=False)
    return out


def test_hdf5_round_trips_exactly(tiny_store, exported):
    """Every sample array equals what the store's reader returns, read with plain h5py."""
    ds = open_store(tiny_store)
    with h5py.File(exported, "r") as f:
        assert f["fgbg"].shape == (len(ds), ds.size, ds.size, 3)
        for i in range(len(ds)):
            sample = ds[i]
            for key in ("fgbg", "mask", "depth"):
                got = f[key][i]
                assert got.dtype == sample[key].dtype
                np.testing.assert_array_equal(got, sample[key], err_msg=f"{key}[{i}]")
            np.testing.assert_array_equal(f["bg_scenes"][f["placement/bg_id"][i]], sample["bg"])


def test_hdf5_holds_placement_names_and_attributes(tiny_store, exported):
    ds = open_store(tiny_store)
    with h5py.File(exported, "r") as f:
        for column in ("bg_id", "fg_id", "flip", "x", "y", "box_y0", "box_x1", "plan_index"):
            np.testing.assert_array_equal(
                f["placement"][column][:], ds.records[:, schema.COLUMN[column]]
            )
        for column in ("scale", "contact_depth"):
            expected = [ds.meta(i)[column] for i in range(len(ds))]
            np.testing.assert_allclose(f["placement"][column][:], expected, rtol=1e-6)
        assert list(f["bg_names"].asstr()[:]) == ds.bg_names
        assert list(f["fg_names"].asstr()[:]) == ds.fg_names
        assert f.attrs["n_samples"] == len(ds)
        assert f.attrs["depth_max_m"] == ds.depth_max
        assert json.loads(f.attrs["store_attrs_json"])["config"] == ds.attrs["config"]
        assert f["depth"].attrs["unit"] == "m"


def test_hdf5_chunks_hold_one_sample(exported):
    with h5py.File(exported, "r") as f:
        for key in ("fgbg", "mask", "depth"):
            assert f[key].chunks == (1, *f[key].shape[1:])
            assert f[key].compression == "gzip"


@pytest.mark.parametrize("compression", ["lzf", "none"])
def test_other_compressions_round_trip(tiny_store, tmp_path, compression):
    out = tmp_path / "x.h5"
    export_hdf5(tiny_store, out, compression=compression, progress=False)
    ds = open_store(tiny_store)
    last = len(ds) - 1
    with h5py.File(out, "r") as f:
        assert f["depth"].compression == (None if compression == "none" else compression)
        np.testing.assert_array_equal(f["depth"][last], ds[last]["depth"])


def test_crash_leaves_no_file_and_a_rerun_starts_over(tiny_store, tmp_path, monkeypatch):
    out = tmp_path / "data.h5"
    calls = []

    def failing_read_chunk(self, chunk):
        calls.append(chunk)
        if len(calls) == 2:
            raise KeyboardInterrupt  # a crash half way through
        return original(self, chunk)

    original = type(open_store(tiny_store)).read_chunk
    monkeypatch.setattr(type(open_store(tiny_store)), "read_chunk", failing_read_chunk)
    with pytest.raises(KeyboardInterrupt):
        export_hdf5(tiny_store, out, progress=False)
    assert list(tmp_path.iterdir()) == []
    monkeypatch.undo()

    (tmp_path / "data.h5.partial").write_bytes(b"left by a killed export")
    export_hdf5(tiny_store, out, progress=False)
    assert [p.name for p in tmp_path.iterdir()] == ["data.h5"]
    ds = open_store(tiny_store)
    with h5py.File(out, "r") as f:
        np.testing.assert_array_equal(f["mask"][len(ds) - 1], ds[len(ds) - 1]["mask"])


def test_export_command_and_its_errors(tiny_store, tmp_path):
    runner = CliRunner()
    out = tmp_path / "d.h5"
    args = ["datagen", "export", str(tiny_store), "--format", "hdf5", "--out", str(out)]
    result = runner.invoke(fgd, args)
    assert result.exit_code == 0, result.output
    assert out.is_file()
    for extra, words in (
        ([], ["exists", "--overwrite"]),
        (["--compression", "zip"], ["--compression"]),
    ):
        result = runner.invoke(fgd, args + extra)
        assert result.exit_code == 2
        lines = result.output.strip().splitlines()
        assert len(lines) == 1
        assert all(w in lines[0] for w in words), lines[0]
    assert runner.invoke(fgd, [*args, "--overwrite"]).exit_code == 0
    result = runner.invoke(fgd, ["datagen", "export", str(tmp_path / "no.zarr"), "--out", str(out)])
    assert result.exit_code == 2
    assert "no.zarr" in result.output


def test_h5py_write_failures_in_destructors_are_collected_not_printed(monkeypatch) -> None:
    class FlushesOnDelete:  # as an h5py object meeting a full disk when it is dropped
        def __init__(self, error: Exception) -> None:
            self.error = error

        def __del__(self) -> None:
            raise self.error

    printed: list[BaseException] = []  # what Python's own hook would print
    monkeypatch.setattr(sys, "unraisablehook", lambda u: printed.append(u.exc_value))
    with hdf5._write_failures_of_h5py() as failed:
        FlushesOnDelete(OSError(errno.ENOSPC, "No space left on device"))
        FlushesOnDelete(ValueError("a bug"))  # not a write failure: printed as usual
    assert [e.errno for e in failed] == [errno.ENOSPC]
    assert [str(e) for e in printed] == ["a bug"]
