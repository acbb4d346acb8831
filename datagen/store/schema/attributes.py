"""The root attributes of a store (``zarr.json``): :class:`RootAttrs`, with :class:`DepthAttrs`
(how stored depth maps to metres, :class:`TeacherAttrs` for a teacher's) and :class:`Stats`,
frozen dataclasses whose ``to_dict`` writes exactly the JSON every store holds (key order
included: stores stay byte-identical).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

from datagen.store.schema.arrays import asset_arrays, sample_arrays

#: How a teacher's output became metres (:mod:`datagen.builder.teacher`).
TEACHER_RULES = ("metric", "ground-fit", "user-scale")


@dataclass(frozen=True)
class TeacherAttrs:
    """The ``depth.teacher`` attribute of a ``--depth teacher`` store: the model and the rule
    that made its output metric (:meth:`datagen.builder.teacher.DepthTeacher.record`).

    Each image's fitted :math:`s, t` (:data:`TEACHER_FIT_COLUMNS`) is in the arrays
    ``teacher_fit`` (per sample) and ``bg_teacher_fit`` (per bg).

    Attributes:
        model: What ``--depth-model`` said (a file, a folder or a hub id).
        kind: ``"torchscript"`` or ``"transformers"``.
        rule: One of :data:`TEACHER_RULES`.
        scale: The ``user-scale`` rule's :math:`s` (``--depth-scale``), else None.
    """

    model: str
    kind: str
    rule: str
    scale: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TeacherAttrs:
        """Raises KeyError, TypeError or ValueError for a malformed attribute."""
        rule = str(data["rule"])
        if rule not in TEACHER_RULES:
            raise ValueError(f"teacher rule {rule!r} is none of {', '.join(TEACHER_RULES)}")
        scale = data.get("scale")
        return cls(
            str(data["model"]), str(data["kind"]), rule, None if scale is None else float(scale)
        )


@dataclass(frozen=True)
class DepthAttrs:
    """The ``depth`` root attribute: how stored depth maps to metres, and where it came from
    (``teacher`` only in a ``--depth teacher`` store)."""

    unit: str
    scale: float
    max: float
    source: str
    teacher: TeacherAttrs | None = None

    def to_dict(self) -> dict[str, Any]:
        out = {"unit": self.unit, "scale": self.scale, "max": self.max, "source": self.source}
        if self.teacher is not None:
            out["teacher"] = self.teacher.to_dict()
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DepthAttrs:
        teacher = data.get("teacher")
        return cls(
            str(data["unit"]),
            float(data["scale"]),
            float(data["max"]),
            str(data["source"]),
            None if teacher is None else TeacherAttrs.from_dict(teacher),
        )


@dataclass(frozen=True)
class Stats:
    """The ``stats`` root attribute (``fgd datagen stats``): image means and stds in [0, 1]
    units, RGB order (bg weighted by how many samples use each bg), mask coverage, depth in
    metres."""

    fgbg_mean: tuple[float, float, float]
    fgbg_std: tuple[float, float, float]
    bg_mean: tuple[float, float, float]
    bg_std: tuple[float, float, float]
    mask_coverage: float
    depth_min: float
    depth_max: float
    depth_mean: float
    depth_std: float
    n_samples: int
    note: str = "means and stds of images are in [0, 1] units, RGB order; depth in metres"

    def to_dict(self) -> dict[str, Any]:
        return {
            f.name: list(v) if isinstance(v := getattr(self, f.name), tuple) else v
            for f in dataclasses.fields(self)
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Stats:
        """Raises KeyError, TypeError or ValueError for a malformed attribute."""
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            if f.name == "note":
                values["note"] = str(data.get("note", f.default))
            elif f.name.endswith(("_mean", "_std")) and f.name.startswith(("fgbg", "bg")):
                rgb = tuple(float(v) for v in data[f.name])
                if len(rgb) != 3:
                    raise ValueError(f"{f.name} has {len(rgb)} values, not 3")
                values[f.name] = rgb
            elif f.name == "n_samples":
                values[f.name] = int(data[f.name])
            else:
                values[f.name] = float(data[f.name])
        return cls(**values)


@dataclass(frozen=True)
class RootAttrs:
    """The root attributes of a store (``zarr.json``), in the order every store holds.

    ``config`` is the build's content key (:meth:`datagen.builder.config.BuildConfig.content_key`),
    ``runtime`` its other fields; ``fg_kinds`` (the kind of every fg, such as ``person``) only in
    a store whose ``--fg`` folder held a ``labels.csv``, so stores without one stay
    byte-identical (built-in cutouts carry their kind in their names); ``integrity`` (CRC-32 of
    every shard object of every per-sample array, hex) appears when the build completes,
    ``stats`` once ``fgd datagen stats`` ran.
    """

    fgd_format: int
    status: Literal["building", "complete"]
    config: dict[str, Any]
    assets_digest: str
    runtime: dict[str, Any]
    seed: int
    n_samples: int
    size: int
    chunk_size: int
    shard_size: int
    n_shards: int
    depth: DepthAttrs
    bg_names: list[str]
    fg_names: list[str]
    plan: list[str]
    n_flips: int
    fg_kinds: list[str] | None = None
    integrity: dict[str, list[str]] | None = None
    stats: Stats | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is None:
                continue
            out[f.name] = value.to_dict() if hasattr(value, "to_dict") else value
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RootAttrs:
        """Raises KeyError, TypeError or ValueError for missing or malformed attributes
        (``stats`` excepted: see :meth:`Stats.from_dict`, which the reader calls on demand)."""
        values = {f.name: data[f.name] for f in dataclasses.fields(cls) if f.default is not None}
        values["depth"] = DepthAttrs.from_dict(data["depth"])
        for key in ("fgd_format", "seed", "n_samples", "size", "chunk_size", "shard_size",
                    "n_shards", "n_flips"):  # fmt: skip
            values[key] = int(values[key])
        if not isinstance(values["config"], dict) or not isinstance(values["runtime"], dict):
            raise TypeError("config and runtime must be objects")
        integrity = data.get("integrity")
        if integrity is not None:
            names = sample_arrays(values["fgd_format"], values["depth"].teacher is not None)
            integrity = {name: [str(c) for c in integrity[name]] for name in names}
        fg_kinds = data.get("fg_kinds")
        if fg_kinds is not None:
            fg_kinds = [str(kind) for kind in fg_kinds]
            if len(fg_kinds) != len(values["fg_names"]):
                raise ValueError(
                    f"fg_kinds has {len(fg_kinds)} entries for {len(values['fg_names'])} fg"
                )
        return cls(**values, fg_kinds=fg_kinds, integrity=integrity)

    @property
    def sample_arrays(self) -> tuple[str, ...]:
        """The per-sample arrays of this store (its format's, and the teacher's if it has one)."""
        return sample_arrays(self.fgd_format, self.depth.teacher is not None)

    @property
    def asset_arrays(self) -> tuple[str, ...]:
        """The per-store arrays of this store."""
        return asset_arrays(self.fgd_format, self.depth.teacher is not None)

    def shard_length(self, shard: int) -> int:
        """Samples in `shard` (the last one may be short)."""
        return min(self.shard_size, self.n_samples - shard * self.shard_size)
