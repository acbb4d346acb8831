"""The camera prior of a photo whose geometry nobody gave us: a pinhole with its principal point
at the frame centre, the horizon at :data:`PRIOR_HORIZON` of the height, a horizontal field of
view of :data:`PRIOR_HFOV_DEG`, held :data:`PRIOR_CAMERA_HEIGHT` metres above a flat ground.
The builder places cutouts on that ground, shadows fall on it, and a teacher's depth is fitted
to it.
"""

from __future__ import annotations

import math

import numpy as np

#: Ground-plane prior for user photos: horizon at this fraction of the height ...
PRIOR_HORIZON = 0.4
#: ... seen by a camera of this horizontal field of view ...
PRIOR_HFOV_DEG = 60.0
#: ... held this many metres above the ground.
PRIOR_CAMERA_HEIGHT = 1.5


def prior_focal(size: int) -> float:
    """Focal length in pixels of the ground-plane prior's camera."""
    return (size / 2) / math.tan(math.radians(PRIOR_HFOV_DEG) / 2)


def ground_prior(size: int, max_depth: float) -> tuple[np.ndarray, float, float]:
    """Depth map, horizon row and ground_k of the ground-plane prior for a user photo.

    Rows below the horizon see the ground plane; rows at or above it are set to ``max_depth``.
    """
    horizon_y = PRIOR_HORIZON * size
    ground_k = prior_focal(size) * PRIOR_CAMERA_HEIGHT
    rows = np.arange(size, dtype=np.float64) + 0.5 - horizon_y
    with np.errstate(divide="ignore"):
        depth_rows = np.where(rows > 0, ground_k / np.maximum(rows, 1e-9), max_depth)
    depth = np.repeat(np.minimum(depth_rows, max_depth)[:, None], size, axis=1)
    return depth.astype(np.float32), horizon_y, ground_k
