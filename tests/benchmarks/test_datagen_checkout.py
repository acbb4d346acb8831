"""`benchmarks.datagen_checkout`: the build command of two checkouts, timed and compared."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from benchmarks import datagen_checkout
from tests.datagen.conftest import as_format_2

ROOT = Path(__file__).resolve().parents[2]
TINY = ["--n-bg", "2", "--n-fg", "2", "--positions", "2", "--workers", "1", "--repeats", "1"]


def test_a_checkout_against_itself_builds_the_same_store(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["datagen_checkout", "--checkout", str(ROOT), *TINY, "--", "--size", "64"]
    monkeypatch.setattr(sys, "argv", argv)
    datagen_checkout.main()
    out = capsys.readouterr().out
    assert out.startswith("16 samples, procedural assets, 1 workers")
    assert "| this checkout |" in out and f"| {ROOT} |" in out
    assert "stores identical (every array object): yes" in out


def test_stores_of_other_seeds_differ_object_by_object(tmp_path: Path) -> None:
    options = ["--n-bg", "2", "--n-fg", "2", "--positions", "2", "--size", "64", "--workers", "1"]
    datagen_checkout.timed_build(ROOT, tmp_path / "a.zarr", options)
    datagen_checkout.timed_build(ROOT, tmp_path / "b.zarr", [*options, "--seed", "1"])
    a, b = (datagen_checkout.array_objects(tmp_path / name) for name in ("a.zarr", "b.zarr"))
    assert a.keys() == b.keys() and a != b


def test_stores_of_two_formats_compare_by_their_samples(tmp_path: Path) -> None:
    options = ["--n-bg", "2", "--n-fg", "2", "--positions", "2", "--size", "64", "--workers", "1"]
    datagen_checkout.timed_build(ROOT, tmp_path / "a.zarr", options)
    datagen_checkout.timed_build(ROOT, tmp_path / "b.zarr", [*options, "--seed", "1"])
    older = as_format_2(tmp_path / "a.zarr", tmp_path / "a2.zarr")
    assert datagen_checkout.same_samples(tmp_path / "a.zarr", older)
    assert not datagen_checkout.same_samples(tmp_path / "b.zarr", older)
