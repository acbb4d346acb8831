"""Named training recipes: the measured presets ``fgd train --recipe NAME`` starts from.

A recipe is a YAML file in ``training/recipes/`` holding a partial :class:`TrainConfig` mapping
(augmentation settings under ``augment:``). Its leading ``#`` lines say what it is for; the first
of them is what ``fgd train --list-recipes`` shows. Precedence when a run is resolved: recipe <
``--config`` file < command-line flags. ``docs/benchmarks.md`` holds each one's current
figures, and the benchmark scripts read the same files, so a recipe's numbers and its settings
cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from datagen.common.errors import InputError
from training.config import load_yaml

RECIPE_DIR = Path(__file__).with_name("recipes")

#: ``--recipe none``: no preset, the dataclass defaults.
NO_RECIPE = "none"

#: The recipe a run uses when none is named, by the device it will train on.
DEFAULT_RECIPE = {"cpu": "cpu-quality", "cuda": "gpu-224"}


@dataclass(frozen=True)
class Recipe:
    """One preset: its name, what it is for, and the settings it overrides."""

    name: str
    summary: str
    settings: dict[str, Any]


def recipe_names() -> list[str]:
    """Every shipped recipe, sorted."""
    return sorted(path.stem for path in RECIPE_DIR.glob("*.yaml"))


def load_recipe(name: str) -> Recipe:
    """The recipe called ``name``; an unknown name is an :class:`InputError` listing the known."""
    path = RECIPE_DIR / f"{name}.yaml"
    if name not in recipe_names():
        known = ", ".join([*recipe_names(), NO_RECIPE])
        raise InputError(f"--recipe {name}: no such recipe (known: {known})")
    return Recipe(name, _summary(path), load_yaml(path))


def default_recipe(device_type: str) -> str:
    """The recipe for a run on a device of type ``device_type`` ("cpu" or "cuda")."""
    return DEFAULT_RECIPE.get(device_type, DEFAULT_RECIPE["cpu"])


def _summary(path: Path) -> str:
    for line in path.read_text().splitlines():
        if line.startswith("#"):
            return line.lstrip("# ").strip()
    return ""
