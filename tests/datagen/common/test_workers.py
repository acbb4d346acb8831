"""`datagen.common.workers`: one pool of worker processes per build (`shared_pool`), started early
when asked to preload."""

from __future__ import annotations

import multiprocessing
import os
import sys
import time

import pytest

from datagen.common.workers import parallel_map, process_pool, shared_pool


def _pids(n: int) -> set[int]:
    return set(parallel_map(os.getpid, [()] * n, workers=2))


def test_inside_shared_pool_every_stage_runs_on_the_same_processes() -> None:
    with shared_pool(2):
        first, second = _pids(8), _pids(8)
        with process_pool(2) as pool:
            third = {pool.submit(os.getpid).result() for _ in range(4)}
    assert os.getpid() not in first
    assert len(first | second | third) <= 2  # one pool of two processes, not three


def test_without_it_each_stage_starts_its_own() -> None:
    assert _pids(8).isdisjoint(_pids(8))


def test_a_failed_stage_leaves_the_next_a_fresh_pool() -> None:
    with shared_pool(2):
        before = _pids(8)
        with pytest.raises(ZeroDivisionError):
            list(parallel_map(divmod, [(1, 0), (2, 1)], workers=2))
        after = _pids(8)
    assert before.isdisjoint(after)


def _imported(module: str) -> bool:
    return module in sys.modules


def test_preload_starts_the_processes_at_once_with_the_modules_imported() -> None:
    with shared_pool(2, preload=("colorsys",)):
        assert len(multiprocessing.active_children()) == 2  # before any task was given
        assert all(parallel_map(_imported, [("colorsys",)] * 4, workers=2))
    assert not any(parallel_map(_imported, [("colorsys",)] * 2, workers=2))


def test_a_block_that_raises_stops_the_preloaded_processes_at_once() -> None:
    # Imported here only: a worker importing this test module must not import it too.
    from tests.datagen import slow_import

    def interrupted_while_they_import() -> None:
        with shared_pool(2, preload=(f"{__package__}.slow_import",)):
            time.sleep(0.5)
            raise KeyboardInterrupt

    start = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        interrupted_while_they_import()
    for process in multiprocessing.active_children():
        process.join(5)
    assert not multiprocessing.active_children()
    assert time.monotonic() - start < slow_import.SECONDS / 2  # not waited for


def _environment(name: str) -> str | None:
    return os.environ.get(name)


def test_workers_run_one_blas_thread_unless_the_user_said_otherwise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    names = [("OPENBLAS_NUM_THREADS",), ("OMP_NUM_THREADS",)]
    assert list(parallel_map(_environment, names, workers=2)) == ["1", "3"]
    assert "OPENBLAS_NUM_THREADS" not in os.environ  # this process is left as it was
