"""The mask at the photo's own resolution: today's upsampled probability against the guided
refinement (:mod:`training.inference.refine`), with the same checkpoint, at full size.

Each pair is a clean composite of a ``real-hires`` cutout (RGBA photos whose alpha is a soft
matte: hair, fur) onto a ``real-hires`` background at ``--size`` (default 1920x1080): the bg
scaled to cover the frame and centre-cropped, the cutout scaled to fit the frame, centred and
standing on its bottom edge; the truth is its alpha. Cutout k goes onto background k mod the
number of backgrounds. ``fgd predict``'s steps run on each: registration (``--align auto``),
the network's passes (:data:`training.options.PREDICT_TTA`) to the coarse probability, then
each way of bringing it to the photo's size:

- ``upsampled``: bilinear resizing, ``fgd predict --refine off`` (what fgd did before);
- ``guided, colour``: the fast guided filter with the fg_bg's colours alone as guide (what
  ``fgd predict`` does for a pair it could not register);
- ``guided, colour + bg difference``: the default, the bg difference as a guide too.

Every row's metrics are at the full size (:func:`training.alpha_metrics.alpha_metrics`; IoU
and boundary F of the matte thresholded at 0.5), averaged over the pairs. ``step ms`` is the
median time of the row's step alone, ``pair ms`` the median of registration + network + step
for a pair, ``peak MB`` the most memory the step's arrays held at once (tracemalloc, one pair).
``--oracle`` replaces the network by the true alpha area-averaged to the network's grid: what
the step gives a perfect coarse mask, so the gap to it is the network's. ``--sweep`` prints the
metrics of a grid of the filter's settings on the odd-numbered cutouts instead (how the
defaults were chosen; the table then reports all of them). ``--figure PNG`` draws a pair's
softest edge (``--figure-pair``, default the first) at full resolution: fg_bg, truth,
upsampled, refined. ``--smoke`` runs on
two small synthetic pairs and an untrained network, in seconds.

    .venv/bin/python -m benchmarks.refine --checkpoint RUN/checkpoints/best.pt
        [--hires ../shared/real-hires] [--size 1920x1080] [--limit N] [--oracle] [--sweep]
        [--figure PNG [--figure-pair hr_fg_002]]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import torch

from benchmarks.predict import recipe_checkpoint
from training.alpha_metrics import ALPHA_METRIC_KEYS, alpha_metrics, mse, sad
from training.inference import refine
from training.inference.align import align_bg
from training.inference.compose import cover
from training.inference.predictor import Predictor
from training.inference.refine import Stage
from training.inference.visualize import Letterbox, write_png
from training.metrics import per_sample_boundary_f
from training.options import PREDICT_TTA, TTAConfig

HIRES = Path(__file__).resolve().parents[1].parent / "shared" / "real-hires"
ROWS = ("upsampled", "guided, colour", "guided, colour + bg difference")
#: What ``--sweep`` compares: cascades of :class:`training.inference.refine.Stage` (work side,
#: radius, then eps and sharpen where they are not the defaults) and the bg-difference weight.
SWEEP: dict[str, tuple[tuple[Stage, ...], float]] = {
    "480 r8 (one stage)": ((Stage(480, 8),), 1.0),
    "480 r4 (one stage)": ((Stage(480, 4),), 1.0),
    "240 r8 (one stage)": ((Stage(240, 8),), 1.0),
    "240 r8 > 480 r4": ((Stage(240, 8), Stage(480, 4)), 1.0),
    "240 r8 > 480 r2": ((Stage(240, 8), Stage(480, 2)), 1.0),
    "240 r16 > 480 r4 (default)": (refine.STAGES, refine.DIFF_WEIGHT),
    "240 r4 > 480 r4": ((Stage(240, 4), Stage(480, 4)), 1.0),
    "240 r8 > 720 r4": ((Stage(240, 8), Stage(720, 4)), 1.0),
    "240 r8 > 480 r4 > 480 r2": ((Stage(240, 8), Stage(480, 4), Stage(480, 2)), 1.0),
    "240 r16 > 480 r4 > 480 r2": ((Stage(240, 16), Stage(480, 4), Stage(480, 2)), 1.0),
    "default, eps 1e-4": (tuple(replace(s, eps=1e-4) for s in refine.STAGES), 1.0),
    "default, eps 1e-2": (tuple(replace(s, eps=1e-2) for s in refine.STAGES), 1.0),
    "default, sharpen 2": (tuple(replace(s, sharpen=2) for s in refine.STAGES), 1.0),
    "default, sharpen 16": (tuple(replace(s, sharpen=16) for s in refine.STAGES), 1.0),
    "default, colour guide only": (refine.STAGES, 0.0),
    "default, bg difference x2": (refine.STAGES, 2.0),
}


def composite_pair(
    fg_rgba: np.ndarray, bg: np.ndarray, width: int, height: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(bg, fg_bg, true alpha) of a clean composite at ``width`` x ``height``: ``bg`` (RGB)
    covers the frame, the cutout ``fg_rgba`` (RGBA) is scaled to fit it, centred, on the
    bottom edge; fg_bg = alpha F + (1 - alpha) B, rounded to uint8."""
    frame = cover(bg, height, width)
    h, w = fg_rgba.shape[:2]
    scale = min(width / w, height / h)
    sw, sh = min(width, round(w * scale)), min(height, round(h * scale))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    fg = cv2.resize(fg_rgba, (sw, sh), interpolation=interp).astype(np.float32) / 255
    alpha = np.zeros((height, width), np.float32)
    colours = np.zeros((height, width, 3), np.float32)
    top, left = height - sh, (width - sw) // 2
    alpha[top:, left : left + sw] = fg[..., 3]
    colours[top:, left : left + sw] = fg[..., :3] * 255
    mixed = alpha[..., None] * colours + (1 - alpha[..., None]) * frame.astype(np.float32)
    return frame, np.clip(np.rint(mixed), 0, 255).astype(np.uint8), alpha


