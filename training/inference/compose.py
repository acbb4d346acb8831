r"""The object cut out of its photo under a soft alpha, and put on another background.

``fgd predict`` writes ``foreground.png`` (the object's colours with its alpha) and, with
``--composite NEW_BG``, ``composite.png`` (:func:`composite`). Where the alpha is soft (hair,
fur, a motion-blurred edge) a photo's colour is a mix :math:`I = \alpha F + (1 - \alpha) B` of the
object's and the old background's, so pasting :math:`I` itself onto a new background keeps a
fringe of the old one. :func:`estimate_foreground` solves for :math:`F` with pymatting's
multi-level foreground estimation (Germer et al., "Fast Multi-Level Foreground Estimation",
ICPR 2020) when the optional ``fgd[matting]`` extra is installed; without it the photo's own
colours stand in, and ``fgd predict`` says so in one note line.
"""

from __future__ import annotations

import importlib.util

import cv2
import numpy as np

__all__ = [
    "FOREGROUND_NOTE",
    "composite",
    "cover",
    "estimate_foreground",
    "has_pymatting",
    "matte_overlay",
    "rgba",
]

#: What ``fgd predict`` says once when pymatting is missing.
FOREGROUND_NOTE = (
    "pymatting is not installed (pip install 'fgd[matting]'): foreground.png and composite.png "
    "take the fg_bg photo's own colours, which keep a fringe of its background at soft edges"
)
#: How much of its brightness ``matte_overlay`` leaves the background.
OVERLAY_DIM = 0.35
#: The colour ``matte_overlay`` tints the background with (RGB).
OVERLAY_TINT = (40, 70, 160)


def has_pymatting() -> bool:
    """Whether pymatting (the ``fgd[matting]`` extra) can be imported."""
    # Without importing it (its first import compiles for minutes); a folder left behind by an
    # uninstall is a namespace package, which has no origin.
    spec = importlib.util.find_spec("pymatting")
    return spec is not None and spec.origin is not None


def estimate_foreground(image: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """The object's colours :math:`F` under a soft ``alpha`` (H, W) in [0, 1] of ``image``
    (H, W, 3) uint8: pymatting's ``estimate_foreground_ml`` when installed
    (:func:`has_pymatting`), else ``image`` itself; (H, W, 3) uint8."""
    if not has_pymatting():
        return image
    from pymatting import estimate_foreground_ml

    rgb = image.astype(np.float32) * np.float32(1 / 255)
    fg = estimate_foreground_ml(rgb, np.asarray(alpha, np.float32))
    return np.clip(np.rint(fg * 255), 0, 255).astype(np.uint8)


def rgba(foreground: np.ndarray, alpha_u8: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 colours and (H, W) uint8 alpha -> (H, W, 4) uint8 RGBA."""
    return np.concatenate([foreground, alpha_u8[..., None]], axis=2)


def cover(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """``image`` scaled (keeping its aspect) to cover ``height`` x ``width`` and centre-cropped
    to it: area-averaged when shrinking, bilinear when growing."""
    h, w = image.shape[:2]
    scale = max(height / h, width / w)
    sh, sw = max(height, round(h * scale)), max(width, round(w * scale))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    scaled = cv2.resize(image, (sw, sh), interpolation=interp) if (sh, sw) != (h, w) else image
    top, left = (sh - height) // 2, (sw - width) // 2
    return np.ascontiguousarray(scaled[top : top + height, left : left + width])


def composite(foreground: np.ndarray, alpha_u8: np.ndarray, new_bg: np.ndarray) -> np.ndarray:
    r"""The object on ``new_bg``: :math:`\alpha F + (1 - \alpha) N` rounded, with
    :math:`\alpha` = ``alpha_u8`` / 255 (the alpha of ``alpha.png``, so that alpha 0 keeps the
    new background's pixel and 255 the object's, exactly). All (H, W[, 3]) uint8 of one size."""
    a = alpha_u8.astype(np.float32)[..., None] * np.float32(1 / 255)
    mixed = a * foreground.astype(np.float32) + (1 - a) * new_bg.astype(np.float32)
    return np.clip(np.rint(mixed), 0, 255).astype(np.uint8)


def matte_overlay(image: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """``image`` (RGB uint8) with what the soft ``alpha`` (H, W) in [0, 1] leaves out dimmed and
    tinted: the object keeps its colours, the background is dark blue, and a soft edge (hair,
    a blurred outline) shows as the gradual mix of the two."""
    a = np.asarray(alpha, np.float32)[..., None]
    img = image.astype(np.float32)
    shade = OVERLAY_DIM * img + (1 - OVERLAY_DIM) * np.float32(OVERLAY_TINT)
    return np.clip(np.rint(a * img + (1 - a) * shade), 0, 255).astype(np.uint8)
