"""Cost of the real-pair building blocks: the second-shot ops per batch, and shadows per sample.

1. **Capture ops** (``training.fitting.capture``) on one batch of bg images on the CPU (or
   ``--device cuda``), each op applied to every sample (probability 1) and then the default mix
   (``second_shot`` + ``independent_noise_jpeg`` with ``CaptureConfig()``), next to
   ``training.fitting.augment.prepare_batch`` on the same batch with the capture model off as the
   baseline, and with it on (the default ``AugmentConfig``): median milliseconds of ``--reps``
   and op / baseline. On CUDA the batched nvJPEG round trip is also timed against one call
   per image. ``--step`` adds one training step of train_quality's recipe
   (:func:`benchmarks.train_quality.train_pass`) for scale.
2. **Shadows** (``datagen.builder.shadows.shadow_factor``) per sample at each size: a cutout from
   ``../shared/real-samples/fg`` (procedural ones when absent) placed as the builder places it,
   with drawn photo parameters; median milliseconds per sample.

The machine's load average is printed first: on a shared machine the figures move with it.

    .venv/bin/python -m benchmarks.augment_ops [--sizes 96 224] [--batch 32] [--reps 15]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import torch

from datagen.builder import procedural, shadows
from datagen.builder.camera_prior import PRIOR_HORIZON
from datagen.common.imaging import premultiply, resize_premultiplied
from training.config import AugmentConfig
from training.fitting import capture
from training.fitting.augment import Normalization, prepare_batch

REAL_FG = Path(__file__).resolve().parents[1].parent / "shared" / "real-samples" / "fg"
EVERY = capture.CaptureConfig(warp_p=1.0, colour_p=1.0, noise_p=1.0, jpeg_p=1.0, sharpness_p=1.0)
NO_CAPTURE = AugmentConfig(capture=capture.CaptureConfig(enabled=False))


def median_ms(fn: Callable[[], object], reps: int, sync: Callable[[], None]) -> float:
    fn()
    sync()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        sync()
        times.append(1000 * (time.perf_counter() - t0))
    return statistics.median(times)


def capture_rows(size: int, batch: int, reps: int, device: torch.device, step: bool) -> None:
    gen = torch.Generator().manual_seed(size)
    coarse = torch.rand(batch, 3, size // 8, size // 8, generator=gen)
    images = torch.nn.functional.interpolate(coarse, size=(size, size), mode="bilinear")
    images = images.to(device)
    loader_batch = {
        "bg": images.mul(255).round().to(torch.uint8).permute(0, 2, 3, 1).contiguous(),
        "fgbg": images.mul(255).round().to(torch.uint8).permute(0, 2, 3, 1).contiguous(),
        "mask": torch.zeros(batch, size, size, dtype=torch.uint8, device=device),
        "depth": torch.ones(batch, size, size, device=device),
    }
    sync = torch.cuda.synchronize if device.type == "cuda" else lambda: None
    params = capture.draw_capture_params(batch, EVERY, 1)
    ops: dict[str, Callable[[], object]] = {
        "prepare_batch, capture off (baseline)": lambda: prepare_batch(
            loader_batch, size, Normalization(), NO_CAPTURE, seed=1
        ),
        "prepare_batch, default (capture on)": lambda: prepare_batch(
            loader_batch, size, Normalization(), AugmentConfig(), seed=1
        ),
        "draw params": lambda: capture.draw_capture_params(batch, EVERY, 1),
        "warp_homography": lambda: capture.warp_homography(images, params.homography),
        "blur_or_sharpen": lambda: capture.blur_or_sharpen(images, params.sharpness),
        "adjust_exposure": lambda: capture.adjust_exposure(images, params.gain, params.gamma),
        "add_noise": lambda: capture.add_noise(images, params.read_noise, params.shot_noise, 1),
        "jpeg_roundtrip": lambda: capture.jpeg_roundtrip(images, params.jpeg_quality),
        "second_shot, every op": lambda: capture.second_shot(images, EVERY, 1),
        "second_shot + fgbg history, defaults": lambda: (
            capture.second_shot(images, capture.CaptureConfig(), 1),
            capture.independent_noise_jpeg(images, capture.CaptureConfig(), 1),
        ),
    }
    if device.type == "cuda":
        ops["jpeg_roundtrip, a call per image (before)"] = lambda: _nvjpeg_per_image(
            images, params.jpeg_quality
        )
    if step:
        from benchmarks.train_quality import train_pass
        from training.losses import ssim_loss

        ops["training step (train_quality recipe)"] = train_pass(ssim_loss, True, batch, size)
    base = None
    for name, fn in ops.items():
        ms = median_ms(fn, reps, sync)
        base = ms if base is None else base
        print(f"| {name} | {size} | {ms:.2f} | {ms / base:.2f} |", flush=True)


def _nvjpeg_per_image(images: torch.Tensor, quality: torch.Tensor) -> torch.Tensor:
    """The CUDA JPEG round trip as it was first written: an encode and a decode call per image
    (the baseline of the batched one in ``training.fitting.capture``)."""
    from torchvision.io import decode_jpeg, encode_jpeg

    picked = images.clamp(0, 1).mul(255).round().to(torch.uint8)
    coded = [
        decode_jpeg(encode_jpeg(image, quality=int(q)).cpu(), device=images.device)
        for image, q in zip(picked, quality.tolist(), strict=True)
    ]
    return torch.stack(coded)


def cutouts(n: int) -> list[np.ndarray]:
    """(h, w, 4) uint8 RGBA cutouts: the shared real ones if present, else procedural."""
    if REAL_FG.is_dir():
        paths = sorted(REAL_FG.glob("*.png"))[:n]
        return [
            cv2.cvtColor(cv2.imread(str(p), cv2.IMREAD_UNCHANGED), cv2.COLOR_BGRA2RGBA)
            for p in paths
        ]
    return [procedural.render_cutout(0, i, 256)[1] for i in range(n)]


def shadow_row(size: int, reps: int) -> None:
    rng = np.random.default_rng(size)
    horizon = PRIOR_HORIZON * size
    cases = []
    for rgba in cutouts(10):
        height = int(rng.uniform(0.3, 0.8) * size)
        width = min(size, max(1, round(height * rgba.shape[1] / rgba.shape[0])))
        layer = resize_premultiplied(premultiply(rgba), width, height)[..., 3]
        bottom = int(rng.uniform(horizon + 0.3 * (size - horizon), size))
        top, x = max(bottom - height, 0), int(rng.integers(0, size - width + 1))
        alpha = np.zeros((size, size), np.float32)
        alpha[top:bottom, x : x + width] = layer[height - (bottom - top) :]
        params = shadows.draw_shadow_params(rng, p_cast=1.0)
        cases.append((alpha, params, (bottom - 1, x + width / 2)))
    times = []
    for alpha, params, contact in cases:

        def run(alpha=alpha, params=params, contact=contact) -> np.ndarray:
            return shadows.shadow_factor(alpha, params, contact=contact, horizon_y=horizon)

        times.append(median_ms(run, reps, lambda: None))
    print(
        f"| shadow_factor per sample | {size} | {statistics.median(times):.2f} "
        f"| max over cutouts {max(times):.2f} |",
        flush=True,
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[96, 224])
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--reps", type=int, default=15)
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--threads", type=int, default=torch.get_num_threads())
    p.add_argument("--step", action="store_true", help="also time one training step")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    print(
        f"{args.device}, {torch.get_num_threads()} threads, {os.cpu_count()} cores, "
        f"load average {load}; batch {args.batch}, median of {args.reps}\n"
    )
    print("| op | size | ms | / baseline |")
    print("| --- | ---: | ---: | ---: |")
    for size in args.sizes:
        capture_rows(size, args.batch, args.reps, device, args.step)
    for size in args.sizes:
        shadow_row(size, args.reps)


if __name__ == "__main__":
    main()
