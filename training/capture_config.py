"""How different the second shot may be (:class:`CaptureConfig`), without torch.

:mod:`training.fitting.capture` draws and applies the second shot; :mod:`training.config` holds this
config in ``TrainConfig.augment.capture`` and reads its defaults from here, so ``fgd train
--help`` needs no torch.
"""

from __future__ import annotations

from dataclasses import dataclass

from datagen.common.errors import InputError


@dataclass(frozen=True)
class CaptureConfig:
    """How different the second shot may be; each ``*_p`` is the probability of that op.

    Defaults follow Background Matting V2's augmentation (``dataset/augmentation.py``,
    ``train_base.py``) and the failures measured on real pairs, widened where its users
    reported misses (misalignment, exposure):

    * ``shift`` 0.02 (of the frame side), ``rotate_degrees`` 1, ``scale`` 0.01: a hand-held
      phone re-framing between shots (BMV2: +-1 % shift, +-1 deg; 2 % covers a tripod bumped
      or a phone re-aimed). ``perspective`` 0.005 is a pan/tilt of about half a degree.
    * ``warp_p`` 0.5: half the pairs stay aligned, as from a tripod (BMV2: 0.3); the network
      must stay exact on those too.
    * ``residual_p`` 0: the share of the warped shots whose every warp range is scaled by
      ``residual_scale`` (0.15): what ``fgd predict --align`` leaves of a hand-held motion
      (a fraction of a pixel), as against the whole motion when registration is off or fails.
      1 trains for aligned pairs only: better on those, unusable on a pair that did not
      register, and a mix keeps neither gain (docs/benchmarks.md, "Capture robustness"), so
      off by default.
    * ``exposure`` (0.8, 1.25), ``gamma`` (0.85, 1.15), ``white_balance`` 0.06, ``colour_p``
      0.8: auto exposure re-metering a frame with or without a large object shifts it by up
      to a third of a stop (BMV2: brightness 0.18 at p 0.8; gamma 0.85-1.15 is its test-time
      range); auto white balance moves each channel by a few percent.
    * ``noise_std`` 0.03 for read and shot noise, ``noise_p`` 0.4 (BMV2: sigma <= 0.03, p 0.4).
    * ``jpeg_quality`` (60, 95), ``jpeg_p`` 0.5: the span of phone cameras and messengers.
    * ``sharpness`` 0.8, ``sharpness_p`` 0.3: from a slightly soft shot (focus breathing) to
      a phone's over-sharpened one.
    * ``fgbg_noise_p`` 0.4, ``fgbg_jpeg_p`` 0.5: the fg_bg shot's own history, as for bg.
    """

    enabled: bool = True
    warp_p: float = 0.5
    shift: float = 0.02  # fraction of the frame side, each axis
    rotate_degrees: float = 1.0
    scale: float = 0.01  # zoom drawn in [1 - scale, 1 + scale]
    perspective: float = 0.005  # keystone terms, in 1 / half-widths
    residual_p: float = 0.0
    residual_scale: float = 0.15  # of every warp range, for the residual shots
    colour_p: float = 0.8
    exposure: tuple[float, float] = (0.8, 1.25)  # gain, log-uniform
    gamma: tuple[float, float] = (0.85, 1.15)  # log-uniform
    white_balance: float = 0.06  # each channel's gain in [1 - wb, 1 + wb], then unit mean
    noise_p: float = 0.4
    noise_std: float = 0.03  # read and shot noise each drawn in [0, noise_std]
    jpeg_p: float = 0.5
    jpeg_quality: tuple[int, int] = (60, 95)
    sharpness_p: float = 0.3
    sharpness: float = 0.8  # unsharp amount drawn in [-sharpness, sharpness]
    fgbg_noise_p: float = 0.4
    fgbg_jpeg_p: float = 0.5

    def __post_init__(self) -> None:
        for name in (
            "warp_p",
            "residual_p",
            "colour_p",
            "noise_p",
            "jpeg_p",
            "sharpness_p",
            "fgbg_noise_p",
            "fgbg_jpeg_p",
        ):
            _check(0 <= getattr(self, name) <= 1, name, "must be in [0, 1]")
        _check(0 <= self.shift <= 0.25, "shift", "must be in [0, 0.25] (of the frame)")
        _check(0 <= self.rotate_degrees <= 45, "rotate_degrees", "must be in [0, 45]")
        _check(0 <= self.scale < 0.5, "scale", "must be in [0, 0.5)")
        _check(0 <= self.perspective <= 0.1, "perspective", "must be in [0, 0.1]")
        _check(0 < self.residual_scale <= 1, "residual_scale", "must be in (0, 1]")
        _check(0 < self.exposure[0] <= self.exposure[1], "exposure", "must be 0 < lo <= hi")
        _check(0 < self.gamma[0] <= self.gamma[1], "gamma", "must be 0 < lo <= hi")
        _check(0 <= self.white_balance < 1, "white_balance", "must be in [0, 1)")
        _check(self.noise_std >= 0, "noise_std", "must be >= 0")
        lo, hi = self.jpeg_quality
        _check(1 <= lo <= hi <= 100, "jpeg_quality", "must be 1 <= lo <= hi <= 100")
        _check(0 <= self.sharpness <= 2, "sharpness", "must be in [0, 2]")


def _check(ok: bool, name: str, rule: str) -> None:
    if not ok:
        raise InputError(f"augment.capture.{name} {rule}")


def trains_for_misalignment(cfg: CaptureConfig) -> bool:
    """Whether a model trained with `cfg` saw bg shots moved by more than a registration
    residual, i.e. can be trusted on a pair that ``fgd predict --align`` could not register."""
    return cfg.enabled and cfg.warp_p > 0 and (cfg.residual_p < 1 or cfg.residual_scale == 1)
