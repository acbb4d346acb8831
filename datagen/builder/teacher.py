r"""`--depth teacher`: depth maps from a monocular depth network.

``--depth-model`` names one of two kinds of network:

- **A TorchScript file.** It takes a float32 batch (N, 3, H, W) of RGB images in [0, 1] and
  returns depth of shape (N, 1, H, W) or (N, H, W), in metres (larger = farther). The file is
  loaded with ``torch.jit.load`` (a TorchScript archive, not a pickle).
- **A Hugging Face transformers depth model**: a hub id (``depth-anything/Depth-Anything-V2-
  Small-hf``, ``Intel/dpt-hybrid-midas``, ``Intel/zoedepth-nyu-kitti`` ...) or a local folder
  written by ``save_pretrained``, loaded with ``AutoModelForDepthEstimation`` and
  ``AutoImageProcessor`` the ordinary way: from the Hugging Face cache (``HF_HOME`` /
  ``HF_HUB_CACHE``), downloading only what the cache lacks, and never when ``HF_HUB_OFFLINE=1``.
  Needs the ``teacher`` extra (``pip install fgd[teacher]``); transformers is imported only here.

Both run batched on the GPU when there is one (transformers models in bf16 autocast there).
Anything that is not a usable depth model is rejected with a one-line error before the build
writes anything.

Metric and relative models
--------------------------
*Metric* models (TorchScript files; transformers configs with ``depth_estimation_type ==
"metric"``, such as Depth Anything V2 Metric-Indoor/-Outdoor; ZoeDepth, GLPN, Depth Pro) give
metres, used as they are. *Relative* models (Depth Anything V1/V2, DPT/MiDaS) give
affine-invariant inverse depth (disparity) :math:`D`, made metric by one of two rules, both of the
form :math:`1/d = s D + t`:

- ``ground-fit`` (the default): per image, :func:`align_disparity` fits :math:`s, t` by least
  squares against the inverse depth of the ground-plane prior (:func:`datagen.builder.assets.
  ground_prior`) on its ground rows (:func:`prior_ground_rows`);
- ``user-scale``: :math:`s` given by the user (metric inverse depth per unit of the model's
  disparity), :math:`t = 0`.

:meth:`DepthTeacher.record` describes the model and its rule for the store (the ``depth.
teacher`` root attribute, :class:`datagen.store.schema.TeacherAttrs`), and
:meth:`DepthTeacher.estimate` returns each image's :math:`s, t` with its depth (the store's
``teacher_fit`` and ``bg_teacher_fit`` arrays).
"""

from __future__ import annotations

import contextlib
import inspect
import re
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from datagen.builder.camera_prior import ground_prior
from datagen.common.errors import InputError, error_summary

_PROBE_SIZE = 64
_BATCH = 32

#: Hub ids: ``name`` or ``owner/name`` (what huggingface_hub accepts as a repo id).
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?$")
#: Names that are meant as files even when they look like a hub id (``model.pt``).
_FILE_SUFFIXES = (".pt", ".pth", ".ts", ".jit")
#: transformers depth models that predict metres although their config does not say so.
_METRIC_MODEL_TYPES = frozenset({"zoedepth", "glpn", "depth_pro"})

Rule = Literal["metric", "ground-fit", "user-scale"]


