"""One way to print numbers and parse lists: mean ± sd, intervals, table cells, JSON, typed lists."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from workbench.config import parse_int_list
from workbench.errors import ConfigError
from workbench.formatting import format_cell, format_interval, format_mean_sd, format_number, json_safe, to_float


def test_mean_sd_leaves_out_the_spread_of_a_single_value() -> None:
    assert format_mean_sd({"mean": 0.8123, "sd": 0.0201, "n": 3}) == "0.812 ± 0.020 (n=3)"
    assert format_mean_sd({"mean": 0.8123, "sd": 0.0, "n": 1}) == "0.812 (n=1)"
    assert format_mean_sd({"mean": math.nan, "sd": math.nan, "n": 0}) == "n/a (n=0)"
    assert format_mean_sd({"mean": 0.05, "sd": 0.01, "n": 2}, signed=True, with_n=False) == "+0.050 ± 0.010"


def test_intervals_say_why_there_is_none() -> None:
    assert format_interval({"low": 0.01, "high": 0.09, "n": 3}) == "[+0.010, +0.090]"
    assert format_interval({"low": math.nan, "high": math.nan, "n": 1}) == "none: needs n ≥ 2 seeds"


def test_numbers_and_cells() -> None:
    assert format_number(None) == format_number(math.inf) == "n/a"
    assert format_number(0.25, signed=True) == "+0.250"
    assert [format_cell(value) for value in (None, True, 0.5, 3, [0.1, "a"], math.nan)] == [
        "—", "yes", "0.500", "3", "0.100, a", "n/a"]


def test_to_float_turns_what_is_not_a_number_into_nan() -> None:
    assert math.isnan(to_float(None)) and math.isnan(to_float("x")) and to_float("0.5") == 0.5
    assert to_float(math.inf) == math.inf and math.isnan(to_float(math.inf, finite=True))


def test_json_safe_output_reads_back_in_strict_json(tmp_path: Path) -> None:
    value = {"a": math.nan, 1: (np.float64(0.5), np.int64(2)), "p": Path("x/y"), "arr": np.array([1, 2])}
    text = json.dumps(json_safe(value), allow_nan=False)
    assert json.loads(text) == {"a": None, "1": [0.5, 2], "p": "x/y", "arr": [1, 2]}


@pytest.mark.parametrize(("value", "options", "expected"), [
    ("0,2,4", {}, [0, 2, 4]),
    ([0, 2, 4], {}, [0, 2, 4]),
    ("1; 5; all", {"allow_all": True, "minimum": 1}, [1, 5, None]),
    ([1, "ALL"], {"allow_all": True, "minimum": 1}, [1, None]),
])
def test_lists_parse_the_same_from_every_front_end(value, options, expected) -> None:
    assert parse_int_list(value, "budgets", **options) == expected


@pytest.mark.parametrize(("value", "options", "fragment"), [
    ("0,x", {}, "holds 'x'; allowed: whole numbers from 0"),
    ("all", {}, "holds 'all'"),
    ("0,5", {"minimum": 1}, "holds '0'"),
    ("", {}, "is empty"),
    ([2.5], {}, "holds 2.5"),
    ("2,2", {}, "repeats"),
    ([5, "all", None], {"allow_all": True}, "repeats"),
])
def test_a_bad_list_names_the_item_what_is_allowed_and_the_fix(value, options, fragment) -> None:
    with pytest.raises(ConfigError, match="for example") as error:
        parse_int_list(value, "depths", **options)
    assert fragment in str(error.value)
