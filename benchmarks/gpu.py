"""The GPU run: build a store, train the ``gpu-224`` recipe for a wall budget, evaluate, measure.

One command on the device machine does everything and writes into ``--out``:

- ``results.json``: the environment, every figure below, and the held-out metrics;
- ``grid.png``: inputs, ground truth and predictions of held-out samples (``fgd export-samples``);
- ``tb/``: the run's TensorBoard scalars (``train/samples_per_s``, ``train/data_wait_frac``...).

Figures: the build time of the full default store (400,000 samples) on all cores, and of its
statistics; training samples/s (median over the steady state, the
first fifth of the logged intervals dropped) and the fraction of each step spent waiting for the
loader (both as ``fgd train`` logs them); GPU busy fraction (``nvidia-smi`` sampled every 0.5 s
during training); peak GPU memory; bf16 against fp32 step time for the same model and batch; the
augmentation's share of a step; ``fgd predict`` pairs/s at 1920x1080; a depth teacher's images/s
(a randomly initialised Depth Anything V2 Small, when transformers is installed).

``--cpu-smoke`` runs the same code on the CPU with a tiny plan in seconds (the test suite does),
so the device run cannot die of a typo.

    python -m benchmarks.gpu --out $OUT                       # on the GPU machine
    python -m benchmarks.gpu --cpu-smoke --out runs/gpu-smoke   # here
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from datagen.builder.build import build_store
from datagen.builder.config import BuildConfig
from datagen.common.files import write_text_atomic
from datagen.store.audit import compute_stats, default_stats_workers
from datagen.store.reader import open_store
from training.config import TrainConfig
from training.fitting.augment import prepare_batch
from training.fitting.evaluate import run_eval
from training.fitting.schedule import create_optimizer
from training.fitting.train import model_config, train
from training.inference.export_samples import export_samples
from training.inference.predictor import Predictor
from training.losses import DualTaskLoss, depth_to_target
from training.models import build_model
from training.preprocess import normalization_from_store
from training.recipes import load_recipe
from training.runtime import autocast

RECIPE = "gpu-224"


@dataclass(frozen=True)
class Plan:
    """What one run builds, trains and times."""

    device: str
    size: int  # store and training resolution
    n_bg: int
    n_fg: int
    positions: int
    train_seconds: float  # wall budget of the training run
    batch_size: int | None  # None: the recipe's
    backbone: str | None  # None: the recipe's
    workers: int | None  # loader processes; None: the recipe's
    build_workers: int | None  # store build processes; None: every core
    timing_reps: int
    predict_pairs: int
    predict_hw: tuple[int, int]  # (height, width) of the predict benchmark's photos
    teacher: str  # benchmarks.teacher_export spec name: "small" (DA V2 Small) or "tiny"
    teacher_images: int  # 224 px images per timed teacher call


# The full default store (100 x 100 x 2 flips x 20 = 400,000 samples): its build time on the
# machine's cores is a figure of its own.
GPU = Plan(
    "cuda", 224, 100, 100, 20, 300.0, None, None, None, None, 20, 64, (1080, 1920), "small", 64
)
SMOKE = Plan("cpu", 64, 6, 3, 1, 4.0, 8, "test_resnet", 0, 1, 1, 2, (108, 192), "tiny", 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="results folder (replaced)")
    parser.add_argument("--cpu-smoke", action="store_true", help="tiny plan on the CPU")
    parser.add_argument("--train-minutes", type=float, help="training wall budget")
    args = parser.parse_args()
    plan = SMOKE if args.cpu_smoke else GPU
    if args.train_minutes is not None:
        plan = replace(plan, train_seconds=60 * args.train_minutes)
    results = run(plan, args.out)
    print(summary(results))


def run(plan: Plan, out: Path) -> dict[str, Any]:
    """Every step of the run; returns ``results.json``'s content, written after each step so
    that a run stopped at the device's time limit still brings back what it measured."""
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    work = Path(tempfile.mkdtemp(prefix="fgd-gpu-"))
    results: dict[str, Any] = {"plan": asdict(plan), "environment": environment()}
    started = time.perf_counter()

    def stage(name: str, fn: Callable[[], Any]) -> Any:
        results[name] = fn()
        write_text_atomic(out / "results.json", json.dumps(results, indent=2, default=str) + "\n")
        print(f"[{time.perf_counter() - started:6.0f} s] {name} done", flush=True)
        return results[name]

    try:
        store = str(work / "store.zarr")
        stage("build", lambda: build(plan, store))
        cfg = train_config(plan, store, str(work / "run"))
        step = stage("step", lambda: step_times(plan, cfg))
        steps_per_s = 1000.0 / step["train_step_ms"]
        cfg = cfg.replace(max_steps=max(2, int(0.8 * plan.train_seconds * steps_per_s)))
        stage("train", lambda: train_run(plan, cfg, out / "tb"))
        best = str(Path(cfg.out) / "checkpoints" / "best.pt")
        stage("eval", lambda: run_eval(store, best, "val", None, plan.device, cfg.workers,
                                       progress=False).to_json())  # fmt: skip
        export_samples(store, checkpoint=best, n=8, out=out / "grid.png", tile=160,
                       device=plan.device, overwrite=True, progress=False)  # fmt: skip
        stage("predict", lambda: predict_rate(plan, best, store))
        stage("teacher", lambda: teacher_rate(plan))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return results


