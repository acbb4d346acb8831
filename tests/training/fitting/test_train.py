"""`fgd train` / `fgd eval` end to end: outputs, resume after SIGKILL, DDP, bad input."""

from __future__ import annotations

import errno
import itertools
import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from click.testing import CliRunner

from datagen.builder.procedural.cutouts.cutout import procedural_kind
from datagen.store.reader import open_store
from tests.datagen.test_bad_input import write_bg, write_fg
from training.checkpoint import load_checkpoint, model_from_checkpoint
from training.commands import resolve_train_config
from training.config import TrainConfig
from training.fitting.epochs import make_split, saved_segments
from training.fitting.run_dir import read_sample_logs
from training.fitting.schedule import lr_factor
from training.metrics import METRIC_KEYS

from ..conftest import fgd_command, train_args

REPO = Path(__file__).resolve().parents[3]
SUBPROCESS_ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}


@pytest.fixture(scope="module")
def trained_run(tiny_store, fgd, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "run"
    result = CliRunner().invoke(
        fgd, train_args(tiny_store, out, "--epochs", "2", "--loss-weighting", "fixed")
    )
    assert result.exit_code == 0, result.output
    return out


def _scene_split(tiny_store: str):
    """The split a run on the tiny store gets by default: auto resolves to scene (its 3 fg
    cutouts are too few for scene+object)."""
    ds = open_store(tiny_store)
    return make_split(ds.bg_ids, ds.fg_ids, "scene", 0.1, 0)


def _read_metrics(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def test_train_writes_config_metrics_events_and_checkpoints(trained_run, tiny_store):
    cfg = TrainConfig.from_dict(yaml.safe_load((trained_run / "config.yaml").read_text()))
    assert (cfg.backbone, cfg.batch_size, cfg.epochs, cfg.loss_weighting) == (
        "test_resnet", 8, 2, "fixed",
    )  # fmt: skip
    records = _read_metrics(trained_run)
    assert [r["epoch"] for r in records] == [1, 2]  # one validation per epoch
    for record in records:
        assert set(METRIC_KEYS) | {"step", "train_loss", "train_mask", "train_depth"} <= set(record)
        assert record["n_samples"] == len(_scene_split(tiny_store).val)
    assert list((trained_run / "tb").glob("events.out.tfevents.*"))
    for name in ("last.pt", "best.pt"):
        ckpt = torch.load(trained_run / "checkpoints" / name, weights_only=True)
        assert ckpt["fgd-checkpoint"] == 1
        assert ckpt["model_config"]["backbone"] == "test_resnet"
        assert ckpt["depth_max"] == open_store(tiny_store).depth_max
        assert set(ckpt["normalization"]) == {"bg_mean", "bg_std", "fgbg_mean", "fgbg_std"}
    last = load_checkpoint(trained_run / "checkpoints" / "last.pt")
    assert last["step"] == records[-1]["step"]


def test_eval_reproduces_the_validation_and_writes_exact_keys(trained_run, tiny_store, fgd):
    out_json = trained_run / "eval.json"
    ckpt = trained_run / "checkpoints" / "last.pt"
    args = ["eval", "--store", tiny_store, "--checkpoint", str(ckpt), "--json", str(out_json),
            "--workers", "0", "--no-progress"]  # fmt: skip
    result = CliRunner().invoke(fgd, args)
    assert result.exit_code == 0, result.output
    metrics = json.loads(out_json.read_text())
    assert list(metrics) == [*METRIC_KEYS, "part", "holdout", "held_out", "per_object", "per_kind"]
    assert (metrics["part"], metrics["holdout"], metrics["per_object"]) == ("val", "scene", {})
    assert sum(row["n_samples"] for row in metrics["per_kind"].values()) == metrics["n_samples"]
    for key in METRIC_KEYS:
        assert key in result.output
        assert metrics[key] == pytest.approx(_read_metrics(trained_run)[-1][key], rel=1e-5)
    whole = CliRunner().invoke(fgd, [*args[:-3], "--split", "all", "--json", str(out_json)])
    assert whole.exit_code == 0, whole.output
    assert json.loads(out_json.read_text())["n_samples"] == len(open_store(tiny_store))


# ----------------------------------------------------------------------------- splits


def _split_record(store: str, kind: str) -> dict:
    """What a run on ``store`` with the default seed and fraction records of a ``kind`` split."""
    ds = open_store(store)
    return make_split(ds.bg_ids, ds.fg_ids, kind, 0.1, 0).record(ds.bg_names, ds.fg_names)


def test_the_default_split_falls_back_to_scene_and_says_why(tiny_store, fgd, tmp_path):
    out = tmp_path / "run"
    result = CliRunner().invoke(fgd, train_args(tiny_store, out, "--max-steps", "1"))
    assert result.exit_code == 0, result.output
    note = (
        "fgd train: --split auto: using scene (the store has 5 bg scenes and 3 fg cutouts, "
        "fewer than 5 of each: validation holds out scenes only, its cutouts were trained on)"
    )
    assert result.stderr.splitlines().count(note) == 1, result.stderr
    assert yaml.safe_load((out / "config.yaml").read_text())["split"] == "scene"  # resolved
    ckpt = load_checkpoint(out / "checkpoints" / "last.pt")
    assert ckpt["train_config"]["split"] == "scene"
    record = _split_record(tiny_store, "scene")
    assert ckpt["split"] == json.loads((out / "split.json").read_text()) == record
    assert (len(record["held_out_bg"]), record["held_out_fg"]) == (1, [])


@pytest.fixture(scope="module")
def honest_run(five_store, fgd, tmp_path_factory) -> tuple[Path, str]:
    """A default run (auto: scene+object) on the 5 x 5 store, and its stderr."""
    out = tmp_path_factory.mktemp("runs") / "honest"
    result = CliRunner().invoke(fgd, train_args(five_store, out, "--max-steps", "4",
                                                "--sample-log"))  # fmt: skip
    assert result.exit_code == 0, result.output
    return out, result.stderr


def test_a_scene_object_run_never_trains_on_a_held_out_scene_or_object(honest_run, five_store):
    out, stderr = honest_run
    note = ("fgd train: --split auto: using scene+object (the store has 5 bg scenes and 5 fg "
            "cutouts: validation shows only scenes and cutouts never trained on)")  # fmt: skip
    assert stderr.splitlines().count(note) == 1, stderr
    assert yaml.safe_load((out / "config.yaml").read_text())["split"] == "scene+object"
    record = _split_record(five_store, "scene+object")
    ckpt = load_checkpoint(out / "checkpoints" / "last.pt")
    assert ckpt["split"] == json.loads((out / "split.json").read_text()) == record
    assert (len(record["held_out_bg"]), len(record["held_out_fg"])) == (1, 1)
    assert (record["n_train"], record["n_val"]) == (4 * 4 * 2, 1 * 1 * 2)
    ds = open_store(five_store)
    trained = np.concatenate([r["indices"] for r in read_sample_logs(out)])
    assert len(trained) == 4 * 8
    assert not np.isin(ds.bg_ids[trained], record["held_out_bg"]).any()
    assert not np.isin(ds.fg_ids[trained], record["held_out_fg"]).any()
    assert _read_metrics(out)[-1]["n_samples"] == record["n_val"]


def test_eval_reuses_the_runs_split_unless_told_and_reports_per_object(honest_run, five_store,
                                                                       fgd, tmp_path):  # fmt: skip
    out, _ = honest_run
    record = _split_record(five_store, "scene+object")
    (held_fg,) = record["held_out_fg_names"]
    kind = procedural_kind(held_fg)
    reports = {}
    for holdout in (None, "scene", "object"):
        path = tmp_path / f"{holdout}.json"
        extra = ["--json", str(path)] + ([] if holdout is None else ["--holdout", holdout])
        result = CliRunner().invoke(fgd, _eval(five_store, out / "checkpoints" / "last.pt", *extra))
        assert result.exit_code == 0, result.output
        reports[holdout] = report = json.loads(path.read_text())
        per_kind = sum(row["n_samples"] for row in report["per_kind"].values())
        assert per_kind == report["n_samples"]  # every evaluated sample, in one kind each
        for name, row in report["per_object"].items():
            assert name in result.output and row["kind"] == procedural_kind(name)
    run = reports[None]
    assert (run["holdout"], run["n_samples"]) == ("scene+object", 2)
    assert run["held_out"] == {"bg": record["held_out_bg_names"], "fg": [held_fg]}
    for key in METRIC_KEYS:  # the run's own validation, recomputed
        assert run[key] == pytest.approx(_read_metrics(out)[-1][key], rel=1e-5)
        assert run["per_object"][held_fg][key] == run[key] == run["per_kind"][kind][key]
    scene = reports["scene"]  # the held-out scene with every cutout: 1 x 5 x 2 samples
    assert (scene["holdout"], scene["n_samples"], scene["per_object"]) == ("scene", 10, {})
    assert scene["held_out"] == {"bg": record["held_out_bg_names"], "fg": []}
    obj = reports["object"]  # the held-out cutout on every scene
    assert (obj["holdout"], obj["n_samples"], list(obj["per_object"])) == ("object", 10, [held_fg])
    assert obj["per_object"][held_fg]["n_samples"] == 10
    bad = CliRunner().invoke(fgd, _eval(five_store, out / "checkpoints" / "last.pt",
                                        "--holdout", "objects"))  # fmt: skip
    _assert_one_line_error(bad, "--holdout must be one of auto, scene+object, object, scene")


def test_eval_reports_per_kind_of_a_labels_csv(checkpoint, fgd, tmp_path):
    fg = write_fg(tmp_path / "fg", count=3)
    (fg / "labels.csv").write_text("name,kind\nfg_0.png,person\nfg_1.png,mug\nfg_2.png,person\n")
    store = str(tmp_path / "labelled.zarr")
    build = ["datagen", "build", "--out", store, "--size", "32", "--positions", "1", "--workers",
             "1", "--quiet", "--bg", str(write_bg(tmp_path / "bg")), "--fg", str(fg)]  # fmt: skip
    assert CliRunner().invoke(fgd, build).exit_code == 0
    report = tmp_path / "all.json"
    result = CliRunner().invoke(fgd, _eval(store, checkpoint, "--split", "all", "--json",
                                           str(report)))  # fmt: skip
    assert result.exit_code == 0, result.output
    figures = json.loads(report.read_text())
    per_kind = {kind: row["n_samples"] for kind, row in figures["per_kind"].items()}
    assert per_kind == {"mug": 2 * 2, "person": 2 * 2 * 2}  # 2 scenes x 2 flips per cutout
    assert (figures["holdout"], figures["per_object"]) == (None, {})
    assert "all: every sample of the store" in result.output


def test_eval_refuses_a_store_whose_split_is_not_the_runs(honest_run, five_store, fgd, tmp_path):
    out, _ = honest_run
    ckpt = torch.load(out / "checkpoints" / "last.pt", weights_only=True)
    held = ckpt["split"]["held_out_fg"][0]
    ckpt["split"]["held_out_fg"] = [(held + 1) % 5]  # as if trained on another store
    other = tmp_path / "other.pt"
    torch.save(ckpt, other)
    result = CliRunner().invoke(fgd, _eval(five_store, other))
    _assert_one_line_error(result, f"--store {five_store}: its scene+object split holds out "
                                   f"other fg than the run of {other} did")  # fmt: skip
    assert CliRunner().invoke(fgd, _eval(five_store, other, "--split", "all")).exit_code == 0


def test_runs_resume_with_the_split_they_recorded(honest_run, five_store, fgd, tmp_path):
    """A scene+object run resumes as one; a run recorded before splits were recorded (split
    scene, no split record) resumes as scene, though auto would now pick scene+object."""
    honest = Path(shutil.copytree(honest_run[0], tmp_path / "honest"))
    before = (honest / "split.json").read_text()
    old = tmp_path / "old"
    result = CliRunner().invoke(fgd, train_args(five_store, old, "--max-steps", "2",
                                                "--split", "scene", "--sample-log"))  # fmt: skip
    assert result.exit_code == 0, result.output
    ckpt = torch.load(old / "checkpoints" / "last.pt", weights_only=True)
    del ckpt["split"]
    torch.save(ckpt, old / "checkpoints" / "last.pt")
    (old / "split.json").unlink()
    for run in (honest, old):
        resume = ["train", "--out", str(run), "--resume", "--max-steps", "6", "--no-progress"]
        result = CliRunner().invoke(fgd, resume)
        assert result.exit_code == 0, result.output
        assert "--split auto" not in result.stderr  # nothing to resolve: the run's kind is kept
    assert (honest / "split.json").read_text() == before
    assert yaml.safe_load((old / "config.yaml").read_text())["split"] == "scene"
    scene = _split_record(five_store, "scene")
    assert load_checkpoint(old / "checkpoints" / "last.pt")["split"] == scene
    trained = np.concatenate([r["indices"] for r in read_sample_logs(old)])
    ds = open_store(five_store)
    assert not np.isin(ds.bg_ids[trained], scene["held_out_bg"]).any()
    assert np.isin(ds.fg_ids[trained], _split_record(five_store, "object")["held_out_fg"]).any()


def test_flags_override_the_config_file_only_where_given(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("batch_size: 4\nmax_steps: 50\naugment:\n  hflip: 0.0\n")
    cfg = resolve_train_config(str(tmp_path / "run"), str(config), False, {"epochs": 3})
    assert (cfg.batch_size, cfg.epochs, cfg.max_steps, cfg.augment.hflip) == (4, 3, 0, 0.0)
    assert cfg.augment.brightness == TrainConfig().augment.brightness
    cfg = resolve_train_config(str(tmp_path / "run"), str(config), False, {"lr": 0.01})
    assert (cfg.max_steps, cfg.lr) == (50, 0.01)


def test_lr_schedule_warms_up_then_decays():
    factors = [lr_factor(s, 100, 10, 0.01) for s in range(100)]
    assert factors[0] == pytest.approx(0.1) and factors[9] == pytest.approx(1.0)
    assert all(a >= b for a, b in itertools.pairwise(factors[9:]))
    assert factors[-1] == pytest.approx(0.01, abs=1e-3)


def test_progressive_resizing_schedule():
    cfg = TrainConfig(size=64, resize_schedule=((0, 32), (2, 48)))
    assert [cfg.size_at(e, 0) for e in range(4)] == [32, 32, 48, 48]
    by_step = TrainConfig(size=64, resize_schedule=((100, 48),), resize_unit="step")
    assert (by_step.size_at(5, 99), by_step.size_at(0, 100)) == (64, 48)


def test_progressive_run_uncertainty_weighting_no_full_res_stage(tiny_store, fgd, tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text(
        "resize_schedule: [[0, 24]]\nresize_unit: step\nval_every: 3\nfull_res_stage: false\n"
    )
    out = tmp_path / "run"
    args = train_args(tiny_store, out, "--max-steps", "6", "--config", str(config))
    result = CliRunner().invoke(fgd, args)
    assert result.exit_code == 0, result.output
    assert [r["step"] for r in _read_metrics(out)] == [3, 6]
    ckpt = load_checkpoint(out / "checkpoints" / "last.pt")
    log_vars = ckpt["loss"]["weighting.log_vars"]
    assert log_vars.shape == (2,) and log_vars.abs().sum() > 0  # learned, and checkpointed
    assert ckpt["model_config"]["full_res_stage"] is False
    assert model_from_checkpoint(ckpt, torch.device("cpu")).model.decoders[0].input_stem is None


def test_non_finite_loss_stops_with_a_clear_message(tiny_store, fgd, tmp_path, monkeypatch):
    from training import losses

    real = losses.bce_dice_loss
    monkeypatch.setattr(losses, "bce_dice_loss", lambda *a, **k: real(*a, **k) * math.nan)
    result = CliRunner().invoke(fgd, train_args(tiny_store, tmp_path / "run", "--max-steps", "3"))
    assert result.exit_code == 1
    assert "loss is nan at step 0" in result.output
    assert "Traceback" not in result.output


def _wait_for_checkpoint(proc: subprocess.Popen, ckpt: Path, min_step: int) -> int:
    deadline = time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline:
        if ckpt.exists() and load_checkpoint(ckpt)["step"] >= min_step:
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.02)
    assert proc.wait() == -signal.SIGKILL, "the run ended before it could be killed"
    return load_checkpoint(ckpt)["step"]


def test_resume_after_sigkill_matches_an_uninterrupted_run(tiny_store, tmp_path):
    def args(name: str) -> list[str]:
        extra = ("--max-steps", "14", "--checkpoint-every", "2", "--val-every", "5",
                 "--sample-log")  # fmt: skip
        return [*fgd_command(), *train_args(tiny_store, tmp_path / name, *extra)]

    full = subprocess.Popen(args("full"), env=SUBPROCESS_ENV)
    killed = subprocess.Popen(args("killed"), env=SUBPROCESS_ENV)
    step = _wait_for_checkpoint(killed, tmp_path / "killed/checkpoints/last.pt", 4)
    assert 4 <= step < 14
    resume = [*fgd_command(), "train", "--out", str(tmp_path / "killed"), "--resume",
              "--no-progress"]  # fmt: skip
    subprocess.run(resume, env=SUBPROCESS_ENV, check=True, timeout=300)
    assert full.wait(timeout=300) == 0

    a = load_checkpoint(tmp_path / "full/checkpoints/last.pt")
    b = load_checkpoint(tmp_path / "killed/checkpoints/last.pt")
    assert a["step"] == b["step"] == 14
    for key, value in a["model"].items():
        torch.testing.assert_close(b["model"][key], value, rtol=1e-5, atol=1e-6, msg=key)
    torch.testing.assert_close(b["loss"], a["loss"])
    runs = [_read_metrics(tmp_path / name) for name in ("full", "killed")]
    assert [r["step"] for r in runs[1]] == [r["step"] for r in runs[0]] == [5, 10, 14]
    assert [r["mask_iou"] for r in runs[1]] == pytest.approx([r["mask_iou"] for r in runs[0]])
    # the same batches in the same order; the killed run's lines past its checkpoint are gone
    logs = [read_sample_logs(tmp_path / name) for name in ("full", "killed")]
    assert logs[1] == logs[0]
    assert [r["step"] for r in logs[0]] == list(range(1, 15))


def test_checkpoints_without_segments_resume_in_their_world():
    assert saved_segments({"world_size": 2, "batch": 3, "epoch": 1}) == [(2, 3)]
    assert saved_segments({"batch": 0}) == []
    assert saved_segments({"world_size": 2, "batch": 5, "segments": [[2, 3], [1, 2]]}) == [
        (2, 3), (1, 2)]  # fmt: skip


def _torchrun(*launch: str) -> list[str]:
    """`torchrun LAUNCH... fgd` (the `fgd train` arguments follow)."""
    return [str(Path(sys.executable).with_name("torchrun")), *launch, "--no-python", *fgd_command()]


def _run_all(cmds: list[list[str]], tmp_path: Path, timeout: float = 240):
    """Run the commands at once, each in its own process group; a hang kills them all.

    Returns a CompletedProcess per command (stdout, stderr as text; -9 where it was killed).
    """
    procs = []
    for i, cmd in enumerate(cmds):
        out, err = (open(tmp_path / f"proc{i}.{name}", "w+") for name in ("out", "err"))  # noqa: SIM115
        proc = subprocess.Popen(cmd, env=SUBPROCESS_ENV, stdout=out, stderr=err, text=True,
                                start_new_session=True)  # fmt: skip
        procs.append((proc, out, err))
    deadline = time.monotonic() + timeout
    results = []
    for proc, out, err in procs:
        try:
            proc.wait(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            for other, _, _ in procs:
                if other.poll() is None:
                    os.killpg(other.pid, signal.SIGKILL)
            proc.wait()
        out.seek(0)
        err.seek(0)
        results.append(subprocess.CompletedProcess(proc.args, proc.returncode, out.read(),
                                                   err.read()))  # fmt: skip
        out.close()
        err.close()
    return results


def _train_split(tiny_store: str) -> np.ndarray:
    return _scene_split(tiny_store).train


def _assert_trained_once(records: list[dict], train: np.ndarray, max_left_out: int) -> None:
    """The logged batches of epoch 0 hold no sample twice and all but < max_left_out."""
    seen = np.concatenate([r["indices"] for r in records if r["epoch"] == 0])
    assert len(np.unique(seen)) == len(seen), "a sample was trained twice in one epoch"
    assert set(seen.tolist()) <= set(train.tolist())
    assert 0 <= len(train) - len(seen) < max_left_out


def test_torchrun_two_processes_gloo(tiny_store, tmp_path):
    """Two ranks, one epoch: rank 0 alone writes; the sample logs cover the split once."""
    out = tmp_path / "ddp"
    cmd = [*_torchrun("--standalone", "--nproc-per-node=2"),
           *train_args(tiny_store, out, "--epochs", "1", "--batch-size", "5", "--val-every", "2",
                       "--sample-log")]  # fmt: skip
    (done,) = _run_all([cmd], tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    train = _train_split(tiny_store)
    steps = len(train) // 2 // 5  # 48 samples, 24 per rank: 4 steps of 2 x 5
    records = _read_metrics(out)
    assert [r["step"] for r in records] == [2, steps]  # rank 0 alone writes
    n_val = len(_scene_split(tiny_store).val)
    assert all(r["n_samples"] == n_val for r in records)  # both ranks' parts, merged
    ckpt = load_checkpoint(out / "checkpoints" / "last.pt")
    assert (ckpt["world_size"], ckpt["step"], ckpt["epoch"], ckpt["segments"]) == (2, steps, 1, [])
    assert done.stdout.count("mask_iou") == 1  # the final table, from rank 0 only
    assert sorted(p.name for p in out.iterdir()) == [
        "checkpoints", "config.yaml", "metrics.jsonl", "samples", "split.json", "tb"]  # fmt: skip
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["best.pt", "last.pt"]
    assert len(list((out / "tb").glob("events.out.tfevents.*"))) == 1
    assert sorted(p.name for p in (out / "samples").iterdir()) == ["rank0.jsonl", "rank1.jsonl"]
    logs = read_sample_logs(out)
    assert [(r["step"], r["rank"], r["batch"]) for r in logs] == [
        (s + 1, r, s) for s in range(steps) for r in range(2)]  # fmt: skip
    assert all(len(r["indices"]) == 5 and r["world"] == 2 for r in logs)
    _assert_trained_once(logs, train, 2 * 5)


def test_resume_a_two_process_run_on_one_process(tiny_store, tmp_path):
    """Stopped after 2 steps of 2 ranks, the epoch ends on 1 process: nothing trained twice."""
    out = tmp_path / "run"
    first = [*_torchrun("--standalone", "--nproc-per-node=2"),
             *train_args(tiny_store, out, "--max-steps", "2", "--batch-size", "5",
                         "--sample-log")]  # fmt: skip
    (done,) = _run_all([first], tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert load_checkpoint(out / "checkpoints" / "last.pt")["segments"] == [[2, 2]]
    resume = [*fgd_command(), "train", "--out", str(out), "--resume", "--epochs", "1",
              "--no-progress"]  # fmt: skip
    (done,) = _run_all([resume], tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "resuming a run of 2 processes on 1" in done.stderr
    train = _train_split(tiny_store)
    rest = (len(train) - 2 * 2 * 5) // 5  # 48 - 20 = 28 samples left: 5 steps, 3 left out
    logs = read_sample_logs(out)
    assert [(r["world"], r["rank"], r["step"], r["batch"]) for r in logs] == [
        (2, 0, 1, 0), (2, 1, 1, 0), (2, 0, 2, 1), (2, 1, 2, 1),
        *((1, 0, 3 + i, 2 + i) for i in range(rest))]  # fmt: skip
    _assert_trained_once(logs, train, 1 * 5)
    ckpt = load_checkpoint(out / "checkpoints" / "last.pt")
    assert (ckpt["world_size"], ckpt["step"], ckpt["epoch"], ckpt["segments"]) == (
        1, 2 + rest, 1, [])  # fmt: skip
    assert [r["step"] for r in _read_metrics(out)] == [2, 2 + rest]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_torchrun_two_nodes_rendezvous(tiny_store, tmp_path):
    """Two torchrun launches of one process each (two "machines") meet at a c10d rendezvous."""
    out, port = tmp_path / "nodes", _free_port()

    # The same command on every machine (c10d numbers the nodes as they join: no --node-rank).
    launch = ("--nnodes=2", "--nproc-per-node=1", "--rdzv-backend=c10d",
              f"--rdzv-endpoint=127.0.0.1:{port}", f"--rdzv-id=fgd-test-{port}")  # fmt: skip
    node = [*_torchrun(*launch), *train_args(tiny_store, out, "--max-steps", "2", "--sample-log")]
    results = _run_all([node, node], tmp_path)
    for done in results:
        assert done.returncode == 0, done.stderr[-3000:]
    ckpt = load_checkpoint(out / "checkpoints" / "last.pt")
    assert (ckpt["world_size"], ckpt["step"]) == (2, 2)
    logs = read_sample_logs(out)
    assert sorted((r["rank"], r["step"]) for r in logs) == [(0, 1), (0, 2), (1, 1), (1, 2)]
    _assert_trained_once(logs, _train_split(tiny_store), len(_train_split(tiny_store)))


# ----------------------------------------------------------------------------- bad input


def _broken_store(tiny_store: str, tmp_path: Path) -> str:
    copy = tmp_path / "broken.zarr"
    shutil.copytree(tiny_store, copy)
    shutil.rmtree(copy / "mask")
    return str(copy)


BAD_TRAIN = {
    "missing store": (lambda s, t: ["--store", str(t / "nope.zarr")], "no such store"),
    "not a store": (lambda s, t: ["--store", str(t)], "not"),
    "store without arrays": (lambda s, t: ["--store", _broken_store(s, t)], "lacks the arrays"),
    "unknown backbone": (lambda s, t: ["--backbone", "no_such_net"], "--backbone"),
    "size zero": (lambda s, t: ["--size", "0"], "--size"),
    "size negative": (lambda s, t: ["--size", "-32"], "--size"),
    "size above the store": (lambda s, t: ["--size", "4096"], "--size"),
    "batch size zero": (lambda s, t: ["--batch-size", "0"], "batch_size"),
    "batch size above the split": (lambda s, t: ["--batch-size", "1000"], "--batch-size"),
    "negative lr": (lambda s, t: ["--lr", "-0.1"], "lr"),
    "epochs and max steps": (lambda s, t: ["--epochs", "1", "--max-steps", "3"], "not both"),
    "unknown split": (lambda s, t: ["--split", "bogus"], "split"),
    "unknown loss weighting": (lambda s, t: ["--loss-weighting", "magic"], "loss_weighting"),
    "resume without checkpoint": (lambda s, t: ["--resume"], "--resume"),
    "unknown config key": (lambda s, t: ["--config", _yaml(t, "batchsize: 3\n")], "batchsize"),
}


def _yaml(tmp_path: Path, text: str) -> str:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    return str(path)


def _assert_one_line_error(result, needle: str) -> None:
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("fgd: error:"), result.stderr
    assert needle in lines[0]


@pytest.mark.parametrize("case", list(BAD_TRAIN))
def test_bad_train_input_is_one_line_exit_2(case, tiny_store, fgd, tmp_path):
    make_args, needle = BAD_TRAIN[case]
    out = tmp_path / "run"
    result = CliRunner().invoke(
        fgd, [*train_args(tiny_store, out, "--max-steps", "2"), *make_args(tiny_store, tmp_path)]
    )
    _assert_one_line_error(result, needle)
    assert not out.exists()  # nothing half-written


def test_existing_run_needs_resume(trained_run, tiny_store, fgd):
    result = CliRunner().invoke(fgd, train_args(tiny_store, trained_run, "--max-steps", "2"))
    _assert_one_line_error(result, "use --resume or a new --out")


def test_a_full_disk_at_a_checkpoint_is_one_line(tiny_store, fgd, tmp_path, monkeypatch):
    real = Path.write_bytes

    def full_for_checkpoints(self: Path, data) -> int:
        if ".pt." in self.name:  # the temporary a checkpoint is written through
            real(self, bytes(data)[:100])
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, data)

    monkeypatch.setattr(Path, "write_bytes", full_for_checkpoints)
    out = tmp_path / "run"
    result = CliRunner().invoke(fgd, train_args(tiny_store, out, "--max-steps", "3"))
    assert result.exit_code == 2 and "Traceback" not in result.output, result.output
    # The store has no saved stats: the lines before the error say they are being measured.
    error = result.stderr.strip().splitlines()[-1]
    assert error.startswith("fgd: error: checkpoint ") and error.count("fgd:") == 1
    assert "the disk is full; once there is room, rerun to start it over (none was saved)" in error
    assert list((out / "checkpoints").iterdir()) == []  # no half-written checkpoint
    monkeypatch.undo()
    again = CliRunner().invoke(fgd, train_args(tiny_store, out, "--max-steps", "3"))
    assert again.exit_code == 0, again.output
    assert "held a run that saved no checkpoint; starting it over there" in again.stderr
    assert load_checkpoint(out / "checkpoints" / "last.pt")["step"] == 3


# ----------------------------------------------------------------------------- one trainer per run

#: A process that holds RUN_DIR argv[1]'s lock as fgd train does, until it is killed.
HOLD_LOCK = """
import sys, time
from pathlib import Path
from training.fitting.run_lock import RunLock
RunLock.take(Path(sys.argv[1]))
print("held", flush=True)
time.sleep(300)
"""


def _assert_in_use_by(line: str, out: Path, pid: int) -> None:
    """``line`` is the one error line of a trainer refused by live process ``pid`` in ``out``."""
    start = f"fgd: error: --out {out} is in use by fgd train (pid {pid} on host "
    assert line.startswith(start + f"{socket.gethostname()}, since "), line
    since = datetime.fromisoformat(line.split("since ")[1].split(")")[0])
    assert abs(datetime.now().astimezone() - since) < timedelta(minutes=5)
    assert line.endswith("; wait for it to end or stop it, or use a new --out")


def test_a_second_trainer_in_a_live_run_is_refused_and_a_dead_ones_lock_taken_over(
    tiny_store, fgd, tmp_path
):
    out = tmp_path / "run"
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(out)], env=SUBPROCESS_ENV,
                              stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert holder.stdout.readline() == "held\n"
        resume = [*fgd_command(), "train", "--out", str(out), "--resume", "--no-progress"]
        done = subprocess.run(resume, env=SUBPROCESS_ENV, capture_output=True, text=True,
                              timeout=300)  # fmt: skip
        anew = CliRunner().invoke(fgd, train_args(tiny_store, out, "--max-steps", "2"))
    finally:
        holder.kill()
        holder.wait()
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    _assert_in_use_by(lines[0], out, holder.pid)
    assert anew.exit_code == 2, anew.output
    _assert_in_use_by(anew.stderr.strip(), out, holder.pid)
    assert sorted(p.name for p in out.iterdir()) == ["train.lock"]  # neither wrote anything
    # Killed, the holder left its lock file behind: the next trainer takes it over.
    again = CliRunner().invoke(fgd, train_args(tiny_store, out, "--max-steps", "2"))
    assert again.exit_code == 0, again.output
    assert f"fgd train: --out {out}: fgd train (pid {holder.pid} on host " in again.stderr
    assert "is gone without releasing the run's lock; taking it over" in again.stderr
    assert load_checkpoint(out / "checkpoints" / "last.pt")["step"] == 2
    assert not (out / "train.lock").exists()


def _wait_until(proc: subprocess.Popen, ready, what: str) -> None:
    deadline = time.monotonic() + 120
    while not ready():
        assert proc.poll() is None and time.monotonic() < deadline, f"no {what}"
        time.sleep(0.05)


def test_ctrl_c_before_the_first_checkpoint_then_the_same_run_starts_over(tiny_store, fgd,
                                                                          tmp_path):  # fmt: skip
    out = tmp_path / "run"
    never = ("--max-steps", "100000", "--val-every", "100000", "--checkpoint-every", "100000")
    args = [*fgd_command(), *train_args(tiny_store, out, *never)]
    proc = subprocess.Popen(args, env=SUBPROCESS_ENV, stderr=subprocess.PIPE, text=True)
    try:
        lock = out / "train.lock"
        _wait_until(proc, lambda: (out / "tb").is_dir() and lock.exists(), "run started")
        assert json.loads(lock.read_text())["pid"] == proc.pid  # fgd train holds its run
        live = CliRunner().invoke(fgd, train_args(tiny_store, out, "--max-steps", "2"))
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=120) == 1  # click's "Aborted!"
    finally:
        proc.kill()
        proc.wait()
    assert "Traceback" not in proc.stderr.read()
    assert live.exit_code == 2, live.output
    _assert_in_use_by(live.stderr.strip(), out, proc.pid)  # refused as live, not "remove it"
    # The interrupted run saved nothing and let its lock go: the same command starts it over.
    assert sorted(p.name for p in out.iterdir()) == ["config.yaml", "split.json", "tb"]
    _assert_starts_over(fgd, tiny_store, out, "config.yaml, split.json, tb/")


def _assert_starts_over(fgd, tiny_store: str, out: Path, removed: str) -> None:
    """A new run in ``out``, which holds a run that saved nothing, replaces it with a note."""
    result = CliRunner().invoke(fgd, train_args(tiny_store, out, "--max-steps", "2"))
    assert result.exit_code == 0, result.output
    note = (
        f"fgd train: --out {out} held a run that saved no checkpoint; starting it over there "
        f"(removed its {removed})"
    )
    assert result.stderr.splitlines().count(note) == 1, result.stderr
    assert sorted(p.name for p in out.iterdir()) == [
        "checkpoints", "config.yaml", "metrics.jsonl", "split.json", "tb"]  # fmt: skip
    assert [r["step"] for r in _read_metrics(out)] == [2]
    assert len(list((out / "tb").glob("events.out.tfevents.*"))) == 1  # one writer, the new run's
    assert load_checkpoint(out / "checkpoints" / "last.pt")["step"] == 2


def test_a_run_that_saved_nothing_is_started_over_and_not_resumed(tiny_store, fgd, tmp_path):
    out = tmp_path / "run"
    (out / "tb").mkdir(parents=True)
    (out / "tb" / "events.out.tfevents.1.host").write_bytes(b"")
    (out / "config.yaml").write_text("batch_size: 8\n")
    (out / "metrics.jsonl").write_text('{"step": 5}\n')
    resume = CliRunner().invoke(fgd, ["train", "--out", str(out), "--resume", "--no-progress"])
    _assert_one_line_error(resume, f"--resume: the run in {out} stopped before its first "
                           "checkpoint (no ")  # fmt: skip
    assert resume.stderr.strip().endswith("run the command without --resume to start it over there")
    _assert_starts_over(fgd, tiny_store, out, "config.yaml, metrics.jsonl, tb/")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_device_without_cuda(tiny_store, fgd, tmp_path):
    args = [*train_args(tiny_store, tmp_path / "run"), "--device", "cuda"]
    _assert_one_line_error(CliRunner().invoke(fgd, args), "--device cuda")


def _foreign_checkpoints(tmp_path: Path) -> dict[str, Path]:
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(np.random.default_rng(0).bytes(4096))
    foreign = tmp_path / "foreign.pt"
    torch.save({"state_dict": {"w": torch.zeros(2)}}, foreign)
    pickled = tmp_path / "pickled.pt"
    torch.save({"fgd-checkpoint": 1, "obj": TrainConfig()}, pickled)  # refused by weights_only
    return {"corrupt": corrupt, "foreign": foreign, "pickled": pickled,
            "missing": tmp_path / "missing.pt"}  # fmt: skip


@pytest.mark.parametrize("kind", ["corrupt", "foreign", "pickled", "missing"])
def test_bad_checkpoint_is_one_line_exit_2(kind, tiny_store, fgd, tmp_path):
    ckpt = _foreign_checkpoints(tmp_path)[kind]
    result = CliRunner().invoke(
        fgd, ["eval", "--store", tiny_store, "--checkpoint", str(ckpt), "--workers", "0"]
    )
    _assert_one_line_error(result, str(ckpt))


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--store", "none.zarr"], "no such store"),
        (["--batch-size", "0"], "--batch-size"),
        (["--split", "test"], "--split"),
        (["--json", "no/such/dir/m.json"], "--json"),
    ],
)
def test_bad_eval_input_is_one_line_exit_2(extra, needle, trained_run, tiny_store, fgd):
    best = str(trained_run / "checkpoints" / "best.pt")
    args = ["eval", "--store", tiny_store, "--checkpoint", best, "--workers", "0", *extra]
    _assert_one_line_error(CliRunner().invoke(fgd, args), needle)


# ----------------------------------------------------------------------------- outputs, checkpoints


def _file(tmp_path: Path) -> Path:
    path = tmp_path / "a-file"
    path.write_text("not a folder\n")
    return path


def _other_backbone(run: Path, tmp_path: Path) -> Path:
    ckpt = torch.load(run / "checkpoints" / "best.pt", weights_only=True)
    ckpt["model_config"]["backbone"] = "no_such_net"
    path = tmp_path / "other-backbone.pt"
    torch.save(ckpt, path)
    return path


def _copy(store: str, tmp_path: Path) -> str:
    return str(shutil.copytree(store, tmp_path / "copy.zarr"))


def _eval(store: str, ckpt: Path | str, *extra: str) -> list[str]:
    return ["eval", "--store", store, "--checkpoint", str(ckpt), "--workers", "0", "--no-progress",
            *extra]  # fmt: skip


#: Bad outputs and checkpoints: (fgd arguments from (run, store, tmp_path), what the line says).
BAD_RUNS = {
    "train --out below a file": (
        lambda r, s, t: train_args(s, _file(t) / "run", "--max-steps", "2"),
        "is a file, not a folder",
    ),
    "eval --json a directory": (
        lambda r, s, t: _eval(s, r / "checkpoints" / "best.pt", "--json", str(t)),
        "--json",
    ),
    "eval --json below a file": (
        lambda r, s, t: _eval(s, r / "checkpoints" / "best.pt", "--json", str(_file(t) / "m.json")),
        "is not a folder",
    ),
    "eval --checkpoint a directory": (
        lambda r, s, t: _eval(s, r / "checkpoints"),
        "is a directory",
    ),
    "eval a checkpoint of an unknown backbone": (
        lambda r, s, t: _eval(s, _other_backbone(r, t)),
        "its model's backbone 'no_such_net' is not a model of the installed timm",
    ),
    "resume on another store": (
        lambda r, s, t: ["train", "--out", str(r), "--resume", "--store", _copy(s, t)],
        "--resume: store was",
    ),
}


@pytest.mark.parametrize("case", list(BAD_RUNS))
def test_bad_outputs_and_checkpoints_are_one_line_exit_2(case, trained_run, tiny_store, fgd,
                                                         tmp_path):  # fmt: skip
    make_args, needle = BAD_RUNS[case]
    before = sorted(p.relative_to(trained_run) for p in trained_run.rglob("*"))
    result = CliRunner().invoke(fgd, make_args(trained_run, tiny_store, tmp_path))
    _assert_one_line_error(result, needle)
    assert "--backbone" not in result.stderr  # a checkpoint's backbone is no flag of this command
    assert not list(tmp_path.rglob("*.tmp")) and not list(tmp_path.rglob("run"))
    assert sorted(p.relative_to(trained_run) for p in trained_run.rglob("*")) == before


def test_a_random_bytes_checkpoint_says_what_it_is_not(tiny_store, fgd, tmp_path):
    corrupt = _foreign_checkpoints(tmp_path)["corrupt"]
    result = CliRunner().invoke(fgd, _eval(tiny_store, corrupt))
    _assert_one_line_error(result, f"{corrupt} is not a checkpoint")
    assert "PyTorch" not in result.stderr and "weights_only" not in result.stderr


def _in_read_only(folder: Path) -> list[str]:
    """A command prefix under which ``folder`` cannot be written, root or not: a mode-555 folder
    for a user, and for root (who writes anywhere, and is how CI runs) a read-only tmpfs
    mounted over it in a mount namespace of the command's own."""
    folder.mkdir()
    if os.geteuid() != 0:
        folder.chmod(0o555)
        return []
    unshare = shutil.which("unshare")
    probe = [unshare or "unshare", "--mount", "--propagation", "private", "true"]
    if unshare is None or subprocess.run(probe, capture_output=True).returncode != 0:
        pytest.skip("root, and no mount namespace to make a read-only folder in")
    mount = 'mount -t tmpfs -o ro tmpfs "$0" && exec "$@"'
    return [unshare, "--mount", "--propagation", "private", "sh", "-c", mount, str(folder)]


def test_read_only_out_and_json_are_one_line_exit_2(trained_run, tiny_store, tmp_path):
    read_only = tmp_path / "read-only"
    prefix = _in_read_only(read_only)
    ckpt = trained_run / "checkpoints" / "best.pt"
    commands = {
        "--out": train_args(tiny_store, read_only / "run", "--max-steps", "2"),
        "--json": _eval(tiny_store, ckpt, "--json", str(read_only / "m.json")),
    }
    for option, args in commands.items():
        done = subprocess.run([*prefix, *fgd_command(), *args], env=SUBPROCESS_ENV,
                              capture_output=True, text=True, timeout=300)  # fmt: skip
        assert done.returncode == 2, done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"fgd: error: {option} "), done.stderr
        assert "cannot write" in lines[0]
    assert list(read_only.iterdir()) == []


def test_train_and_eval_leave_nothing_in_tmpdir(tiny_store, tmp_path):
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = {**SUBPROCESS_ENV, "TMPDIR": str(scratch)}
    env.pop("TORCHINDUCTOR_CACHE_DIR", None)
    out = tmp_path / "run"
    train = train_args(tiny_store, out, "--max-steps", "2", "--workers", "2")
    subprocess.run([*fgd_command(), *train], env=env, check=True, timeout=300)
    evaluate = [*_eval(tiny_store, out / "checkpoints" / "last.pt")[:-3], "--workers", "2"]
    subprocess.run([*fgd_command(), *evaluate, "--no-progress"], env=env, check=True, timeout=300,
                   capture_output=True)  # fmt: skip
    assert sorted(p.name for p in scratch.iterdir()) == []  # no pymp-*, no torchinductor_*


def test_training_learns(tiny_store, tmp_path):
    """A few seconds of training on the tiny store: the loss falls and the mask is found."""
    from training.fitting.train import train

    cfg = TrainConfig(store=tiny_store, out=str(tmp_path / "run"), backbone="test_resnet",
                      decoder_channels=16, full_res_stage=False, size=32, batch_size=8,
                      max_steps=40, lr=3e-3, warmup_steps=0, val_every=20, workers=0,
                      device="cpu", loss_weighting="fixed", log_images=0)  # fmt: skip
    metrics = train(cfg, progress=False)
    first, last = _read_metrics(tmp_path / "run")
    assert last["train_loss"] < 0.9 * first["train_loss"]
    assert last["train_mask"] < first["train_mask"]
    assert metrics["mask_iou"] == last["mask_iou"] > 0.4
