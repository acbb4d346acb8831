"""Time and accuracy of ``training.inference.align.align_bg`` on photo pairs up to 1920x1080.

The pair: a photo from ``../shared/real-samples/bg`` (a smooth random texture when absent)
resized to the frame; the fg_bg shot is it seen through a known homography (a 6 px shift,
0.5 degree rotation, 1 % zoom), re-exposed by 8 %, with a cutout from
``../shared/real-samples/fg`` covering a large part of the frame. Each row: median
milliseconds of ``--reps`` runs of the whole registration (features, MAGSAC++, masked ECC,
warp), the mean corner error against the known homography, inliers, and the machine's load.

    .venv/bin/python -m benchmarks.align [--sizes 1920x1080 1280x720] [--max-side 1024 512]
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import time
from pathlib import Path

import cv2
import numpy as np

from training.inference.align import AlignConfig, align_bg, corner_error

REAL = Path(__file__).resolve().parents[1].parent / "shared" / "real-samples"


def known_motion(width: int, height: int) -> np.ndarray:
    cx, cy = (width - 1) / 2, (height - 1) / 2
    a, s = math.radians(0.5), 1.01
    centre = np.array([[1, 0, cx], [0, 1, cy], [0, 0, 1.0]])
    rotate = np.array(
        [[s * math.cos(a), -s * math.sin(a), 0], [s * math.sin(a), s * math.cos(a), 0], [0, 0, 1]]
    )
    shift = np.array([[1, 0, 6.0], [0, 1, -4.0], [0, 0, 1.0]])
    return shift @ centre @ rotate @ np.linalg.inv(centre)


def pair(width: int, height: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(bg, fg_bg, true homography) at width x height."""
    if (REAL / "bg").is_dir():
        photo = cv2.cvtColor(
            cv2.imread(str(sorted((REAL / "bg").glob("*.jpg"))[0])), cv2.COLOR_BGR2RGB
        )
        bg = cv2.resize(photo, (width, height), interpolation=cv2.INTER_CUBIC)
    else:
        coarse = np.random.default_rng(0).integers(0, 256, (height // 16, width // 16, 3), np.uint8)
        bg = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)
    truth = known_motion(width, height)
    fgbg = cv2.warpPerspective(bg, truth, (width, height), borderMode=cv2.BORDER_REFLECT)
    fgbg = np.clip(fgbg.astype(np.float32) * 1.08, 0, 255)
    if (REAL / "fg").is_dir():
        rgba = cv2.imread(str(sorted((REAL / "fg").glob("*.png"))[0]), cv2.IMREAD_UNCHANGED)
        rgba = cv2.cvtColor(rgba, cv2.COLOR_BGRA2RGBA)
        h = int(0.9 * height)
        w = min(width, int(h * rgba.shape[1] / rgba.shape[0] * 1.5))
        rgba = cv2.resize(rgba, (w, h), interpolation=cv2.INTER_AREA)
        alpha = rgba[..., 3:].astype(np.float32) / 255
        x0 = (width - w) // 2
        region = fgbg[height - h :, x0 : x0 + w]
        fgbg[height - h :, x0 : x0 + w] = rgba[..., :3] * alpha + region * (1 - alpha)
    return bg, np.rint(fgbg).astype(np.uint8), truth


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", nargs="+", default=["1920x1080", "1280x720", "640x480"])
    p.add_argument("--max-side", type=int, nargs="+", default=[1024, 512])
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--threads", type=int, default=cv2.getNumThreads())
    args = p.parse_args()
    cv2.setNumThreads(args.threads)
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    print(
        f"OpenCV {cv2.__version__}, {cv2.getNumThreads()} threads, {os.cpu_count()} cores, "
        f"load average {load}; median of {args.reps}\n"
    )
    print("| pair | max_side | ms | corner error px | inliers | residual px | ok |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | --- |")
    for spec in args.sizes:
        width, height = (int(v) for v in spec.split("x"))
        bg, fgbg, truth = pair(width, height)
        for max_side in args.max_side:
            config = AlignConfig(max_side=max_side)
            align_bg(bg, fgbg, config=config)  # warm-up
            times = []
            for _ in range(args.reps):
                t0 = time.perf_counter()
                result = align_bg(bg, fgbg, config=config)
                times.append(1000 * (time.perf_counter() - t0))
            error = corner_error(result.homography, truth, (width, height))
            print(
                f"| {spec} | {max_side} | {statistics.median(times):.0f} | {error:.3f} "
                f"| {result.inliers} | {result.residual_px:.2f} | {result.ok} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
