"""A trained model ready to run on photo pairs: :class:`Predictor`, from a checkpoint of ``fgd
train`` or an ONNX file of ``fgd export-model``, with the input size and normalisation it was
trained with and the passes of its test-time augmentation (:class:`training.options.TTAConfig`;
``--scales``, ``--flip``). Each pair is letterboxed to the model's square input (scaled to fit,
keeping its aspect, and padded; see :class:`training.inference.visualize.Letterbox`), the passes
run, and their averaged outputs are cropped back to the picture area and resized to the
original size. :mod:`training.inference.pairs` feeds it the user's photos.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from datagen.common.errors import InputError, error_summary
from training.checkpoint import load_checkpoint, model_from_checkpoint
from training.config import TrainConfig
from training.fitting.evaluate import eval_setup, predict
from training.inference.export_model import load_exported
from training.inference.visualize import Letterbox
from training.losses import target_to_depth
from training.options import (
    TTAConfig,
)
from training.preprocess import Normalization, preprocess, resampled_images
from training.runtime import resolve_device, to_device

__all__ = ["Infer", "Predictor"]


#: The model on square (B, S, S, 3) uint8 RGB pairs of any S, run at input size ``size``: mask
#: probability and depth in metres, each (B, 1, size, size) float32 (on its device).
Infer = Callable[[np.ndarray, np.ndarray, int], tuple[Tensor, Tensor]]


@dataclass(frozen=True)
class Predictor:
    """A model ready to run on photo pairs: a checkpoint of ``fgd train``
    (:meth:`from_checkpoint`) or a file of ``fgd export-model`` (:meth:`from_exported`), with the
    input size and normalisation it was trained with.

    Attributes:
        size: Edge of the square model input it was trained at, in pixels.
        depth_max: Far clip of predicted depth, in metres.
        norm: The input normalisation (its mean is the letterbox padding).
        infer: The model itself (see :data:`Infer`).
        train_config: The run's config (None for an exported file, which does not carry it).
        tta: The passes of each prediction (default: one, at the trained size).
    """

    size: int
    depth_max: float
    norm: Normalization
    infer: Infer
    train_config: TrainConfig | None = None
    tta: TTAConfig = TTAConfig()

    def with_tta(self, tta: TTAConfig) -> Predictor:
        """This model predicting with the passes of ``tta``."""
        tta.input_sizes(self.size)  # fails now, not at the first pair
        return dataclasses.replace(self, tta=tta)

    @classmethod
    def from_file(cls, path: str | os.PathLike, device: str = "auto") -> Predictor:
        """``path`` as :meth:`from_exported` when it ends in ``.onnx``, else as a checkpoint."""
        if Path(path).suffix.lower() == ".onnx":
            return cls.from_exported(path, device)
        return cls.from_checkpoint(path, device)

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike, device: str = "auto") -> Predictor:
        """Load ``path`` onto ``device`` ("auto", "cpu" or "cuda"); bad file -> InputError."""
        ckpt = load_checkpoint(path)
        dev = resolve_device(device)
        loaded = model_from_checkpoint(ckpt, dev, str(path))
        cfg = loaded.train_config
        size = cfg.size or int(ckpt.get("store", {}).get("size", 0))
        if size < 1:
            raise InputError(f"checkpoint {path} does not record the image size it was trained at")
        setup = eval_setup(loaded, dev, size)

        def infer(bg: np.ndarray, fgbg: np.ndarray, at: int) -> tuple[Tensor, Tensor]:
            pair = to_device(
                {"bg": torch.from_numpy(bg), "fgbg": torch.from_numpy(fgbg)}, setup.device
            )
            inputs = preprocess(pair["bg"], pair["fgbg"], at, setup.norm, setup.channels_last)
            out = predict(loaded.model, inputs, setup)
            return torch.sigmoid(out["mask_logits"]), target_to_depth(out["depth"], setup.depth_max)

        return cls(size, setup.depth_max, loaded.normalization, infer, cfg)

    @classmethod
    def from_exported(cls, path: str | os.PathLike, device: str = "auto") -> Predictor:
        """An ONNX file of ``fgd export-model``, run by onnxruntime on the CPU (so ``device``
        must be "auto" or "cpu"); not such a file, or onnxruntime missing -> InputError."""
        if device == "cuda":
            raise InputError(f"--device cuda: {path} is an exported model, which runs on the CPU")
        exported = load_exported(path, "onnx")
        meta = exported.metadata
        try:
            size = int(meta["fgd.size"])
            norm = Normalization.from_dict(json.loads(meta["fgd.normalization"]))
        except (KeyError, ValueError, TypeError) as exc:
            raise InputError(
                f"--checkpoint {path}: its fgd metadata is incomplete ({error_summary(exc)})"
            ) from None
        if size < 1:
            raise InputError(
                f"--checkpoint {path} does not record the image size it was trained at"
            )

        def infer(bg: np.ndarray, fgbg: np.ndarray, at: int) -> tuple[Tensor, Tensor]:
            # The file takes uint8 and normalises inside: resample to the input size as
            # preprocess() does, then round back to uint8.
            if bg.shape[1] != at:
                bg, fgbg = _resampled_u8(bg, fgbg, at)
            mask, depth = exported.run(_channels_first(bg), _channels_first(fgbg))
            return torch.from_numpy(mask), torch.from_numpy(depth)

        return cls(size, exported.depth_max, norm, infer)

    @torch.no_grad()
    def run(self, bg: np.ndarray, fgbg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mask probability and depth (metres) of square pairs, each (B, H, W), at their size:
        the mean of the passes of :attr:`tta`.

        Args:
            bg, fgbg: (B, S, S, 3) uint8 RGB; resized to each pass's input size and back.
        """
        s = bg.shape[1]
        probs, depths = [], []
        for scale, at in zip(self.tta.scales, self.tta.input_sizes(self.size), strict=True):
            for flip in (False, True) if self.tta.flip else (False,):
                prob, depth = self._one_pass(bg, fgbg, at, flip, s)
                probs.append(prob)
                if scale == 1.0:
                    depths.append(depth)
        return _mean(probs), _mean(depths)

    def _one_pass(
        self, bg: np.ndarray, fgbg: np.ndarray, at: int, flip: bool, out_size: int
    ) -> tuple[Tensor, Tensor]:
        """One pass at input size ``at`` (mirrored with ``flip``), back at ``out_size``."""
        if flip:
            bg, fgbg = bg[:, :, ::-1], fgbg[:, :, ::-1]
        prob, depth = self.infer(np.ascontiguousarray(bg), np.ascontiguousarray(fgbg), at)
        if at != out_size:
            prob = F.interpolate(prob, size=(out_size,) * 2, mode="bilinear", align_corners=False)
            depth = F.interpolate(depth, size=(out_size,) * 2, mode="bilinear", align_corners=False)
        if flip:
            prob, depth = prob.flip(-1), depth.flip(-1)
        return prob, depth

    def run_pairs(
        self, pairs: Sequence[tuple[np.ndarray, np.ndarray]]
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """Mask probability and depth of (bg, fgbg) pairs of any size, each at its pair's size
        (:meth:`run_pairs_coarse` resized bilinearly)."""
        return [
            (box.invert(p), box.invert(d))
            for box, p, d in zip(*self._run_boxed(pairs), strict=True)
        ]

    def run_pairs_coarse(
        self, pairs: Sequence[tuple[np.ndarray, np.ndarray]]
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """Mask probability and depth of (bg, fgbg) pairs of any size, each over its pair's
        picture area at the model's grid (:meth:`Letterbox.crop
        <training.inference.visualize.Letterbox.crop>` of the largest input size): what
        :mod:`training.inference.refine` brings to the photo's size.

        Every pair is letterboxed to the largest input size of its passes (so a pass above the
        trained size sees the photo's own detail); the padding is the normalisation mean, so it
        is (to rounding) zero in the normalised input of both images.
        """
        return [
            (box.crop(p), box.crop(d)) for box, p, d in zip(*self._run_boxed(pairs), strict=True)
        ]

    def _run_boxed(
        self, pairs: Sequence[tuple[np.ndarray, np.ndarray]]
    ) -> tuple[list[Letterbox], np.ndarray, np.ndarray]:
        """Each pair's letterbox and the (B, S, S) probabilities and depths of the boxed pairs."""
        norm = self.norm
        pad_bg, pad_fgbg = _mean_u8(norm.bg_mean), _mean_u8(norm.fgbg_mean)
        side = max(self.tta.input_sizes(self.size))
        boxes = [Letterbox(*fgbg.shape[:2], side) for _, fgbg in pairs]
        bg = np.stack([box.apply(b, pad_bg) for box, (b, _) in zip(boxes, pairs, strict=True)])
        fgbg = np.stack([box.apply(f, pad_fgbg) for box, (_, f) in zip(boxes, pairs, strict=True)])
        prob, depth = self.run(bg, fgbg)
        return boxes, prob, depth


def _mean(passes: list[Tensor]) -> np.ndarray:
    """(B, H, W) float32 numpy mean of (B, 1, H, W) passes."""
    total = passes[0] if len(passes) == 1 else torch.stack(passes).mean(0)
    return total[:, 0].cpu().numpy()


def _mean_u8(mean: Sequence[float]) -> tuple[int, ...]:
    return tuple(round(255 * m) for m in mean)


def _resampled_u8(bg: np.ndarray, fgbg: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """(B, S, S, 3) uint8 pairs resampled to ``size`` exactly as :func:`preprocess` resamples."""
    images = resampled_images(torch.from_numpy(bg), torch.from_numpy(fgbg), size)
    pixels = images.mul_(255).round_().clamp_(0, 255).to(torch.uint8).permute(0, 2, 3, 1)
    return pixels[: len(bg)].numpy(), pixels[len(bg) :].numpy()


def _channels_first(images: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(images.transpose(0, 3, 1, 2))
