"""Tests for workbench.figures.transfer: frozen and trainable parameters per block."""

from __future__ import annotations

from figure_examples import TRANSFER_REPORT

from workbench.figures import plot_transfer_report, summarize_blocks


def test_transfer_report_stacks_frozen_and_trainable_params_per_block():
    figure = plot_transfer_report(TRANSFER_REPORT)
    frozen, trainable = figure.data
    assert (frozen.name, trainable.name) == ("frozen", "trainable")
    assert list(frozen.y) == ["block1", "block2", "head"]
    assert list(frozen.x) == [320, 0, 0]
    assert list(trainable.x) == [0, 18496, 645]
    assert frozen.orientation == trainable.orientation == "h"
    assert figure.layout.barmode == "stack"
    assert "re-initialised" in trainable.hovertext[2]
    assert "copied" in frozen.hovertext[0]
    assert "19,141 trainable" in figure.layout.title.text


def test_transfer_report_heading_replaces_only_the_words_before_the_counts():
    figure = plot_transfer_report(TRANSFER_REPORT, heading="Parameter (freeze 2) transfer, seed 0")
    assert figure.layout.title.text == (
        "Parameter (freeze 2) transfer, seed 0: 19,141 trainable, 320 frozen parameters")
    assert plot_transfer_report({}, heading="Feature transfer").layout.title.text == "Feature transfer"


def test_blocks_sum_their_layers_in_order_of_first_appearance():
    blocks = summarize_blocks(TRANSFER_REPORT["layers"])
    assert [(block["block"], block["frozen_params"], block["trainable_params"]) for block in blocks] == [
        ("block1", 320, 0), ("block2", 0, 18496), ("head", 0, 645)]
    assert [layer["layer"] for layer in blocks[0]["layers"]] == ["conv1", "pool1"]
