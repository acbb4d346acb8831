"""CPU speed of depth teachers and of exported models, on this machine.

``teacher``: images/s of :meth:`datagen.builder.teacher.DepthTeacher.predict` (processor, network,
post-processing and the ground-fit alignment) on 224 px RGB images, for randomly initialised
Depth Anything models saved the ordinary way (no weights are needed for timing): a tiny one
(the tests' size) and one with Depth Anything V2 Small's configuration (24.8 M parameters, its
processor resizes to 518 px).

``export``: milliseconds per batch at 224 px of the default fgd model (random weights, exported
from a checkpoint by :func:`training.inference.export_model.export_model`) run by torch, onnxruntime
and TorchScript, all on ``--threads`` CPU threads.

Both print medians of ``--iters`` timed runs (after three warm-ups) and the machine's load average.

    .venv/bin/python -m benchmarks.teacher_export teacher --models tiny small
    .venv/bin/python -m benchmarks.teacher_export export --batch 8
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

DA_V2_SMALL = {  # depth-anything/Depth-Anything-V2-Small-hf's config.json
    "hidden_size": 384,
    "layers": 12,
    "heads": 6,
    "neck": [48, 96, 192, 384],
    "fusion": 64,
    "head": 32,
    "image": 518,
}
TINY = {"hidden_size": 32, "layers": 4, "heads": 2, "neck": [16] * 4, "fusion": 16, "head": 8,
        "image": 56}  # fmt: skip


def median_seconds(fn: Callable[[], object], iters: int, warmup: int = 3) -> float:
    for _ in range(warmup):  # allocations, oneDNN kernel choice, TorchScript's profiling runs
        fn()
    times = []
    for _ in range(iters):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def save_depth_anything(folder: Path, spec: dict) -> int:
    """Save a randomly initialised Depth Anything of ``spec``'s size; return its parameters."""
    import transformers

    layers = spec["layers"]
    picks = [layers * (i + 1) // 4 for i in range(4)]  # Small: stages 3, 6, 9, 12
    backbone = transformers.Dinov2Config(
        hidden_size=spec["hidden_size"],
        num_hidden_layers=layers,
        num_attention_heads=spec["heads"],
        intermediate_size=4 * spec["hidden_size"],
        patch_size=14,
        image_size=spec["image"],
        out_features=[f"stage{i}" for i in picks],
        reshape_hidden_states=False,
    )
    cfg = transformers.DepthAnythingConfig(
        backbone_config=backbone,
        neck_hidden_sizes=spec["neck"],
        reassemble_hidden_size=spec["hidden_size"],
        fusion_hidden_size=spec["fusion"],
        head_hidden_size=spec["head"],
        patch_size=14,
    )
    torch.manual_seed(0)
    model = transformers.DepthAnythingForDepthEstimation(cfg)
    model.save_pretrained(folder)
    transformers.DPTImageProcessor(
        size={"height": spec["image"], "width": spec["image"]},
        keep_aspect_ratio=True,
        ensure_multiple_of=14,
        resample=3,  # bicubic, as Depth Anything's
        image_mean=[0.485, 0.456, 0.406],
        image_std=[0.229, 0.224, 0.225],
    ).save_pretrained(folder)
    return sum(p.numel() for p in model.parameters())


def bench_teacher(args: argparse.Namespace) -> None:
    from datagen.builder.teacher import DepthTeacher

    images = np.random.default_rng(0).integers(0, 256, (args.batch, 224, 224, 3), dtype=np.uint8)
    print("| model | parameters | input px | images/s (224 px in) |")
    print("|---|---:|---:|---:|")
    for name in args.models:
        spec = {"tiny": TINY, "small": DA_V2_SMALL}[name]
        with tempfile.TemporaryDirectory() as tmp:
            n_params = save_depth_anything(Path(tmp), spec)
            teacher = DepthTeacher.load(tmp, max_depth=30.0)
            seconds = median_seconds(lambda t=teacher: t.predict(images), args.iters)
        print(f"| {name} | {n_params / 1e6:.2f} M | {spec['image']} | {args.batch / seconds:.1f} |")


def bench_export(args: argparse.Namespace) -> None:
    import onnxruntime as ort

    from training.config import TrainConfig
    from training.fitting.augment import Normalization
    from training.fitting.evaluate import save_checkpoint
    from training.inference.export_model import ExportWrapper, load_exported
    from training.inference.export_model import export_model as export
    from training.models import ModelConfig, build_model

    torch.manual_seed(0)
    cfg = ModelConfig()
    model = build_model(cfg).eval()
    payload = {
        "model": model.state_dict(),
        "model_config": cfg.to_dict(),
        "train_config": TrainConfig(size=224).to_dict(),
        "depth_max": 30.0,
        "normalization": Normalization().to_dict(),
        "step": 0,
    }
    rng = np.random.default_rng(0)
    bg, fgbg = (rng.integers(0, 256, (args.batch, 3, 224, 224), dtype=np.uint8) for _ in "ab")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = Path(tmp) / "ckpt.pt"
        save_checkpoint(ckpt, payload)
        onnx_path, ts_path = Path(tmp) / "m.onnx", Path(tmp) / "m.pt"
        for fmt, path in (("onnx", onnx_path), ("torchscript", ts_path)):
            print(export(ckpt, fmt, path).summary())
        eager = ExportWrapper(model, Normalization(), 30.0).eval()

        def run_eager() -> None:
            with torch.inference_mode():
                eager(torch.from_numpy(bg), torch.from_numpy(fgbg))

        options = ort.SessionOptions()
        options.intra_op_num_threads = args.threads
        session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
        scripted = load_exported(ts_path).run
        rows.append(("torch (eager)", median_seconds(run_eager, args.iters)))
        rows.append(
            (
                "onnxruntime",
                median_seconds(lambda: session.run(None, {"bg": bg, "fgbg": fgbg}), args.iters),
            )
        )
        rows.append(("TorchScript", median_seconds(lambda: scripted(bg, fgbg), args.iters)))
    print(f"\n| runtime | ms / batch of {args.batch} at 224 px | images/s |")
    print("|---|---:|---:|")
    for name, seconds in rows:
        print(f"| {name} | {seconds * 1000:.0f} | {args.batch / seconds:.1f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="what", required=True)
    teacher = sub.add_parser("teacher", help="images/s of Depth Anything teachers")
    teacher.add_argument("--models", nargs="+", choices=["tiny", "small"], default=["tiny"])
    teacher.add_argument("--batch", type=int, default=8)
    export = sub.add_parser("export", help="torch vs onnxruntime vs TorchScript")
    export.add_argument("--batch", type=int, default=8)
    for p in (teacher, export):
        p.add_argument("--iters", type=int, default=5)
        p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(
        f"{args.what}: {args.threads} threads on {os.cpu_count()} cores, load average "
        f"{os.getloadavg()[0]:.1f}; medians of {args.iters} runs\n"
    )
    (bench_teacher if args.what == "teacher" else bench_export)(args)
    print(f"\nload average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
