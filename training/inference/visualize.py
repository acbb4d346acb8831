"""Draw samples and predictions as labelled image grids (numpy + OpenCV only).

One renderer serves three callers: ``fgd export-samples`` (PNG grid of a store, optionally with a
checkpoint's predictions), the TensorBoard image grids of ``fgd train``, and ``fgd predict``
(coloured depth and mask outline of a user's photo).

Conventions: images are RGB ``uint8``; true masks are ``uint8`` 0/255; predicted masks are float
probabilities in [0, 1]; depth is float metres (larger = farther). Depth is drawn on a log scale
with the reversed *magma* map (near = bright, far = dark; CIE L* is strictly monotonic along it),
the relative depth error ``(pred - true) / true`` with a blue-grey-red diverging map (blue =
predicted too near, red = too far), and mask errors as false positives in orange, false
negatives in blue. Colour bars are labelled in metres (percent for the relative error).
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import cv2
import numpy as np

from datagen.common.errors import InputError, error_summary
from datagen.common.files import write_bytes_atomic
from datagen.common.imaging import premultiply
from datagen.store.schema import MASK_THRESHOLD

__all__ = [
    "DEPTH_PNG_LEVELS",
    "Letterbox",
    "MaskErrorColors",
    "check_output_folder",
    "colorize",
    "colorize_depth",
    "colorize_depth_error",
    "contact_sheet",
    "depth_png_files",
    "depth_range",
    "mask_error_image",
    "outline_overlay",
    "png_bytes",
    "render_grid",
    "row_label",
    "stack_sheets",
    "write_png",
]

DEPTH_PNG_LEVELS = 65535
"""Levels of a 16-bit depth PNG: depth_m = value * depth_max / 65535."""

_FONT = cv2.FONT_HERSHEY_SIMPLEX
_WHITE = 255
_TEXT = (20, 20, 20)

# Blue - light grey - red anchors of Moreland's "coolwarm" diverging map; L* rises to the middle
# and falls symmetrically, so the size of an error reads as darkness and its sign as hue.
_DIVERGING_ANCHORS = np.array([[59, 76, 192], [221, 221, 221], [180, 4, 38]], dtype=np.float64)


class MaskErrorColors:
    """RGB colours of the mask-error tile (Okabe-Ito orange / sky blue stay apart for colour-blind
    readers; true negatives dark, true positives light)."""

    TN = (35, 35, 35)
    TP = (200, 200, 200)
    FP = (230, 159, 0)
    FN = (86, 180, 233)


# ----------------------------------------------------------------------------- colour maps


@cache
def _lut(name: str) -> np.ndarray:
    """(256, 3) uint8 RGB lookup table of ``name`` ("magma", "diverging"; "_r" reverses)."""
    base = name.removesuffix("_r")
    if base == "magma":
        bgr = cv2.applyColorMap(np.arange(256, dtype=np.uint8)[:, None], cv2.COLORMAP_MAGMA)
        lut = bgr[:, 0, ::-1]
    elif base == "diverging":
        t = np.linspace(0.0, 2.0, 256)
        lo = np.minimum(t.astype(int), 1)
        frac = (t - lo)[:, None]
        lut = _DIVERGING_ANCHORS[lo] * (1 - frac) + _DIVERGING_ANCHORS[lo + 1] * frac
        lut = np.rint(lut).astype(np.uint8)
    else:
        raise ValueError(f"unknown colour map {name!r}")
    lut = np.ascontiguousarray(lut[::-1] if name.endswith("_r") else lut)
    lut.setflags(write=False)
    return lut


def colorize(values: np.ndarray, vmin: float, vmax: float, cmap: str) -> np.ndarray:
    """Map ``values`` linearly from [vmin, vmax] (clipped) onto ``cmap``; NaN is drawn grey.

    Returns:
        ``values.shape + (3,)`` uint8 RGB.
    """
    v = np.asarray(values, dtype=np.float32)
    scaled = (v - vmin) / max(vmax - vmin, 1e-12)
    idx = np.rint(np.clip(np.nan_to_num(scaled, nan=0.0), 0.0, 1.0) * 255).astype(np.uint8)
    out = _lut(cmap)[idx]
    out[np.isnan(v)] = 128
    return out


def colorize_depth(depth: np.ndarray, vmin: float, vmax: float) -> np.ndarray:
    """Depth in metres -> RGB on a log scale from ``vmin`` (bright) to ``vmax`` (dark); log
    spacing gives near and far depths equal room, as the log-depth loss does."""
    logd = np.log(np.maximum(np.asarray(depth, dtype=np.float32), 1e-6))
    return colorize(logd, math.log(vmin), math.log(vmax), "magma_r")


def colorize_depth_error(pred: np.ndarray, true: np.ndarray, limit: float = 0.5) -> np.ndarray:
    """Relative depth error ``(pred - true) / true`` -> RGB on [-limit, +limit]: blue where the
    prediction is too near, red where it is too far, pale where it is right."""
    rel = (np.asarray(pred, np.float32) - true) / np.maximum(np.asarray(true, np.float32), 1e-6)
    return colorize(rel, -limit, limit, "diverging")


def _round_sig(value: float, up: bool) -> float:
    """``value`` > 0 rounded up or down to one significant digit (27 -> 30, 0.47 -> 0.4)."""
    mag = 10 ** math.floor(math.log10(value))
    digits = value / mag
    digits = math.ceil(digits - 1e-6) if up else math.floor(digits + 1e-6)
    return max(digits, 1) * mag


def depth_range(depths: np.ndarray) -> tuple[float, float]:
    """Colour range of a set of depth maps: their 1st-99th percentile widened to one significant
    digit (e.g. 2-30 m), so the colour bar's ends are round numbers."""
    d = np.asarray(depths, dtype=np.float32)
    d = d[np.isfinite(d) & (d > 0)]
    if d.size == 0:
        return 1.0, 10.0
    lo, hi = (float(x) for x in np.percentile(d, [1, 99]))
    lo, hi = _round_sig(lo, up=False), _round_sig(hi, up=True)
    return lo, hi if hi > lo else _round_sig(lo * 1.5, up=True)


