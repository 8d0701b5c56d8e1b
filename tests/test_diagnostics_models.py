"""Diagnostics on real models: weight drift, CKA between models, block scores, source ranking and
feature projections, on the session's tiny source run and one short transfer of it."""

from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go
import pytest

from workbench import diagnostics, figures, text_tables
from workbench.errors import ConfigError, SourceRunError

TARGET_TASK = "mnist-5k:5-9"


@pytest.fixture(scope="module")
def transfer_run(source_run, tmp_path_factory: pytest.TempPathFactory):
    """One short parameter transfer (freeze depth 2) of the session's source run."""
    import workbench

    return workbench.transfer(source=str(source_run.path), task=TARGET_TASK, mode="parameter", freeze_depth=2,
                              per_class=5, epochs=1, runs_dir=str(tmp_path_factory.mktemp("diagnostics-runs")),
                              name="freeze2")


def test_frozen_blocks_do_not_drift_and_trained_blocks_do(transfer_run) -> None:
    drift = diagnostics.drift_for_run(transfer_run)
    blocks = {row["block"]: row for row in drift["blocks"]}
    assert [name for name, row in blocks.items() if row["frozen"]] == ["conv1", "conv2"]
    assert blocks["conv1"]["drift"] == 0.0 and blocks["conv2"]["drift"] == 0.0
    assert blocks["conv3"]["drift"] > 0 and blocks["dense1"]["drift"] > 0
    assert all(row["origin"] == "copied" for row in drift["blocks"])  # 5 → 5 classes: even the head was copied
    layers = {row["layer"]: row for row in drift["layers"]}
    assert layers["conv3_conv"]["change"] > 0 and layers["conv1_conv"]["change"] == 0.0
    assert drift["label"].startswith("parameter (freeze 2)")


def test_a_re_initialised_head_is_marked_fresh_not_compared(source_run) -> None:
    from workbench.transfer_modes import transfer_model

    source_model = source_run.load_model()
    model, report = transfer_model(source_model, "feature", num_classes=3)  # a new, narrower head
    fresh = [row["layer"] for row in report["layers"] if row["action"] in ("re-initialised", "skipped")]
    drift = diagnostics.weight_drift(source_model, model, fresh_layers=fresh)
    blocks = {row["block"]: row for row in drift["blocks"]}
    assert fresh == ["head"]
    assert blocks["head"]["origin"] == "fresh" and math.isnan(blocks["head"]["drift"])
    for name in ("conv1", "conv2", "conv3", "dense1"):
        assert blocks[name]["drift"] == 0.0 and blocks[name]["frozen"]


def test_drift_needs_a_transfer_run(source_run) -> None:
    with pytest.raises(SourceRunError, match="no source model"):
        diagnostics.drift_for_run(source_run)


def test_cka_to_the_source_is_one_below_the_freeze_depth(transfer_run) -> None:
    result = diagnostics.cka_for_run(transfer_run, max_examples=120)
    rows = {row["block"]: row for row in result["rows"]}
    assert list(rows) == ["conv1", "conv2", "conv3", "dense1", "head"]
    assert rows["conv1"]["cka"] == pytest.approx(1.0, abs=1e-6) and rows["conv2"]["cka"] == pytest.approx(1.0, abs=1e-6)
    assert all(0.0 <= row["cka"] <= 1.0 for row in rows.values())
    assert rows["conv1"]["examples"] == 120 and rows["conv1"]["features_a"] == 15 * 15 * 32


def test_cka_matrix_has_one_value_per_pair_of_blocks(source_run, transfer_run) -> None:
    images = np.random.default_rng(0).integers(0, 255, size=(40, 28, 28, 1), dtype=np.uint8)
    matrix = diagnostics.cka_matrix(source_run, transfer_run, images, label_a="source", label_b="freeze 2")
    assert matrix["blocks_a"] == matrix["blocks_b"] == ["conv1", "conv2", "conv3", "dense1", "head"]
    values = np.array(matrix["cka"], dtype=float)
    assert values.shape == (5, 5) and np.all((values >= 0) & (values <= 1))
    np.testing.assert_allclose(np.diag(values)[:2], 1.0, atol=1e-6)  # the two frozen blocks


def test_score_blocks_scores_every_block_of_the_source_without_training(source_run) -> None:
    runs_before = sorted(path.name for path in source_run.path.parent.iterdir())
    weights_before = source_run.load_model().get_weights()
    result = diagnostics.score_blocks(source_run, TARGET_TASK, per_class=20, seed=0, max_examples=300)
    rows = result["cut_points"]
    assert [row["freeze_depth"] for row in rows] == [0, 1, 2, 3, 4]
    assert [row["block"] for row in rows] == ["input", "conv1", "conv2", "conv3", "dense1"]
    assert all(math.isfinite(row["logme"]) and 0.0 <= row["probe_accuracy"] <= 1.0 for row in rows)
    assert result["train_examples"] == 100 and math.isfinite(result["leep"]) and result["leep"] <= 0
    assert result["suggested_freeze_depth"] in range(5)
    assert result["seconds"] > 0  # how long scoring took is part of the result (the speed is benchmarked in bench/)
    # Scoring reads the source and fits closed-form scores: no run is written, no weight moves.
    assert sorted(path.name for path in source_run.path.parent.iterdir()) == runs_before
    assert all(np.array_equal(a, b) for a, b in zip(weights_before, source_run.load_model().get_weights()))
    text = text_tables.format_block_scores(result)
    assert "suggested freeze depth" in text and "LEEP" in text
    assert isinstance(figures.plot_block_scores(result), go.Figure)


def test_rank_sources_orders_sources_by_logme(source_run, transfer_run) -> None:
    rows = diagnostics.rank_sources([source_run, transfer_run.path], TARGET_TASK, per_class=10, max_examples=100)
    assert [row["rank"] for row in rows] == [1, 2]
    assert rows[0]["logme"] >= rows[1]["logme"]
    assert {row["source"] for row in rows} == {"source", "freeze2"}
    assert "LogME" in text_tables.format_source_ranking(rows)


def test_feature_projection_gives_one_point_per_image(transfer_run) -> None:
    projection = diagnostics.feature_projection_for_run(transfer_run, "dense1", "pca", max_examples=60)
    assert len(projection["x"]) == len(projection["y"]) == len(projection["labels"]) == 60
    assert projection["class_names"] == ["5", "6", "7", "8", "9"]
    with pytest.raises(ConfigError, match="Allowed"):
        diagnostics.feature_projection_for_run(transfer_run, "dense9")


def test_a_transfer_run_finds_its_source_its_label_and_its_test_images(source_run, transfer_run) -> None:
    from workbench.runs import run_label, run_test_images, source_run_of

    assert source_run_of(transfer_run).path == source_run.path
    assert run_label(transfer_run) == "parameter (freeze 2) s0" and run_label(source_run) == "pretrain s0"
    images, labels = run_test_images(transfer_run)
    assert images.dtype == np.uint8 and images.shape[1:] == (28, 28, 1) and len(images) == len(labels)
    assert set(np.unique(labels).tolist()) == {0, 1, 2, 3, 4}  # digits 5-9, relabelled 0..4
