"""`benchmarks.experiments.cores`: the same work alone and in two processes at once."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from benchmarks.experiments import cores
from datagen.builder.build import build_store
from tests.datagen.conftest import tiny_config


def test_each_process_times_its_own_work_and_not_its_warm_up() -> None:
    def work() -> None:
        time.sleep(0.2)

    def warm_up() -> None:
        time.sleep(0.5)

    seconds = cores.timed([(work, warm_up), (work, cores._nothing)])
    assert len(seconds) == 2
    assert all(0.2 <= s < 0.45 for s in seconds)


def test_a_failing_process_is_an_error_not_a_time() -> None:
    def fail() -> None:
        raise RuntimeError("boom")

    with pytest.raises(SystemExit, match="measuring process failed"):
        cores.timed([(fail, cores._nothing)])


def test_the_table_has_a_row_per_workload(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "tiny.zarr"
    build_store(tiny_config(store, positions=4), progress=False)  # 72 samples: 5 shards of 16
    monkeypatch.setattr(cores, "python_loop", cores._nothing)  # the table, not the figures
    argv = ["cores", "--store", str(store), "--repeats", "1", "--shards", "1"]
    monkeypatch.setattr(sys, "argv", argv)
    cores.main()
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| ")]
    assert [row.split(" | ")[0] for row in rows[2:]] == ["| shard", "| python", "| zstd", "| jpeg"]


def test_a_store_that_is_not_there_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "argv", ["cores", "--store", "/nonexistent/store.zarr"])
    with pytest.raises(SystemExit, match=r"^--store /nonexistent/store.zarr: no such store$"):
        cores.main()
