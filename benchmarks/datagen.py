"""Datagen throughput and size: `fgd datagen build` against the original notebooks' way.

Both sides composite the same plan from the same assets (the built-in procedural set, or
``--bg/--fg`` folders) in one run on this machine:

- fgd: ``build_store`` with 1 worker and with all cores (sharded Zarr, JPEG-coded fg box,
  lossless mask and depth layer), each with the default shadows and with ``--shadows off``;
  the difference of their CPU time is the build cost of shadows.
- baseline: as the original data-creation notebooks did it (see :func:`_time_baseline`): asset
  files opened per (bg, fg) pair, each fg pasted with its alpha by PIL, fg_bg and mask saved as
  individual JPEG files (quality 90), then zipped; one process. It writes no depth (the
  notebooks ran a depth network afterwards), so it is measured doing less work than fgd.

Printed: samples/s (median of ``--repeats`` runs; the pipelines take turns within each
repeat, so a change of the machine's load hits them alike), ratio, bytes per sample, PSNR of the
stored fg_bg against the exact composite (over the whole frame and inside the box), a
projection for the full 400,000-sample default, and the load average before and after. Then
the steady state of a shard task: CPU ms per sample of ``build_shard`` run again in this process
on the finished 1-worker stores (assets loaded, no process start), with and without shadows in
turns, median over ``--steady-shards`` shards. Last, a small build run as a user runs it (a new
process, one shard) and its fixed costs beyond its samples.

Usage: ``python -m benchmarks.datagen [--n-bg 20 --n-fg 20 --positions 10 --size 224]``
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from datagen.builder.build import build_shard, build_store, regenerate
from datagen.builder.config import BuildConfig
from datagen.store.reader import open_store

FULL_DEFAULT = 400_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n-bg", type=int, default=20)
    parser.add_argument("--n-fg", type=int, default=20)
    parser.add_argument("--positions", type=int, default=10)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--bg")
    parser.add_argument("--fg")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--psnr-samples", type=int, default=400)
    parser.add_argument("--steady-shards", type=int, default=5)
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    load_before = os.getloadavg()
    work = Path(tempfile.mkdtemp(prefix="fgd-bench-"))
    try:
        rows: list[Row] = []
        for workers in sorted({1, cores}):
            for shadows in ("soft", "off"):
                config = BuildConfig(
                    out=str(work / f"fgd-{workers}-{shadows}.zarr"),
                    bg=args.bg,
                    fg=args.fg,
                    size=args.size,
                    n_bg=args.n_bg,
                    n_fg=args.n_fg,
                    positions=args.positions,
                    workers=workers,
                    shadows=shadows,
                )
                label = "default shadows" if shadows != "off" else "--shadows off"
                rows.append(Row(f"fgd build, {workers} worker(s), {label}", config, []))
        base_times, base_bytes, base_psnr = [], 0, 0.0
        for _ in range(args.repeats):
            for row in rows:
                row.times.append(_time_build(row.config))
            timing, base_bytes, base_psnr = _time_baseline(rows[-1].config.out, work / "base")
            base_times.append(timing)
        n = len(open_store(rows[-1].config.out))
        for row in rows:
            row.bytes = _store_bytes(Path(row.config.out))
            row.psnr = _store_psnr(row.config.out, args.psnr_samples)
        _print_table(n, rows, base_times, base_bytes, base_psnr, load_before)
        _print_steady_state([row for row in rows if row.config.workers == 1], args.steady_shards)
        _print_fixed_costs(args, work, per_sample_s=1 / rows[0].rate(n))
    finally:
        shutil.rmtree(work, ignore_errors=True)


@dataclass
class Row:
    """One fgd pipeline: its config, timings, and the store it wrote."""

    name: str
    config: BuildConfig
    times: list[Timing]
    bytes: int = 0
    psnr: tuple[float, float] = (0.0, 0.0)

    def rate(self, n: int) -> float:
        return n / statistics.median(t.wall for t in self.times)

    def cpu_ms(self, n: int) -> float:
        return statistics.median(t.cpu for t in self.times) / n * 1e3


@dataclass(frozen=True)
class Timing:
    """Wall-clock seconds and CPU seconds (this process and its reaped children)."""

    wall: float
    cpu: float


def _cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def measure(work) -> Timing:
    cpu, wall = _cpu_seconds(), time.perf_counter()
    work()
    return Timing(wall=time.perf_counter() - wall, cpu=_cpu_seconds() - cpu)


def _time_build(config: BuildConfig) -> Timing:
    shutil.rmtree(config.out, ignore_errors=True)
    return measure(lambda: build_store(config, progress=False))


def _print_steady_state(rows: list[Row], n_shards: int) -> None:
    """CPU ms per sample of whole shards rebuilt in this process (writes the same bytes)."""
    stores = [row.config.out for row in rows]
    shards = min(n_shards, open_store(stores[0]).root.n_shards)
    for store in stores:
        build_shard(store, 0)  # loads the store's assets into this process
    costs: dict[str, list[float]] = {store: [] for store in stores}
    for shard in range(shards):
        for store in stores:
            start = time.process_time()
            result = build_shard(store, shard)
            costs[store].append((time.process_time() - start) / result["n_samples"] * 1e3)
    print(f"\nsteady state of a shard task, median of {shards} shards in this process:")
    for row, store in zip(rows, stores, strict=True):
        print(f"  {row.name:48s} {statistics.median(costs[store]):.3f} CPU ms/sample")
    print(f"  load average {os.getloadavg()[0]:.1f}")


def _print_fixed_costs(args: argparse.Namespace, work: Path, per_sample_s: float) -> None:
    """Wall-clock of a small build as a user runs it, and what is left of it beyond its samples.

    ``fgd datagen build`` in a new process (Python, imports, asset preparation, store creation,
    one shard, finalisation) over ``--n-bg x --n-fg x 2 flips x 1 placement``, median of
    ``--repeats``; the fixed cost is that minus its samples at the 1-worker rate measured above.
    """
    out = work / "small.zarr"
    command = [sys.executable, "-m", "cli", "datagen", "build", "--out", str(out)]
    command += ["--n-bg", str(args.n_bg), "--n-fg", str(args.n_fg), "--positions", "1"]
    command += ["--size", str(args.size), "--workers", "1"]
    command += ["--bg", args.bg, "--fg", args.fg] if args.bg else []
    walls = []
    for _ in range(args.repeats):
        shutil.rmtree(out, ignore_errors=True)
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        walls.append(time.perf_counter() - start)
    n = len(open_store(str(out)))
    wall = statistics.median(walls)
    print(
        f"\nsmall build ({n} samples, 1 shard), `fgd datagen build` end to end: {wall:.2f} s "
        f"(median of {len(walls)}); fixed costs beyond its samples: "
        f"{wall - n * per_sample_s:.2f} s"
    )


def _time_baseline(store: str, out: Path) -> tuple[Timing, int, float]:
    """The notebook pipeline over the same placements; returns (timing, zip bytes, PSNR).

    As the original data-creation notebooks did it, in one process: asset files are opened per
    (bg, fg) pair, each fg is resized and pasted with its alpha (PIL ``paste``), its alpha pasted
    into a black mask, fg_bg and mask saved as individual JPEG files (PIL, quality 90), then
    everything is zipped (deflate). Writing the asset files first is setup, not timed.
    """
    ds = open_store(store)
    shutil.rmtree(out, ignore_errors=True)
    assets = out / "assets"
    assets.mkdir(parents=True)
    for i, image in enumerate(ds.bg_images):
        Image.fromarray(image).save(assets / f"bg_{i:03d}.jpg", quality=95)
    for i, cutout in enumerate(ds.fg_cutouts):
        Image.fromarray(cutout).save(assets / f"fg_{i:03d}.png")
    (out / "fg_bg").mkdir()
    (out / "mask").mkdir()
    records = sorted((ds.meta(i) for i in range(len(ds))), key=lambda r: r["plan_index"])
    squared_error, pixels = 0.0, 0
    cpu, start = _cpu_seconds(), time.perf_counter()
    pair = None
    for record in records:
        if pair != (record["bg_id"], record["fg_id"]):
            pair = (record["bg_id"], record["fg_id"])
            bg = Image.open(assets / f"bg_{pair[0]:03d}.jpg").convert("RGB")
            fg_full = Image.open(assets / f"fg_{pair[1]:03d}.png").convert("RGBA")
        fg = fg_full.transpose(Image.Transpose.FLIP_LEFT_RIGHT) if record["flip"] else fg_full
        fg = fg.resize((record["width"], record["height"]), Image.Resampling.BILINEAR)
        fgbg = bg.copy()
        fgbg.paste(fg, (record["x"], record["y"]), fg)
        mask = Image.new("L", bg.size)
        mask.paste(fg.getchannel("A"), (record["x"], record["y"]))
        name = f"{record['plan_index']:06d}.jpg"
        fgbg.save(out / "fg_bg" / name, quality=90)
        mask.save(out / "mask" / name, quality=90)
        if record["plan_index"] % 20 == 0:  # PSNR of its JPEG against its own composite
            exact = np.asarray(fgbg, dtype=np.float64)
            stored = np.asarray(Image.open(out / "fg_bg" / name), dtype=np.float64)
            squared_error += float(np.square(exact - stored).sum())
            pixels += exact.size
    archive = out / "data.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_STORED) as zipped:
        for path in sorted((out / "fg_bg").iterdir()) + sorted((out / "mask").iterdir()):
            zipped.write(path, path.relative_to(out))
    timing = Timing(wall=time.perf_counter() - start, cpu=_cpu_seconds() - cpu)
    return timing, archive.stat().st_size, _psnr(squared_error, pixels)


def _store_psnr(store: str, n: int) -> tuple[float, float]:
    """PSNR of stored fg_bg vs the exact composite: whole frame, and inside the fg box only."""
    ds = open_store(store)
    indices = np.random.default_rng(0).choice(len(ds), size=min(n, len(ds)), replace=False)
    full_error = box_error = 0.0
    full_pixels = box_pixels = 0
    for index in indices:
        exact = regenerate(store, int(index))["fgbg"].astype(np.float64)
        stored = ds[int(index)]["fgbg"].astype(np.float64)
        y0, x0, y1, x1 = ds.meta(int(index))["box"]
        error = np.square(exact - stored)
        full_error += float(error.sum())
        full_pixels += error.size
        box_error += float(error[y0:y1, x0:x1].sum())
        box_pixels += error[y0:y1, x0:x1].size
    return _psnr(full_error, full_pixels), _psnr(box_error, box_pixels)


def _psnr(squared_error: float, pixels: int) -> float:
    if squared_error == 0:
        return float("inf")
    return 10 * np.log10(255.0**2 / (squared_error / pixels))


def _store_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _print_table(
    n: int,
    rows: list[Row],
    base_times: list[Timing],
    base_bytes: int,
    base_psnr: float,
    load_before: tuple[float, float, float],
) -> None:
    cores = os.cpu_count() or 1
    base_rate = n / statistics.median(t.wall for t in base_times)
    base_cpu = statistics.median(t.cpu for t in base_times) / n
    size = rows[0].config.size
    print(
        f"\nplan: {n:,} samples at {size}x{size}, {cores} cores; medians of "
        f"{len(base_times)} runs; load average {load_before[0]:.1f} before, "
        f"{os.getloadavg()[0]:.1f} after\n"
    )
    header = (
        f"{'pipeline':48s} {'samples/s':>9s} {'vs base':>8s} {'CPU ms/sample':>13s} "
        f"{'bytes/sample':>12s} {'PSNR dB':>7s} {'box dB':>6s} {'400K time':>9s} "
        f"{'400K size':>9s}"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        rate = row.rate(n)
        print(
            f"{row.name:48s} {rate:9,.0f} {rate / base_rate:7.1f}x {row.cpu_ms(n):13.3f} "
            f"{row.bytes / n:12,.0f} {row.psnr[0]:7.1f} {row.psnr[1]:6.1f} "
            f"{FULL_DEFAULT / rate / 60:7.1f} m {FULL_DEFAULT * row.bytes / n / 1e9:7.2f} GB"
        )
    print(
        f"{'baseline (notebook: JPEG files, zip)':48s} {base_rate:9,.0f} {1.0:7.1f}x "
        f"{base_cpu * 1e3:13.3f} {base_bytes / n:12,.0f} {base_psnr:7.1f} {'':6s} "
        f"{FULL_DEFAULT / base_rate / 60:7.1f} m {FULL_DEFAULT * base_bytes / n / 1e9:7.2f} GB"
    )
    for on, off in zip(rows[::2], rows[1::2], strict=True):
        print(
            f"shadows with {on.config.workers} worker(s): {on.cpu_ms(n) - off.cpu_ms(n):+.3f} "
            f"CPU ms/sample, {(on.bytes - off.bytes) / n:+,.0f} bytes/sample"
        )
    fgd_cpu = statistics.median(t.cpu for t in rows[-2].times) / n
    print(
        f"\nCPU cost per sample, fgd vs baseline: {base_cpu / fgd_cpu:.1f}x cheaper. On an idle "
        f"machine fgd's {cores} workers would deliver ~{cores / fgd_cpu:,.0f} samples/s "
        f"(400K in ~{FULL_DEFAULT * fgd_cpu / cores / 60:.1f} min) against the baseline's "
        f"~{1 / base_cpu:,.0f} samples/s ({cores / fgd_cpu * base_cpu:.1f}x)."
    )
    print(
        "PSNR of the stored fg_bg: over the frame and inside the box (outside it the fg_bg is "
        "the lossless bg)."
    )
    print("fgd stores mask and depth losslessly; the baseline stores a JPEG mask and no depth.")
    print(
        "400K projections scale the measured wall-clock rate and size; the full build also "
        "renders 100 bg + 100 fg assets once (~8 CPU-seconds)."
    )


if __name__ == "__main__":
    main()
