"""Damaged stores: reads never return fill values or tracebacks; Ctrl-C stops cleanly."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import zarr
from click.testing import CliRunner

from cli import fgd
from datagen.builder.build import build_store
from datagen.common.errors import DamagedDataError
from datagen.store import schema
from datagen.store.reader import open_store
from tests.datagen.conftest import stored_arrays, tiny_config

REPO = Path(__file__).resolve().parents[3]


def damaged_copy(tiny_store: Path, tmp_path: Path, array: str, shard: int, how: str) -> Path:
    """A copy of the tiny store with `shard` of `array` deleted or truncated."""
    out = tmp_path / "damaged.zarr"
    shutil.copytree(tiny_store, out)
    group = zarr.open_group(str(out), mode="r")
    path = out / array / schema.shard_key(group[array], shard)
    if how == "missing":
        path.unlink()
    else:
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    return out


DAMAGE = [("mask", "missing"), ("fgbg_jpeg", "damaged"), ("fg_depth", "missing"),
          ("fgbg_jpeg", "missing"), ("records", "damaged")]  # fmt: skip


@pytest.mark.parametrize(("array", "how"), DAMAGE)
def test_reads_of_a_damaged_shard_raise_one_line(
    tiny_store: Path, tmp_path: Path, array: str, how: str
) -> None:
    store = damaged_copy(tiny_store, tmp_path, array, 1, how)
    ds = open_store(store)
    if array != "records":  # read whole on first use; the others shard by shard
        assert ds.read_chunk(0)["mask"].any()  # shard 0 is whole
    with pytest.raises(DamagedDataError) as error:
        ds.read_range(0, len(ds))  # samples 16..31 are shard 1
    message = str(error.value)
    assert len(message.splitlines()) == 1
    assert f"{array} shard 1 is {how}" in message
    assert f"fgd datagen verify {store}" in message


def test_export_of_a_damaged_store_exits_2_and_leaves_no_file(
    tiny_store: Path, tmp_path: Path
) -> None:
    store = damaged_copy(tiny_store, tmp_path, "mask", 2, "missing")
    out = tmp_path / "out" / "x.h5"
    result = CliRunner().invoke(fgd, ["datagen", "export", str(store), "--out", str(out)])
    assert result.exit_code == 2, result.output
    error = result.output.strip().splitlines()[-1]  # after the progress lines
    assert error.startswith("fgd: error:") and "mask shard 2 is missing" in error
    assert "Traceback" not in result.output
    assert list(out.parent.iterdir()) == []
    result = CliRunner().invoke(fgd, ["datagen", "verify", str(store)])
    assert result.exit_code == 1 and "mask shard 2: missing" in result.output


def test_export_into_a_file_parent_is_one_line(tiny_store: Path, tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    out = tmp_path / "file" / "x.h5"
    result = CliRunner().invoke(fgd, ["datagen", "export", str(tiny_store), "--out", str(out)])
    assert result.exit_code == 2 and result.output.count("\n") == 1, result.output
    assert "--out" in result.output and "not a folder" in result.output


def test_unknown_store_format_is_one_line(tiny_store: Path, tmp_path: Path) -> None:
    store = tmp_path / "future.zarr"
    shutil.copytree(tiny_store, store)
    zarr.open_group(str(store), mode="r+").attrs["fgd_format"] = 7
    result = CliRunner().invoke(fgd, ["datagen", "info", str(store)])
    assert result.exit_code == 2 and result.output.count("\n") == 1, result.output
    assert "store format 7" in result.output


def interrupt(
    args: list[str], ready: Callable[[], bool], tries: int = 5
) -> subprocess.CompletedProcess:
    """Run ``fgd ARGS``, send SIGINT once `ready()`; retry when it finished first."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    for _ in range(tries):
        process = subprocess.Popen(
            [sys.executable, "-c", "from cli import main; main()", *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=REPO,
        )  # fmt: skip
        while process.poll() is None and not ready():
            time.sleep(0.005)
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            stdout, stderr = process.communicate(timeout=60)
            return subprocess.CompletedProcess(args, process.returncode, stdout, stderr)
        process.communicate()
    pytest.fail(f"fgd {' '.join(args)} finished before it could be interrupted, {tries} times")


def assert_aborted(result: subprocess.CompletedProcess) -> None:
    assert result.returncode in (1, 130), result.stderr
    assert "Aborted!" in result.stderr
    assert "Traceback" not in result.stderr, result.stderr


def test_sigint_stops_an_export_cleanly(tmp_path: Path) -> None:
    store = tmp_path / "big.zarr"
    build_store(tiny_config(store, n_bg=4, n_fg=4, positions=16, size=96, shard_size=64),
                progress=False)  # fmt: skip
    out = tmp_path / "out" / "x.h5"
    out.parent.mkdir()
    args = ["datagen", "export", str(store), "--out", str(out)]
    # The export's temporary appears once its Ctrl-C handler is in place: the loop is next.
    result = interrupt(args, lambda: any(out.parent.glob(".x.h5.*.tmp")))
    assert_aborted(result)
    assert list(out.parent.iterdir()) == [], "the interrupted export left a file"
    rerun = CliRunner().invoke(fgd, args)
    assert rerun.exit_code == 0, rerun.output
    assert [p.name for p in out.parent.iterdir()] == ["x.h5"]


def test_sigint_stops_a_build_and_the_rerun_finishes_it(tmp_path: Path, tiny_store: Path) -> None:
    out = tmp_path / "s.zarr"
    args = ["datagen", "build", "--out", str(out), "--size", "64", "--n-bg", "3",
            "--n-fg", "3", "--positions", "2", "--chunk-size", "8", "--shard-size", "8",
            "--workers", "2"]  # fmt: skip
    result = interrupt(args, (out / "_build" / "assets.json").exists)
    assert_aborted(result)
    with pytest.raises(Exception, match="unfinished build"):
        open_store(out)
    rerun = CliRunner().invoke(fgd, [*args, "--quiet"])
    assert rerun.exit_code == 0, rerun.output
    left, right = stored_arrays(out), stored_arrays(tiny_store)
    assert left.keys() == right.keys()
    for name in left:
        assert (left[name] == right[name]).all(), name


def test_an_array_written_with_other_codecs_is_refused_in_one_line(
    tiny_store: Path, tmp_path: Path
) -> None:
    # The reader decodes shard objects itself: a layout it does not know is an error, not zeros.
    copy = tmp_path / "other.zarr"
    shutil.copytree(tiny_store, copy)
    meta_path = copy / "mask" / "zarr.json"
    meta = json.loads(meta_path.read_text())
    meta["codecs"][0]["configuration"]["codecs"][-1]["configuration"]["checksum"] = True
    meta_path.write_text(json.dumps(meta))
    result = CliRunner().invoke(fgd, ["datagen", "info", str(copy)])
    assert result.exit_code == 2, result.output
    assert result.output.startswith(f"fgd: error: {copy}: mask: not the sharded layout")
    assert len(result.output.strip().splitlines()) == 1
