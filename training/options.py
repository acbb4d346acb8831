"""What the training commands' options offer (choices, defaults, limits), without torch.

:mod:`training.commands` builds each option's help from these values, and the modules that act
on an option import its values from here as well: each has one source, and a command's
``--help`` or a mistyped option costs no import of torch or OpenCV. ``fgd train``'s defaults are
those of :class:`training.config.TrainConfig`, which is torch-free too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, get_args

from datagen.common.errors import InputError

#: What ``fgd eval --split`` and ``fgd export-samples --split`` draw from.
EVAL_SPLITS = ("val", "train", "all")

#: How ``fgd predict --align`` registers a bg to its fg_bg
#: (:func:`training.inference.align.align_bg`).
Method = Literal["auto", "homography", "off"]
METHODS: tuple[str, ...] = get_args(Method)

#: The file formats of ``fgd export-model`` (:mod:`training.inference.export_model`).
Format = Literal["onnx", "torchscript"]
FORMATS: tuple[str, ...] = get_args(Format)

# ----------------------------------------------------------------------------- export-samples

#: Most samples one run draws (:func:`training.inference.export_samples.sample_cap`).
MAX_SAMPLES = 64
#: Tile edge (pixels) up to which a grid may hold :data:`MAX_SAMPLES` rows.
FULL_GRID_TILE = 224
#: Largest ``--tile``: even one row of larger tiles makes a very wide PNG.
MAX_TILE = 1024

# ----------------------------------------------------------------------------- predict

#: The file of ``fgd predict``'s settings in ``--out``, beside the pairs' folders.
SETTINGS_FILE = "predict.json"

# ----------------------------------------------------------------------------- predict: TTA

#: The smallest input of a pass: below it the encoder's deepest stage sees a single pixel.
MIN_INPUT_SIZE = 32
#: The largest ``--scales`` entry: beyond it a pass only upsamples the photo's detail.
MAX_SCALE = 4.0


@dataclass(frozen=True)
class TTAConfig:
    """Test-time augmentation: the passes of the network averaged into one prediction.

    The network is fully convolutional and its heads run at a fixed stride of its input, so a
    pass at ``scale`` x the trained size gives a mask on a finer grid; a flipped pass is the
    same pair mirrored (training flips its pairs too). The mask probability is the mean of
    every pass, each resized to the pair. Depth is the mean of the passes at scale 1 only: the
    network reads depth partly from how large things look, and above its trained size it
    predicts the scene nearer than it is (docs/benchmarks.md, "Prediction").

    Attributes:
        scales: Input sizes as multiples of the trained size; must include 1.
        flip: Add a mirrored pass at every scale.
    """

    scales: tuple[float, ...] = (1.0,)
    flip: bool = False

    def __post_init__(self) -> None:
        if 1.0 not in self.scales:
            raise InputError(
                f"--scales {scales_text(self.scales)} must include 1 (the trained size, where "
                "depth is predicted)"
            )
        if not all(0 < s <= MAX_SCALE for s in self.scales):
            raise InputError(
                f"--scales {scales_text(self.scales)}: each must be in (0, {MAX_SCALE:g}]"
            )

    @property
    def passes(self) -> int:
        return len(self.scales) * (2 if self.flip else 1)

    def input_sizes(self, size: int) -> list[int]:
        """The input edge of each scale for a model trained at ``size`` px."""
        sizes = [round(size * scale) for scale in self.scales]
        if min(sizes) < MIN_INPUT_SIZE:
            raise InputError(
                f"--scales {scales_text(self.scales)}: a model trained at {size} px would run "
                f"at {min(sizes)} px, below the {MIN_INPUT_SIZE} px its encoder needs"
            )
        return sizes


def scales_text(scales: Sequence[float]) -> str:
    """Scales as ``--scales`` text ("1,1.5,2")."""
    return ",".join(f"{s:g}" for s in scales)


def parse_scales(text: str) -> tuple[float, ...]:
    """``--scales`` text ("1,1.5,2") as scales; not numbers -> InputError."""
    try:
        scales = tuple(float(part) for part in text.split(","))
    except ValueError:
        raise InputError(f"--scales {text!r}: expected numbers separated by commas") from None
    return tuple(dict.fromkeys(scales))  # a scale listed twice is one pass


#: ``fgd predict``'s passes: the measured best on real pairs (docs/benchmarks.md, "Prediction").
PREDICT_TTA = TTAConfig(scales=(1.0, 1.5, 2.0), flip=True)

# ----------------------------------------------------------------------------- predict: refine

#: ``fgd predict --refine``: the soft alpha at the photo's size, fitted to the photo by a fast
#: guided filter (:func:`training.inference.refine.refine_alpha`), or the network's
#: probability resized bilinearly (off).
Refiner = Literal["guided", "off"]
REFINERS: tuple[str, ...] = get_args(Refiner)
#: The measured better of the two (docs/benchmarks.md, "Full-resolution refinement").
DEFAULT_REFINER: Refiner = "guided"
