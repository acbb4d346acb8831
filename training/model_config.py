"""The network's configuration (:class:`ModelConfig`) and the defaults it takes, without torch.

:mod:`training.models` builds the network from it; :mod:`training.config` and the ``fgd train``
options read its defaults and choices from here, so ``fgd train --help`` needs no torch.
"""

from __future__ import annotations

import typing
from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

from datagen.common.errors import InputError

# The fastest whole model (forward + backward) on a CPU of the timm encoders
# `python -m benchmarks.backbones` times (docs/benchmarks.md, "Backbones").
DEFAULT_BACKBONE = "mobilenetv3_small_100"
Fusion = Literal["early", "siamese"]
#: ``ModelConfig.pretrained_path`` value (what a bare ``--pretrained`` gives): timm's hub weights.
HUB_WEIGHTS = "hub"


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild the network (stored in checkpoints via :meth:`to_dict`).

    Attributes:
        backbone: timm model name; must support ``features_only``.
        decoder: ``"shared"``: one decoder feeds both heads; ``"separate"``: one decoder per head.
        decoder_channels: width of the coarsest decoder stage; each finer stage halves it
            (never below 16), like segmentation_models_pytorch's ``(256, 128, 64, 32, 16)``.
        pretrained_path: where the 3-channel timm model's weights come from (see
            :func:`training.models.resolve_pretrained`): a local file (``.pth``/``.safetensors``,
            loaded with ``weights_only=True``), :data:`HUB_WEIGHTS` (timm's hub weights of
            ``backbone``: its
            tag, else timm's default tag), or a timm pretrained name of the same architecture
            (``resnet18.a1_in1k``); ``None`` means random init.
        out_indices: timm ``out_indices`` (which encoder stages feed the decoder); ``None`` = all.
        full_res_stage: ``True``: a last decoder stage at stride 1, fed by a light conv of the
            input, keeps edges sharp at small image sizes; ``False``: the heads run at the finest
            encoder stride and their outputs are upsampled bilinearly, which at 96 px on the
            CPU makes a training step much cheaper (docs/benchmarks.md, "Backbones").
        fusion: how the two shots meet (:mod:`training.models`): ``"early"`` (stacked channels) or
            ``"siamese"`` (shared encoder, feature differences).
    """

    backbone: str = DEFAULT_BACKBONE
    decoder: Literal["shared", "separate"] = "shared"
    decoder_channels: int = 64
    pretrained_path: str | None = None
    out_indices: tuple[int, ...] | None = None
    full_res_stage: bool = True
    fusion: Fusion = "early"

    def __post_init__(self) -> None:
        if self.decoder not in ("shared", "separate"):
            raise InputError(f"--decoder {self.decoder!r}: must be 'shared' or 'separate'")
        if self.fusion not in typing.get_args(Fusion):
            choices = " or ".join(map(repr, typing.get_args(Fusion)))
            raise InputError(f"--fusion {self.fusion!r}: must be {choices}")
        if not isinstance(self.decoder_channels, int) or self.decoder_channels < 1:
            raise InputError(
                f"--decoder-channels {self.decoder_channels!r}: must be a positive integer"
            )
        if self.out_indices is not None:
            object.__setattr__(self, "out_indices", tuple(self.out_indices))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (tuples become lists) for a checkpoint, *without*
        ``pretrained_path``: the checkpoint's state dict holds the weights, and rebuilding must not
        need (or re-read) a file that may be gone by then."""
        d = asdict(self)
        del d["pretrained_path"]
        if self.out_indices is not None:
            d["out_indices"] = list(self.out_indices)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelConfig:
        """Inverse of :meth:`to_dict` (``pretrained_path`` None); unknown keys -> InputError."""
        unknown = set(d) - {f.name for f in fields(cls)}
        if unknown:
            raise InputError(f"model config: unknown field(s) {sorted(unknown)}")
        return cls(**d)
