"""The README's first command, timed: what a new user waits for, and the model it ends with.

Takes the command from README.md itself (the first line that starts with ``python3 -m venv``),
drops its set-up part (everything before the first ``.venv/bin/fgd``; the installation is not
part of the timed run), runs the rest in a scratch copy of ``runs/`` with bash, and prints the
wall time of each ``fgd`` step, the total, and the held-out metrics ``fgd eval`` printed, against
the targets (<= 6 minutes, mask IoU >= 0.90).

Usage: ``python -m benchmarks.quickstart`` (from the repository root, after the README's set-up).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGETS = {"minutes": 6.0, "mask_iou": 0.90}


def readme_job() -> list[str]:
    """The ``fgd`` steps of the README's first command, in order."""
    line = next(
        line for line in (ROOT / "README.md").read_text().splitlines()
        if line.startswith("python3 -m venv")
    )  # fmt: skip
    steps = [step.strip() for step in line.split("&&")]
    first = next(i for i, step in enumerate(steps) if step.startswith(".venv/bin/fgd"))
    return [step for step in steps[first:] if step.startswith(".venv/bin/fgd")]


def main() -> None:
    shutil.rmtree(ROOT / "runs" / "demo", ignore_errors=True)
    shutil.rmtree(ROOT / "runs" / "demo.zarr", ignore_errors=True)
    rows, outputs, total, load = [], {}, 0.0, os.getloadavg()[0]
    for step in readme_job():
        start = time.perf_counter()
        done = subprocess.run(
            ["bash", "-c", step], cwd=ROOT, capture_output=True, text=True, env=os.environ
        )
        seconds = time.perf_counter() - start
        total += seconds
        name = " ".join(step.split()[1:3])
        rows.append((name, seconds))
        outputs[name] = done.stdout
        if done.returncode != 0:
            sys.exit(f"{step}\nfailed ({done.returncode}):\n{done.stderr[-2000:]}")
    metrics = dict(re.findall(r"^(\w+)\s+([0-9.]+)$", outputs.get("eval --store", ""), re.M))
    print(f"load average (1 min) before: {load:.1f}, after: {os.getloadavg()[0]:.1f}\n")
    print("| step | seconds |\n| --- | ---: |")
    for name, seconds in rows:
        print(f"| fgd {name} | {seconds:.1f} |")
    iou = float(metrics.get("mask_iou", "nan"))
    print(f"| **total** | **{total:.1f}** ({total / 60:.1f} min) |\n")
    print("| figure | value | target | met |\n| --- | ---: | ---: | --- |")
    print(f"| minutes | {total / 60:.2f} | <= {TARGETS['minutes']} | "
          f"{'yes' if total / 60 <= TARGETS['minutes'] else 'NO'} |")  # fmt: skip
    print(f"| held-out mask IoU | {iou:.4f} | >= {TARGETS['mask_iou']} | "
          f"{'yes' if iou >= TARGETS['mask_iou'] else 'NO'} |")  # fmt: skip
    for key in ("mask_boundary_f", "depth_delta1", "depth_absrel"):
        print(f"| {key} | {float(metrics.get(key, 'nan')):.4f} | | |")


if __name__ == "__main__":
    main()