def synthetic_pair(width: int, height: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(bg, fg_bg, true alpha): a smooth random bg and a blob of another colour with a soft
    edge a few pixels wide and thin strands of partial alpha (hair) leaving it."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (max(2, height // 16), max(2, width // 16), 3), dtype=np.uint8)
    bg = cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)
    yy, xx = np.mgrid[:height, :width].astype(np.float32)
    cy, cx, ry, rx = height * 0.55, width * 0.5, height * 0.3, width * 0.2
    dist = (np.hypot((yy - cy) / ry, (xx - cx) / rx) - 1) * min(ry, rx)  # px outside the edge
    alpha = np.clip(0.5 - dist / 4, 0, 1)
    strands = np.zeros((height, width), np.uint8)
    for angle in rng.uniform(0, 2 * np.pi, 24):
        x0, y0 = cx + rx * np.cos(angle), cy + ry * np.sin(angle)
        length = rng.uniform(0.1, 0.25) * min(height, width)
        x1, y1 = x0 + length * np.cos(angle), y0 + length * np.sin(angle)
        cv2.line(strands, (round(x0), round(y0)), (round(x1), round(y1)), 255, 1, cv2.LINE_AA)
    alpha = np.maximum(alpha, 0.6 * strands.astype(np.float32) / 255)
    colour = rng.integers(0, 256, 3).astype(np.float32)
    mixed = alpha[..., None] * colour + (1 - alpha[..., None]) * bg.astype(np.float32)
    return bg, np.clip(np.rint(mixed), 0, 255).astype(np.uint8), alpha


def load_pairs(
    hires: Path, width: int, height: int, limit: int | None, odd_only: bool = False
) -> list[tuple[str, np.ndarray, np.ndarray, np.ndarray]]:
    """(name, bg, fg_bg, alpha) of the real-hires composites (module docstring)."""
    fgs = sorted((hires / "fg").glob("*.png"))
    bgs = sorted(p for p in (hires / "bg").iterdir() if p.suffix.lower() in (".jpg", ".png"))
    if not fgs or not bgs:
        raise SystemExit(f"{hires}: expected fg/*.png and bg/*.jpg (the shared real-hires set)")
    chosen = [(k, p) for k, p in enumerate(fgs) if not odd_only or k % 2 == 1][:limit]
    pairs = []
    for k, fg_path in chosen:
        fg = cv2.cvtColor(cv2.imread(str(fg_path), cv2.IMREAD_UNCHANGED), cv2.COLOR_BGRA2RGBA)
        bg = cv2.cvtColor(cv2.imread(str(bgs[k % len(bgs)])), cv2.COLOR_BGR2RGB)
        pairs.append((fg_path.stem, *composite_pair(fg, bg, width, height)))
    return pairs


def steps(bg: np.ndarray, fgbg: np.ndarray) -> dict[str, Callable[[np.ndarray], np.ndarray]]:
    """Each row's step: coarse probability -> alpha at the photo's size."""
    h, w = fgbg.shape[:2]
    return {
        ROWS[0]: lambda coarse: refine.upsample_probability(coarse, h, w),
        ROWS[1]: lambda coarse: refine.refine_alpha(coarse, fgbg, None),
        ROWS[2]: lambda coarse: refine.refine_alpha(coarse, fgbg, bg),
    }


