"""`--depth teacher`: depth maps from a user-supplied TorchScript monocular depth network.

The contract of the model: it takes a float32 batch (N, 3, H, W) of RGB images in [0, 1] and
returns depth of shape (N, 1, H, W) or (N, H, W), in metres (larger = farther). It runs on the
GPU when there is one. The file is loaded with ``torch.jit.load`` (a TorchScript archive, not a
pickle); anything else is rejected with a one-line error before the build writes anything.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from datagen.errors import InputError

_PROBE_SIZE = 64
_BATCH = 32


@dataclass(frozen=True)
class DepthTeacher:
    """A loaded, validated teacher and the device it runs on."""

    model: torch.jit.ScriptModule
    device: torch.device
    max_depth: float

    @classmethod
    def load(cls, path: str, max_depth: float) -> DepthTeacher:
        """Load and validate the TorchScript model at `path`.

        Raises:
            InputError: The file is missing, not TorchScript, or not a depth model (its output
                on a probe batch has the wrong shape or non-finite values).
        """
        if not Path(path).is_file():
            raise InputError(f"--depth-model {path}: no such file")
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        try:
            with warnings.catch_warnings():  # TorchScript is deprecated but is the contract
                warnings.simplefilter("ignore", FutureWarning)
                model = torch.jit.load(path, map_location=device).eval()
        except (RuntimeError, ValueError) as error:
            first = str(error).strip().splitlines()[0] if str(error).strip() else type(error)
            raise InputError(f"--depth-model {path}: not a TorchScript model ({first})") from None
        teacher = cls(model=model, device=device, max_depth=max_depth)
        teacher._probe(path)
        return teacher

    def predict(self, images: np.ndarray) -> np.ndarray:
        """(N, H, W, 3) uint8 RGB -> (N, H, W) float32 depth in metres, clipped to max_depth."""
        out = np.empty(images.shape[:3], dtype=np.float32)
        with torch.inference_mode():
            for start in range(0, len(images), _BATCH):
                batch = torch.from_numpy(images[start : start + _BATCH]).to(self.device)
                batch = batch.permute(0, 3, 1, 2).float().div_(255.0)
                depth = self._run(batch)
                out[start : start + len(batch)] = depth.float().cpu().numpy()
        return np.clip(np.nan_to_num(out, nan=self.max_depth), 1e-3, self.max_depth)

    def _run(self, batch: torch.Tensor) -> torch.Tensor:
        depth = self.model(batch)
        if isinstance(depth, torch.Tensor) and depth.ndim == 4 and depth.shape[1] == 1:
            depth = depth[:, 0]
        return depth

    def _probe(self, path: str) -> None:
        probe = torch.rand(2, 3, _PROBE_SIZE, _PROBE_SIZE, device=self.device)
        try:
            with torch.inference_mode():
                depth = self._run(probe)
        except Exception as error:  # any failure of user code means "not a depth model"
            raise InputError(
                f"--depth-model {path}: fails on a (2, 3, {_PROBE_SIZE}, {_PROBE_SIZE}) RGB batch "
                f"({type(error).__name__})"
            ) from None
        expected = (2, _PROBE_SIZE, _PROBE_SIZE)
        if not isinstance(depth, torch.Tensor) or tuple(depth.shape) != expected:
            got = tuple(depth.shape) if isinstance(depth, torch.Tensor) else type(depth).__name__
            raise InputError(
                f"--depth-model {path}: not a depth model (output {got}, expected (N, 1, H, W) "
                f"or (N, H, W) for an (N, 3, H, W) input)"
            )
        if not torch.isfinite(depth).all():
            raise InputError(f"--depth-model {path}: produces non-finite depth on a probe batch")