def _depth_ticks(vmin: float, vmax: float) -> list[tuple[float, str]]:
    """(position in [0, 1], label) on the log scale: both ends and the 1-2-5 values between."""
    span = math.log(vmax / vmin)
    values = [vmin, vmax]
    for k in range(math.floor(math.log10(vmin)), math.ceil(math.log10(vmax)) + 1):
        values += [m * 10**k for m in (1, 2, 5) if vmin < m * 10**k < vmax]
    ticks = [(math.log(v / vmin) / span, f"{v:g}") for v in sorted(values)]
    return [(f, t + " m" if f == 1.0 else t) for f, t in ticks]


def _error_ticks(limit: float) -> list[tuple[float, str]]:
    values = (-limit, -limit / 2, 0.0, limit / 2, limit)
    return [((v + limit) / (2 * limit), f"{v:+.0%}" if v else "0") for v in values]


# ----------------------------------------------------------------------------- text and tiles


def text_size(text: str, scale: float) -> tuple[int, int]:
    (w, h), base = cv2.getTextSize(text, _FONT, scale, 1)
    return w, h + base


def _put_text(canvas: np.ndarray, text: str, x: int, y_top: int, scale: float) -> None:
    """Write one line whose bounding box starts at (x, y_top)."""
    (_, h), _ = cv2.getTextSize(text, _FONT, scale, 1)
    cv2.putText(canvas, text, (x, y_top + h), _FONT, scale, _TEXT, 1, cv2.LINE_AA)


def _fit_scale(texts: Sequence[str], width: int, scale: float) -> float:
    """Largest scale <= ``scale`` at which every text fits in ``width`` pixels."""
    widest = max((text_size(t, 1.0)[0] for t in texts), default=1)
    return min(scale, width / max(widest, 1))


def _to_tile(image: np.ndarray, tile: int, nearest: bool = False) -> np.ndarray:
    """Resize an (H, W) or (H, W, 3) image to (tile, tile, 3) uint8."""
    interp = cv2.INTER_NEAREST if nearest else cv2.INTER_AREA
    if image.shape[0] < tile and not nearest:
        interp = cv2.INTER_LINEAR
    out = cv2.resize(np.ascontiguousarray(image), (tile, tile), interpolation=interp)
    return np.repeat(out[..., None], 3, axis=2) if out.ndim == 2 else out


