"""Small image operations shared by asset loading and compositing.

Alpha is handled premultiplied whenever pixels are resampled: resizing straight RGBA mixes the
colour of transparent pixels into the edge and leaves dark or coloured fringes.
"""

from __future__ import annotations

import cv2
import numpy as np


def premultiply(rgba: np.ndarray) -> np.ndarray:
    """(h, w, 4) uint8 straight RGBA -> float32 premultiplied RGBA in [0, 1]."""
    out = rgba.astype(np.float32) * (1.0 / 255.0)
    out[..., :3] *= out[..., 3:4]
    return out


def unpremultiply(pm: np.ndarray) -> np.ndarray:
    """Float32 premultiplied RGBA in [0, 1] -> (h, w, 4) uint8 straight RGBA."""
    alpha = pm[..., 3:4]
    rgb = np.divide(pm[..., :3], alpha, out=np.zeros_like(pm[..., :3]), where=alpha > 0)
    straight = np.concatenate([rgb, alpha], axis=-1)
    return np.clip(np.rint(straight * 255.0), 0, 255).astype(np.uint8)


def resize_premultiplied(pm: np.ndarray, width: int, height: int) -> np.ndarray:
    """Resize premultiplied RGBA: area averaging when shrinking 2x or more, else bilinear.

    Bilinear does not alias below a 2x reduction and is much faster than area averaging
    (data/README.md); :func:`mip_levels` lets callers always stay below 2x.
    """
    if (pm.shape[1], pm.shape[0]) == (width, height):
        return pm
    strong = pm.shape[0] >= 2 * height or pm.shape[1] >= 2 * width
    interpolation = cv2.INTER_AREA if strong else cv2.INTER_LINEAR
    return cv2.resize(pm, (width, height), interpolation=interpolation)


def mip_levels(pm: np.ndarray, smallest: int = 8) -> list[np.ndarray]:
    """`pm` and its successive area-averaged halvings, down to `smallest` pixels high."""
    levels = [pm]
    while levels[-1].shape[0] >= 2 * smallest and levels[-1].shape[1] >= 2:
        h, w = levels[-1].shape[:2]
        levels.append(cv2.resize(levels[-1], (w // 2, h // 2), interpolation=cv2.INTER_AREA))
    return levels


def pick_level(levels: list[np.ndarray], height: int, width: int) -> np.ndarray:
    """The smallest level at least `height` x `width` (the largest if none is)."""
    for level in reversed(levels):
        if level.shape[0] >= height and level.shape[1] >= width:
            return level
    return levels[0]


def alpha_bbox(alpha: np.ndarray, threshold: float = 0) -> tuple[int, int, int, int] | None:
    """(y0, x0, y1, x1) of the pixels whose alpha exceeds `threshold`, or None if there are none."""
    if alpha.size == 0:
        return None
    # One comparison, then OpenCV's scan of the nonzero bytes (numpy's any() per axis would
    # compare every pixel twice and reduce in Python-visible steps).
    above = np.ascontiguousarray(alpha > threshold).view(np.uint8)
    x, y, w, h = cv2.boundingRect(above)
    if w == 0:
        return None
    return y, x, y + h, x + w


def center_crop_resize(image: np.ndarray, size: int, interpolation: int) -> np.ndarray:
    """Crop the central square of `image` and resize it to (size, size)."""
    h, w = image.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    square = image[top : top + side, left : left + side]
    return cv2.resize(square, (size, size), interpolation=interpolation)


def encode_jpeg(rgb: np.ndarray, quality: int) -> bytes:
    """JPEG-encode an RGB uint8 image with 4:4:4 chroma (no subsampling: sharper fg edges)."""
    params = [
        cv2.IMWRITE_JPEG_QUALITY,
        quality,
        cv2.IMWRITE_JPEG_SAMPLING_FACTOR,
        cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444,
    ]
    # cvtColor, not rgb[..., ::-1]: the binding would copy that reversed view element by
    # element, which took as long as the encoding itself.
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), params)
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return buf.tobytes()


def decode_jpeg(data: np.ndarray | bytes) -> np.ndarray:
    """Decode JPEG bytes to an RGB uint8 image (ValueError if they are not a JPEG)."""
    buf = np.frombuffer(data, dtype=np.uint8) if isinstance(data, bytes) else data
    bgr = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError("the bytes are not a decodable JPEG")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