def align_disparity(
    disparity: np.ndarray, prior_depth: np.ndarray, ground_rows: np.ndarray
) -> tuple[np.ndarray, float, float]:
    r"""Metric depth from a relative model's disparity, fitted to a prior on its ground rows.

    With :math:`D` the disparity (H, W), :math:`q = 1 / P` the inverse prior depth and
    :math:`G` the pixels of the rows selected by ``ground_rows``, the rule is

    .. math::

        (s, t) = \operatorname*{arg\,min}_{s, t} \sum_{i \in G} (s D_i + t - q_i)^2,
        \qquad d = \frac{1}{s D + t},

    the least-squares scale and shift of MiDaS (Ranftl et al. 2020), taken in inverse depth
    because that is where a relative model is affine-invariant. When the fit has no positive
    scale (the disparity does not grow towards the camera on the ground rows, or is constant
    there), the shift is dropped and :math:`s = \sum_G D q / \sum_G D^2` (least squares through
    the origin); when that is not positive either (no positive disparity on the ground rows),
    :math:`s = 0` and :math:`t` is the mean of :math:`q` on :math:`G` (a constant depth). Pixels
    whose aligned disparity :math:`s D + t` is not positive get ``inf`` (beyond any depth; the
    caller clips to its far limit).

    Args:
        disparity: (H, W) the model's output (larger = nearer).
        prior_depth: (H, W) positive prior depth in metres.
        ground_rows: (H,) bool, the rows whose prior depth is trusted.

    Returns:
        ``(depth, s, t)``: (H, W) float32 metres and the fitted scale and shift.
    """
    d = disparity[ground_rows].astype(np.float64).ravel()
    q = 1.0 / prior_depth[ground_rows].astype(np.float64).ravel()
    scale, shift = 0.0, float(q.mean())
    if d.size and np.ptp(d) > 0:
        a = np.stack([d, np.ones_like(d)], axis=1)
        (scale, shift), *_ = np.linalg.lstsq(a, q, rcond=None)
    if not scale > 0:
        energy = float(d @ d)
        scale = float(d @ q) / energy if energy > 0 else 0.0
        shift = 0.0 if scale > 0 else float(q.mean())
        scale = max(scale, 0.0)
    aligned = scale * disparity.astype(np.float64) + shift
    with np.errstate(divide="ignore"):
        depth = np.where(aligned > 0, 1.0 / np.maximum(aligned, 1e-300), np.inf)
    return depth.astype(np.float32), float(scale), float(shift)


def prior_ground_rows(prior_depth: np.ndarray, max_depth: float) -> np.ndarray:
    """The rows of ``prior_depth`` (from :func:`datagen.builder.camera_prior.ground_prior`) that see
    the ground plane nearer than ``max_depth``: below the horizon and not clipped to the far
    limit."""
    return prior_depth[:, 0] < max_depth


@cache
def _prior(size: int, max_depth: float) -> tuple[np.ndarray, np.ndarray]:
    prior_depth, _, _ = ground_prior(size, max_depth)
    return prior_depth, prior_ground_rows(prior_depth, max_depth)


@dataclass(frozen=True)
class TeacherDepth:
    """What :meth:`DepthTeacher.estimate` returns for N images.

    Attributes:
        depth: (N, H, W) float32 metres, in [1e-3, max_depth].
        scale: (N,) float32 :math:`s` of :math:`1/d = s D + t` (1 for metric models).
        shift: (N,) float32 :math:`t` (0 for metric models and ``user-scale``).
    """

    depth: np.ndarray
    scale: np.ndarray
    shift: np.ndarray

    @property
    def fit(self) -> np.ndarray:
        """(N, 2) float32 ``scale, shift`` rows, as the store's ``teacher_fit`` holds them."""
        return np.stack([self.scale, self.shift], axis=1)


