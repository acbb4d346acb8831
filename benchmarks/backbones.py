"""Forward+backward speed of the whole DualHeadNet per timm backbone, on this machine's CPU.

Used to pick ``training.models.DEFAULT_BACKBONE`` (a ~15 min CPU training at 96 px). Prints a
markdown table: parameters, forward+backward ms per batch (best of ``--iters``: the machine is
shared, and the minimum is the least disturbed run), training samples/s.

    .venv/bin/python -m benchmarks.backbones                      # default candidates
    .venv/bin/python -m benchmarks.backbones --backbones resnet18 efficientnet_b0 --batch 16
"""

from __future__ import annotations

import argparse
import time

import torch

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


def time_step(
    model: torch.nn.Module, batch: int, size: int, iters: int, warmup: int, channels_last: bool
) -> float:
    """Best milliseconds of one forward+backward pass (training mode, random inputs)."""
    model.train()
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model.to(memory_format=fmt)
    bg, fgbg = (x.contiguous(memory_format=fmt) for x in torch.randn(2, batch, 3, size, size))
    times = []
    for i in range(warmup + iters):
        t0 = time.perf_counter()
        out = model(bg, fgbg)
        (out["mask_logits"].mean() + out["depth"].mean()).backward()
        model.zero_grad(set_to_none=True)
        if i >= warmup:
            times.append((time.perf_counter() - t0) * 1000)
    return min(times)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--backbones", nargs="+", default=list(CANDIDATES))
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--size", type=int, default=96)
    p.add_argument("--iters", type=int, default=5)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--decoder", choices=("shared", "separate"), default="shared")
    p.add_argument("--decoder-channels", type=int, default=ModelConfig.decoder_channels)
    p.add_argument("--channels-last", action="store_true", help="model and inputs channels-last")
    args = p.parse_args()

    torch.manual_seed(0)
    print(
        f"batch {args.batch} x {args.size} px, decoder {args.decoder}/{args.decoder_channels}, "
        f"{'channels-last' if args.channels_last else 'NCHW'}, best of {args.iters}, "
        f"{torch.get_num_threads()} threads, torch {torch.__version__}\n"
    )
    print("| backbone | params (M) | fwd+bwd ms/batch | samples/s |")
    print("|---|---:|---:|---:|")
    for name in args.backbones:
        cfg = ModelConfig(
            backbone=name, decoder=args.decoder, decoder_channels=args.decoder_channels
        )
        model = build_model(cfg)
        params = sum(p.numel() for p in model.parameters()) / 1e6
        ms = time_step(model, args.batch, args.size, args.iters, args.warmup, args.channels_last)
        print(f"| {name} | {params:.2f} | {ms:.0f} | {args.batch * 1000 / ms:.0f} |", flush=True)


if __name__ == "__main__":
    main()
