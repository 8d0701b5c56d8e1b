"""The one configuration schema: defaults, coercion and readable validation errors."""

from __future__ import annotations

import pytest

from workbench.config import RunConfig, config_from_mapping, load_parameter_file, parse_parameter_value
from workbench.errors import ConfigError


def test_defaults_describe_a_pretrain_run_on_embedded_data() -> None:
    config = RunConfig()
    assert (config.kind, config.task, config.model, config.input_shape) == ("pretrain", "mnist-5k:0-4", "seed-cnn", (32, 32, 3))


def test_transfer_defaults_to_the_embedded_target_task() -> None:
    config = config_from_mapping({"source": "runs/source"}, kind="transfer")
    assert config.task == "mnist-5k:5-9"
    assert config.mode == "parameter"


def test_dashed_keys_and_string_shapes_are_accepted() -> None:
    config = config_from_mapping({"freeze-depth": 2, "input_shape": "64x64x3", "source": "s"}, kind="transfer")
    assert config.freeze_depth == 2
    assert config.input_shape == (64, 64, 3)


@pytest.mark.parametrize(
    ("values", "fragment"),
    [
        ({"epochs": 0}, "epochs=0 is below the minimum of 1"),
        ({"epochs": "many"}, "not a whole number"),
        ({"per_class": 0}, "per_class=0"),
        ({"learning_rate": -1}, "learning_rate"),
        ({"validation_split": 0.95}, "validation_split"),
        ({"model": "vgg"}, "Allowed values: seed-cnn, mobilenet_v2, resnet50"),
        ({"input_shape": "32x32"}, "HEIGHTxWIDTHxCHANNELS"),
        ({"name": "a/b"}, "not a usable run directory name"),
        ({"task": "  "}, "is empty"),
    ],
)
def test_bad_values_name_the_value_and_the_fix(values: dict, fragment: str) -> None:
    with pytest.raises(ConfigError, match=None) as caught:
        config_from_mapping(values, kind="pretrain")
    assert fragment in str(caught.value)


def test_unknown_parameter_lists_the_allowed_ones() -> None:
    with pytest.raises(ConfigError) as caught:
        config_from_mapping({"freez_depth": 1})
    message = str(caught.value)
    assert "freez_depth" in message and "freeze_depth" in message


def test_unknown_mode_is_rejected() -> None:
    with pytest.raises(ConfigError, match="Allowed values: parameter, feature, structure"):
        config_from_mapping({"source": "s", "mode": "feat"}, kind="transfer")


def test_transfer_without_source_says_how_to_make_one() -> None:
    with pytest.raises(ConfigError, match="workbench pretrain"):
        config_from_mapping({}, kind="transfer")


@pytest.mark.parametrize("mode", ["feature", "structure"])
def test_freeze_depth_is_refused_where_the_mode_fixes_it(mode: str) -> None:
    with pytest.raises(ConfigError, match="--mode parameter"):
        config_from_mapping({"source": "s", "mode": mode, "freeze_depth": 1}, kind="transfer")


def test_parameter_values_parse_like_papermill() -> None:
    assert parse_parameter_value("3") == 3
    assert parse_parameter_value("0.01") == 0.01
    assert parse_parameter_value("[1, 2]") == [1, 2]
    assert parse_parameter_value("mnist-5k:0-4") == "mnist-5k:0-4"


def test_parameter_file_must_be_a_mapping(tmp_path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text("epochs: 3\ntask: digits:0-4\n")
    assert load_parameter_file(good) == {"epochs": 3, "task": "digits:0-4"}
    bad = tmp_path / "bad.yaml"
    bad.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="not a mapping"):
        load_parameter_file(bad)
    with pytest.raises(ConfigError, match="does not exist"):
        load_parameter_file(tmp_path / "missing.yaml")


def test_to_dict_round_trips() -> None:
    config = RunConfig(task="digits:1,2", per_class=3, seed=4)
    assert config_from_mapping(config.to_dict()) == config