def mask_error_image(pred_prob: np.ndarray, true_mask: np.ndarray) -> np.ndarray:
    """(H, W, 3) RGB: true negatives dark, true positives light, false positives orange, false
    negatives blue. ``pred_prob`` is thresholded at :data:`~datagen.store.schema.MASK_THRESHOLD`,
    ``true_mask`` (0/255) at 128."""
    pred = np.asarray(pred_prob) >= MASK_THRESHOLD
    true = np.asarray(true_mask) >= 128
    palette = np.array(
        [MaskErrorColors.TN, MaskErrorColors.FN, MaskErrorColors.FP, MaskErrorColors.TP], np.uint8
    )
    return palette[pred.astype(np.uint8) * 2 + true.astype(np.uint8)]


def outline_overlay(
    image: np.ndarray, mask: np.ndarray, color: tuple[int, int, int] = (255, 220, 0)
) -> np.ndarray:
    """``image`` (RGB uint8) with the outline of ``mask`` (nonzero = inside) drawn over it: a
    ``color`` line (about 1/300 of the image's longer side, at least 1 px) on a dark line twice
    as wide, so it stands out on bright and dark pictures alike."""
    binary = (np.asarray(mask) > 0).astype(np.uint8)
    contours, _ = cv2.findContours(binary, cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE)
    out = np.ascontiguousarray(image, dtype=np.uint8).copy()
    thickness = max(1, round(max(image.shape[:2]) / 300))
    cv2.drawContours(out, contours, -1, (0, 0, 0), 2 * thickness + 1, cv2.LINE_AA)
    cv2.drawContours(out, contours, -1, color, thickness, cv2.LINE_AA)
    return out


# ----------------------------------------------------------------------------- grid


@dataclass(frozen=True)
class _Column:
    """One titled grid column: ``draw(row)`` gives its (H, W) or (H, W, 3) image; ``bar`` is a
    colour bar and ``legend`` (label, RGB) swatches drawn under the title;
    ``nearest`` resizes without interpolation (label images)."""

    title: str
    draw: Callable[[int], np.ndarray]
    bar: _Bar | None = None
    legend: Sequence[tuple[str, tuple[int, int, int]]] | None = None
    nearest: bool = False


@dataclass(frozen=True)
class _Bar:
    """A colour bar: the colour map from position 0 to 1 and its (position, label) ticks."""

    cmap: str
    ticks: Sequence[tuple[float, str]]


