"""`benchmarks.experiments.store_layout`: one plan built several ways, read back here."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from benchmarks.experiments import store_layout

ROOT = Path(__file__).resolve().parents[3]


def test_chunk_sizes_and_another_checkout_get_a_row_each(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["store_layout", "--chunks", "8,16", "--n-bg", "2", "--n-fg", "2", "--positions", "2",
            "--size", "64", "--repeats", "1", "--checkout", str(ROOT)]  # fmt: skip
    monkeypatch.setattr(sys, "argv", argv)
    store_layout.main()
    rows = capsys.readouterr().out.splitlines()[1:]
    labels = [row.rsplit(")", 1)[0].strip() + ")" for row in rows]
    assert labels == ["chunk 8 (f3)", "chunk 16 (f3)", f"{ROOT.name}, chunk 64 (f3)"]
    for row in rows:
        whole, single, batch, size = (float(v.replace(",", "")) for v in row.split()[-4:])
        # Timings are the benchmark's to compare, not the test's: under load any order happens.
        assert min(whole, single, batch, size) > 0
