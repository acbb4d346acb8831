"""The renderer: colour maps, grid layout, mask errors, contact sheets, 16-bit depth PNGs."""

import hashlib
import json

import cv2
import numpy as np
import pytest

from training.inference.visualize import (
    MaskErrorColors,
    colorize_depth,
    colorize_depth_error,
    contact_sheet,
    depth_png_files,
    depth_range,
    mask_error_image,
    outline_overlay,
    render_grid,
    row_label,
    text_size,
    write_png,
)


def lightness(rgb: np.ndarray) -> np.ndarray:
    """CIE L* of sRGB uint8 colours."""
    c = rgb.astype(np.float64) / 255
    linear = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    y = linear @ np.array([0.2126, 0.7152, 0.0722])
    return np.where(y > 0.008856, 116 * np.cbrt(y) - 16, 903.3 * y)


def fake_samples(n: int, size: int = 32, seed: int = 0) -> dict[str, np.ndarray]:
    """Images in 0..200 (never white) with a fg square in the top-left quarter."""
    rng = np.random.default_rng(seed)
    bg = rng.integers(0, 200, (n, size, size, 3), dtype=np.uint8)
    mask = np.zeros((n, size, size), np.uint8)
    mask[:, 2 : size // 3, 2 : size // 3] = 255
    fgbg = bg.copy()
    fgbg[mask > 0] = (180, 30, 30)
    depth = rng.uniform(1.0, 9.0, (n, size, size)).astype(np.float32)
    return {"bg": bg, "fgbg": fgbg, "mask": mask, "depth": depth}


def fake_predictions(samples: dict[str, np.ndarray], seed: int = 1) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    noise = rng.normal(0, 0.3, samples["mask"].shape)
    return {
        "mask": np.clip(samples["mask"] / 255 + noise, 0, 1).astype(np.float32),
        "depth": samples["depth"] + rng.normal(0, 0.5, samples["depth"].shape).astype(np.float32),
    }


def tile_runs(row: np.ndarray, min_len: int) -> list[tuple[int, int]]:
    """(start, length) of runs of non-white pixels at least ``min_len`` long."""
    inked = np.any(row != 255, axis=-1).astype(np.int8)
    edges = np.flatnonzero(np.diff(np.concatenate([[0], inked, [0]])))
    return [(s, e - s) for s, e in zip(edges[::2], edges[1::2], strict=True) if e - s >= min_len]


# ----------------------------------------------------------------------------- colour maps


def test_depth_map_is_injective_and_ordered():
    """Lightness strictly falls with depth (near = bright) and every level has its own colour."""
    rgb = colorize_depth(np.geomspace(2.0, 30.0, 256, dtype=np.float32), 2.0, 30.0)
    assert len(np.unique(rgb, axis=0)) == 256
    assert np.all(np.diff(lightness(rgb)) < 0)


def test_depth_map_is_logarithmic_and_clips_outside_its_range():
    rgb = colorize_depth(np.array([0.5, 1.0, 4.0, 16.0, 99.0], np.float32), 1.0, 16.0)
    np.testing.assert_array_equal(rgb[0], rgb[1])
    np.testing.assert_array_equal(rgb[3], rgb[4])
    # 4 m is halfway between 1 and 16 m on a log scale: the map's middle colour.
    mid = colorize_depth(np.geomspace(1.0, 16.0, 255, dtype=np.float32), 1.0, 16.0)[127]
    np.testing.assert_array_equal(rgb[2], mid)


def test_error_map_is_ordered_by_size_and_shows_the_sign():
    """Darker with a larger relative error on either side; blue too near, red too far."""
    true = np.full(201, 4.0, np.float32)
    pred = true * (1 + np.linspace(-0.5, 0.5, 201, dtype=np.float32))
    rgb = colorize_depth_error(pred, true, limit=0.5).astype(int)
    light = lightness(rgb.astype(np.uint8))
    assert np.all(np.diff(light[:101]) > 0)
    assert np.all(np.diff(light[100:]) < 0)
    assert np.all(rgb[:95, 2] > rgb[:95, 0])  # blue side
    assert np.all(rgb[106:, 0] > rgb[106:, 2])  # red side


def test_error_map_is_relative():
    """The same 10 % error looks the same at 2 m and at 20 m."""
    true = np.array([2.0, 20.0], np.float32)
    rgb = colorize_depth_error(true * 1.1, true)
    np.testing.assert_array_equal(rgb[0], rgb[1])


def test_depth_range_covers_the_data_with_round_ends():
    depth = np.random.default_rng(0).uniform(2.3, 17.6, 10_000).astype(np.float32)
    lo, hi = depth_range(depth)
    assert 0 < lo <= np.percentile(depth, 1)
    assert hi >= np.percentile(depth, 99)
    assert (lo, hi) == (float(f"{lo:.1g}"), float(f"{hi:.1g}"))
    flat_lo, flat_hi = depth_range(np.full((4, 4), 30.0, np.float32))
    assert flat_lo <= 30.0 < flat_hi  # never an empty range


# ----------------------------------------------------------------------------- grid


@pytest.mark.parametrize("with_predictions", [False, True])
@pytest.mark.parametrize("tile", [96, 224])
def test_grid_has_one_tile_column_per_panel(with_predictions, tile):
    samples = fake_samples(2)
    preds = fake_predictions(samples) if with_predictions else None
    grid = render_grid(samples, preds, tile=tile)
    assert grid.dtype == np.uint8
    assert grid.shape[2] == 3
    # A scan line through the bottom of the last row crosses every tile once (the fg square
    # sits in the top-left quarter, so nothing there is white).
    runs = tile_runs(grid[-tile // 8], tile // 2)
    assert [length for _, length in runs] == [tile] * (8 if with_predictions else 4)
    assert grid.shape[1] < (8 if with_predictions else 4) * tile * 1.1


def test_grid_grows_by_one_tile_per_row_and_by_the_label_column():
    tile = 64
    one = render_grid(fake_samples(1), tile=tile)
    three = render_grid(fake_samples(3), tile=tile)
    row_step = (three.shape[0] - one.shape[0]) / 2
    assert tile < row_step < tile * 1.1
    labelled = render_grid(fake_samples(1), labels=[row_label(12345, 0.5, 0.25)], tile=tile)
    assert labelled.shape[0] == one.shape[0]
    assert labelled.shape[1] > one.shape[1]
    label_area = labelled[:, : labelled.shape[1] - one.shape[1]]
    assert (label_area < 128).any()  # the label is written


def test_grid_depth_columns_share_the_colour_scale():
    """A perfect prediction draws the predicted depth tile exactly like the true one."""
    samples = fake_samples(1)
    perfect = {"mask": samples["mask"] / 255.0, "depth": samples["depth"].copy()}
    tile = 64
    grid = render_grid(samples, perfect, tile=tile)
    (x_depth, _), (x_pred, _) = (tile_runs(grid[-tile // 8], tile // 2)[k] for k in (3, 5))
    y0 = grid.shape[0] - tile - 1
    np.testing.assert_array_equal(
        grid[y0:, x_depth : x_depth + tile], grid[y0:, x_pred : x_pred + tile]
    )


def test_grid_pixels_are_unchanged():
    """The grid of fixed inputs, tiles pixel for pixel: a new hash means every grid is drawn
    differently (update it only for a change of the drawing made on purpose).

    The text (column titles, row labels) is OpenCV's Hershey font, whose glyphs and widths
    change between OpenCV releases; it is pinned by its measured size, not its pixels."""
    samples = fake_samples(3)
    labels = [row_label(i, 0.5 + i / 10, 0.25) for i in range(3)]
    grid = render_grid(samples, fake_predictions(samples), labels, tile=64)
    gap, columns, rows = 2, 8, 3  # tile 64's gap; the 8 columns of a grid with predictions
    label_scale = 0.35  # render_grid's smallest label scale, which tile 64 uses
    label_w = max(text_size(s, label_scale)[0] for lab in labels for s in lab.split("\n"))
    label_w += 2 * gap
    header_h = grid.shape[0] - rows * (64 + gap) - gap
    assert grid.shape[1] == label_w + columns * (64 + gap) + gap
    assert header_h > 0 and (grid[:header_h, label_w:] < 128).any()  # the titles are written
    assert (grid[header_h:, :label_w] < 128).any()  # and the labels
    digest = hashlib.sha256(grid[header_h:, label_w:].tobytes()).hexdigest()
    assert digest == "186486d5c9665859cbbf88ed965b2040d4cd7623017087c713480e735045cb91"


def test_row_label_lists_id_and_metrics():
    assert row_label(7) == "#7"
    assert row_label(7, 0.912, 0.5) == "#7\nIoU 0.91\ndelta1 0.50"


def test_mask_error_colours_each_outcome():
    pred = np.array([[0.9, 0.9, 0.1, 0.1]], np.float32)
    true = np.array([[255, 0, 255, 0]], np.uint8)
    out = mask_error_image(pred, true)
    expected = [MaskErrorColors.TP, MaskErrorColors.FP, MaskErrorColors.FN, MaskErrorColors.TN]
    np.testing.assert_array_equal(out[0], np.array(expected, np.uint8))


def test_outline_overlay_draws_only_near_the_mask_edge():
    image = np.full((60, 80, 3), 100, np.uint8)
    mask = np.zeros((60, 80), np.uint8)
    mask[20:40, 30:50] = 255
    out = outline_overlay(image, mask)
    changed = np.any(out != image, axis=-1)
    assert changed.any()
    ys, xs = np.nonzero(changed)
    assert ys.min() >= 17
    assert ys.max() <= 42
    assert xs.min() >= 27
    assert xs.max() <= 52
    assert not changed[28:32, 38:42].any()  # inside stays untouched


# ----------------------------------------------------------------------------- contact sheet


def test_contact_sheet_shows_transparency_as_a_checkerboard():
    rgba = np.zeros((3, 40, 40, 4), np.uint8)
    rgba[:, 10:30, 10:30] = (0, 255, 0, 255)
    sheet = contact_sheet(rgba, "fg cutouts", ["a", "b", "c"], tile=40, columns=2)
    greens = np.all(sheet == (0, 255, 0), axis=-1)
    assert greens.sum() == 3 * 20 * 20
    board = np.all(sheet == (200, 200, 200), axis=-1) | np.all(sheet == (240, 240, 240), axis=-1)
    assert board.sum() >= 3 * (40 * 40 - 20 * 20) * 0.9
    assert sheet.shape[1] >= 2 * 40


# ----------------------------------------------------------------------------- files


def test_depth_png_round_trips_within_its_scale(tmp_path):
    depth = np.random.default_rng(0).uniform(0.1, 30.0, (17, 23)).astype(np.float32)
    files = depth_png_files(tmp_path / "depth.png", depth, depth_max=30.0)
    assert list(files) == [tmp_path / "depth.png", tmp_path / "depth.json"]
    levels = cv2.imdecode(np.frombuffer(files[tmp_path / "depth.png"], np.uint8), -1)
    meta = json.loads(files[tmp_path / "depth.json"])
    assert levels.dtype == np.uint16
    assert meta["unit"] == "m"
    assert np.abs(levels * meta["scale_m_per_unit"] - depth).max() <= meta["scale_m_per_unit"]


def test_write_png_keeps_rgb_order(tmp_path):
    image = np.zeros((4, 4, 3), np.uint8)
    image[..., 0] = 255
    write_png(tmp_path / "red.png", image)
    bgr = cv2.imread(str(tmp_path / "red.png"))
    assert bgr[0, 0].tolist() == [0, 0, 255]
