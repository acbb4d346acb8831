"""TrainConfig: one source for defaults, choices and what --resume must keep."""

from __future__ import annotations

import dataclasses
import re
import typing

import pytest

from datagen.common.errors import InputError
from training import config
from training.commands import eval_command, train_command
from training.config import AugmentConfig, Bounds, TrainConfig, fixed_on_resume
from training.models import ModelConfig


def test_every_model_setting_and_the_data_order_are_fixed_on_resume():
    fixed = fixed_on_resume()
    model_keys = {f.name for f in dataclasses.fields(ModelConfig)}
    train_keys = {f.name for f in dataclasses.fields(TrainConfig)}
    assert model_keys & train_keys <= set(fixed)  # full_res_stage was once missed
    assert {"store", "seed", "split", "val_fraction", "batch_size", "shuffle_chunks"} <= set(fixed)
    assert not {"lr", "epochs", "max_steps", "workers", "device"} & set(fixed)


def test_choice_tuples_are_the_literal_types():
    hints = typing.get_type_hints(TrainConfig)
    for key, choices in [("split", config.SPLITS), ("device", config.DEVICES),
                         ("loss_weighting", config.LOSS_WEIGHTINGS), ("amp", config.AMP_MODES),
                         ("resize_unit", config.RESIZE_UNITS)]:  # fmt: skip
        assert typing.get_args(hints[key]) == choices
    assert config.DECODERS == typing.get_args(typing.get_type_hints(ModelConfig)["decoder"])


def test_click_defaults_are_the_dataclass_defaults():
    defaults = TrainConfig()
    options = {p.name: p for p in train_command.params}
    for field in dataclasses.fields(TrainConfig):
        if field.name in options and not options[field.name].required:
            assert options[field.name].default == getattr(defaults, field.name), field.name
    assert {"batch_size", "epochs", "lr", "seed", "workers", "device"} <= set(options)
    evals = {p.name: p for p in eval_command.params}
    assert (evals["device"].default, evals["workers"].default) == (defaults.device,
                                                                   defaults.workers)  # fmt: skip


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"size": -1}, "size (--size) must be >= 0"),
        ({"max_steps": -1}, "max_steps (--max-steps) must be >= 0"),
        ({"batch_size": 0}, "batch_size (--batch-size) must be >= 1"),
        ({"split": "bogus"}, "split must be one of auto, scene+object, object, scene, random"),
    ],
)
def test_range_messages_say_the_range(changes, message):
    with pytest.raises(InputError, match=re.escape(message)):
        TrainConfig(**changes)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"hflip": 1.5}, "augment.hflip must be in [0, 1], got 1.5"),
        ({"noise_p": -0.1}, "augment.noise_p must be in [0, 1], got -0.1"),
        ({"hue": -0.01}, "augment.hue must be >= 0, got -0.01"),
        (
            {"crop_scale": (0.0, 1.0)},
            "augment.crop_scale must be 0 < lo <= hi <= 1, got [0.0, 1.0]",
        ),
        ({"crop_scale": (0.5, 1.2)}, "augment.crop_scale must be 0 < lo <= hi <= 1"),
        ({"crop_ratio": (1.25, 0.8)}, "augment.crop_ratio must be 0 < lo <= hi, got [1.25, 0.8]"),
        ({"blur_sigma": (0.0, 1.0)}, "augment.blur_sigma must be 0 < lo <= hi"),
    ],
)
def test_augment_ranges_are_checked_from_field_metadata(changes, message):
    with pytest.raises(InputError, match=re.escape(message)):
        AugmentConfig(**changes)
    with pytest.raises(InputError, match=re.escape(message)):  # and through a config file's dict
        TrainConfig.from_dict({"augment": changes}, "test")


def test_every_numeric_augment_setting_states_its_bounds():
    numeric = {
        f.name
        for f in dataclasses.fields(AugmentConfig)
        if f.type in ("float", "tuple[float, float]")
    }
    assert numeric and numeric == {
        f.name for f in dataclasses.fields(AugmentConfig) if "bounds" in f.metadata
    }


def test_bounds_state_their_rule():
    assert Bounds(0.0, 1.0).rule(pair=False) == "in [0, 1]"
    assert Bounds(0.0).rule(pair=False) == ">= 0"
    assert Bounds(0.0, open_low=True).rule(pair=True) == "0 < lo <= hi"
    assert Bounds(0.0, 1.0).holds((0.0, 1.0)) and not Bounds(0.0, 1.0).holds((1.0, 0.0))
    assert not Bounds(0.0, open_low=True).holds(0.0) and Bounds(0.0).holds(0.0)
