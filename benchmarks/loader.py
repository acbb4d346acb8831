"""Loader throughput, fgd's chunk-aligned store loader against the originals' file loader; and
the cost of each augmentation op, plain torch (``training.fitting.augment``) against kornia.

1. **Loader.** Samples/s delivered as collated tensors (decoded bg, fgbg, mask, depth) over the
   same samples at the store's size (224 by default):

   - fgd: :class:`training.fitting.loader.Loader` over one epoch order (uint8 images, float32 depth;
     worker processes read whole chunks).
   - baseline, as the original notebooks did it: the same samples written out as files (fg_bg
     and bg as JPEG, mask as PNG, depth as 16-bit PNG), a torch ``Dataset`` that opens the four
     files of a sample with PIL and applies torchvision-style transforms (``Resize`` +
     ``ToTensor``), a shuffling ``DataLoader`` with the same number of workers.

   Each side runs ``--repeats`` times after one warm-up pass; the table shows the median.

2. **Augmentation ops** on one batch on the CPU (and CUDA when present), milliseconds (median):
   our colour matrix (brightness + saturation + hue, then contrast) against kornia's
   ``ColorJitter`` with and without hue, and our single ``grid_sample`` geometry against kornia's
   ``RandomResizedCrop`` + ``RandomRotation`` + ``RandomHorizontalFlip``.

Usage: ``python -m benchmarks.loader [--size 224 --n-bg 10 --n-fg 10 --positions 40 --workers 2]``
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset

from datagen.builder.build import BuildConfig, build_store
from datagen.store.reader import open_store
from training.config import AugmentConfig
from training.fitting.augment import Normalization, affine, photometric, prepare_batch
from training.fitting.epochs import epoch_order, window_size
from training.fitting.loader import Loader


def ensure_store(path: Path, size: int, n_bg: int, n_fg: int, positions: int) -> None:
    """Build the procedural store unless a finished one with this recipe is there (rebuilt when
    the generator changed: the benchmark owns it)."""
    config = BuildConfig(
        out=str(path), size=size, n_bg=n_bg, n_fg=n_fg, positions=positions, overwrite=True
    )
    build_store(config, progress=False)


def write_files(store: str, folder: Path) -> int:
    """The store's samples as the originals kept them: one JPEG per fg_bg, one per bg scene,
    PNG masks and 16-bit PNG depth (millimetres). Skipped if already written from this store."""
    ds = open_store(store)
    done = folder / "done"
    built_from = json.dumps(ds.attrs["assets_digest"])
    if done.exists() and done.read_text() == built_from:
        return len(ds)
    shutil.rmtree(folder, ignore_errors=True)
    for sub in ("fgbg", "bg", "mask", "depth"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    for c in range(ds.n_chunks):
        chunk = ds.read_chunk(c)
        for j in range(len(chunk["fgbg"])):
            i = c * ds.chunk_size + j
            Image.fromarray(chunk["fgbg"][j]).save(folder / "fgbg" / f"{i}.jpg")
            bg_file = folder / "bg" / f"{ds.bg_ids[i]}.jpg"
            if not bg_file.exists():
                Image.fromarray(chunk["bg"][j]).save(bg_file)
            Image.fromarray(chunk["mask"][j]).save(folder / "mask" / f"{i}.png")
            mm = np.round(chunk["depth"][j] * 1000).astype(np.uint16)
            Image.fromarray(mm).save(folder / "depth" / f"{i}.png")
    done.write_text(built_from)
    return len(ds)


class FileDataset(Dataset):
    """The originals' loader: four files per sample opened with PIL, torchvision transforms."""

    def __init__(self, folder: Path, bg_ids: np.ndarray, size: int) -> None:
        from torchvision import transforms

        self.folder, self.bg_ids = folder, bg_ids
        self.image = transforms.Compose([transforms.Resize(size), transforms.ToTensor()])
        self.mask = transforms.Compose(
            [transforms.Resize(size, transforms.InterpolationMode.NEAREST),
             transforms.ToTensor()]
        )  # fmt: skip
        self.size = size

    def __len__(self) -> int:
        return len(self.bg_ids)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        f = self.folder
        fgbg = Image.open(f / "fgbg" / f"{i}.jpg").convert("RGB")
        bg = Image.open(f / "bg" / f"{self.bg_ids[i]}.jpg").convert("RGB")
        mask = Image.open(f / "mask" / f"{i}.png")
        depth = np.asarray(Image.open(f / "depth" / f"{i}.png"), dtype=np.float32) / 1000
        return {
            "bg": self.image(bg),
            "fgbg": self.image(fgbg),
            "mask": self.mask(mask),
            "depth": torch.from_numpy(depth)[None],
        }


def _rate(batches, n_expected: int) -> float:
    t0 = time.perf_counter()
    n = sum(len(b["fgbg"]) for b in batches)
    elapsed = time.perf_counter() - t0
    assert n >= n_expected * 0.9, (n, n_expected)
    return n / elapsed


def bench_fgd(store: str, batch: int, workers: int, repeats: int) -> list[float]:
    ds = open_store(store)
    window = window_size(batch, ds.chunk_size, 4)
    loader = Loader(store, batch, window, workers)
    indices = np.arange(len(ds))
    rates = []
    for epoch in range(repeats + 1):  # epoch 0 warms up (starts the workers)
        order = epoch_order(indices, ds.chunk_size, window, seed=0, epoch=epoch)
        rates.append(_rate((b for _, b in loader.batches(order)), len(order)))
    return rates[1:]