@dataclass(frozen=True)
class DepthTeacher:
    """A loaded, validated teacher: its network, its metric rule and the device it runs on.

    Attributes:
        source: What ``--depth-model`` said (a file, a folder or a hub id).
        kind: ``"torchscript"`` or ``"transformers"``.
        network: (N, H, W, 3) uint8 RGB -> (N, H, W) float32 raw output (metres or disparity).
        rule: ``"metric"``, ``"ground-fit"`` or ``"user-scale"`` (see the module docstring).
        user_scale: :math:`s` of the ``user-scale`` rule, else None.
        device: Where the network runs.
        max_depth: Far limit of the build; depths are clipped to it.
    """

    source: str
    kind: Literal["torchscript", "transformers"]
    network: Callable[[np.ndarray], np.ndarray]
    rule: Rule
    user_scale: float | None
    device: torch.device
    max_depth: float

    @classmethod
    def load(cls, source: str, max_depth: float, scale: float | None = None) -> DepthTeacher:
        """Load and validate the model that ``--depth-model`` names.

        Args:
            source: A TorchScript file, a transformers model folder or a hub id.
            max_depth: Far limit of the build (metres).
            scale: For a relative model, the ``user-scale`` rule's :math:`s`; None: ``ground-fit``.

        Raises:
            InputError: The source is missing, not a model, not a depth model, fails or gives
                non-finite depth on a probe batch; a hub id that is neither cached nor
                downloadable; a scale for a metric model, or one that is not positive.
        """
        if scale is not None and not (np.isfinite(scale) and scale > 0):
            raise InputError(f"--depth-scale {scale}: must be a positive number")
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        path = Path(source)
        if path.is_file():
            kind, network, relative = "torchscript", _load_torchscript(source, device), False
        elif path.is_dir() or _looks_like_hub_id(source):
            kind = "transformers"
            network, relative = _load_transformers(source, device)
        else:
            raise InputError(f"--depth-model {source}: no such file or folder")
        if scale is not None and not relative:
            raise InputError(
                f"--depth-scale applies to relative depth models; --depth-model {source} "
                f"predicts metres"
            )
        rule: Rule = "metric" if not relative else "ground-fit" if scale is None else "user-scale"
        teacher = cls(source, kind, network, rule, scale, device, max_depth)
        teacher._probe()
        return teacher

    def record(self) -> dict[str, Any]:
        """The model and its metric rule, for the store's attributes (JSON-able)."""
        record: dict[str, Any] = {"model": self.source, "kind": self.kind, "rule": self.rule}
        if self.user_scale is not None:
            record["scale"] = self.user_scale
        return record

    def estimate(self, images: np.ndarray) -> TeacherDepth:
        """(N, S, S, 3) uint8 RGB -> depth in metres with each image's fitted scale and shift."""
        n = len(images)
        depth = np.empty(images.shape[:3], dtype=np.float32)
        scale = np.ones(n, dtype=np.float32)
        shift = np.zeros(n, dtype=np.float32)
        for start in range(0, n, _BATCH):
            raw = self.network(images[start : start + _BATCH])
            for i, out in enumerate(raw, start):
                if self.rule == "ground-fit":
                    prior_depth, rows = _prior(out.shape[0], self.max_depth)
                    depth[i], scale[i], shift[i] = align_disparity(out, prior_depth, rows)
                elif self.rule == "user-scale":
                    scale[i] = self.user_scale
                    aligned = scale[i] * out
                    depth[i] = np.where(aligned > 0, 1.0 / np.maximum(aligned, 1e-30), np.inf)
                else:
                    depth[i] = out
        depth = np.nan_to_num(depth, nan=self.max_depth, posinf=self.max_depth)
        return TeacherDepth(np.clip(depth, 1e-3, self.max_depth), scale, shift)

    def predict(self, images: np.ndarray) -> np.ndarray:
        """(N, S, S, 3) uint8 RGB -> (N, S, S) float32 depth in metres, in [1e-3, max_depth]."""
        return self.estimate(images).depth

    def _probe(self) -> None:
        probe = np.random.default_rng(0).integers(
            0, 256, (2, _PROBE_SIZE, _PROBE_SIZE, 3), dtype=np.uint8
        )
        try:
            depth = self.network(probe)
        except InputError:
            raise
        except Exception as error:  # any failure of user code means "not a depth model"
            raise InputError(
                f"--depth-model {self.source}: fails on a (2, 3, {_PROBE_SIZE}, {_PROBE_SIZE}) "
                f"RGB batch ({type(error).__name__}: {error_summary(error, 80)})"
            ) from None
        if not np.isfinite(depth).all():
            raise InputError(
                f"--depth-model {self.source}: produces non-finite depth on a probe batch"
            )


def _looks_like_hub_id(source: str) -> bool:
    return (
        bool(_HUB_ID.match(source)) and ".." not in source and not source.endswith(_FILE_SUFFIXES)
    )


# --- TorchScript -----------------------------------------------------------------------------