def _colorbar(width: int, bar: _Bar, scale: float) -> np.ndarray:
    """White strip holding a horizontal colour bar with its tick labels; interior ticks whose
    labels would collide with a kept one are left out (the ends always stay)."""
    bar_h = max(6, width // 22)
    tick_len = max(2, bar_h // 3)
    _, text_h = text_size("0 m", scale)
    strip = np.full((bar_h + tick_len + text_h + 4, width, 3), _WHITE, np.uint8)
    ends = (bar.ticks[0], bar.ticks[-1])
    margin = max(text_size(t, scale)[0] for _, t in ends) // 2 + 1
    x0, x1 = margin, width - margin
    strip[:bar_h, x0:x1] = colorize(np.linspace(0, 1, x1 - x0)[None, :], 0, 1, bar.cmap)
    kept: list[tuple[int, int]] = []  # (left, right) of the labels drawn
    for frac, label in sorted(bar.ticks, key=lambda t: (t not in ends, t[0])):
        x = round(x0 + frac * (x1 - x0 - 1))
        tw, _ = text_size(label, scale)
        left = min(max(0, x - tw // 2), width - tw)
        if any(left < b + 4 and a < left + tw + 4 for a, b in kept):
            continue
        kept.append((left, left + tw))
        strip[bar_h : bar_h + tick_len, x] = _TEXT
        _put_text(strip, label, left, bar_h + tick_len + 1, scale)
    return strip


def _legend(width: int, items: Sequence[tuple[str, tuple[int, int, int]]], scale: float):
    _, text_h = text_size("FP", scale)
    box = text_h
    strip = np.full((text_h + 4, width, 3), _WHITE, np.uint8)
    item_w = width // len(items)
    for k, (label, rgb) in enumerate(items):
        x = k * item_w + max(0, (item_w - box - 3 - text_size(label, scale)[0]) // 2)
        strip[2 : 2 + box, x : x + box] = rgb
        _put_text(strip, label, x + box + 3, 2, scale)
    return strip


def row_label(sample_id: int | str, iou: float | None = None, delta1: float | None = None) -> str:
    """The left-hand label of a grid row: the sample id and, with a prediction, its IoU / delta1."""
    lines = [f"#{sample_id}"]
    if iou is not None:
        lines.append(f"IoU {iou:.2f}")
    if delta1 is not None:
        lines.append(f"delta1 {delta1:.2f}")
    return "\n".join(lines)


def render_grid(
    samples: Mapping[str, np.ndarray],
    predictions: Mapping[str, np.ndarray] | None = None,
    labels: Sequence[str] | None = None,
    *,
    tile: int = 224,
    depth_limits: tuple[float, float] | None = None,
) -> np.ndarray:
    """Draw one row per sample: bg | fg_bg | mask | depth [| predicted mask | predicted depth |
    mask error | depth error].

    Args:
        samples: ``bg``, ``fgbg`` (B, H, W, 3) uint8, ``mask`` (B, H, W) uint8 0/255 and
            ``depth`` (B, H, W) float metres, as the store returns them stacked.
        predictions: ``mask`` (B, H, W) probabilities in [0, 1] and ``depth`` (B, H, W) metres, or
            None for the four data columns only.
        labels: one (possibly multi-line) label per row, see :func:`row_label`; None for none.
        tile: edge of each square tile in pixels (224 keeps titles and labels readable).
        depth_limits: colour range of the depth columns in metres (log scale); by default
            :func:`depth_range` of the true depths, shared by true and predicted depth. The
            depth-error column shows the relative error from -50 % to +50 %.

    Returns:
        (height, width, 3) uint8 RGB on a white background, ready for ``cv2.imwrite`` (after
        RGB->BGR) or TensorBoard's ``add_image(..., dataformats="HWC")``.
    """
    n = len(samples["fgbg"])
    columns = _grid_columns(samples, predictions, depth_limits or depth_range(samples["depth"]))

    gap = max(2, tile // 56)
    title_scale = _fit_scale([c.title for c in columns], tile - 4, max(0.35, 0.6 * tile / 224))
    small_scale = max(0.3, 0.45 * tile / 224)
    headers = [_header(c, tile, title_scale, small_scale) for c in columns]
    header_h = max(h.shape[0] for h in headers)

    label_lines = [lab.split("\n") for lab in labels] if labels else []
    label_scale = max(0.35, 0.55 * tile / 224)
    label_w = max((text_size(s, label_scale)[0] for ls in label_lines for s in ls), default=0)
    label_w = label_w + 2 * gap if label_lines else 0

    width = label_w + len(columns) * (tile + gap) + gap
    height = header_h + n * (tile + gap) + gap
    canvas = np.full((height, width, 3), _WHITE, np.uint8)
    for k, (col, head) in enumerate(zip(columns, headers, strict=True)):
        x = label_w + gap + k * (tile + gap)
        canvas[: head.shape[0], x : x + tile] = head
        for i in range(n):
            y = header_h + i * (tile + gap)
            canvas[y : y + tile, x : x + tile] = _to_tile(col.draw(i), tile, nearest=col.nearest)
    for i, lines in enumerate(label_lines):
        _, line_h = text_size("Ig", label_scale)
        y = header_h + i * (tile + gap) + (tile - len(lines) * (line_h + 4)) // 2
        for j, line in enumerate(lines):
            _put_text(canvas, line, gap, y + j * (line_h + 4), label_scale)
    return canvas


def _grid_columns(
    samples: Mapping[str, np.ndarray],
    predictions: Mapping[str, np.ndarray] | None,
    depth_limits: tuple[float, float],
) -> list[_Column]:
    """The columns :func:`render_grid` draws, depth in ``depth_limits`` (metres)."""
    vmin, vmax = depth_limits
    depth_bar = _Bar("magma_r", _depth_ticks(vmin, vmax))
    columns = [
        _Column("bg", lambda i: samples["bg"][i]),
        _Column("fg_bg", lambda i: samples["fgbg"][i]),
        _Column("mask", lambda i: samples["mask"][i], nearest=True),
        _Column(
            "depth",
            lambda i: colorize_depth(samples["depth"][i], vmin, vmax),
            bar=depth_bar,
        ),
    ]
    if predictions is not None:
        columns += [
            _Column("pred mask", lambda i: _prob_to_u8(predictions["mask"][i])),
            _Column(
                "pred depth",
                lambda i: colorize_depth(predictions["depth"][i], vmin, vmax),
                bar=depth_bar,
            ),
            _Column(
                "mask error",
                lambda i: mask_error_image(predictions["mask"][i], samples["mask"][i]),
                legend=[("FP", MaskErrorColors.FP), ("FN", MaskErrorColors.FN)],
                nearest=True,
            ),
            _Column(
                "depth error",
                lambda i: colorize_depth_error(predictions["depth"][i], samples["depth"][i]),
                bar=_Bar("diverging", _error_ticks(0.5)),
            ),
        ]
    return columns


def _prob_to_u8(prob: np.ndarray) -> np.ndarray:
    return np.rint(np.clip(prob, 0.0, 1.0) * 255).astype(np.uint8)


def _header(col: _Column, tile: int, title_scale: float, small_scale: float) -> np.ndarray:
    tw, th = text_size(col.title, title_scale)
    title = np.full((th + 8, tile, 3), _WHITE, np.uint8)
    _put_text(title, col.title, (tile - tw) // 2, 4, title_scale)
    parts = [title]
    if col.bar is not None:
        parts.append(_colorbar(tile, col.bar, small_scale))
    if col.legend is not None:
        parts.append(_legend(tile, col.legend, small_scale))
    return np.concatenate(parts, axis=0)


# ----------------------------------------------------------------------------- letterbox


@dataclass(frozen=True)
class Letterbox:
    """Where a ``height`` x ``width`` picture sits inside a ``size`` x ``size`` model input:
    scaled by ``size / max(height, width)`` and centred, the rest padded."""

    height: int
    width: int
    size: int

    @property
    def inner(self) -> tuple[int, int]:
        """(height, width) of the scaled picture inside the input (each at least 1)."""
        scale = self.size / max(self.height, self.width)
        return max(1, round(self.height * scale)), max(1, round(self.width * scale))

    @property
    def offset(self) -> tuple[int, int]:
        """(top, left) of the picture inside the input."""
        h, w = self.inner
        return (self.size - h) // 2, (self.size - w) // 2

    def apply(self, image: np.ndarray, pad_value: float | tuple[float, ...] = 0) -> np.ndarray:
        """(height, width[, C]) -> (size, size[, C]): area-averaged when shrinking, bilinear
        when growing, padded with ``pad_value``."""
        h, w = self.inner
        shrinking = h * w < self.height * self.width
        interp = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
        scaled = cv2.resize(image, (w, h), interpolation=interp)
        top, left = self.offset
        out = np.empty((self.size, self.size, *image.shape[2:]), dtype=image.dtype)
        out[...] = pad_value
        out[top : top + h, left : left + w] = scaled.reshape(h, w, *image.shape[2:])
        return out

    def crop(self, output: np.ndarray) -> np.ndarray:
        """(size, size[, C]) model output -> its picture area at the model's grid,
        (inner height, inner width[, C])."""
        h, w = self.inner
        top, left = self.offset
        return np.ascontiguousarray(output[top : top + h, left : left + w])

    def invert(self, output: np.ndarray) -> np.ndarray:
        """(size, size[, C]) model output -> (height, width[, C]): the picture area, bilinearly
        resized back to the original size."""
        crop = self.crop(output)
        restored = cv2.resize(crop, (self.width, self.height), interpolation=cv2.INTER_LINEAR)
        return restored.reshape(self.height, self.width, *output.shape[2:])


# ----------------------------------------------------------------------------- contact sheet


def _checkerboard(h: int, w: int, cell: int = 8) -> np.ndarray:
    yy, xx = np.mgrid[:h, :w]
    board = np.where(((yy // cell) + (xx // cell)) % 2 == 0, 200, 240).astype(np.uint8)
    return np.repeat(board[..., None], 3, axis=2)


def contact_sheet(
    images: Sequence[np.ndarray],
    title: str,
    captions: Sequence[str] | None = None,
    *,
    tile: int = 96,
    columns: int = 10,
) -> np.ndarray:
    """A titled sheet of thumbnails, each fitted inside a ``tile`` square keeping its aspect.
    RGBA images are drawn over a checkerboard so transparent parts show as such.

    Args:
        images: (h, w, 3 or 4) uint8 images of any sizes (straight alpha).
        title: line written above the sheet.
        captions: one short caption per image (e.g. its file name), cut to the tile width.
        tile: thumbnail edge in pixels.
        columns: thumbnails per row.
    """
    n = len(images)
    cols = max(1, min(columns, n))
    rows = max(1, math.ceil(n / cols))
    gap = 4
    scale = 0.6
    cap_scale = 0.35
    _, title_h = text_size(title, scale)
    _, cap_h = text_size("Ig", cap_scale)
    cap_h = cap_h + 2 if captions is not None else 0
    cell_h = tile + cap_h + gap
    width = max(cols * (tile + gap) + gap, text_size(title, scale)[0] + 2 * gap)
    sheet = np.full((title_h + 2 * gap + rows * cell_h, width, 3), _WHITE, np.uint8)
    _put_text(sheet, title, gap, gap, scale)
    board = _checkerboard(tile, tile).astype(np.float32)
    for k, image in enumerate(images):
        x = gap + (k % cols) * (tile + gap)
        y = title_h + 2 * gap + (k // cols) * cell_h
        box = Letterbox(image.shape[0], image.shape[1], tile)
        if image.shape[2] == 4:  # resample premultiplied (no fringes), then lay over the board
            pm = box.apply(premultiply(image), 0.0)
            thumb = np.rint(pm[..., :3] * 255 + board * (1 - pm[..., 3:])).astype(np.uint8)
        else:
            thumb = box.apply(image, _WHITE)
        sheet[y : y + tile, x : x + tile] = thumb
        if captions is not None:
            text = captions[k]
            while text and text_size(text, cap_scale)[0] > tile:
                text = text[:-1]
            _put_text(sheet, text, x, y + tile + 1, cap_scale)
    return sheet


def stack_sheets(sheets: Sequence[np.ndarray], gap: int = 12) -> np.ndarray:
    """Sheets one under the other on a white background, left-aligned."""
    width = max(s.shape[1] for s in sheets)
    height = sum(s.shape[0] for s in sheets) + gap * (len(sheets) - 1)
    out = np.full((height, width, 3), _WHITE, np.uint8)
    y = 0
    for s in sheets:
        out[y : y + s.shape[0], : s.shape[1]] = s
        y += s.shape[0] + gap
    return out


# ----------------------------------------------------------------------------- files


def check_output_folder(folder: str | os.PathLike, option: str) -> Path:
    """Check that files can be written in ``folder`` (made when missing), creating nothing yet:
    the nearest existing folder on its path must be a folder we may write in. Bad -> InputError
    naming ``option``."""
    folder = Path(folder)
    existing = folder
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        where = "is a file" if existing == folder else f"{existing} is a file"
        raise InputError(f"{option} {folder}: {where}; give a folder")
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as exc:
        reason = error_summary(exc)
        raise InputError(f"{option} {folder}: cannot write in {existing} ({reason})") from None
    return folder


def png_bytes(image: np.ndarray) -> bytes:
    """An RGB (H, W, 3), RGBA (H, W, 4) or grey (H, W) uint8/uint16 image as PNG bytes."""
    array = np.ascontiguousarray(image)
    if array.ndim == 3:
        code = cv2.COLOR_RGBA2BGRA if array.shape[2] == 4 else cv2.COLOR_RGB2BGR
        array = cv2.cvtColor(array, code)
    # Level 6 writes smaller files than the default level.
    ok, buf = cv2.imencode(".png", array, [cv2.IMWRITE_PNG_COMPRESSION, 6])
    if not ok:
        raise ValueError(f"could not encode a {array.shape} {array.dtype} image as PNG")
    return buf.tobytes()


def write_png(path: str | os.PathLike, image: np.ndarray, option: str = "output") -> None:
    """Write an RGB (H, W, 3) or grey (H, W) uint8/uint16 image as PNG, atomically; a failed
    write is an InputError naming ``option`` and the file."""
    write_bytes_atomic(path, png_bytes(image), option)


def depth_png_files(
    path: str | os.PathLike, depth: np.ndarray, depth_max: float
) -> dict[Path, bytes]:
    """Metres as a 16-bit PNG at `path` plus ``<stem>.json`` holding its scale (file -> bytes).

    ``value = round(clip(depth, 0, depth_max) / depth_max * 65535)``, so
    ``depth_m = value * scale_m_per_unit`` with ``scale_m_per_unit = depth_max / 65535``.
    """
    path = Path(path)
    scale = depth_max / DEPTH_PNG_LEVELS
    levels = np.rint(np.clip(depth, 0.0, depth_max) / scale).astype(np.uint16)
    sidecar = {"scale_m_per_unit": scale, "unit": "m", "depth_max_m": depth_max}
    return {
        path: png_bytes(levels),
        path.with_suffix(".json"): (json.dumps(sidecar, indent=2) + "\n").encode(),
    }
