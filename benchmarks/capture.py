"""Capture robustness: two models on real photo pairs under each disturbance of a second shot.

A stored sample's fg_bg equals its bg outside the object; a real pair never does. This script
measures what that costs and what the remedies buy, on real assets
(``../shared/real-samples``: 10 bg photos, 10 RGBA cutouts):

* **Split.** The first 8 bg photos and 8 cutouts (name order) train (``--test-fg A,B``: the
  cutouts other than A and B; ``--train-fg N``: the first N of those cutouts; ``--fg-warps
  N``: N reshaped variants of each beside it, :func:`warp_cutouts`); the other 2 x 2 are the
  test set, never seen in training, composited at placements of their own seed.
* **Models.** Two runs of one recipe (``--recipe``, default ``cpu-quick``) for the same
  ``--steps`` on stores of the training assets built alike: (a) the store without shadows and
  ``augment.capture`` off, i.e. as before; (b) the store with cast and contact shadows (when
  ``datagen.builder.config.BuildConfig`` has the ``shadows`` option) and the second-shot
  augmentation of :mod:`training.fitting.capture` on (its defaults).
* **Test pairs**, with exact ground truth, at 208 px: the central 208 x 208 of each 224 px
  photo, so a moved second shot sees real pixels beyond the frame, not a mirrored border. For
  each condition the same pairs (fixed seeds), the bg or both shots disturbed:

  - ``clean``: the composite as the builder makes it;
  - ``shift``: the bg shot re-framed: shift up to 2 % of the frame, rotation up to 1 degree,
    zoom up to 1 %, a slight keystone (``CaptureConfig``'s warp ranges, every pair warped);
  - ``exposure``: the bg re-exposed: gain 0.8-1.25, gamma 0.85-1.15, white balance +-6 %;
  - ``noise+jpeg``: each shot its own read and shot noise (up to 0.03) and JPEG (60-95);
  - ``shadow``: the object casts a shadow on the ground of the fg_bg shot
    (:func:`datagen.builder.shadows.shadow_factor` with the ground-plane prior, cast shadow
    always on);
  - ``all``: every one of them at once.

  Mask and depth belong to fg_bg, whose geometry never changes, so they stay exact.
* **Prediction** through :class:`training.inference.predictor.Predictor` with ``fgd predict``'s
  test-time augmentation (the 208 px pair is resized to each pass's input and the outputs back),
  without and with ``--align auto``'s registration (:func:`training.inference.align.align_bg` on
  the 208 px pair; a failed registration predicts the pair unaligned, as ``fgd predict`` does).
  Metrics at 208 px: mask IoU, boundary F (DAVIS tolerance) and depth delta1, over all pairs of a
  condition.

Prints the table (markdown) and the targets (b under ``all`` >= 0.90 IoU and >= 0.95 x its
clean IoU, b beats a on every disturbed condition, b's clean IoU at most 0.01 below a's), writes
``results.json`` into ``--out`` and, with ``--figure``, one grid: per condition the bg, the
fg_bg and each model's predicted mask outlined on the fg_bg.

    .venv/bin/python -m benchmarks.capture [--steps 600] [--out runs/bench/capture]
        [--store-size 96] [--set KEY=VALUE ...] [--figure docs/img/capture_conditions.png] [--smoke]
        [--checkpoints-from RUN [--train a|b|none]] [--scales 1,1.5,2] [--flip | --no-flip]

``--checkpoints-from`` takes the models ``--train`` leaves out from an earlier run instead of
training them; ``--scales`` and ``--flip`` are the test-time augmentation of each prediction
(default: ``fgd predict``'s, :data:`training.options.PREDICT_TTA`; ``--scales 1
--no-flip`` is one pass at the trained size).

``--smoke`` runs the whole pipeline in seconds (a tiny network, a few steps, few pairs): it
checks the script, not the models.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
import yaml

from datagen.builder import shadows
from datagen.builder.assets import load_assets
from datagen.builder.build import build_store
from datagen.builder.camera_prior import ground_prior
from datagen.builder.composite import (
    IDENTITY_JITTER,
    draw_placement,
    placement_rng,
    prepare_cutout,
    render,
)
from datagen.builder.config import BuildConfig
from datagen.common.imaging import resize_premultiplied
from datagen.store.schema import PlanEntry
from training.config import TrainConfig
from training.fitting import capture
from training.fitting.train import train
from training.inference.align import align_bg
from training.inference.predictor import Predictor
from training.inference.visualize import outline_overlay, write_png
from training.metrics import MetricAccumulator
from training.options import PREDICT_TTA, TTAConfig, parse_scales
from training.recipes import load_recipe

REAL = Path(__file__).resolve().parents[1].parent / "shared" / "real-samples"
CONDITIONS = ("clean", "shift", "exposure", "noise+jpeg", "shadow", "all")
#: Held-out assets: the last ``TEST_BG`` photos and ``TEST_FG`` cutouts in name order.
TEST_BG, TEST_FG = 2, 2
#: The photos are 224 px squares; the test frame is their centre, leaving real pixels around
#: it for a re-framed second shot (2 % shift + 1 degree + 1 % zoom move a corner ~8 px).
PHOTO, FRAME = 224, 208
TEST_SEED = 0x7E57
STORE_SIZE = 96
MAX_DEPTH = 30.0

_NONE = capture.CaptureConfig(
    warp_p=0.0, colour_p=0.0, noise_p=0.0, jpeg_p=0.0, sharpness_p=0.0,
    fgbg_noise_p=0.0, fgbg_jpeg_p=0.0,
)  # fmt: skip
#: The ops of each condition (every pair disturbed), in CaptureConfig's default ranges.
_OPS = {
    "shift": dataclasses.replace(_NONE, warp_p=1.0),
    "exposure": dataclasses.replace(_NONE, colour_p=1.0),
    "noise+jpeg": dataclasses.replace(
        _NONE, noise_p=1.0, jpeg_p=1.0, fgbg_noise_p=1.0, fgbg_jpeg_p=1.0
    ),
    "all": dataclasses.replace(
        _NONE, warp_p=1.0, colour_p=1.0, noise_p=1.0, jpeg_p=1.0, fgbg_noise_p=1.0,
        fgbg_jpeg_p=1.0,
    ),
}  # fmt: skip


@dataclass
class TestSet:
    """The test pairs of every condition, (N, S, S, 3) uint8, and their exact targets."""

    pairs: dict[str, tuple[np.ndarray, np.ndarray]]
    mask: np.ndarray  # (N, S, S) bool
    depth: np.ndarray  # (N, S, S) float32 metres

    def head(self, n: int) -> TestSet:
        """The first `n` pairs of every condition."""
        pairs = {k: (bg[:n], fgbg[:n]) for k, (bg, fgbg) in self.pairs.items()}
        return TestSet(pairs, self.mask[:n], self.depth[:n])


def split_assets(
    root: Path, work: Path, train_fg: int | None = None, test_fg: list[str] | None = None
) -> tuple[Path, Path, list[Path], list[Path]]:
    """Link the training assets into ``work/train/{bg,fg}`` (the first `train_fg` of the
    training cutouts, all of them if None); return those folders and the held-out bg photos
    and cutouts (the cutouts named in `test_fg`, else the last ``TEST_FG``)."""
    bgs = sorted((root / "bg").iterdir())
    fgs = sorted((root / "fg").iterdir())
    held_out = [p for p in fgs if p.name in test_fg] if test_fg else fgs[-TEST_FG:]
    training_fg = [p for p in fgs if p not in held_out]
    folders = []
    for kind, files in (("bg", bgs[:-TEST_BG]), ("fg", training_fg[:train_fg])):
        folder = work / "train" / kind
        folder.mkdir(parents=True, exist_ok=True)
        for path in files:
            (folder / path.name).symlink_to(path.resolve())
        folders.append(folder)
    return folders[0], folders[1], bgs[-TEST_BG:], held_out


def warp_cutouts(folder: Path, copies: int, seed: int = 0) -> None:
    """Add `copies` reshaped variants of every cutout in `folder` beside it (``NAME_warpK.png``).

    Each is the cutout under a random affine (rotation +-8 degrees, shear +-0.15, width x0.85 to
    x1.15) and a smooth random displacement (a 5 x 5 grid of offsets, sigma 3 % of the cutout's
    height, enlarged bicubically): the same object in a slightly other pose and build, so that
    the shapes a model trains on vary beyond the 8 photographed ones. Warped premultiplied, so
    no colour of the transparent surround bleeds into the edge.
    """
    rng = np.random.default_rng(seed)
    for path in sorted(folder.iterdir()):
        rgba = cv2.imread(str(path), cv2.IMREAD_UNCHANGED).astype(np.float32)
        alpha = rgba[..., 3:] / 255
        premultiplied = np.concatenate([rgba[..., :3] * alpha, alpha * 255], axis=-1)
        h = rgba.shape[0]
        pad = h // 8  # room for the warped limbs
        premultiplied = cv2.copyMakeBorder(premultiplied, pad, pad, pad, pad, cv2.BORDER_CONSTANT)
        ph, pw = premultiplied.shape[:2]
        ys, xs = np.mgrid[0:ph, 0:pw].astype(np.float32)
        for k in range(copies):
            angle = rng.uniform(-8, 8)
            shear = rng.uniform(-0.15, 0.15)
            stretch = rng.uniform(0.85, 1.15)
            affine = cv2.getRotationMatrix2D((pw / 2, ph / 2), angle, 1.0)
            affine = affine @ np.array([[stretch, shear, pw / 2 * (1 - stretch) - shear * ph / 2],
                                        [0, 1, 0], [0, 0, 1]])  # fmt: skip
            inverse = cv2.invertAffineTransform(affine)
            grid = rng.normal(0, 0.03 * h, (2, 5, 5)).astype(np.float32)
            dx, dy = (cv2.resize(g, (pw, ph), interpolation=cv2.INTER_CUBIC) for g in grid)
            map_x = inverse[0, 0] * xs + inverse[0, 1] * ys + inverse[0, 2] + dx
            map_y = inverse[1, 0] * xs + inverse[1, 1] * ys + inverse[1, 2] + dy
            map_x, map_y = map_x.astype(np.float32), map_y.astype(np.float32)
            warped = cv2.remap(premultiplied, map_x, map_y, cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_CONSTANT)  # fmt: skip
            a = warped[..., 3:] / 255
            rgb = np.where(a > 0, warped[..., :3] / np.maximum(a, 1e-6), 0)
            out = np.clip(np.rint(np.concatenate([rgb, warped[..., 3:]], axis=-1)), 0, 255)
            cv2.imwrite(str(folder / f"{path.stem}_warp{k}.png"), out.astype(np.uint8))


def read_rgb(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    code = cv2.COLOR_BGRA2RGBA if image.shape[2] == 4 else cv2.COLOR_BGR2RGB
    return cv2.cvtColor(image, code)


def test_set(bg_paths: list[Path], fg_paths: list[Path], work: Path, positions: int) -> TestSet:
    """Composite every held-out (bg, cutout, flip, position) at FRAME px, then disturb."""
    margin = (PHOTO - FRAME) // 2
    photos = [read_rgb(p) for p in bg_paths]
    assert all(p.shape[:2] == (PHOTO, PHOTO) for p in photos), "expected 224 px bg photos"
    # The builder's own cutout preparation (crop to alpha, fit the frame) via its asset loader.
    folder = work / "test" / "fg"
    folder.mkdir(parents=True, exist_ok=True)
    for path in fg_paths:
        (folder / path.name).symlink_to(path.resolve())
    assets = load_assets(
        BuildConfig(out=str(work / "unused"), bg=str(bg_paths[0].parent), fg=str(folder),
                    size=FRAME, workers=1)
    )  # fmt: skip
    bg_depth, horizon, ground_k = ground_prior(FRAME, MAX_DEPTH)
    receiver = shadows.ground_receiver(bg_depth, horizon, ground_k)
    rows: dict[str, list[np.ndarray]] = {
        k: [] for k in ("bg", "fgbg", "fgbg_shadow", "mask", "depth", "photo")
    }
    index = 0
    for b, photo in enumerate(photos):
        bg = np.ascontiguousarray(photo[margin:-margin, margin:-margin])
        for f in range(len(fg_paths)):
            fh, fw = (int(v) for v in assets.fg_shape[f])
            for flip in (False, True):
                for position in range(positions):
                    rng = placement_rng(TEST_SEED, index)
                    index += 1
                    placement = draw_placement(
                        PlanEntry(b, f, flip, position), rng, size=FRAME, fg_shape=(fh, fw),
                        horizon_y=horizon, ground_k=ground_k, bg_depth=bg_depth,
                        scale_range=(0.3, 0.8), max_outside=0.1, max_depth=MAX_DEPTH,
                        jitter=False,
                    )  # fmt: skip
                    cutout = prepare_cutout(assets.fg[f][:fh, :fw], flip, IDENTITY_JITTER)
                    fgbg, mask = render(placement, bg, bg_depth, cutout).paste(bg)
                    factor = shadows.shadow_factor(
                        _frame_alpha(cutout, placement),
                        shadows.draw_shadow_params(rng, p_cast=1.0),
                        contact=(placement.y + placement.height - 1,
                                 placement.x + placement.width / 2),
                        horizon_y=horizon, receiver=receiver,
                    )  # fmt: skip
                    shaded = shadows.apply_shadow(bg, factor)
                    rows["fgbg_shadow"].append(render(placement, shaded, bg_depth, cutout)
                                               .paste(shaded)[0])  # fmt: skip
                    rows["bg"].append(bg)
                    rows["fgbg"].append(fgbg)
                    rows["mask"].append(mask > 0)
                    rows["depth"].append(np.where(mask > 0, placement.contact_depth, bg_depth))
                    rows["photo"].append(photo)
    stacked = {k: np.stack(v) for k, v in rows.items()}
    bg, fgbg, photo = stacked["bg"], stacked["fgbg"], stacked["photo"]
    pairs = {
        "clean": (bg, fgbg),
        "shift": (_reframed(photo, "shift"), fgbg),
        "exposure": (_shot(bg, "exposure"), fgbg),
        "noise+jpeg": (_shot(bg, "noise+jpeg"), _fgbg_history(fgbg, "noise+jpeg")),
        "shadow": (bg, stacked["fgbg_shadow"]),
        "all": (
            _shot(_reframed(photo, "all"), "all", warped=True),
            _fgbg_history(stacked["fgbg_shadow"], "all"),
        ),
    }
    return TestSet(pairs, stacked["mask"], stacked["depth"].astype(np.float32))


def _frame_alpha(cutout: np.ndarray, placement: Any) -> np.ndarray:
    """(FRAME, FRAME) float32 alpha of the placed cutout (what casts the shadow)."""
    placed = resize_premultiplied(cutout, placement.width, placement.height)[..., 3]
    alpha = np.zeros((FRAME, FRAME), np.float32)
    x0, y0 = max(placement.x, 0), max(placement.y, 0)
    x1, y1 = min(placement.x + placement.width, FRAME), min(placement.y + placement.height, FRAME)
    alpha[y0:y1, x0:x1] = placed[y0 - placement.y : y1 - placement.y,
                                 x0 - placement.x : x1 - placement.x]  # fmt: skip
    return alpha


def _seed(condition: str) -> int:
    return TEST_SEED + CONDITIONS.index(condition)


def _reframed(photos: np.ndarray, condition: str) -> np.ndarray:
    """The bg re-shot through the condition's drawn homographies (:func:`reframe`)."""
    params = capture.draw_capture_params(len(photos), _OPS[condition], _seed(condition))
    return reframe(photos, params.homography.numpy())


