"""`benchmarks.gpu --cpu-smoke`: the device run's script, end to end on the CPU (tiny plan)."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks import gpu


def test_cpu_smoke_writes_every_figure(tmp_path: Path) -> None:
    out = tmp_path / "gpu"
    results = gpu.run(gpu.SMOKE, out)
    assert json.loads((out / "results.json").read_text())["plan"]["device"] == "cpu"
    assert (out / "grid.png").stat().st_size > 0
    assert any((out / "tb").iterdir())  # the run's TensorBoard scalars came along
    train = results["train"]
    assert train["steps"] >= 2
    assert train["samples_per_s_median"] > 0
    assert 0.0 <= train["data_wait_frac_median"] <= 1.0
    assert train["gpu_busy_frac_median"] is None  # no GPU: not measured, not invented
    step = results["step"]
    # Figures only, not their ratio: a timing comparison fails on a loaded machine.
    assert step["augment_ms"] > 0 and step["train_step_ms"] > 0
    assert step["augment_share"] == step["augment_ms"] / step["train_step_ms"]
    assert 0.0 <= results["eval"]["mask_iou"] <= 1.0
    assert results["predict"]["pairs_per_s"] > 0
    assert results["build"]["samples"] == 6 * 3 * 2
    table = gpu.summary(results)
    assert "| train samples/s (median, steady) |" in table
