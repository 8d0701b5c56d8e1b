"""Tests for the task-distance presets (`workbench.presets`) and how report notebooks pick them."""

from __future__ import annotations

import pytest

from workbench.data import parse_task, prepare_task
from workbench.errors import ConfigError
from workbench.notebook_support import choose_tasks
from workbench.presets import PRESETS, describe_presets, preset


def test_unknown_preset_is_a_readable_error_naming_the_known_presets() -> None:
    with pytest.raises(ConfigError) as caught:
        preset("farr")
    message = str(caught.value)
    assert "'farr'" in message
    for name, item in PRESETS.items():
        assert name in message and item.target_task in message
    assert "-p preset far" in message  # says the fix


def test_preset_names_ignore_case_and_spaces_and_return_run_parameters() -> None:
    assert preset(" Far ") == preset("far") == {"source_task": "mnist-5k:0-4", "target_task": "digits:5-9"}
    assert preset("near") == {"source_task": "mnist-5k:0-4", "target_task": "mnist-5k:5-9"}


def test_every_preset_loads_offline_with_the_default_source_and_five_target_classes() -> None:
    # One source for all presets: the report set's 01_pretrain_source run serves every sweep.
    assert {item.source_task for item in PRESETS.values()} == {"mnist-5k:0-4"}
    for item in PRESETS.values():
        assert parse_task(item.source_task).dataset in ("mnist-5k", "digits")
        target = prepare_task(item.target_task, per_class=25, seed=0)  # the default sweep's largest budget
        assert target.num_classes == 5
        assert item.name in describe_presets()


def test_notebooks_take_the_preset_tasks_or_keep_their_own() -> None:
    given = choose_tasks("", "mnist-5k:0-2", "mnist-5k:3-5")
    assert (given["source_task"], given["target_task"], given["preset"]) == ("mnist-5k:0-2", "mnist-5k:3-5", "")
    assert "as given" in given["description"]
    chosen = choose_tasks("far", "mnist-5k:0-2", "mnist-5k:3-5")
    assert (chosen["source_task"], chosen["target_task"], chosen["preset"]) == ("mnist-5k:0-4", "digits:5-9", "far")
    assert "preset **far**" in chosen["description"]
    with pytest.raises(ConfigError, match="Known presets"):
        choose_tasks("nearby", "mnist-5k:0-2", "mnist-5k:3-5")
