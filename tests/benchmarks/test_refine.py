"""benchmarks/refine.py runs end to end on its synthetic pairs (its figures are the script's
job); with the true alpha as the coarse mask, the refinement it measures beats upsampling."""

from __future__ import annotations

import numpy as np

from benchmarks import refine as bench


def test_refine_benchmark_measures_every_step(capsys) -> None:
    rows = bench.main(["--smoke", "--oracle", "--threads", "1"])
    assert [r["step"] for r in rows] == list(bench.ROWS)
    for row in rows:
        assert 0 <= row["iou"] <= 1 and 0 <= row["boundary_f"] <= 1
        assert row["step_ms"] >= 0 and row["pair_ms"] > 0 and row["peak_mb"] >= 0
    upsampled, _, guided = rows
    assert guided["sad"] < upsampled["sad"]
    assert "| guided, colour + bg difference |" in capsys.readouterr().out


def test_refine_sweep_lists_every_setting(capsys) -> None:
    results = bench.main(["--smoke", "--sweep", "--threads", "1"])
    assert [r["setting"] for r in results] == ["upsampled", *bench.SWEEP]
    assert all(np.isfinite(r["sad"]) for r in results)
    assert "| 240 r16 > 480 r4 (default) |" in capsys.readouterr().out


def test_composites_hold_the_cutout_where_its_alpha_is():
    fg = np.zeros((50, 40, 4), np.uint8)
    fg[..., :3] = (200, 10, 10)
    fg[10:, 10:30, 3] = 255
    bg = np.full((30, 60, 3), 90, np.uint8)
    frame, fgbg, alpha = bench.composite_pair(fg, bg, 120, 90)
    assert frame.shape == fgbg.shape == (90, 120, 3) and alpha.shape == (90, 120)
    assert (fgbg[alpha == 1] == (200, 10, 10)).all() and (fgbg[alpha == 0] == 90).all()
    assert alpha[-1].any() and not alpha[0].any()  # standing on the bottom edge