def bench_files(folder: Path, store: str, size: int, batch: int, workers: int, repeats: int):
    ds = open_store(store)
    dataset = FileDataset(folder, ds.bg_ids, size)
    rates = []
    for _ in range(repeats + 1):
        loader = DataLoader(
            dataset, batch_size=batch, shuffle=True, num_workers=workers, drop_last=True,
            persistent_workers=False,
        )  # fmt: skip
        rates.append(_rate(iter(loader), len(dataset) - batch))
    return rates[1:]


def _median_ms(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def bench_augment(batch: int, size: int, device: str, repeats: int) -> list[tuple[str, float]]:
    """Milliseconds per batch of each op on (2 * batch) images: bg and fgbg together."""
    import kornia.augmentation as K

    gen = torch.Generator().manual_seed(0)
    images = torch.rand(2 * batch, 3, size, size, generator=gen).to(device)
    aug = AugmentConfig()
    colour_only = dataclasses.replace(aug, blur_p=0.0, noise_p=0.0)
    no_hue = dataclasses.replace(colour_only, hue=0.0)
    jitter = (aug.brightness, aug.contrast, aug.saturation)
    kornia_hue = K.ColorJitter(*jitter, aug.hue, p=1.0).to(device)
    kornia_no_hue = K.ColorJitter(*jitter, 0.0, p=1.0).to(device)
    kornia_geo = K.AugmentationSequential(
        K.RandomResizedCrop((size, size), scale=aug.crop_scale, ratio=aug.crop_ratio),
        K.RandomRotation(aug.rotate_degrees, p=1.0),
        K.RandomHorizontalFlip(p=aug.hflip),
    ).to(device)

    def ours_geometry():
        theta = affine(batch, aug, torch.Generator().manual_seed(1)).to(device)
        grid = torch.nn.functional.affine_grid(theta, [batch, 1, size, size], align_corners=False)
        torch.nn.functional.grid_sample(images, torch.cat([grid, grid]), align_corners=False)

    def ours(cfg):
        return lambda: photometric(images.clone(), batch, cfg, torch.Generator(), 1)

    uint8 = {
        "bg": torch.randint(0, 255, (batch, size, size, 3), dtype=torch.uint8, device=device),
        "mask": torch.zeros(batch, size, size, dtype=torch.uint8, device=device),
        "depth": torch.ones(batch, size, size, device=device),
    }
    uint8["fgbg"] = uint8["bg"].clone()
    return [
        ("colour: ours (brightness, contrast, saturation, hue)", _median_ms(ours(colour_only),
                                                                            repeats)),
        ("colour: ours without hue", _median_ms(ours(no_hue), repeats)),
        ("colour: kornia ColorJitter with hue", _median_ms(lambda: kornia_hue(images), repeats)),
        ("colour: kornia ColorJitter without hue",
         _median_ms(lambda: kornia_no_hue(images), repeats)),
        ("geometry: ours (one grid_sample)", _median_ms(ours_geometry, repeats)),
        ("geometry: kornia crop + rotation + flip", _median_ms(lambda: kornia_geo(images),
                                                               repeats)),
        ("everything: prepare_batch (uint8 in, normalised out)",
         _median_ms(lambda: prepare_batch(uint8, size, Normalization(), aug, 1), repeats)),
    ]  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--store", type=Path, default=Path("runs/bench/loader224x8k.zarr"))
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--n-bg", type=int, default=10)
    p.add_argument("--n-fg", type=int, default=10)
    p.add_argument(
        "--positions", type=int, default=40
    )  # 8,000 samples: passes long enough to be steady
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--aug-batch", type=int, default=32)
    p.add_argument("--skip-loader", action="store_true")
    args = p.parse_args()

    if not args.skip_loader:
        ensure_store(args.store, args.size, args.n_bg, args.n_fg, args.positions)
        store = str(args.store)
        n = write_files(store, args.store.with_suffix(".files"))
        fgd = bench_fgd(store, args.batch, args.workers, args.repeats)
        files = bench_files(args.store.with_suffix(".files"), store, args.size, args.batch,
                            args.workers, args.repeats)  # fmt: skip
        print(f"\n## Loader: {n} samples at {args.size} px, batch {args.batch}, "
              f"{args.workers} workers, median of {args.repeats}\n")  # fmt: skip
        print("| loader | samples/s (median) | runs |")
        print("| --- | ---: | --- |")
        for name, rates in (("fgd store (chunk windows)", fgd), ("baseline files + PIL", files)):
            runs = ", ".join(f"{r:.0f}" for r in rates)
            print(f"| {name} | {statistics.median(rates):.0f} | {runs} |")
        print(f"\nratio fgd / baseline: {statistics.median(fgd) / statistics.median(files):.1f}x")

    devices = ["cpu", *(["cuda"] if torch.cuda.is_available() else [])]
    for device in devices:
        rows = bench_augment(args.aug_batch, args.size, device, args.repeats)
        print(
            f"\n## Augmentation ops on {device}: batch {args.aug_batch} pairs "
            f"({2 * args.aug_batch} images) at {args.size} px, ms (median of {args.repeats})\n"
        )
        print("| op | ms |")
        print("| --- | ---: |")
        for name, ms in rows:
            print(f"| {name} | {ms:.1f} |")


if __name__ == "__main__":
    main()
