"""benchmarks/predict.py runs end to end on a small pair (its figures are the script's job)."""

from __future__ import annotations

from benchmarks import predict as bench


def test_predict_benchmark_times_every_setting(capsys) -> None:
    rows = bench.main(["--recipe", "cpu-quick", "--size", "320x180", "--reps", "1"])
    assert [r["setting"] for r in rows] == [
        "one pass",
        "fgd predict default",
        "registration (align auto)",
    ]
    assert rows[0]["ratio"] == 1.0
    assert all(r["ms"] > 0 for r in rows)
    assert "| fgd predict default | 6 |" in capsys.readouterr().out