def oracle_coarse(alpha: np.ndarray, predictor: Predictor) -> np.ndarray:
    """The true alpha at the network's grid: what a perfect network would give."""
    box = Letterbox(*alpha.shape, max(predictor.tta.input_sizes(predictor.size)))
    h, w = box.inner
    return cv2.resize(alpha, (w, h), interpolation=cv2.INTER_AREA)


def peak_mb(run: Callable[[], object]) -> float:
    """The most memory (MB) the arrays of ``run`` held at once (numpy and OpenCV outputs)."""
    tracemalloc.start()
    run()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 2**20


def boundary_f(pred: np.ndarray, gt: np.ndarray) -> float:
    masks = [torch.from_numpy(a >= 0.5)[None] for a in (pred, gt)]
    return float(per_sample_boundary_f(*masks)[0])


def sweep(predictor: Predictor, pairs: list) -> list[dict[str, float]]:
    """SAD, MSE, boundary F and median ms of each setting of :data:`SWEEP` and of upsampling,
    means over ``pairs``, printed as a table."""
    coarse = [predictor.run_pairs_coarse([(bg, fgbg)])[0][0] for _, bg, fgbg, _ in pairs]
    settings: dict[str, tuple[tuple[Stage, ...], float]] = {"upsampled": ((), 1.0), **SWEEP}
    results = []
    for name, (stages, weight) in settings.items():
        scores, times = [], []
        for (_, bg, fgbg, gt), prob in zip(pairs, coarse, strict=True):
            t0 = time.perf_counter()
            alpha = refine.refine_alpha(
                prob, fgbg, bg if weight else None, stages=stages, diff_weight=weight
            )
            times.append(1000 * (time.perf_counter() - t0))
            scores.append((sad(alpha, gt), mse(alpha, gt), boundary_f(alpha, gt)))
        mean = np.mean(scores, axis=0)
        results.append(
            {
                "setting": name,
                "sad": mean[0],
                "mse": mean[1],
                "boundary_f": mean[2],
                "ms": statistics.median(times),
            }
        )
    print(f"{len(pairs)} pairs; load average {os.getloadavg()[0]:.2f}\n")
    print("| setting | SAD | MSE | boundary F | ms |\n| --- | ---: | ---: | ---: | ---: |")
    for r in results:
        print(
            f"| {r['setting']} | {r['sad']:.1f} | {r['mse']:.4f} | {r['boundary_f']:.3f} | "
            f"{r['ms']:.0f} |"
        )
    return results


def edge_figure(
    fgbg: np.ndarray, truth: np.ndarray, alphas: list[np.ndarray], side: int = 300
) -> np.ndarray:
    """A ``side`` px square crop at full resolution where the true alpha's soft band is
    densest (hair), side by side: the fg_bg, the truth, then each of ``alphas``."""
    soft = ((truth > 0.05) & (truth < 0.95)).astype(np.float32)
    density = cv2.boxFilter(soft, -1, (side, side), normalize=False)
    half, (height, width) = side // 2, truth.shape
    inner = density[half : height - side + half + 1, half : width - side + half + 1]
    y, x = np.unravel_index(int(np.argmax(inner)), inner.shape)  # the window's top left
    window = (slice(y, y + side), slice(x, x + side))
    grey = [cv2.cvtColor(np.rint(a[window] * 255).astype(np.uint8), cv2.COLOR_GRAY2RGB)
            for a in (truth, *alphas)]  # fmt: skip
    gap = np.full((side, 4, 3), 255, np.uint8)
    tiles = [fgbg[window], *grey]
    return np.concatenate([t for tile in tiles for t in (tile, gap)][:-1], axis=1)