def environment() -> dict[str, Any]:
    """Versions and the device, printed first so a broken install shows in seconds."""
    versions = {}
    for name in ("torch", "timm", "zarr", "numcodecs", "kornia", "albumentations",
                 "opencv-python-headless", "transformers", "onnxruntime"):  # fmt: skip
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else None
    env = {"versions": versions, "gpu": gpu, "cpus": os.cpu_count()}
    print(json.dumps(env), flush=True)
    return env


def build(plan: Plan, store: str) -> dict[str, Any]:
    """The store on every core, and its statistics (the run normalises with them)."""
    workers = plan.build_workers or os.cpu_count() or 1
    config = BuildConfig(out=store, size=plan.size, n_bg=plan.n_bg, n_fg=plan.n_fg,
                         positions=plan.positions, workers=workers)  # fmt: skip
    start = time.perf_counter()
    summary = build_store(config, progress=False)
    seconds = time.perf_counter() - start
    built = open_store(store)
    n, stats_workers = len(built), default_stats_workers(built)
    start = time.perf_counter()
    compute_stats(store, progress=False, workers=stats_workers)
    stats_seconds = time.perf_counter() - start
    return {"samples": n, "workers": workers, "seconds": seconds, "samples_per_s": n / seconds,
            "stats_workers": stats_workers, "stats_seconds": stats_seconds,
            "text": str(summary)}  # fmt: skip


def train_config(plan: Plan, store: str, out: str) -> TrainConfig:
    """The recipe, with the plan's overrides (the smoke plan's tiny model and batch)."""
    settings = {**load_recipe(RECIPE).settings, "recipe": RECIPE}
    overrides = {"batch_size": plan.batch_size, "backbone": plan.backbone, "workers": plan.workers}
    settings.update({k: v for k, v in overrides.items() if v is not None})
    settings.update(store=store, out=out, size=plan.size, device=plan.device, log_every=10)
    return TrainConfig.from_dict(settings, RECIPE)


