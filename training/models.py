"""The dual-head network: timm encoder on the (bg, fg_bg) pair, U-Net decoder(s), 2 heads.

``build_model(ModelConfig(...))`` is the one factory. The encoder is any timm model that supports
``features_only``; the decoder is sized from its ``feature_info`` (channels and reductions), so
swapping the backbone needs no other change. The pair meets in one of two ways
(``ModelConfig.fusion``):

- ``"early"``: one encoder on the two shots stacked on the channel axis (6 channels);
- ``"siamese"``: one 3-channel encoder run on each shot with shared weights; at every stage the
  decoder sees the fg_bg features and their absolute difference from the bg's,
  ``[f(fg_bg), |f(fg_bg) - f(bg)|]`` (Daudt et al. 2018, FC-Siam-diff). The comparison then
  happens between features, which a second shot's small shift or exposure change moves less
  than it moves pixels.

Outputs of :meth:`DualHeadNet.forward`, both ``(B, 1, H, W)`` at the input resolution:

- ``mask_logits``: foreground logits (apply ``sigmoid`` / threshold at 0 for a mask).
- ``depth``: depth of the fg_bg image in the normalised target space of
  :func:`training.losses.depth_to_target` (log-depth, targets in ``[0, 1]``; invert with
  :func:`training.losses.target_to_depth`, which clamps to that range). The head is linear, as
  DenseDepth's: a sigmoid would put the far clip (``t = 1``, common in outdoor scenes) at its
  asymptote, where its gradient vanishes.
"""

from __future__ import annotations

import math
import os
from typing import Any

import timm
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from datagen.common.errors import InputError, error_summary
from training.model_config import HUB_WEIGHTS, ModelConfig

IN_CHANS = 6  # bg RGB + fg_bg RGB, stacked on the channel axis
MIN_DECODER_CHANNELS = 16
FULL_RES_CHANNELS = 8  # the stride-1 stage: full-resolution convs dominate the CPU cost


def check_backbone(name: str) -> None:
    """An unknown timm model name is an :class:`InputError` naming ``--backbone``."""
    if not timm.is_model(name):
        raise InputError(f"--backbone {name!r}: unknown timm model (see timm.list_models())")


def create_encoder(cfg: ModelConfig) -> nn.Module:
    """``timm.create_model(backbone, features_only=True, in_chans=...)``, optionally pretrained.

    The encoder takes 6 channels for ``fusion="early"``, 3 for ``"siamese"``. Pretrained weights
    are those of the 3-channel model; for 6 channels timm adapts its stem
    (``timm.models.adapt_input_conv``): it repeats the RGB filters for both images and scales
    them by 3/6, so a bg == fg_bg pair gives the pretrained activations; the classifier is
    dropped.
    """
    check_backbone(cfg.backbone)
    name, overlay = resolve_pretrained(cfg.backbone, cfg.pretrained_path)
    in_chans = encoder_channels(cfg)
    kwargs: dict[str, Any] = {"features_only": True, "in_chans": in_chans}
    if cfg.out_indices is not None:
        kwargs["out_indices"] = cfg.out_indices
    if cfg.pretrained_path is not None:
        kwargs["pretrained"] = True
    if overlay is not None:
        kwargs["pretrained_cfg_overlay"] = overlay
    try:
        return timm.create_model(name, **kwargs)
    except Exception as e:  # timm raises many types; the name and file are user input
        weights = f" with --pretrained {cfg.pretrained_path!r}" if cfg.pretrained_path else ""
        hub = overlay is None and cfg.pretrained_path is not None
        hub_id = hub and timm.models.get_pretrained_cfg(name).hf_hub_id
        if hub_id and _is_unreachable(e):
            from huggingface_hub import constants

            raise InputError(
                f"--backbone {cfg.backbone!r}{weights}: timm's weights {hub_id} are not in the "
                f"Hugging Face cache ({constants.HF_HUB_CACHE}) and not downloadable from here; "
                f"on a machine with a network run `hf download {hub_id}` (`huggingface-cli "
                f"download` in older huggingface_hub) and copy its cache here"
            ) from None
        raise InputError(
            f"--backbone {cfg.backbone!r}{weights}: timm cannot build it as a "
            f"{in_chans}-channel features_only encoder ({error_summary(e)})"
        ) from e


def encoder_channels(cfg: ModelConfig) -> int:
    """Input channels of the encoder: both shots stacked, or one shot at a time."""
    return IN_CHANS if cfg.fusion == "early" else IN_CHANS // 2