def _load_torchscript(path: str, device: torch.device) -> Callable[[np.ndarray], np.ndarray]:
    try:
        with warnings.catch_warnings():  # TorchScript is deprecated but is the contract
            warnings.simplefilter("ignore", FutureWarning)
            model = torch.jit.load(path, map_location=device).eval()
    except (RuntimeError, ValueError) as error:
        raise InputError(
            f"--depth-model {path}: not a TorchScript model ({error_summary(error)})"
        ) from None

    def network(images: np.ndarray) -> np.ndarray:
        batch = torch.from_numpy(np.ascontiguousarray(images)).to(device)
        batch = batch.permute(0, 3, 1, 2).float().div_(255.0)
        with torch.inference_mode():
            depth = model(batch)
        if isinstance(depth, torch.Tensor) and depth.ndim == 4 and depth.shape[1] == 1:
            depth = depth[:, 0]
        expected = tuple(images.shape[:3])
        if not isinstance(depth, torch.Tensor) or tuple(depth.shape) != expected:
            got = tuple(depth.shape) if isinstance(depth, torch.Tensor) else type(depth).__name__
            raise InputError(
                f"--depth-model {path}: not a depth model (output {got}, expected (N, 1, H, W) "
                f"or (N, H, W) for an (N, 3, H, W) input)"
            )
        return depth.float().cpu().numpy()

    return network


# --- transformers ----------------------------------------------------------------------------


def _import_transformers() -> Any:
    try:
        import huggingface_hub
        import transformers
    except ImportError:
        raise InputError(
            "--depth-model: a Hugging Face model needs transformers: pip install 'fgd[teacher]'"
        ) from None
    # Their own bars and load reports would interleave with the build's progress bar.
    transformers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()
    huggingface_hub.utils.disable_progress_bars()
    return transformers


def _is_metric(config: Any) -> bool:
    return (
        getattr(config, "depth_estimation_type", None) == "metric"
        or config.model_type in _METRIC_MODEL_TYPES
    )


def _load_transformers(
    source: str, device: torch.device
) -> tuple[Callable[[np.ndarray], np.ndarray], bool]:
    """The network of a transformers depth model and whether it is relative (gives disparity)."""
    transformers = _import_transformers()
    from transformers.models.auto.modeling_auto import MODEL_FOR_DEPTH_ESTIMATION_MAPPING_NAMES

    local = Path(source).is_dir()
    with _hub_errors(source, local):
        config = transformers.AutoConfig.from_pretrained(source)
    depth_types = MODEL_FOR_DEPTH_ESTIMATION_MAPPING_NAMES
    if config.model_type not in depth_types:
        raise InputError(
            f"--depth-model {source}: not a depth model (a {config.model_type!r} model; "
            f"AutoModelForDepthEstimation takes {', '.join(depth_types)})"
        )
    with _hub_errors(source, local):
        model = transformers.AutoModelForDepthEstimation.from_pretrained(source)
        processor = transformers.AutoImageProcessor.from_pretrained(source)
    model = model.to(device).eval()
    post_process = processor.post_process_depth_estimation
    takes_source_sizes = "source_sizes" in inspect.signature(post_process).parameters
    amp = (
        torch.autocast("cuda", dtype=torch.bfloat16)
        if device.type == "cuda"
        else contextlib.nullcontext()
    )

    def network(images: np.ndarray) -> np.ndarray:
        sizes = [tuple(image.shape[:2]) for image in images]
        inputs = processor(images=list(images), return_tensors="pt")
        with torch.inference_mode(), amp:
            outputs = model(pixel_values=inputs["pixel_values"].to(device))
        outputs.predicted_depth = outputs.predicted_depth.float()
        kwargs = {"source_sizes": sizes} if takes_source_sizes else {}
        maps = post_process(outputs, target_sizes=sizes, **kwargs)
        return torch.stack([m["predicted_depth"] for m in maps]).float().cpu().numpy()

    return network, not _is_metric(config)


@contextlib.contextmanager
def _hub_errors(source: str, local: bool) -> Iterator[None]:
    """What from_pretrained raises for an unusable folder or an unreachable id, as one line."""
    try:
        yield
    except (OSError, ValueError, KeyError) as error:
        if local:
            raise InputError(
                f"--depth-model {source}: not a loadable transformers model folder "
                f"({error_summary(error, 100)})"
            ) from None
        from huggingface_hub import constants

        raise InputError(
            f"--depth-model {source}: not in the Hugging Face cache ({constants.HF_HUB_CACHE}) "
            f"and not downloadable from here ({error_summary(error, 80)}); on a machine with a "
            f"network run `hf download {source}` (`huggingface-cli download` in older "
            f"huggingface_hub) and copy its cache here, or pass the model's folder"
        ) from None
