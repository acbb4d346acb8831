"""`datagen.workers`: one pool of worker processes per build (`shared_pool`)."""

from __future__ import annotations

import os

import pytest

from datagen.workers import parallel_map, process_pool, shared_pool


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