def reframe(photos: np.ndarray, homography: np.ndarray) -> np.ndarray:
    """The test frame of each photo seen through its (3, 3) output -> input homography in the
    frame's normalised coordinates (``training.fitting.capture``'s convention), sampled from the
    whole photo: real pixels beyond the frame, reflected only beyond the photo."""
    s, margin = FRAME, (PHOTO - FRAME) / 2
    # pixel (centres at integers) -> normalised coordinates of the frame, and back
    to_unit = np.array([[2 / s, 0, 1 / s - 1], [0, 2 / s, 1 / s - 1], [0, 0, 1.0]])
    to_photo = np.array([[1, 0, margin], [0, 1, margin], [0, 0, 1.0]]) @ np.linalg.inv(to_unit)
    out = []
    for photo, h in zip(photos, homography, strict=True):
        matrix = to_photo @ h @ to_unit  # frame pixel -> photo pixel
        out.append(
            cv2.warpPerspective(photo, matrix, (s, s), borderMode=cv2.BORDER_REFLECT,
                                flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP)
        )  # fmt: skip
    return np.stack(out)


def _to_unit(images: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(images).permute(0, 3, 1, 2).float().div_(255)


def _to_u8(images: torch.Tensor) -> np.ndarray:
    return images.mul(255).round_().clamp_(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()


def _shot(bg: np.ndarray, condition: str, warped: bool = False) -> np.ndarray:
    """The bg through the condition's photometric ops (its warp already done when ``warped``)."""
    seed = _seed(condition)
    params = capture.draw_capture_params(len(bg), _OPS[condition], seed)
    if warped or condition == "shift":
        eye = torch.eye(3, dtype=torch.float64).repeat(len(bg), 1, 1)
        params = dataclasses.replace(params, homography=eye)
    return _to_u8(capture.apply_capture(_to_unit(bg), params, seed))


def _fgbg_history(fgbg: np.ndarray, condition: str) -> np.ndarray:
    return _to_u8(capture.independent_noise_jpeg(_to_unit(fgbg), _OPS[condition], _seed(condition)))


def build_stores(
    bg: Path,
    fg: Path,
    work: Path,
    positions: int,
    size: int,
    builtin_fg: int | None,
    models: str = "ab",
    fg_jitter: bool = False,
) -> tuple[dict[str, str], bool]:
    """The training stores of ``models``: (a) without and (b) with shadows (when the builder
    has them) from the training assets (and `builtin_fg` built-in cutouts, the cutouts
    photometrically jittered with `fg_jitter`); returns their paths by model and whether (b)
    has shadows."""
    has_shadows = "shadows" in {f.name for f in dataclasses.fields(BuildConfig)}
    paths = {}
    for name, shadow in (("a", "off"), ("b", "soft")):
        if name not in models:
            continue
        extra = {"shadows": shadow} if has_shadows else {}
        if builtin_fg:
            extra["builtin_fg"] = builtin_fg
        if fg_jitter:
            extra["fg_jitter"] = True
        path = work / f"store_{name}.zarr"
        build_store(
            BuildConfig(out=str(path), bg=str(bg), fg=str(fg), size=size, positions=positions,
                        max_depth=MAX_DEPTH, overwrite=True, **extra),
            progress=False,
        )  # fmt: skip
        paths[name] = str(path)
    return paths, has_shadows


def train_model(
    store: str,
    out: Path,
    recipe: str,
    steps: int,
    with_capture: bool,
    smoke: bool,
    overrides: dict[str, Any] | None = None,
) -> Path:
    settings = {**load_recipe(recipe).settings, **(overrides or {})}
    augment = dict(settings.pop("augment", {}))
    augment["capture"] = {**augment.get("capture", {}), "enabled": with_capture}
    data = {**settings, "augment": augment, "store": store, "out": str(out), "device": "cpu",
            "max_steps": steps, "val_every": steps, "checkpoint_every": steps}  # fmt: skip
    if smoke:
        data.update(backbone="test_resnet", size=32, batch_size=8, workers=0,
                    resize_schedule=[], warmup_steps=0, decoder_channels=16)  # fmt: skip
    train(TrainConfig.from_dict(data, f"recipe {recipe}"), progress=False)
    return out / "checkpoints" / "last.pt"


def evaluate(
    predictors: dict[str, Predictor], tests: TestSet, batch: int = 16
) -> tuple[dict[str, dict[str, dict[str, float]]], dict[str, float], dict[str, Any]]:
    """Metrics per model, condition and alignment ("off"/"auto"), the share of pairs each
    condition's registration aligned, and one example's predictions for the figure."""
    results: dict[str, dict[str, dict[str, float]]] = {}
    aligned_share: dict[str, float] = {}
    example: dict[str, Any] = {}
    gt_mask = torch.from_numpy(tests.mask)
    gt_depth = torch.from_numpy(tests.depth)
    for condition, (bg, fgbg) in tests.pairs.items():
        registered = [align_bg(b, f, "auto") for b, f in zip(bg, fgbg, strict=True)]
        aligned_share[condition] = float(np.mean([r.ok for r in registered]))
        inputs = {"off": bg, "auto": np.stack([r.warped_bg for r in registered])}
        for model, predictor in predictors.items():
            for align, bgs in inputs.items():
                acc = MetricAccumulator()
                for start in range(0, len(bg), batch):
                    part = slice(start, start + batch)
                    prob, depth = predictor.run(bgs[part], fgbg[part])
                    acc.update(torch.from_numpy(prob), gt_mask[part],
                               torch.from_numpy(depth), gt_depth[part])  # fmt: skip
                    if start == 0 and align == "off":
                        example[f"{condition}/{model}"] = prob[0]
                results.setdefault(model, {}).setdefault(condition, {})[align] = acc.compute()
    return results, aligned_share, example


def targets(results: dict[str, dict[str, dict[str, float]]], align: str) -> list[tuple[str, bool]]:
    """The issue's targets, each with whether it is met (with the given alignment)."""

    def iou(model: str, condition: str) -> float:
        return results[model][condition][align]["mask_iou"]

    all_b, clean_a, clean_b = iou("b", "all"), iou("a", "clean"), iou("b", "clean")
    disturbed = [c for c in CONDITIONS if c != "clean"]
    beaten = [c for c in disturbed if iou("b", c) > iou("a", c)]
    return [
        (f"(b) all: IoU {all_b:.3f} >= 0.90", all_b >= 0.90),
        (f"(b) all: IoU {all_b:.3f} >= 0.95 x clean {clean_b:.3f}", all_b >= 0.95 * clean_b),
        (f"(b) beats (a) on {len(beaten)}/{len(disturbed)} disturbed conditions",
         len(beaten) == len(disturbed)),
        (f"(b) clean IoU {clean_b:.3f} >= (a) clean {clean_a:.3f} - 0.01",
         clean_b >= clean_a - 0.01),
    ]  # fmt: skip


def print_table(results, aligned_share) -> None:
    print("| condition | align | aligned | IoU (a) | IoU (b) | boundary F (a) | boundary F (b) "
          "| delta1 (a) | delta1 (b) |")  # fmt: skip
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for condition in CONDITIONS:
        for align in ("off", "auto"):
            a, b = results["a"][condition][align], results["b"][condition][align]
            share = f"{aligned_share[condition]:.0%}" if align == "auto" else ""
            cells = [f"{m[k]:.3f}" for k in ("mask_iou", "mask_boundary_f", "depth_delta1")
                     for m in (a, b)]  # fmt: skip
            print(f"| {condition} | {align} | {share} | " + " | ".join(cells) + " |")


def draw_figure(path: Path, tests: TestSet, example: dict[str, Any]) -> None:
    """One row per condition: bg, fg_bg, (a)'s and (b)'s mask outlined on the fg_bg (the first
    test pair, without alignment)."""
    rows = []
    for condition, (bg, fgbg) in tests.pairs.items():
        tiles = [bg[0], fgbg[0]]
        for model in ("a", "b"):
            mask = (example[f"{condition}/{model}"] >= 0.5).astype(np.uint8) * 255
            tiles.append(outline_overlay(fgbg[0], mask))
        row = np.concatenate([np.pad(t, ((4, 4), (4, 4), (0, 0)), constant_values=255)
                              for t in tiles], axis=1)  # fmt: skip
        label = np.full((row.shape[0], 110, 3), 255, np.uint8)
        cv2.putText(label, condition, (4, row.shape[0] // 2), cv2.FONT_HERSHEY_SIMPLEX, 0.45,
                    (0, 0, 0), 1, cv2.LINE_AA)  # fmt: skip
        rows.append(np.concatenate([label, row], axis=1))
    header = np.full((24, rows[0].shape[1], 3), 255, np.uint8)
    for k, title in enumerate(("bg", "fg_bg", "model (a)", "model (b)")):
        x = 110 + k * (FRAME + 8) + 8
        cv2.putText(header, title, (x, 17), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1,
                    cv2.LINE_AA)  # fmt: skip
    write_png(path, np.concatenate([header, *rows], axis=0), "--figure")


def _override(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"{text!r}: expected KEY=VALUE")
    return key, yaml.safe_load(value)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=Path("runs/bench/capture"))
    p.add_argument("--recipe", default="cpu-quick")
    p.add_argument("--steps", type=int, default=600, help="optimizer steps of each model")
    p.add_argument(
        "--store-size",
        type=int,
        default=STORE_SIZE,
        help="pixels of the training stores (pair it with --set size=...)",
    )
    p.add_argument("--positions", type=int, default=20, help="placements per training pair")
    p.add_argument("--test-positions", type=int, default=4, help="placements per test pair")
    p.add_argument(
        "--train-fg",
        type=int,
        help="train on the first N of the real training cutouts (how (b)'s reach to unseen "
        "objects grows with the cutouts it saw)",
    )
    p.add_argument(
        "--test-fg",
        type=lambda text: text.split(","),
        metavar="NAME,NAME",
        help=f"hold out these {TEST_FG} cutouts instead of the last {TEST_FG} in name order "
        "(the others train)",
    )
    p.add_argument(
        "--fg-warps",
        type=int,
        default=0,
        help="add N reshaped variants of every training cutout (warp_cutouts) to both stores",
    )
    p.add_argument(
        "--builtin-fg",
        type=int,
        help="train on this many built-in cutouts beside the real ones (--builtin-fg)",
    )
    p.add_argument(
        "--fg-jitter",
        action="store_true",
        help="both training stores with the builder's cutout jitter (--fg-jitter)",
    )
    p.add_argument(
        "--set",
        dest="overrides",
        metavar="KEY=VALUE",
        action="append",
        type=_override,
        default=[],
        help="a TrainConfig key over the recipe for both models (YAML value), e.g. fusion=early",
    )
    p.add_argument(
        "--checkpoints-from",
        type=Path,
        metavar="RUN",
        help="take the models not trained (--train) from an earlier run's RUN/run_{a,b}",
    )
    p.add_argument(
        "--train",
        choices=("ab", "a", "b", "none"),
        default="ab",
        help="the models to train (the others need --checkpoints-from)",
    )
    p.add_argument(
        "--scales",
        type=parse_scales,
        default=PREDICT_TTA.scales,
        help="test-time scales of each prediction (fgd predict --scales)",
    )
    p.add_argument(
        "--flip",
        action=argparse.BooleanOptionalAction,
        default=PREDICT_TTA.flip,
        help="test-time mirrored passes (fgd predict --flip)",
    )
    p.add_argument("--figure", type=Path, help="write the grid of predictions here")
    p.add_argument("--threads", type=int, default=torch.get_num_threads())
    p.add_argument("--smoke", action="store_true", help="tiny and fast: checks the script only")
    args = p.parse_args(argv)
    if not (REAL / "bg").is_dir() or not (REAL / "fg").is_dir():
        raise SystemExit(f"{REAL}: the real samples are not there")
    torch.set_num_threads(args.threads)
    if args.smoke:
        args.steps, args.positions, args.test_positions = 2, 1, 1
    reused = args.checkpoints_from
    trained_here = "" if args.train == "none" else args.train
    if reused is None and trained_here != "ab":
        raise SystemExit(f"--train {args.train}: the other models need --checkpoints-from")
    if reused is not None and args.out.resolve().is_relative_to(reused.resolve()):
        raise SystemExit(f"--out {args.out} would delete the run of --checkpoints-from {reused}")
    shutil.rmtree(args.out, ignore_errors=True)
    t0 = time.perf_counter()
    assets = args.out / "assets"
    names = sorted(p.name for p in (REAL / "fg").iterdir())
    if args.test_fg and (len(set(args.test_fg)) != TEST_FG or not set(args.test_fg) <= set(names)):
        raise SystemExit(f"--test-fg: name {TEST_FG} of the cutouts in {REAL / 'fg'}")
    n_train_fg = len(names) - TEST_FG
    if args.train_fg is not None and not 1 <= args.train_fg <= n_train_fg:
        raise SystemExit(f"--train-fg {args.train_fg}: choose 1 to {n_train_fg}")
    train_bg, train_fg, test_bg, test_fg = split_assets(REAL, assets, args.train_fg, args.test_fg)
    warp_cutouts(train_fg, args.fg_warps)
    tests = test_set(test_bg, test_fg, assets, args.test_positions)
    if args.smoke:
        tests = tests.head(2)
    size = 32 if args.smoke else args.store_size
    checkpoints = {n: reused / f"run_{n}" / "checkpoints" / "last.pt" for n in "ab" if reused}
    stores, has_shadows = build_stores(
        train_bg,
        train_fg,
        args.out,
        args.positions,
        size,
        args.builtin_fg,
        trained_here,
        args.fg_jitter,
    )
    if "b" not in trained_here:
        has_shadows = json.loads((reused / "results.json").read_text())["shadow_store"]
    built = time.perf_counter()
    for name in trained_here:
        checkpoints[name] = train_model(
            stores[name], args.out / f"run_{name}", args.recipe, args.steps, name == "b",
            args.smoke, dict(args.overrides),
        )  # fmt: skip
    trained = time.perf_counter()
    predictors = {
        k: Predictor.from_checkpoint(v, "cpu").with_tta(TTAConfig(args.scales, args.flip))
        for k, v in checkpoints.items()
    }
    results, aligned_share, example = evaluate(predictors, tests)
    done = time.perf_counter()

    n = len(tests.mask)
    n_fg = len(list(train_fg.iterdir())) + (args.builtin_fg or 0)
    recipe = (
        f"recipe {args.recipe}{''.join(f', {k}={v}' for k, v in args.overrides)}, "
        f"{args.steps} steps each; train 8 bg x {n_fg} fg x 2 flips x {args.positions} "
        f"at {size} px{', fg jitter' if args.fg_jitter else ''}"
    )
    trained_as = {
        "ab": recipe,
        "": f"the models of {reused} (trained as its results.json records)",
    }.get(trained_here, f"model ({trained_here}) {recipe}; the other from {reused}")
    tta = predictors["a"].tta
    sizes = "/".join(str(n) for n in tta.input_sizes(predictors["a"].size))
    print(
        f"\n{trained_as}; predicted with {tta.passes} pass(es) at {sizes} px"
        f"{' and mirrored' if tta.flip else ''}, "
        f"{torch.get_num_threads()} threads; test {TEST_BG} bg x {TEST_FG} fg "
        f"x 2 flips x {args.test_positions}: {n} pairs per condition at {FRAME} px; store (b) "
        f"shadows: {'yes' if has_shadows else 'no (BuildConfig has no shadows option)'}; minutes: "
        f"build {(built - t0) / 60:.1f}, train {(trained - built) / 60:.1f}, "
        f"eval {(done - trained) / 60:.1f}\n"
    )
    print_table(results, aligned_share)
    verdicts = {}
    for align in ("off", "auto"):
        print(f"\nTargets, align {align}:")
        verdicts[align] = targets(results, align)
        for text, ok in verdicts[align]:
            print(f"- {'met' if ok else 'NOT met'}: {text}")
    if args.figure:
        draw_figure(args.figure, tests, example)
    summary = {
        "results": results,
        "aligned_share": aligned_share,
        "shadow_store": has_shadows,
        "targets": {k: [[t, ok] for t, ok in v] for k, v in verdicts.items()},
        "args": {k: str(v) for k, v in vars(args).items()},
    }
    (args.out / "results.json").write_text(json.dumps(summary, indent=2))
    return summary


if __name__ == "__main__":
    main()