def resolve_pretrained(backbone: str, pretrained: str | None) -> tuple[str, dict[str, Any] | None]:
    """The timm model name to create and the ``pretrained_cfg_overlay`` for ``pretrained``.

    ``pretrained`` is, in this order: ``None`` (random init: ``(backbone, None)``);
    :data:`HUB_WEIGHTS` (timm's hub weights of ``backbone``: ``(backbone, None)``); an existing
    file (its state dict as the overlay, so timm reads nothing else); or a timm pretrained name
    ``ARCH.TAG`` whose architecture is ``backbone``'s (``(name, None)``). Hub weights come
    through timm's own loading: the Hugging Face cache, ``HF_HUB_OFFLINE`` honoured.

    Raises:
        InputError: A file that cannot be read, a name that is neither a file nor a timm
            pretrained name, or one of another architecture than ``backbone``; no weights.
    """
    if pretrained is None:
        return backbone, None
    if pretrained == HUB_WEIGHTS:
        _require_weights(backbone, f"--backbone {backbone!r} with --pretrained")
        return backbone, None
    if os.path.isfile(pretrained) or not _looks_like_timm_name(pretrained):
        state_dict = _read_weights(pretrained)
        return backbone, {"state_dict": state_dict, "source": "timm"}  # never the hub
    arch, tag = timm.models.split_model_name_tag(backbone)
    if timm.models.split_model_name_tag(pretrained)[0] != arch or (tag and pretrained != backbone):
        raise InputError(
            f"--pretrained {pretrained!r}: weights of another model than --backbone {backbone!r}"
        )
    _require_weights(pretrained, f"--pretrained {pretrained!r}")
    return pretrained, None


def _looks_like_timm_name(name: str) -> bool:
    return os.sep not in name and timm.is_model(name)


def _require_weights(name: str, what: str) -> None:
    """InputError unless timm knows where to get pretrained weights of ``name``."""
    try:
        cfg = timm.models.get_pretrained_cfg(name)
    except RuntimeError as e:  # an unknown tag
        raise InputError(f"{what}: {error_summary(e)} (see timm.list_pretrained())") from None
    if cfg is None or not (cfg.hf_hub_id or cfg.url):
        raise InputError(f"{what}: timm has no pretrained weights for {name!r}")