def step_times(plan: Plan, cfg: TrainConfig) -> dict[str, float]:
    """Median ms of one training step (augmentation + forward + backward + AdamW) in bf16 and
    fp32 for the recipe's model and batch, and of the augmentation alone."""
    device = torch.device(plan.device)
    ds = open_store(cfg.store)
    raw = ds.read_range(0, min(cfg.batch_size, len(ds)))
    batch = {k: torch.from_numpy(raw[k]).to(device) for k in ("bg", "fgbg", "mask", "depth")}
    norm = normalization_from_store(ds, progress=False)
    model = build_model(model_config(cfg)).to(device)
    if cfg.channels_last and device.type == "cuda":
        model.to(memory_format=torch.channels_last)
    loss = DualTaskLoss(
        weighting=cfg.loss_weighting, mask_weight=cfg.mask_weight, depth_weight=cfg.depth_weight
    ).to(device)
    optimizer = create_optimizer(model, cfg)  # the trainer's AdamW, weight-decay groups included
    channels_last = cfg.channels_last and device.type == "cuda"

    def augment() -> dict[str, torch.Tensor]:
        return prepare_batch(batch, cfg.size, norm, cfg.augment, 1, channels_last, ds.depth_max)

    def step(amp: str) -> None:
        inputs = augment()
        with autocast(device, amp):
            out = model(inputs["bg"], inputs["fgbg"])
        total, _ = loss({k: v.float() for k, v in out.items()}, inputs["mask"],
                        depth_to_target(inputs["depth"], ds.depth_max))  # fmt: skip
        optimizer.zero_grad(set_to_none=True)
        total.backward()
        optimizer.step()

    ms = {
        "augment_ms": _median_ms(augment, plan.timing_reps, device),
        "step_bf16_ms": _median_ms(lambda: step("bf16"), plan.timing_reps, device),
        "step_fp32_ms": _median_ms(lambda: step("off"), plan.timing_reps, device),
    }
    # The recipe's amp is "auto": bf16 on a GPU, fp32 on the CPU.
    ms["train_step_ms"] = ms["step_bf16_ms" if device.type == "cuda" else "step_fp32_ms"]
    ms["augment_share"] = ms["augment_ms"] / ms["train_step_ms"]
    ms["bf16_speedup"] = ms["step_fp32_ms"] / ms["step_bf16_ms"]
    ms["batch_size"] = cfg.batch_size
    return ms


def train_run(plan: Plan, cfg: TrainConfig, tb_out: Path) -> dict[str, Any]:
    """``fgd train``'s loop for the budgeted steps, with the GPU's utilisation sampled."""
    sampler = _UtilisationSampler() if plan.device == "cuda" else None
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    try:
        final = train(cfg, progress=False)
    finally:
        busy = sampler.stop() if sampler else None
    seconds = time.perf_counter() - start
    scalars = _scalars(Path(cfg.out) / "tb")
    shutil.copytree(Path(cfg.out) / "tb", tb_out)
    rate, wait = scalars.get("train/samples_per_s", []), scalars.get("train/data_wait_frac", [])
    return {
        "steps": cfg.max_steps,
        "seconds": seconds,
        "samples_per_s_median": _steady_median(rate),
        "data_wait_frac_median": _steady_median(wait),
        "gpu_busy_frac_median": busy,
        "peak_gpu_memory_gib": (
            torch.cuda.max_memory_allocated() / 2**30 if torch.cuda.is_available() else None
        ),
        "final_validation": final,
    }


def predict_rate(plan: Plan, checkpoint: str, store: str) -> dict[str, float]:
    """``fgd predict``'s pairs/s on photo-sized pairs (a store scene and sample, upscaled)."""
    predictor = Predictor.from_checkpoint(checkpoint, plan.device)
    sample = open_store(store).read_range(0, 1)
    h, w = plan.predict_hw

    def photo(image: np.ndarray) -> np.ndarray:
        import cv2

        return cv2.resize(image, (w, h), interpolation=cv2.INTER_LINEAR)

    pairs = [(photo(sample["bg"][0]), photo(sample["fgbg"][0]))] * plan.predict_pairs
    device = torch.device(plan.device)
    seconds = _median_ms(lambda: predictor.run_pairs(pairs), plan.timing_reps, device) / 1000
    return {"pairs": plan.predict_pairs, "height": h, "width": w,
            "pairs_per_s": plan.predict_pairs / seconds}  # fmt: skip


