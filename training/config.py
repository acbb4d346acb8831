"""Training configuration: frozen dataclasses with YAML load/dump and validation.

The resolved config is written to ``RUN_DIR/config.yaml`` and stored in every checkpoint, so a
run (and ``fgd eval``) can be reproduced from it alone. Unknown keys and ill-typed values are
:class:`~datagen.common.errors.InputError` naming the key.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from datagen.common.errors import InputError, error_summary
from datagen.common.files import write_text_atomic
from training.capture_config import CaptureConfig
from training.model_config import DEFAULT_BACKBONE, Fusion, ModelConfig

# Each choice is a Literal type (what the dataclass fields are annotated with, checked by
# from_dict) and the tuple of its values (for help texts and messages), read from the type.
# auto: the most honest hold-out the store allows, resolved by the run (its config records the
# kind it resolved to); see training.fitting.epochs.make_split for what each kind holds out.
Split = Literal["auto", "scene+object", "object", "scene", "random"]
Device = Literal["auto", "cpu", "cuda"]
LossWeighting = Literal["fixed", "uncertainty"]
AmpMode = Literal["auto", "bf16", "off"]
ResizeUnit = Literal["epoch", "step"]
SPLITS: tuple[str, ...] = typing.get_args(Split)
DEVICES: tuple[str, ...] = typing.get_args(Device)
LOSS_WEIGHTINGS: tuple[str, ...] = typing.get_args(LossWeighting)
AMP_MODES: tuple[str, ...] = typing.get_args(AmpMode)
RESIZE_UNITS: tuple[str, ...] = typing.get_args(ResizeUnit)
DECODERS: tuple[str, ...] = typing.get_args(typing.get_type_hints(ModelConfig)["decoder"])
FUSIONS: tuple[str, ...] = typing.get_args(Fusion)

# Field metadata of the keys that ``--resume`` must keep, with why (see fixed_on_resume).
_ORDER = {"fixed_on_resume": "the run's split and sample order follow from it"}
_NETWORK = {"fixed_on_resume": "the checkpoint holds the weights of that network"}
_STORE = {"fixed_on_resume": "the run's split and sample order index its samples"}


@dataclass(frozen=True)
class Bounds:
    """The valid values of a numeric field, stated in its metadata (``bounds``) and checked by
    its dataclass in one loop: ``low <= value <= high`` (``low < value`` when ``open_low``); a
    ``(lo, hi)`` pair must also have ``lo <= hi``, both ends within the bounds."""

    low: float = -math.inf
    high: float = math.inf
    open_low: bool = False

    def holds(self, value: float | tuple[float, float]) -> bool:
        ends = tuple(value) if isinstance(value, tuple | list) else (value,)
        above = (lambda v: v > self.low) if self.open_low else (lambda v: v >= self.low)
        return all(above(v) and v <= self.high for v in ends) and list(ends) == sorted(ends)

    def rule(self, pair: bool) -> str:
        """The rule as the error states it: "in [0, 1]", ">= 0", "0 < lo <= hi <= 1"."""
        if pair:
            low = f"{self.low:g} {'<' if self.open_low else '<='} " if self.low > -math.inf else ""
            high = f" <= {self.high:g}" if self.high < math.inf else ""
            return f"{low}lo <= hi{high}"
        if self.high < math.inf:
            return f"in {'(' if self.open_low else '['}{self.low:g}, {self.high:g}]"
        return f"{'>' if self.open_low else '>='} {self.low:g}"


def check_bounds(config: Any, prefix: str) -> None:
    """Raise :class:`InputError` for the first field of dataclass ``config`` outside the
    :class:`Bounds` in its metadata (named ``prefix`` + field)."""
    for f in dataclasses.fields(config):
        bounds = f.metadata.get("bounds")
        value = getattr(config, f.name)
        if bounds is not None and not bounds.holds(value):
            pair = isinstance(value, tuple | list)
            shown = list(value) if pair else value
            raise InputError(f"{prefix}{f.name} must be {bounds.rule(pair)}, got {shown!r}")


#: Field metadata: a probability, a non-negative amount, a positive (lo, hi) range, and one
#: within (0, 1].
_PROBABILITY = {"bounds": Bounds(0.0, 1.0)}
_AMOUNT = {"bounds": Bounds(0.0)}
_POSITIVE_RANGE = {"bounds": Bounds(0.0, open_low=True)}
_FRACTION_RANGE = {"bounds": Bounds(0.0, 1.0, open_low=True)}


@dataclass(frozen=True)
class AugmentConfig:
    """Augmentation applied on the device to a batch (see :mod:`training.fitting.augment`).

    Geometric transforms are shared by bg, fgbg, mask and depth; colour transforms are shared by
    bg and fgbg, plus a small independent change of the fgbg shot (``pair_jitter``). ``capture``
    then re-shoots the bg alone (:mod:`training.fitting.capture`: misalignment, exposure, noise,
    JPEG, focus) and gives the fgbg its own noise and JPEG history: without it, fgbg equals bg bit
    for bit outside the object, a tell no real pair has. With ``capture`` enabled its sensor-noise
    model replaces ``noise_p``/``noise_std`` (two noise models stacked would leave the noise
    level outside both documented ranges).
    """

    enabled: bool = True
    hflip: float = field(default=0.5, metadata=_PROBABILITY)
    # Crops and rotations are off by default: both zoom (a rotated crop is shrunk to stay in the
    # frame), and a zoomed view of a ground plane looks like a longer focal length, so it either
    # mislabels depth or widens the focal prior the network must average over. Turn them on for
    # photos from many cameras, where that prior is wide anyway. benchmarks/train_quality.py
    # measures.
    # area fraction kept by the random resized crop, and the crop's aspect ratio
    crop_scale: tuple[float, float] = field(default=(1.0, 1.0), metadata=_FRACTION_RANGE)
    crop_ratio: tuple[float, float] = field(default=(0.8, 1.25), metadata=_POSITIVE_RANGE)
    rotate_degrees: float = field(default=0.0, metadata=_AMOUNT)
    zoom_depth: bool = True  # divide depth by the crop's zoom (a zoomed view = a nearer scene)
    brightness: float = field(default=0.25, metadata=_AMOUNT)
    contrast: float = field(default=0.25, metadata=_AMOUNT)
    saturation: float = field(default=0.25, metadata=_AMOUNT)
    hue: float = field(default=0.04, metadata=_AMOUNT)  # fraction of a full turn of the hue wheel
    # extra brightness/contrast/saturation change of fgbg alone
    pair_jitter: float = field(default=0.05, metadata=_AMOUNT)
    blur_p: float = field(default=0.2, metadata=_PROBABILITY)
    blur_sigma: tuple[float, float] = field(default=(0.2, 1.2), metadata=_POSITIVE_RANGE)  # px
    noise_p: float = field(default=0.3, metadata=_PROBABILITY)
    # in units of [0, 1] intensity; drawn per sample in [0, noise_std]
    noise_std: float = field(default=0.02, metadata=_AMOUNT)
    capture: CaptureConfig = field(default_factory=CaptureConfig)  # the second shot

    def __post_init__(self) -> None:
        check_bounds(self, "augment.")


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run. ``fgd train`` flags override the YAML file."""

    store: str = field(default="", metadata=_STORE)
    out: str = ""
    recipe: str = ""  # the preset (training.recipes) this config started from; "" = none
    # any timm model with features_only (training.models)
    backbone: str = field(default=DEFAULT_BACKBONE, metadata=_NETWORK)
    decoder: str = field(default="shared", metadata=_NETWORK)  # shared | separate (per head)
    decoder_channels: int = field(default=64, metadata=_NETWORK)
    # decoder stage at stride 1 (training.model_config.ModelConfig)
    full_res_stage: bool = field(default=True, metadata=_NETWORK)
    # how the two shots meet: early (stacked channels) | siamese (training.models)
    fusion: str = field(default="early", metadata=_NETWORK)
    # a local weights file of the 3-channel timm model, a timm name ARCH.TAG, or "hub" (timm's
    # hub weights of the backbone: training.models.resolve_pretrained); "" = random init
    pretrained: str = ""
    size: int = 0  # training/eval resolution; 0 = the store's image size
    batch_size: int = field(default=32, metadata=_ORDER)
    epochs: int = 10
    max_steps: int = 0  # > 0: stop after this many optimizer steps (takes precedence over epochs)
    lr: float = 1e-3
    weight_decay: float = 1e-4
    warmup_steps: int = 100
    min_lr_ratio: float = 0.01  # cosine decays to lr * min_lr_ratio
    grad_clip: float = 1.0  # max global grad norm; 0 = off
    amp: AmpMode = "auto"  # auto: bf16 autocast on CUDA, fp32 on CPU
    channels_last: bool = True
    device: Device = "auto"
    split: Split = field(default="auto", metadata=_ORDER)
    val_fraction: float = field(default=0.1, metadata=_ORDER)
    seed: int = field(default=0, metadata=_ORDER)
    workers: int = 2
    prefetch: int = 2  # windows queued per loader worker
    # shuffle window, in store chunks (see training.fitting.epochs)
    shuffle_chunks: int = field(default=4, metadata=_ORDER)
    loss_weighting: LossWeighting = "uncertainty"
    mask_weight: float = 1.0  # only for loss_weighting=fixed
    depth_weight: float = 1.0
    val_every: int = 0  # validate every N steps; 0 = at the end of every epoch
    checkpoint_every: int = 500  # save last.pt every N steps (and at every validation, at the end)
    log_every: int = 20
    log_images: int = 4  # samples shown in the TensorBoard grid at every validation
    sample_log: bool = False  # every rank logs its batches' indices to RUN_DIR/samples/
    resize_schedule: tuple[tuple[int, int], ...] = ()  # ((start, size), ...) progressive resizing
    resize_unit: ResizeUnit = "epoch"
    augment: AugmentConfig = field(default_factory=AugmentConfig)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (lists for tuples) that round-trips through YAML and ``torch.load``."""
        return _plain(dataclasses.asdict(self))

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "config") -> TrainConfig:
        """Build from a plain dict; unknown keys or wrongly typed values -> InputError."""
        return _build(cls, data, source)

    def replace(self, **changes: Any) -> TrainConfig:
        """A copy with ``changes`` applied (validated like a YAML file)."""
        return self.from_dict({**self.to_dict(), **_plain(changes)}, "options")

    def size_at(self, epoch: int, step: int) -> int:
        """Training resolution at this point of the progressive-resizing schedule."""
        now = epoch if self.resize_unit == "epoch" else step
        size = self.size
        for start, sz in sorted(self.resize_schedule):
            if now >= start:
                size = sz
        return size

    def __post_init__(self) -> None:
        """Check ranges and choices: an invalid config cannot be built."""
        _check(self.batch_size >= 1, "batch_size (--batch-size) must be >= 1", self.batch_size)
        _check(self.size >= 0, "size (--size) must be >= 0 (0: the store's size)", self.size)
        _check(self.epochs >= 1, "epochs (--epochs) must be >= 1", self.epochs)
        _check(
            self.max_steps >= 0,
            "max_steps (--max-steps) must be >= 0 (0: train for --epochs)",
            self.max_steps,
        )
        _check(self.lr > 0, "lr (--lr) must be > 0", self.lr)
        _check(self.weight_decay >= 0, "weight_decay must be >= 0", self.weight_decay)
        _check(self.warmup_steps >= 0, "warmup_steps must be >= 0", self.warmup_steps)
        _check(0 <= self.min_lr_ratio <= 1, "min_lr_ratio must be in [0, 1]", self.min_lr_ratio)
        _check(self.grad_clip >= 0, "grad_clip must be >= 0", self.grad_clip)
        _check(
            0 < self.val_fraction < 1,
            "val_fraction (--val-fraction) must be in (0, 1)",
            self.val_fraction,
        )
        _check(self.workers >= 0, "workers (--workers) must be >= 0", self.workers)
        _check(self.prefetch >= 1, "prefetch must be >= 1", self.prefetch)
        _check(self.shuffle_chunks >= 1, "shuffle_chunks must be >= 1", self.shuffle_chunks)
        _check(self.val_every >= 0, "val_every (--val-every) must be >= 0", self.val_every)
        _check(
            self.checkpoint_every >= 1,
            "checkpoint_every (--checkpoint-every) must be >= 1",
            self.checkpoint_every,
        )
        _check(self.log_every >= 1, "log_every must be >= 1", self.log_every)
        _check(self.log_images >= 0, "log_images must be >= 0", self.log_images)
        _check(self.mask_weight >= 0, "mask_weight must be >= 0", self.mask_weight)
        _check(self.depth_weight >= 0, "depth_weight must be >= 0", self.depth_weight)
        for name, tp in typing.get_type_hints(TrainConfig).items():
            if typing.get_origin(tp) is Literal:
                choices = typing.get_args(tp)
                value = getattr(self, name)
                _check(value in choices, f"{name} must be one of {', '.join(choices)}", value)
        for start, sz in self.resize_schedule:
            _check(
                start >= 0 and sz >= 1,
                "resize_schedule entries are (start >= 0, size >= 1)",
                [start, sz],
            )


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML config file into a dict (validated later by :meth:`TrainConfig.from_dict`)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"config file {path} does not exist")
    try:
        data = yaml.safe_load(path.read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise InputError(f"config file {path} is not valid YAML: {error_summary(exc)}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InputError(f"config file {path} must hold a mapping of option: value")
    return data


def dump_yaml(cfg: TrainConfig, path: str | Path) -> None:
    """Write the resolved config as YAML (atomically)."""
    write_text_atomic(path, yaml.safe_dump(cfg.to_dict(), sort_keys=False), "--out")


def fixed_on_resume() -> dict[str, str]:
    """The TrainConfig keys that ``--resume`` cannot change, each with the reason."""
    return {
        f.name: f.metadata["fixed_on_resume"]
        for f in dataclasses.fields(TrainConfig)
        if "fixed_on_resume" in f.metadata
    }


def _check(ok: bool, message: str, value: Any) -> None:
    if not ok:
        raise InputError(f"{message}, got {value!r}")


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value


def _build(cls: type, data: Any, where: str) -> Any:
    if not isinstance(data, dict):
        raise InputError(f"{where}: expected a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise InputError(f"{where}: unknown key {unknown[0]!r} (known: {', '.join(sorted(names))})")
    kwargs = {k: _convert(hints[k], v, f"{where}: {k}") for k, v in data.items()}
    return cls(**kwargs)


def _convert(tp: Any, value: Any, where: str) -> Any:
    """Coerce a YAML value to the annotated type, or raise InputError naming the key."""
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        return _build(tp, value, where)
    if origin is Literal:
        choices = typing.get_args(tp)
        if value not in choices:
            raise InputError(
                f"{where} must be one of {', '.join(map(str, choices))}, got {value!r}"
            )
        return value
    if origin is tuple:
        args = typing.get_args(tp)
        if not isinstance(value, list | tuple):
            raise InputError(f"{where} must be a list, got {value!r}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(args[0], v, where) for v in value)
        if len(value) != len(args):
            raise InputError(f"{where} must have {len(args)} entries, got {value!r}")
        return tuple(_convert(a, v, where) for a, v in zip(args, value, strict=True))
    if tp is bool:
        if not isinstance(value, bool):
            raise InputError(f"{where} must be true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise InputError(f"{where} must be an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InputError(f"{where} must be a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise InputError(f"{where} must be a string, got {value!r}")
        return value
    raise TypeError(f"unsupported annotation {tp}")