def _is_unreachable(error: BaseException) -> bool:
    """Whether ``error`` (or its cause) says the weights are neither cached nor downloadable."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, OSError | ConnectionError) or "offline" in str(seen).lower():
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _read_weights(path: str) -> dict[str, Tensor]:
    if not os.path.isfile(path):
        raise InputError(
            f"--pretrained {path!r}: no such file (nor a timm pretrained name, see "
            f"timm.list_pretrained())"
        )
    try:
        return timm.models.load_state_dict(path, weights_only=True)
    except Exception as e:  # unpickling refused, corrupt file, not a state dict ...
        raise InputError(
            f"--pretrained {path!r}: not a readable weights file ({error_summary(e)})"
        ) from e


class ConvBnAct(nn.Sequential):
    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__(
            nn.Conv2d(in_ch, out_ch, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_ch),
            nn.ReLU(inplace=True),
        )


class DecoderBlock(nn.Module):
    """Upsample ``x`` to the skip's size, concatenate it, the skip and the row coordinate,
    ``n_convs`` 3x3 conv-BN-ReLU.

    The row coordinate (``-1`` at the top, ``1`` at the bottom; CoordConv, Liu et al. 2018) is
    there for depth: on a ground plane depth is ``focal * height / (row - horizon)``, a function
    of where a pixel is relative to the horizon, which convolutions alone see only through their
    zero padding.
    """

    def __init__(self, in_ch: int, skip_ch: int, out_ch: int, n_convs: int = 2) -> None:
        super().__init__()
        convs = [ConvBnAct(in_ch + skip_ch + 1, out_ch)]
        convs += [ConvBnAct(out_ch, out_ch) for _ in range(n_convs - 1)]
        self.conv = nn.Sequential(*convs)

    def forward(self, x: Tensor, skip: Tensor) -> Tensor:
        if x.shape[-2:] != skip.shape[-2:]:
            x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
        n, _, h, w = skip.shape
        rows = torch.linspace(-1.0, 1.0, h, device=skip.device, dtype=skip.dtype)
        rows = rows.view(1, 1, h, 1).expand(n, 1, h, w)
        return self.conv(torch.cat([x, skip, rows], dim=1))


class UNetDecoder(nn.Module):
    """U-Net decoder over an encoder pyramid, optionally plus a full-resolution skip from the input.

    Stages run deepest-first over the encoder features (ordered shallow to deep as timm returns
    them); with ``full_res_stage`` one last stage fuses a light conv of the 6-channel input at
    stride 1, which keeps mask edges sharp at small image sizes (without it the output is at the
    finest encoder reduction, :attr:`out_reduction`). A stage whose skip has reduction ``r`` has
    ``max(16, channels * r / r_top)`` channels, ``r_top`` being the first skip's reduction; the
    stride-1 stage is a single conv of 8 channels, as full-resolution convs dominate the CPU cost
    (at 96 px with two 16-channel convs there, they were over half the decoder's FLOPs).
    """

    def __init__(
        self,
        enc_channels: list[int],
        enc_reductions: list[int],
        channels: int,
        full_res_stage: bool = True,
    ) -> None:
        super().__init__()
        skips = list(zip(enc_channels, enc_reductions, strict=True))[::-1][1:]
        r_top = skips[0][1] if skips else enc_reductions[-1]

        def width(r: int) -> int:
            return max(MIN_DECODER_CHANNELS, channels * r // r_top)

        blocks, in_ch = [], enc_channels[-1]
        for skip_ch, r in skips:
            blocks.append(DecoderBlock(in_ch, skip_ch, width(r)))
            in_ch = width(r)
        self.input_stem: nn.Module | None = None
        if full_res_stage:
            self.input_stem = ConvBnAct(IN_CHANS, FULL_RES_CHANNELS)
            blocks.append(DecoderBlock(in_ch, FULL_RES_CHANNELS, FULL_RES_CHANNELS, n_convs=1))
            in_ch = FULL_RES_CHANNELS
        self.blocks = nn.ModuleList(blocks)
        self.out_channels = in_ch
        self.out_reduction = 1 if full_res_stage else min(enc_reductions)

    def forward(self, features: list[Tensor], x: Tensor) -> Tensor:
        skips = features[::-1][1:]
        if self.input_stem is not None:
            skips = [*skips, self.input_stem(x)]
        y = features[-1]
        for block, skip in zip(self.blocks, skips, strict=True):
            y = block(y, skip)
        return y


class DualHeadNet(nn.Module):
    """timm encoder on the pair (``ModelConfig.fusion``) -> decoder(s) -> mask logits and
    normalised depth."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.encoder = create_encoder(cfg)
        info = self.encoder.feature_info
        self.stride = max(info.reduction())
        self._nhwc = getattr(self.encoder, "output_fmt", "NCHW") == "NHWC"
        # siamese: each stage's features and their difference from the bg's, side by side
        widen = 1 if cfg.fusion == "early" else 2
        channels = [c * widen for c in info.channels()]
        n_decoders = 1 if cfg.decoder == "shared" else 2
        self.decoders = nn.ModuleList(
            UNetDecoder(channels, info.reduction(), cfg.decoder_channels, cfg.full_res_stage)
            for _ in range(n_decoders)
        )
        out_ch = self.decoders[0].out_channels
        self.mask_head = nn.Conv2d(out_ch, 1, 1)
        self.depth_head = nn.Conv2d(out_ch, 1, 1)
        nn.init.constant_(self.depth_head.bias, 0.5)  # mid-range log-depth to start from

    def forward(self, bg: Tensor, fgbg: Tensor) -> dict[str, Tensor]:
        """Args: ``bg``, ``fgbg``: ``(B, 3, H, W)`` float, normalised by the caller; any H, W.

        Inputs are padded (replicate, bottom/right) to a multiple of the encoder's total stride
        and the outputs cropped back, so both outputs are ``(B, 1, H, W)``.
        """
        h, w = bg.shape[-2:]
        pad_h, pad_w = (math.ceil(n / self.stride) * self.stride - n for n in (h, w))
        x = torch.cat([bg, fgbg], dim=1)
        if pad_h or pad_w:
            x = F.pad(x, (0, pad_w, 0, pad_h), mode="replicate")
        features = self.encode(x)
        mask_feat = self.decoders[0](features, x)
        depth_feat = self.decoders[-1](features, x) if len(self.decoders) > 1 else mask_feat
        out = {"mask_logits": self.mask_head(mask_feat), "depth": self.depth_head(depth_feat)}
        if self.decoders[0].out_reduction > 1:
            size = x.shape[-2:]
            out = {
                k: F.interpolate(v, size=size, mode="bilinear", align_corners=False)
                for k, v in out.items()
            }
        return {k: v[..., :h, :w] for k, v in out.items()}

    def encode(self, x: Tensor) -> list[Tensor]:
        """The decoder's input pyramid (NCHW, shallow to deep) of the stacked pair ``x``."""
        if self.cfg.fusion == "early":
            return self._run_encoder(x)
        # both shots in one batch: one pass, and BatchNorm statistics over both
        bg, fgbg = x.chunk(2, dim=1)
        pairs = (f.chunk(2, dim=0) for f in self._run_encoder(torch.cat([bg, fgbg], dim=0)))
        return [torch.cat([g, (g - b).abs()], dim=1) for b, g in pairs]

    def _run_encoder(self, x: Tensor) -> list[Tensor]:
        features = self.encoder(x)
        return [f.permute(0, 3, 1, 2) for f in features] if self._nhwc else features


def build_model(cfg: ModelConfig) -> DualHeadNet:
    """The factory: ``build_model(ModelConfig(backbone="resnet18"))``. Bad config -> InputError."""
    return DualHeadNet(cfg)