def teacher_rate(plan: Plan) -> dict[str, Any] | None:
    """Images/s of a randomly initialised Depth Anything teacher on 224 px images (None when
    transformers is not installed)."""
    try:
        import transformers  # noqa: F401
    except ImportError:
        return None
    from benchmarks.teacher_export import DA_V2_SMALL, TINY, save_depth_anything
    from datagen.builder.teacher import DepthTeacher

    spec = {"small": DA_V2_SMALL, "tiny": TINY}[plan.teacher]
    shape = (plan.teacher_images, 224, 224, 3)
    images = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    with tempfile.TemporaryDirectory() as folder:
        params = save_depth_anything(Path(folder), spec)
        teacher = DepthTeacher.load(folder, max_depth=30.0)
        device = torch.device(plan.device)
        seconds = _median_ms(lambda: teacher.predict(images), plan.timing_reps, device) / 1000
    return {"model": plan.teacher, "parameters": params, "images_per_s": len(images) / seconds}


def summary(results: dict[str, Any]) -> str:
    """The figures as a Markdown table."""
    b, s, t, e = results["build"], results["step"], results["train"], results["eval"]
    rows = [
        ("device", results["environment"]["gpu"] or "cpu"),
        ("store build", f"{b['samples']:,} samples in {b['seconds']:.1f} s ({b['workers']} "
                        f"processes), stats in {b['stats_seconds']:.1f} s"),
        ("train samples/s (median, steady)", _fmt(t["samples_per_s_median"], ".0f")),
        ("data wait fraction (median)", _fmt(t["data_wait_frac_median"], ".3f")),
        ("GPU busy fraction (median)", _fmt(t["gpu_busy_frac_median"], ".3f")),
        ("peak GPU memory (GiB)", _fmt(t["peak_gpu_memory_gib"], ".1f")),
        (f"step ms bf16 / fp32 (batch {s['batch_size']})",
         f"{s['step_bf16_ms']:.1f} / {s['step_fp32_ms']:.1f}"),
        ("augmentation share of a step", f"{s['augment_share']:.3f}"),
        (f"training: {t['steps']} steps", f"{t['seconds']:.0f} s"),
        ("held-out mask IoU / boundary F / delta1",
         f"{e['mask_iou']:.3f} / {e['mask_boundary_f']:.3f} / {e['depth_delta1']:.3f}"),
        (f"predict pairs/s at {results['predict']['width']}x{results['predict']['height']}",
         f"{results['predict']['pairs_per_s']:.1f}"),
    ]  # fmt: skip
    if results["teacher"]:
        rows.append((f"teacher images/s ({results['teacher']['model']})",
                     f"{results['teacher']['images_per_s']:.1f}"))  # fmt: skip
    return "\n".join(["| figure | value |", "| --- | ---: |", *(f"| {k} | {v} |" for k, v in rows)])


def _fmt(value: float | None, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


def _median_ms(fn: Callable[[], object], reps: int, device: torch.device) -> float:
    """Median wall ms of ``fn`` after warm-ups (two, or ``reps`` if fewer), the device
    synchronised around each call."""
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    for _ in range(min(2, reps)):
        fn()
    times = []
    for _ in range(reps):
        sync()
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def _steady_median(values: list[float]) -> float | None:
    """Median after dropping the first fifth (warm-up: cudnn autotuning, loader start)."""
    steady = values[len(values) // 5 :]
    return statistics.median(steady) if steady else None


def _scalars(tb_dir: Path) -> dict[str, list[float]]:
    """Every scalar series of a TensorBoard folder, in step order."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(tb_dir), size_guidance={"scalars": 0})
    acc.Reload()
    return {tag: [e.value for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


class _UtilisationSampler:
    """``nvidia-smi``'s GPU utilisation, sampled every 0.5 s on a thread until :meth:`stop`."""

    def __init__(self) -> None:
        self.samples: list[float] = []
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        query = ["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits"]
        while not self._done.wait(0.5):
            try:
                line = subprocess.run(query, capture_output=True, text=True, timeout=5).stdout
                self.samples.append(float(line.split()[0]) / 100)
            except (OSError, ValueError, IndexError, subprocess.SubprocessError):
                return

    def stop(self) -> float | None:
        self._done.set()
        self._thread.join()
        return _steady_median(self.samples)


if __name__ == "__main__":
    main()
