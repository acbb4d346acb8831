"""Fixtures and hooks shared by the whole suite."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REAL_SAMPLES = Path(__file__).resolve().parents[1].parent / "shared" / "real-samples"


@pytest.fixture(scope="session")
def real_samples() -> Path:
    """`../shared/real-samples` beside the checkout (10 bg photos, 10 RGBA cutouts), if present."""
    if not (REAL_SAMPLES / "bg").is_dir() or not (REAL_SAMPLES / "fg").is_dir():
        pytest.skip("../shared/real-samples is not present")
    return REAL_SAMPLES


#: What a progress bar writes: a carriage-return frame, a percentage bar, a count "3/8 [".
_PROGRESS = re.compile(r"\r|\d+%\||\d+/\d+ \[")


def progress_lines(stderr: str) -> list[str]:
    """The lines of ``stderr`` that a progress bar wrote (a line with a carriage return too)."""
    return [line for line in stderr.split("\n") if _PROGRESS.search(line)]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``gpu`` skip on a machine without CUDA (torch is imported only when such a
    test was collected: most of the suite never needs it)."""
    gpu_tests = [item for item in items if item.get_closest_marker("gpu")]
    if not gpu_tests:
        return
    import torch

    if torch.cuda.is_available():
        return
    for item in gpu_tests:
        item.add_marker(pytest.mark.skip(reason="needs CUDA"))
