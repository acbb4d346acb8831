"""`benchmarks.datagen_checkout`: the build and the statistics pass of two checkouts, timed."""

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


def test_the_statistics_pass_of_two_checkouts_agrees_to_the_bit(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["datagen_checkout", "--stats", "--checkout", str(ROOT), *TINY, "--workers", "2"]
    argv += ["--", "--size", "64"]
    monkeypatch.setattr(sys, "argv", argv)
    datagen_checkout.main()
    out = capsys.readouterr().out
    assert out.startswith("16 samples, ")
    rows = [line.split(" | ") for line in out.splitlines() if line.startswith("| ")][2:]
    assert [row[0] for row in rows] == [
        "| this checkout, 1 worker",
        "| this checkout, 2 workers",
        f"| {ROOT}, 1 worker",
    ]
    assert all(float(row[-1].rstrip(" |")) == 0 for row in rows)  # every row's stats the same


def test_a_store_is_only_for_the_statistics_pass(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(sys, "argv", ["datagen_checkout", "--store", str(tmp_path)])
    with pytest.raises(SystemExit) as exit_:
        datagen_checkout.main()
    assert exit_.value.code == 2