def main(argv: list[str] | None = None) -> list[dict[str, float]]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", type=Path, help="the model (default: untrained cpu-quick)")
    p.add_argument("--hires", type=Path, default=HIRES, help="the real-hires folder")
    p.add_argument("--size", default="1920x1080", help="the pairs' WIDTHxHEIGHT")
    p.add_argument("--limit", type=int, help="the first N cutouts only")
    p.add_argument("--oracle", action="store_true", help="the true alpha as the coarse mask")
    p.add_argument("--sweep", action="store_true", help="the filter's settings on odd cutouts")
    p.add_argument("--threads", type=int, default=torch.get_num_threads())
    p.add_argument("--smoke", action="store_true", help="two synthetic pairs, in seconds")
    p.add_argument(
        "--figure",
        type=Path,
        help="write a PNG of a pair's softest edge: fg_bg, truth, upsampled, default",
    )
    p.add_argument(
        "--figure-pair", help="the pair --figure draws (its cutout's name; default: the first)"
    )
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    cv2.setNumThreads(args.threads)
    width, height = (int(n) for n in args.size.split("x"))
    with tempfile.TemporaryDirectory() as tmp:
        path = args.checkpoint or recipe_checkpoint("cpu-quick", Path(tmp))
        predictor = Predictor.from_checkpoint(path, "cpu")
    if args.smoke:
        width, height = 320, 180
        predictor = predictor.with_tta(TTAConfig())
        pairs = [(f"synthetic {k}", *synthetic_pair(width, height, k)) for k in range(2)]
    else:
        predictor = predictor.with_tta(PREDICT_TTA)
        pairs = load_pairs(args.hires, width, height, args.limit, odd_only=args.sweep)
    if args.sweep:
        return sweep(predictor, pairs)

    _, bg0, fgbg0, _ = pairs[0]  # warm-up: first-call allocations and thread pools
    ((coarse0, _),) = predictor.run_pairs_coarse([(align_bg(bg0, fgbg0).warped_bg, fgbg0)])
    for step in steps(bg0, fgbg0).values():
        step(coarse0)
    names = [name for name, *_ in pairs]
    if args.figure_pair and args.figure_pair not in names:
        raise SystemExit(f"--figure-pair {args.figure_pair}: not among the pairs ({names[0]}, ...)")
    drawn = names.index(args.figure_pair) if args.figure_pair else 0
    load_before = os.getloadavg()[0]
    metrics: dict[str, list[dict[str, float]]] = {row: [] for row in ROWS}
    step_ms: dict[str, list[float]] = {row: [] for row in ROWS}
    front_ms: list[float] = []
    memory: dict[str, float] = {}
    figure: list[np.ndarray] = []
    for k, (_, bg, fgbg, gt) in enumerate(pairs):
        t0 = time.perf_counter()
        registered = align_bg(bg, fgbg, "auto")
        ((coarse, _),) = predictor.run_pairs_coarse([(registered.warped_bg, fgbg)])
        front_ms.append(1000 * (time.perf_counter() - t0))
        if args.oracle:
            coarse = oracle_coarse(gt, predictor)
        for row, step in steps(registered.warped_bg, fgbg).items():  # rows take turns
            t0 = time.perf_counter()
            alpha = step(coarse)
            step_ms[row].append(1000 * (time.perf_counter() - t0))
            metrics[row].append(alpha_metrics(alpha, gt))
            if args.figure and k == drawn and row != ROWS[1]:
                figure.append(alpha)
            if row not in memory:
                memory[row] = peak_mb(lambda s=step, c=coarse: s(c))
    load_after = os.getloadavg()[0]
    if args.figure:
        _, _, fgbg, gt = pairs[drawn]
        write_png(args.figure, edge_figure(fgbg, gt, figure, min(300, *gt.shape)))

    model = str(args.checkpoint) if args.checkpoint else "cpu-quick (untrained)"
    coarse_from = "the true alpha at the network's grid (--oracle)" if args.oracle else model
    print(
        f"{len(pairs)} pairs at {width}x{height}; coarse mask: {coarse_from}; network at "
        f"{', '.join(map(str, predictor.tta.input_sizes(predictor.size)))} px; "
        f"{torch.get_num_threads()} threads; means over pairs, median ms; "
        f"load average {load_before:.2f} before, {load_after:.2f} after\n"
    )
    print(
        "| step | IoU | boundary F | SAD | MSE | Grad | Conn | step ms | pair ms | peak MB |\n"
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    )
    rows = []
    front = statistics.median(front_ms)
    for row in ROWS:
        mean = {k: float(np.mean([m[k] for m in metrics[row]])) for k in ALPHA_METRIC_KEYS}
        ms = statistics.median(step_ms[row])
        pair_ms = statistics.median(f + s for f, s in zip(front_ms, step_ms[row], strict=True))
        print(
            f"| {row} | {mean['iou']:.3f} | {mean['boundary_f']:.3f} | {mean['sad']:.1f} | "
            f"{mean['mse']:.4f} | {mean['grad']:.1f} | {mean['conn']:.1f} | {ms:.0f} | "
            f"{pair_ms:.0f} | {memory[row]:.0f} |"
        )
        rows.append(
            {"step": row, **mean, "step_ms": ms, "pair_ms": pair_ms, "peak_mb": memory[row]}
        )
    print(f"\nregistration + network: median {front:.0f} ms a pair")
    return rows


if __name__ == "__main__":
    main()
