"""One CPU training step of train_quality's recipe, against the step as it was before two changes.

The changes: the SSIM depth term filters its five local-moment maps in one grouped convolution
per axis (``training.losses.ssim_loss``) instead of ten single-plane ones
(``kornia.losses.ssim_loss``), and AdamW runs fused (one kernel for all parameters) instead of
its default per-parameter loop. Rows: each part alone, then the whole step (forward, both losses,
backward, optimizer) of the recipe's model (``benchmarks.train_quality.train_pass``) on random
inputs. Baseline and ours alternate within each repetition; the table gives median milliseconds
of ``--reps`` and baseline / ours. Both SSIMs give the same value (checked here to 1e-6).

    .venv/bin/python -m benchmarks.experiments.train_step [--sizes 64 96] [--reps 15]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import kornia
import torch

from benchmarks.train_quality import RECIPE, recipe_model, train_pass
from training.losses import ssim_loss

Timed = Callable[[], None]


def ssim_pass(ssim: Callable, pred: torch.Tensor, target: torch.Tensor) -> Timed:
    """Forward + backward of the SSIM term alone."""

    def run() -> None:
        ssim(pred, target).backward()

    return run


def optimizer_pass(model: torch.nn.Module, fused: bool) -> Timed:
    """One AdamW step over the model's parameters (gradients set once)."""
    for p in model.parameters():
        p.grad = torch.randn_like(p)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=1e-4, fused=fused)
    return opt.step


def median_ms(pair: dict[str, Timed], reps: int, warmup: int = 2) -> dict[str, float]:
    times: dict[str, list[float]] = {name: [] for name in pair}
    for rep in range(warmup + reps):
        for name, fn in pair.items():
            t0 = time.perf_counter()
            fn()
            if rep >= warmup:
                times[name].append(1000 * (time.perf_counter() - t0))
    return {name: statistics.median(t) for name, t in times.items()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[64, 96])
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--reps", type=int, default=15)
    p.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = p.parse_args()
    torch.set_num_threads(args.threads)

    def kornia_ssim(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return kornia.losses.ssim_loss(a, b, 7, max_val=1.0)

    print(
        f"batch {args.batch}, {torch.get_num_threads()} threads, median of {args.reps}, "
        f"model {RECIPE['backbone']} (train_quality's recipe)\n"
    )
    print("| part | size | baseline | baseline ms | ours | ours ms | baseline / ours |")
    print("| --- | ---: | --- | ---: | --- | ---: | ---: |")

    def row(part: str, size: int | str, names: tuple[str, str], pair: dict[str, Timed]) -> None:
        ms = median_ms(pair, args.reps)
        base, ours = ms["baseline"], ms["ours"]
        print(
            f"| {part} | {size} | {names[0]} | {base:.1f} | {names[1]} | {ours:.1f} "
            f"| {base / ours:.2f}x |",
            flush=True,
        )

    for size in args.sizes:
        gen = torch.Generator().manual_seed(size)
        pred = torch.rand(args.batch, 1, size, size, generator=gen).requires_grad_()
        target = torch.rand(args.batch, 1, size, size, generator=gen)
        gap = abs(kornia_ssim(pred, target).item() - ssim_loss(pred, target).item())
        assert gap < 1e-6, f"SSIM values differ by {gap}"
        pair = {
            "baseline": ssim_pass(kornia_ssim, pred, target),
            "ours": ssim_pass(ssim_loss, pred, target),
        }
        row("SSIM term, fwd + bwd", size, ("kornia", "grouped"), pair)
    model = recipe_model()
    pair = {"baseline": optimizer_pass(model, False), "ours": optimizer_pass(model, True)}
    row("AdamW step", "-", ("per-parameter loop", "fused"), pair)
    for size in args.sizes:
        pair = {
            "baseline": train_pass(kornia_ssim, False, args.batch, size),
            "ours": train_pass(ssim_loss, True, args.batch, size),
        }
        row("whole step", size, ("kornia SSIM + loop AdamW", "ours"), pair)


if __name__ == "__main__":
    main()
