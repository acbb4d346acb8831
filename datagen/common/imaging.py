"""Small image operations shared by asset loading, compositing and ``fgd predict``.

Alpha is handled premultiplied whenever pixels are resampled: resizing straight RGBA mixes the
colour of transparent pixels into the edge and leaves dark or coloured fringes.

Every image file a user gives (``fgd datagen build``'s photos, cutouts and depth maps, ``fgd
predict``'s photo pairs) is read by :func:`read_image_file`, which refuses a file cut short:
libjpeg decodes half a JPEG with only a warning on stderr and grey below the cut.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from datagen.common.errors import InputError, error_summary

#: The first bytes of every PNG file.
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


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


def read_image_file(
    path: str | os.PathLike[str], what: str, flags: int
) -> tuple[bytes, np.ndarray]:
    """The bytes of the image file at ``path`` and the image they decode to
    (``cv2.imdecode`` with ``flags``: ``IMREAD_COLOR`` gives BGR with the EXIF orientation
    applied, ``IMREAD_UNCHANGED`` the stored channels and depth).

    Raises:
        InputError: Starting with ``what`` (an option or role) and the path, for a missing or
            unreadable file, a JPEG or PNG cut short (:func:`cut_short`), or bytes that do not
            decode as an image.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{what} {path}: no such file")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{what} {path}: cannot read it ({error_summary(exc)})") from None
    problem = cut_short(data)
    if problem:
        raise InputError(f"{what} {path}: {problem}")
    image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), flags)
    if image is None:
        raise InputError(f"{what} {path}: cannot be decoded as an image (corrupt or not an image)")
    return data, image


def cut_short(data: bytes) -> str:
    """Why the bytes of a JPEG or PNG file end before its image does ("" if they do not, and
    for other formats, whose decoders fail on a short file by themselves).

    A JPEG must reach its end-of-image marker, a PNG its IEND chunk. Both are found by walking
    the file's structure, not by looking at its last bytes: cameras append data after the
    image, and an EXIF thumbnail holds an end-of-image marker of its own.
    """
    if data.startswith(b"\xff\xd8"):
        if _jpeg_reaches_its_end(data):
            return ""
        return "truncated: the JPEG ends before its end-of-image marker (a partial copy?)"
    if data.startswith(PNG_SIGNATURE):
        if any(kind == b"IEND" for kind, _ in _png_chunks(data)):
            return ""
        return "truncated: the PNG ends before its IEND chunk (a partial copy?)"
    return ""


def has_alpha(data: bytes) -> bool:
    """Whether an image file declares transparency: a PNG of colour type grey + alpha or RGBA,
    or with a ``tRNS`` chunk, or a WebP with its alpha flag set. (A JPEG has none; other
    formats are not looked at.)"""
    if data.startswith(PNG_SIGNATURE):
        if len(data) > 25 and data[25] in (4, 6):  # IHDR's colour type
            return True
        return any(kind == b"tRNS" for kind, _ in _png_chunks(data, until=b"IDAT"))
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP" and len(data) > 24:
        if data[12:16] == b"VP8X":  # extended: a flags byte, alpha = 0x10
            return bool(data[20] & 0x10)
        if data[12:16] == b"VP8L":  # lossless: bit 28 of the header word after 0x2f
            return bool(data[24] & 0x10)
    return False


def _png_chunks(data: bytes, until: bytes = b"IEND") -> Iterator[tuple[bytes, int]]:
    """(type, end offset) of each whole chunk of a PNG file, up to and with the first of type
    ``until``; a chunk the file ends inside is not given."""
    pos = len(PNG_SIGNATURE)
    while pos + 8 <= len(data):
        kind = data[pos + 4 : pos + 8]
        end = pos + 12 + int.from_bytes(data[pos : pos + 4], "big")  # length, type, data, CRC
        if end > len(data):
            return
        yield kind, end
        if kind == until:
            return
        pos = end


def _jpeg_reaches_its_end(data: bytes) -> bool:
    """Whether a JPEG's segments and scans lead to its end-of-image marker (FF D9).

    Segments are skipped by their lengths (so the marker of an EXIF thumbnail inside one is not
    taken for the image's); a scan's entropy-coded data runs to the next marker, in which an FF
    byte is followed by 00 (a stuffed FF) or D0-D7 (a restart marker). Bytes that are no marker
    where one belongs are skipped up to the next FF, as libjpeg does.
    """
    pos, n = 2, len(data)
    while pos + 1 < n:
        if data[pos] != 0xFF:
            pos = data.find(b"\xff", pos)
            if pos < 0:
                return False
            continue
        marker = data[pos + 1]
        if marker == 0xD9:
            return True
        if marker == 0xFF or marker == 0x01 or 0xD0 <= marker <= 0xD7:
            pos += 1 if marker == 0xFF else 2  # fill byte, or a marker without a length
            continue
        if pos + 4 > n:
            return False
        pos += 2 + int.from_bytes(data[pos + 2 : pos + 4], "big")
        if marker == 0xDA:  # start of scan: its entropy-coded data follows the header
            while True:
                pos = data.find(b"\xff", pos)
                if pos < 0 or pos + 1 >= n:
                    return False
                following = data[pos + 1]
                if following != 0x00 and not 0xD0 <= following <= 0xD7:
                    break
                pos += 2
    return False
