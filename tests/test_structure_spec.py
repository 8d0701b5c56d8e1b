"""The structure-edit spec: parsing, the canonical text, and one readable error per bad item."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import workbench.structure

from workbench.config import RunConfig
from workbench.errors import ConfigError
from workbench.structure import EDIT_FORMS, Edit, format_edits, parse_edits


def test_every_form_parses_and_prints_back_in_applied_order() -> None:
    edits = parse_edits("add dense 128; hidden 64 ; cut conv2; add dropout 0.5; input 28x28x1; "
                        "widen conv1 to 48; deepen after conv1; add conv 32")
    assert [edit.kind for edit in edits] == ["input", "cut", "widen", "deepen", "add", "add", "add", "hidden"]
    assert format_edits(edits) == ("input 28x28x1; cut conv2; widen conv1 to 48; deepen after conv1; add dense 128; "
                                   "add dropout 0.5; add conv 32; hidden 64")
    assert edits[0] == Edit("input", shape=(28, 28, 1))
    assert edits[5] == Edit("add", layer="dropout", rate=0.5)


def test_the_canonical_text_parses_to_the_same_edits() -> None:
    text = "cut conv3;add   conv 16; ADD DENSE 32;widen conv1 to 40"
    once = parse_edits(text)
    assert parse_edits(format_edits(once)) == once
    assert format_edits(once) == "cut conv3; widen conv1 to 40; add conv 16; add dense 32"


@pytest.mark.parametrize("value", [None, "", "  ;  ", [], ()])
def test_no_edits_is_an_empty_spec(value) -> None:
    assert parse_edits(value) == ()
    assert format_edits(parse_edits(value)) == ""


def test_a_list_of_items_is_the_same_as_one_text() -> None:
    assert parse_edits(["cut conv2", "add dense 128; add dropout 0.2"]) == parse_edits(
        "cut conv2; add dense 128; add dropout 0.2")


@pytest.mark.parametrize("text, words", [
    ("chop conv2", "is not a known edit"),
    ("cut", "is not a known edit"),
    ("add pool 2", "is not a known edit"),
    ("add dense many", "whole number of units"),
    ("add dense 0", "whole number of units"),
    ("hidden -4", "whole number of units"),
    ("widen conv2 to 2.5", "whole number of units"),
    ("widen conv2 96", "is not a known edit"),
    ("deepen conv2", "is not a known edit"),
    ("add dropout 1.5", "dropout rate between 0 and 1"),
    ("add dropout 0", "dropout rate between 0 and 1"),
    ("input 28x28", "HEIGHTxWIDTHxCHANNELS"),
    ("input 4x4x1", "sides of at least 8"),
    ("input 28x28x2", "1 or 3 channels"),
])
def test_each_syntax_error_names_the_item_the_forms_and_an_example(text: str, words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_edits(f"cut conv2; {text}")
    message = str(caught.value)
    assert repr(text) in message and words in message
    assert EDIT_FORMS in message and '--edit "' in message
    assert "\n" not in message


@pytest.mark.parametrize("text, words", [
    ("cut conv2; cut conv3", "at most one"),
    ("hidden 32; hidden 64", "at most one"),
    ("input 28x28x1; input 32x32x3", "at most one"),
    ("widen conv2 to 96; widen conv2 to 128", "more than once"),
    ("deepen after conv2; deepen after conv2", "more than once"),
])
def test_an_edit_given_twice_is_refused(text: str, words: str) -> None:
    with pytest.raises(ConfigError, match=words):
        parse_edits(text)


def test_the_config_stores_the_canonical_text_and_refuses_edits_outside_transfer() -> None:
    config = RunConfig(kind="transfer", source="runs/source", edits=["add dense 128", "cut conv2"], grow_noise=0.01)
    assert config.edits == "cut conv2; add dense 128" and config.grow_noise == 0.01
    assert RunConfig(kind="transfer", source="runs/source").edits == ""
    with pytest.raises(ConfigError, match="only a transfer run takes it"):
        RunConfig(kind="pretrain", edits="cut conv2")
    with pytest.raises(ConfigError, match="grow_noise"):
        RunConfig(kind="pretrain", grow_noise=0.1)
    with pytest.raises(ConfigError, match="grow_noise"):
        RunConfig(kind="transfer", source="runs/source", grow_noise=-0.1)


def test_feature_transfer_caches_features_only_when_no_edit_adds_layers_below_the_head() -> None:
    feature = {"kind": "transfer", "source": "runs/source", "mode": "feature"}
    assert RunConfig(**feature, edits="cut conv2; widen conv2 to 96").uses_feature_cache()
    for edits in ("cut conv2; add dense 8", "hidden 32", "input 28x28x1"):
        assert not RunConfig(**feature, edits=edits).uses_feature_cache()
    with pytest.raises(ConfigError, match="no fixed features to cache"):
        RunConfig(**feature, edits="add dropout 0.2", cache_features="on")


@pytest.mark.parametrize("module", ["spec.py", "__init__.py"])
def test_the_spec_and_the_package_entry_import_no_tensorflow(module: str) -> None:
    tree = ast.parse((Path(workbench.structure.__file__).parent / module).read_text())
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)} | {
        alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    assert imported <= {"__future__", "re", "collections.abc", "dataclasses", "workbench.errors",
                        "workbench.structure.spec"}, imported
