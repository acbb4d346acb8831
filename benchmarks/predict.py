"""What ``fgd predict``'s test-time augmentation costs on a hand-held-size pair.

One 1920x1080 pair (:func:`benchmarks.align.pair`: a real photo, a known camera motion, a
cutout), predicted by a recipe's network (``--recipe``, default ``cpu-quality``; untrained
weights: the time does not depend on them) or a given ``--checkpoint``, with each test-time
augmentation in turn: one pass at the trained size (the baseline), and the passes of
:data:`training.options.PREDICT_TTA`, ``fgd predict``'s default. The settings take turns,
``--reps`` rounds; each row is the median milliseconds of ``Predictor.run_pairs`` for the pair
(letterbox, every pass, back to 1920x1080) and its ratio to the baseline. The registration of
the same pair (``--align auto``'s :func:`training.inference.align.align_bg`) is timed alongside for
scale: it runs once per pair whatever the passes.

    .venv/bin/python -m benchmarks.predict [--recipe cpu-quality | --checkpoint FILE]
        [--reps 5] [--threads 2]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch

from benchmarks.align import pair
from training.checkpoint import save_checkpoint
from training.config import TrainConfig
from training.fitting.train import model_config
from training.inference.align import align_bg
from training.inference.predictor import Predictor
from training.models import build_model
from training.options import PREDICT_TTA, TTAConfig
from training.preprocess import Normalization
from training.recipes import load_recipe


def recipe_checkpoint(recipe: str, folder: Path) -> Path:
    """A checkpoint of ``recipe``'s network with its initial weights."""
    cfg = TrainConfig.from_dict(dict(load_recipe(recipe).settings), f"recipe {recipe}")
    model_cfg = model_config(cfg)
    torch.manual_seed(0)
    payload = {
        "model": build_model(model_cfg).state_dict(),
        "model_config": model_cfg.to_dict(),
        "train_config": cfg.to_dict(),
        "depth_max": 30.0,
        "normalization": Normalization().to_dict(),
        "step": 0,
    }
    path = folder / f"{recipe}.pt"
    save_checkpoint(path, payload)
    return path


def main(argv: list[str] | None = None) -> list[dict[str, float]]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--recipe", default="cpu-quality")
    p.add_argument("--checkpoint", type=Path, help="time this model instead of the recipe's")
    p.add_argument("--size", default="1920x1080", help="the pair's WIDTHxHEIGHT")
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    width, height = (int(n) for n in args.size.split("x"))
    bg, fgbg, _ = pair(width, height)
    with tempfile.TemporaryDirectory() as tmp:
        path = args.checkpoint or recipe_checkpoint(args.recipe, Path(tmp))
        base = Predictor.from_checkpoint(path, "cpu")
    settings = {"one pass": TTAConfig(), "fgd predict default": PREDICT_TTA}
    predictors = {name: base.with_tta(tta) for name, tta in settings.items()}
    runs: dict[str, Callable[[], object]] = {
        name: (lambda p=predictor: p.run_pairs([(bg, fgbg)]))
        for name, predictor in predictors.items()
    }
    runs["registration (align auto)"] = lambda: align_bg(bg, fgbg, "auto")
    times: dict[str, list[float]] = {name: [] for name in runs}
    for run in runs.values():  # warm-up: first-call allocations
        run()
    load_before = os.getloadavg()[0]
    for _ in range(args.reps):
        for name, run in runs.items():
            t0 = time.perf_counter()
            run()
            times[name].append(1000 * (time.perf_counter() - t0))
    load_after = os.getloadavg()[0]

    model = str(args.checkpoint) if args.checkpoint else f"recipe {args.recipe} (untrained)"
    print(
        f"{model}, trained size {base.size} px; one {width}x{height} pair; "
        f"{torch.get_num_threads()} threads; median of {args.reps}, settings taking turns; "
        f"load average {load_before:.2f} before, {load_after:.2f} after\n"
    )
    print("| setting | passes | input sizes px | ms per pair | vs one pass |")
    print("| --- | ---: | --- | ---: | ---: |")
    baseline = statistics.median(times["one pass"])
    rows = []
    for name, samples in times.items():
        ms = statistics.median(samples)
        tta = settings.get(name)
        passes = str(tta.passes) if tta else ""
        sizes = ", ".join(str(n) for n in tta.input_sizes(base.size)) if tta else ""
        sizes += " (mirrored too)" if tta and tta.flip else ""
        print(f"| {name} | {passes} | {sizes} | {ms:.1f} | {ms / baseline:.2f}x |")
        rows.append({"setting": name, "ms": ms, "ratio": ms / baseline})
    return rows


if __name__ == "__main__":
    main()
