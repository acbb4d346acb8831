"""Forward+backward speed of the whole DualHeadNet per timm backbone, on this machine's CPU.

Used to pick ``training.models.DEFAULT_BACKBONE`` (a ~15 min CPU training at 96 px). Prints a
markdown table per backbone: parameters, forward GFLOP per batch (counted, so immune to other
load; backward is left out because torch's counter books grouped convolutions' backward as
dense ones), wall and process-CPU milliseconds per batch (best of ``--iters``: on a shared
machine the minimum is the least disturbed run; with ``--threads 1`` the CPU time is close to the
work itself even under contention), and training samples/s from the wall time.

    .venv/bin/python -m benchmarks.backbones                      # default candidates
    .venv/bin/python -m benchmarks.backbones --backbones resnet18 efficientnet_b0 --threads 1
"""

from __future__ import annotations

import argparse
import itertools
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from training.config import FUSIONS
from training.models import ModelConfig, build_model

CANDIDATES = (
    "resnet10t",
    "resnet18",
    "resnet18d",
    "resnet34",
    "efficientnet_b0",
    "mobilenetv3_large_100",
    "mobilenetv3_small_100",
    "mobilenetv4_conv_small",
    "regnetx_004",
    "regnety_004",
    "convnext_atto",
    "lcnet_100",
)


def step(model: torch.nn.Module, bg: torch.Tensor, fgbg: torch.Tensor) -> None:
    """One training forward+backward pass."""
    out = model(bg, fgbg)
    (out["mask_logits"].mean() + out["depth"].mean()).backward()
    model.zero_grad(set_to_none=True)


def measure(
    model: torch.nn.Module, batch: int, size: int, iters: int, warmup: int, channels_last: bool
) -> tuple[float, float, float]:
    """(forward GFLOP, best wall ms, best process-CPU ms) of one forward+backward pass."""
    model.train()
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model.to(memory_format=fmt)
    bg, fgbg = (x.contiguous(memory_format=fmt) for x in torch.randn(2, batch, 3, size, size))
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(bg, fgbg)
    wall, cpu = [], []
    for i in range(warmup + iters):
        t0, c0 = time.perf_counter(), time.process_time()
        step(model, bg, fgbg)
        if i >= warmup:
            wall.append((time.perf_counter() - t0) * 1000)
            cpu.append((time.process_time() - c0) * 1000)
    return counter.get_total_flops() / 1e9, min(wall), min(cpu)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--backbones", nargs="+", default=list(CANDIDATES))
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--size", type=int, default=96)
    p.add_argument("--iters", type=int, default=5)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--decoder", choices=("shared", "separate"), default="shared")
    p.add_argument("--decoder-channels", type=int, default=ModelConfig.decoder_channels)
    p.add_argument("--fusions", nargs="+", choices=FUSIONS, default=["early"])
    p.add_argument("--no-full-res", action="store_true", help="full_res_stage off (cpu-quality)")
    p.add_argument("--channels-last", action="store_true", help="model and inputs channels-last")
    p.add_argument("--threads", type=int, default=0, help="torch threads; 0 = torch's default")
    args = p.parse_args()

    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(
        f"batch {args.batch} x {args.size} px, decoder {args.decoder}/{args.decoder_channels}, "
        f"{'channels-last' if args.channels_last else 'NCHW'}, best of {args.iters}, "
        f"{torch.get_num_threads()} threads, torch {torch.__version__}\n"
    )
    print(
        "| backbone | fusion | params (M) | fwd GFLOP/batch | wall ms/batch | CPU ms/batch "
        "| samples/s |"
    )
    print("|---|---|---:|---:|---:|---:|---:|")
    for name, fusion in itertools.product(args.backbones, args.fusions):
        cfg = ModelConfig(
            backbone=name,
            decoder=args.decoder,
            decoder_channels=args.decoder_channels,
            full_res_stage=not args.no_full_res,
            fusion=fusion,
        )
        model = build_model(cfg)
        params = sum(p.numel() for p in model.parameters()) / 1e6
        gflop, wall, cpu = measure(
            model, args.batch, args.size, args.iters, args.warmup, args.channels_last
        )
        print(
            f"| {name} | {fusion} | {params:.2f} | {gflop:.1f} | {wall:.0f} | {cpu:.0f} "
            f"| {args.batch * 1000 / wall:.0f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
