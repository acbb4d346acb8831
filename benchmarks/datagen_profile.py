"""Where `fgd datagen build`'s time goes: milliseconds per sample of each stage of a shard task.

Runs one real build (``fgd datagen build --workers 1``: the shards run in the command's own
process) under the sampling profiler py-spy and sorts the samples of ``build_shard`` into the
stages below by the innermost function of a stage found in each stack. Sampling leaves the code
at full speed, so the figures are the build's own (a deterministic profiler such as cProfile
charges every Python call, which inflates call-heavy code several-fold).

``--checkout DIR`` profiles the build of another checkout of fgd (its ``cli`` and packages
run the build; this script only reads the stacks): a stage whose functions it lacks reads 0.

Usage: ``python -m benchmarks.datagen_profile [--bg DIR --fg DIR] [--n-bg 10 --n-fg 10
--positions 40 --shadows soft --rate 200] [--checkout DIR]``
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

from datagen.store.reader import open_store

#: Stage -> the functions (py-spy's names) that make it up; a sample goes to the first stage,
#: in this order, with a function in its stack.
STAGES: dict[str, tuple[str, ...]] = {
    "JPEG coding of the box": ("encode_jpeg",),
    # This version encodes the objects itself; older ones wrote through zarr and re-read them.
    "shard objects (zstd, index, checksum, write)": (
        "ShardLayout.encode",
        "LocalStorage.write_bytes",
        "Array.__setitem__",
        "_sync_and_checksum",
    ),
    "resampling the cutout": ("resize_premultiplied",),
    "shadow geometry and blur": ("shade",),
    "compositing (over, occlusion, darkening, box)": ("_over", "_hide", "_darken", "alpha_bbox"),
    "placement and shadow draws": (
        "placement_rng",
        "PlacementStreams.of",
        "draw_placement",
        "plan_entry",
        "_draw_shadow",
    ),
    # Format 3 packs mask, depth and JPEG (_encode_jpeg, _Packed.append); format 2 wrote rows.
    "rows and payloads (mask, depth, JPEG, records)": (
        "_encode_mask",
        "_encode_depth_layer",
        "_encode_jpeg_slot",
        "_encode_jpeg",
        "_Packed.append",
        "_encode_record",
        "_encode_record_f",
        "_encode_record_shadow",
    ),
    "clearing the shard's buffers": ("_zeroed_buffers", "_shard_buffers"),
}
OTHER = "everything else (Python glue, buffers)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bg")
    parser.add_argument("--fg")
    parser.add_argument("--n-bg", type=int, default=10)
    parser.add_argument("--n-fg", type=int, default=10)
    parser.add_argument("--positions", type=int, default=40)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--shadows", default="soft")
    parser.add_argument("--rate", type=int, default=200, help="py-spy samples per second")
    parser.add_argument("--checkout", type=Path, help="profile this checkout's build")
    args = parser.parse_args()
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    work = Path(tempfile.mkdtemp(prefix="fgd-profile-"))
    try:
        build = [sys.executable, "-m", "cli", "datagen", "build", "--out", str(work / "s.zarr")]
        build += ["--workers", "1", "--size", str(args.size), "--shadows", args.shadows]
        build += ["--n-bg", str(args.n_bg), "--n-fg", str(args.n_fg)]
        build += ["--positions", str(args.positions)]
        # Absolute: the build runs in the checkout profiled (`-m cli` imports from the cwd).
        build += (
            ["--bg", str(Path(args.bg).resolve()), "--fg", str(Path(args.fg).resolve())]
            if args.bg
            else []
        )
        raw = work / "stacks.txt"
        record = [spy, "record", "--rate", str(args.rate), "--format", "raw", "--output"]
        env = {**os.environ, "PYTHONPATH": str(args.checkout.resolve())} if args.checkout else None
        subprocess.run(
            [*record, str(raw), "--", *build],
            check=True,
            capture_output=True,
            cwd=args.checkout,
            env=env,
        )
        n = len(open_store(str(work / "s.zarr")))
        stages, shard_samples = _stage_samples(raw)
        _print_table(stages, shard_samples, n, args)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _stage_samples(raw: Path) -> tuple[Counter[str], int]:
    """Profiler samples inside ``build_shard`` per stage, and their total."""
    stages: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        names = {frame.split(" (")[0] for frame in stack.split(";")}
        if "build_shard" not in names:
            continue
        total += int(count)
        stage = next((s for s, functions in STAGES.items() if names & set(functions)), OTHER)
        stages[stage] += int(count)
    return stages, total


def _print_table(stages: Counter[str], total: int, n: int, args: argparse.Namespace) -> None:
    source = "photos" if args.bg else "procedural"
    print(
        f"\n{n:,} samples at {args.size}, {source} assets, shadows {args.shadows}, 1 worker; "
        f"{total:,} py-spy samples in build_shard at {args.rate}/s; load average "
        f"{os.getloadavg()[0]:.1f}\n"
    )
    print(f"{'stage':46s} {'ms/sample':>9s} {'share':>6s}")
    print("-" * 63)
    for stage in [*STAGES, OTHER]:
        ms = stages[stage] / args.rate / n * 1e3
        print(f"{stage:46s} {ms:9.3f} {stages[stage] / total:6.0%}")
    print(f"{'build_shard in all':46s} {total / args.rate / n * 1e3:9.3f} {1:6.0%}")


if __name__ == "__main__":
    main()
