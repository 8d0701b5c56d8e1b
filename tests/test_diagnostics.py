"""Diagnostics: CKA, weight drift, LogME, LEEP, linear probes, block scores and their verification.

The numerical functions are checked against independent, straightforward implementations written
here from the papers' definitions; the model-level functions run on the session's tiny source run.
"""

from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go
import pytest

from workbench import diagnostics, figures
from workbench.diagnostics import (
    leep,
    linear_cka,
    linear_probe_accuracy,
    logme,
    logme_details,
    softmax,
    suggest_freeze_depth,
    verify_cut_points,
    verify_scores,
)
from workbench.errors import ConfigError, SourceRunError

TARGET_TASK = "mnist-5k:5-9"


def random_orthogonal(size: int, seed: int) -> np.ndarray:
    matrix, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(size, size)))
    return matrix


# --------------------------------------------------------------------------------------------
# Linear CKA
# --------------------------------------------------------------------------------------------


def cka_from_hsic(x: np.ndarray, y: np.ndarray) -> float:
    """Kornblith et al.'s definition: HSIC(K, L) / sqrt(HSIC(K, K) HSIC(L, L)) with linear kernels."""
    n = len(x)
    centring = np.eye(n) - np.ones((n, n)) / n
    k, l = x @ x.T, y @ y.T

    def hsic(a: np.ndarray, b: np.ndarray) -> float:
        return float(np.trace(a @ centring @ b @ centring))

    return hsic(k, l) / math.sqrt(hsic(k, k) * hsic(l, l))


@pytest.mark.parametrize("width", [3, 40])  # narrower and wider than the 20 examples
def test_cka_is_one_for_identical_representations(width: int) -> None:
    features = np.random.default_rng(0).normal(size=(20, width))
    assert linear_cka(features, features) == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("width", [5, 60])
def test_cka_is_invariant_to_orthogonal_transforms_and_isotropic_scaling(width: int) -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(30, width))
    y = x[:, :4] @ rng.normal(size=(4, 7)) + 0.5 * rng.normal(size=(30, 7))
    reference = linear_cka(x, y)
    assert 0.0 < reference < 1.0
    rotated_x = 3.7 * x @ random_orthogonal(width, 2)
    rotated_y = 0.01 * y @ random_orthogonal(7, 3)
    assert linear_cka(rotated_x, y) == pytest.approx(reference, rel=1e-9)
    assert linear_cka(x, rotated_y) == pytest.approx(reference, rel=1e-9)
    assert linear_cka(rotated_x, rotated_y) == pytest.approx(reference, rel=1e-9)


def test_cka_is_below_one_for_independent_random_features() -> None:
    rng = np.random.default_rng(4)
    value = linear_cka(rng.normal(size=(200, 10)), rng.normal(size=(200, 10)))
    assert 0.0 <= value < 0.3


def test_cka_matches_a_direct_computation_on_a_hand_made_example() -> None:
    # One feature each: linear CKA is the squared Pearson correlation. Centred x = (-1, 0, 1),
    # centred y = (0, -1, 1): correlation 1 / (√2 √2) = 0.5, so CKA = 0.25.
    assert linear_cka([[1.0], [2.0], [3.0]], [[1.0], [0.0], [2.0]]) == pytest.approx(0.25)
    x = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [2.0, 0.5]])
    y = np.array([[0.5, 1.0, 0.0], [1.0, 0.0, 2.0], [0.0, 1.0, 1.0], [1.5, 0.5, 0.0]])
    assert linear_cka(x, y) == pytest.approx(cka_from_hsic(x, y), rel=1e-12)


def test_cka_gram_and_feature_formulations_agree_for_wide_features() -> None:
    rng = np.random.default_rng(5)
    wide = rng.normal(size=(12, 500))  # d > n: computed from the 12 × 12 Gram matrices
    narrow = wide[:, :6] + rng.normal(size=(12, 6))
    assert linear_cka(wide, narrow) == pytest.approx(cka_from_hsic(wide, narrow), rel=1e-9)


def test_cka_is_nan_for_a_constant_representation_and_rejects_mismatched_examples() -> None:
    assert math.isnan(linear_cka(np.ones((5, 3)), np.random.default_rng(0).normal(size=(5, 2))))
    with pytest.raises(ValueError, match="same examples"):
        linear_cka(np.zeros((5, 2)), np.zeros((4, 2)))


def test_wide_feature_maps_are_pooled_to_the_feature_budget() -> None:
    batch = np.arange(2 * 5 * 5 * 3, dtype=np.float32).reshape(2, 5, 5, 3)
    assert diagnostics.reduce_activations(batch, max_features=100).shape == (2, 75)
    pooled = diagnostics.reduce_activations(batch, max_features=27)  # 2 × 2 windows → 3 × 3 × 3
    assert pooled.shape == (2, 27)
    # Edge windows average only the pixels they hold: the last one is the corner pixel itself.
    np.testing.assert_allclose(pooled.reshape(2, 3, 3, 3)[0, 0, 0], batch[0, :2, :2].mean(axis=(0, 1)))
    np.testing.assert_allclose(pooled.reshape(2, 3, 3, 3)[1, 2, 2], batch[1, 4, 4])
    assert diagnostics.reduce_activations(batch, max_features=26).shape == (2, 12)  # 3 × 3 windows


# --------------------------------------------------------------------------------------------
# LogME
# --------------------------------------------------------------------------------------------


def straightforward_logme(features: np.ndarray, labels: np.ndarray, steps: int = 2000) -> float:
    """LogME from its definition with explicit d × d matrices (You et al., 2021, Algorithm 1).

    Per class: A = αI + βFᵀF, m = βA⁻¹Fᵀy, γ = Σ βλᵢ / (α + βλᵢ), α ← γ / mᵀm,
    β ← (n − γ) / ‖Fm − y‖², until α/β settles; the evidence is
    d/2 log α + n/2 log β − β/2 ‖Fm − y‖² − α/2 mᵀm − ½ log|A| − n/2 log 2π, divided by n.
    """
    features = features.astype(np.float64)
    n, d = features.shape
    gram = features.T @ features
    eigenvalues = np.clip(np.linalg.eigvalsh(gram), 0.0, None)
    evidences = []
    for label in range(labels.max() + 1):
        y = (labels == label).astype(np.float64)
        alpha, beta = 1.0, 1.0
        for _ in range(steps):
            a = alpha * np.eye(d) + beta * gram
            m = beta * np.linalg.solve(a, features.T @ y)
            gamma = float(np.sum(beta * eigenvalues / (alpha + beta * eigenvalues)))
            new_alpha, new_beta = gamma / (m @ m), (n - gamma) / np.sum((features @ m - y) ** 2)
            settled = abs(new_alpha / new_beta - alpha / beta) <= 1e-10 * alpha / beta
            alpha, beta = new_alpha, new_beta
            if settled:
                break
        a = alpha * np.eye(d) + beta * gram
        m = beta * np.linalg.solve(a, features.T @ y)
        evidence = (d / 2 * np.log(alpha) + n / 2 * np.log(beta) - beta / 2 * np.sum((features @ m - y) ** 2)
                    - alpha / 2 * (m @ m) - 0.5 * np.linalg.slogdet(a)[1] - n / 2 * np.log(2 * np.pi))
        evidences.append(evidence / n)
    return float(np.mean(evidences))


def separable_features(examples: int, width: int, classes: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = np.arange(examples) % classes
    centres = 4.0 * rng.normal(size=(classes, width))
    return centres[labels] + rng.normal(size=(examples, width)), labels


@pytest.mark.parametrize(("examples", "width"), [(60, 8), (15, 40)])  # n > d and d > n
def test_logme_matches_a_straightforward_implementation(examples: int, width: int) -> None:
    features, labels = separable_features(examples, width, classes=3, seed=6)
    features += np.random.default_rng(7).normal(scale=2.0, size=features.shape)
    assert logme(features, labels) == pytest.approx(straightforward_logme(features, labels), rel=1e-5)


def test_logme_handles_rank_deficient_and_dead_features() -> None:
    features, labels = separable_features(30, 6, classes=3, seed=16)
    redundant = np.hstack([features, features[:, :3], np.zeros((30, 2))])  # 11 columns, rank 6
    assert logme(redundant, labels) == pytest.approx(straightforward_logme(redundant, labels), rel=1e-5)
    assert math.isfinite(logme(np.zeros((30, 4)), labels))  # a block of dead ReLUs still gets a score


def test_logme_converges_and_ranks_separable_features_above_random_ones() -> None:
    separable, labels = separable_features(120, 16, classes=4, seed=8)
    random = np.random.default_rng(9).normal(size=(120, 16))
    details = logme_details(separable, labels)
    assert details["converged"] and max(details["iterations"]) < diagnostics.LOGME_MAX_ITERATIONS
    assert len(details["per_class"]) == 4
    assert logme(separable, labels) > logme(random, labels)


def test_logme_rejects_labels_that_do_not_match_the_features() -> None:
    with pytest.raises(ValueError, match="one label per example"):
        logme(np.zeros((4, 2)), [0, 1, 0])


# --------------------------------------------------------------------------------------------
# LEEP and the linear probe
# --------------------------------------------------------------------------------------------


def leep_with_loops(theta: np.ndarray, labels: np.ndarray) -> float:
    """LEEP from Nguyen et al.'s definition, one sum at a time."""
    n, source_classes = theta.shape
    target_classes = int(labels.max()) + 1
    joint = [[0.0] * source_classes for _ in range(target_classes)]
    for i in range(n):
        for z in range(source_classes):
            joint[labels[i]][z] += theta[i][z] / n
    marginal = [sum(joint[y][z] for y in range(target_classes)) for z in range(source_classes)]
    total = 0.0
    for i in range(n):
        expected = sum(joint[labels[i]][z] / marginal[z] * theta[i][z] for z in range(source_classes))
        total += math.log(expected)
    return total / n


def test_leep_matches_its_definition_computed_with_loops() -> None:
    rng = np.random.default_rng(10)
    theta = softmax(rng.normal(scale=2.0, size=(40, 6)))
    labels = rng.integers(0, 3, size=40)
    assert leep(theta, labels) == pytest.approx(leep_with_loops(theta, labels), rel=1e-12)


def test_leep_is_higher_when_source_predictions_determine_the_target_label() -> None:
    labels = np.arange(60) % 3
    informative = np.full((60, 3), 0.05)
    informative[np.arange(60), labels] = 0.9
    uninformative = np.full((60, 3), 1 / 3)
    assert leep(informative, labels) > leep(uninformative, labels)
    assert leep(uninformative, labels) == pytest.approx(math.log(1 / 3))


def test_leep_rejects_logits() -> None:
    with pytest.raises(ValueError, match="softmax"):
        leep(np.array([[2.0, -1.0], [0.5, 3.0]]), [0, 1])


def test_linear_probe_separates_separable_features_and_not_random_ones() -> None:
    features, labels = separable_features(200, 10, classes=4, seed=11)
    random = np.random.default_rng(12).normal(size=(200, 10))
    assert linear_probe_accuracy(features[:100], labels[:100], features[100:], labels[100:]) > 0.95
    assert linear_probe_accuracy(random[:100], labels[:100], random[100:], labels[100:]) < 0.5


def test_linear_probe_on_wide_features_predicts_as_a_direct_fit() -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    features, labels = separable_features(160, 300, classes=3, seed=13)
    features += np.random.default_rng(14).normal(scale=6.0, size=features.shape)
    train, test = slice(0, 40), slice(40, 160)  # 40 examples, 300 features: fitted in the row space
    scaler = StandardScaler().fit(features[train])
    direct = LogisticRegression(max_iter=5000, tol=1e-10).fit(scaler.transform(features[train]), labels[train])
    expected = float(np.mean(direct.predict(scaler.transform(features[test])) == labels[test]))
    got = linear_probe_accuracy(features[train], labels[train], features[test], labels[test], max_iterations=5000)
    assert got == pytest.approx(expected, abs=1 / 120)


# --------------------------------------------------------------------------------------------
# Freeze-depth suggestion and verification
# --------------------------------------------------------------------------------------------


def test_suggestion_is_the_deepest_cut_point_near_the_best() -> None:
    table = [(0, 0.70, -0.5), (1, 0.90, -0.2), (2, 0.91, -0.1), (3, 0.895, -0.3), (4, 0.80, -0.4)]
    rows = [{"freeze_depth": depth, "probe_accuracy": accuracy, "logme": value} for depth, accuracy, value in table]
    assert suggest_freeze_depth(rows, "probe_accuracy", tolerance=0.02) == 3
    assert suggest_freeze_depth(rows, "probe_accuracy", tolerance=0.001) == 2
    # On 100 validation images one standard error (≈ 0.029) widens the margin past 0.02, admitting
    # depth 3 even with a tiny tolerance; depth 4 (0.80) stays out.
    assert suggest_freeze_depth(rows, "probe_accuracy", tolerance=0.001, validation_examples=100) == 3
    assert suggest_freeze_depth(rows, "logme", tolerance=0.25) == 3
    with pytest.raises(ConfigError, match="probe_accuracy"):
        suggest_freeze_depth(rows, "accuracy")


def test_verification_correlations_lie_in_range_and_count_their_points() -> None:
    increasing = verify_scores([0.1, 0.2, 0.3, 0.4], [0.5, 0.6, 0.65, 0.9])
    assert increasing["n"] == 4 and increasing["kendall_tau"] == pytest.approx(1.0)
    assert increasing["spearman_rho"] == pytest.approx(1.0)
    reversed_ = verify_scores({"a": 1.0, "b": 2.0, "c": 3.0, "d": math.nan}, {"a": 0.9, "b": 0.8, "c": 0.7, "d": 0.1})
    assert reversed_["n"] == 3 and reversed_["kendall_tau"] == pytest.approx(-1.0)
    rng = np.random.default_rng(15)
    mixed = verify_scores(rng.normal(size=9), rng.uniform(size=9))
    assert mixed["n"] == 9
    assert -1.0 <= mixed["kendall_tau"] <= 1.0 and -1.0 <= mixed["spearman_rho"] <= 1.0
    assert math.isnan(verify_scores([1.0, 2.0], [0.5, 0.5])["kendall_tau"])  # no ranking to compare
    with pytest.raises(ValueError, match="one accuracy per scored candidate"):
        verify_scores([1.0, 2.0], [0.5])


def test_cut_points_are_verified_against_the_frozen_series_of_a_sweep() -> None:
    scores = {"cut_points": [{"freeze_depth": depth, "logme": value, "probe_accuracy": accuracy}
                             for depth, value, accuracy in [(0, -0.4, 0.7), (1, -0.3, 0.8), (2, -0.2, 0.85)]]}
    points = ([{"series": "frozen (AnB)", "x": depth, "mean": 0.6 + 0.1 * depth} for depth in range(3)]
              + [{"series": "structure", "x": depth, "mean": 0.5} for depth in range(3)])
    results = verify_cut_points(scores, points)
    assert set(results) == {"logme", "probe_accuracy"}
    assert results["logme"]["n"] == 3 and results["logme"]["spearman_rho"] == pytest.approx(1.0)
    text = diagnostics.format_verification(results)
    assert "Kendall" in text and "+1.000" in text


# --------------------------------------------------------------------------------------------
# On real models: drift, CKA, block scores, source ranking
# --------------------------------------------------------------------------------------------


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


def test_score_blocks_scores_every_block_of_the_source_in_seconds(source_run) -> None:
    result = diagnostics.score_blocks(source_run, TARGET_TASK, per_class=20, seed=0, max_examples=300)
    rows = result["cut_points"]
    assert [row["freeze_depth"] for row in rows] == [0, 1, 2, 3, 4]
    assert [row["block"] for row in rows] == ["input", "conv1", "conv2", "conv3", "dense1"]
    assert all(math.isfinite(row["logme"]) and 0.0 <= row["probe_accuracy"] <= 1.0 for row in rows)
    assert result["train_examples"] == 100 and math.isfinite(result["leep"]) and result["leep"] <= 0
    assert result["suggested_freeze_depth"] in range(5)
    assert result["seconds"] < 60
    text = diagnostics.format_block_scores(result)
    assert "suggested freeze depth" in text and "LEEP" in text
    assert isinstance(figures.plot_block_scores(result), go.Figure)


def test_rank_sources_orders_sources_by_logme(source_run, transfer_run) -> None:
    rows = diagnostics.rank_sources([source_run, transfer_run.path], TARGET_TASK, per_class=10, max_examples=100)
    assert [row["rank"] for row in rows] == [1, 2]
    assert rows[0]["logme"] >= rows[1]["logme"]
    assert {row["source"] for row in rows} == {"source", "freeze2"}
    assert "LogME" in diagnostics.format_source_ranking(rows)


def test_feature_projection_gives_one_point_per_image(transfer_run) -> None:
    projection = diagnostics.feature_projection_for_run(transfer_run, "dense1", "pca", max_examples=60)
    assert len(projection["x"]) == len(projection["y"]) == len(projection["labels"]) == 60
    assert projection["class_names"] == ["5", "6", "7", "8", "9"]
    with pytest.raises(ConfigError, match="Allowed"):
        diagnostics.feature_projection_for_run(transfer_run, "dense9")


def test_verification_by_training_sweeps_the_scored_depths_and_correlates(monkeypatch, tmp_path) -> None:
    # The sweep itself is the experiments module's (tested there, and end to end by `workbench rank
    # --verify`); here it is replaced so that only what this module adds is checked, in milliseconds.
    from types import SimpleNamespace

    from workbench.experiments import SWEEP_SERIES_FROZEN

    calls = {}

    def fake_sweep(base_config, depths, seeds, include_fine_tuned, on_run_done=None, stop_event=None, jobs=1):
        calls.update(base=base_config, depths=depths, seeds=seeds, include_fine_tuned=include_fine_tuned, jobs=jobs)
        points = ([{"series": SWEEP_SERIES_FROZEN, "x": depth, "mean": 0.6 + 0.1 * depth} for depth in depths]
                  + [{"series": "structure", "x": depth, "mean": 0.5} for depth in depths])
        runs = [SimpleNamespace(name=name) for name in ("v-structure-s0", "v-structure-s0", "v-frozen0-s0")]
        return SimpleNamespace(points=lambda: points, runs=runs, describe=lambda: "fake sweep", stopped=False)

    monkeypatch.setattr("workbench.experiments.sweep_freeze_depth", fake_sweep)
    scores = {"source_path": "runs/source", "task": TARGET_TASK, "per_class": 5, "seed": 3,
              "cut_points": [{"freeze_depth": depth, "logme": value, "probe_accuracy": accuracy}
                             for depth, value, accuracy in [(0, -0.5, 0.7), (1, -0.2, 0.9), (2, -0.3, 0.8)]]}
    result = diagnostics.verify_by_training(scores, epochs=2, seeds=1, runs_dir=tmp_path, name="v", jobs=2)
    base = calls["base"]
    assert calls["jobs"] == 2
    assert (base.source, base.task, base.per_class, base.seed, base.epochs) == ("runs/source", TARGET_TASK, 5, 3, 2)
    assert calls["depths"] == [0, 1, 2] and calls["include_fine_tuned"] is False
    for correlation in result["correlations"].values():
        assert correlation["n"] == 3 and -1.0 <= correlation["kendall_tau"] <= 1.0
        assert -1.0 <= correlation["spearman_rho"] <= 1.0
    assert result["runs"] == ["v-structure-s0", "v-frozen0-s0"]
    with pytest.raises(ConfigError, match="not a source run"):
        diagnostics.verify_by_training({**scores, "source_path": None})


# --------------------------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------------------------


def test_drift_heatmap_has_a_row_per_run_and_marks_fresh_blocks() -> None:
    frozen_conv1 = {"block": "conv1", "drift": 0.0, "origin": "copied", "frozen": True}
    drifts = [
        {"label": "parameter (freeze 2) s0",
         "blocks": [frozen_conv1, {"block": "head", "drift": 0.2, "origin": "copied", "frozen": False}]},
        {"label": "feature s0",
         "blocks": [frozen_conv1, {"block": "head", "drift": math.nan, "origin": "fresh", "frozen": False}]},
    ]
    figure = figures.plot_drift_heatmap(drifts)
    heatmap = figure.data[0]
    assert list(heatmap.y) == ["parameter (freeze 2) s0", "feature s0"] and list(heatmap.x) == ["conv1", "head"]
    assert heatmap.z[1][1] is None and heatmap.text[1][1] == "fresh"
    assert "No transfer runs" in figures.plot_drift_heatmap([]).layout.annotations[0].text


def test_cka_figures_draw_curves_and_matrices() -> None:
    curve = figures.plot_cka_by_block({"label": "parameter s0 vs source",
                                       "rows": [{"block": "conv1", "cka": 1.0}, {"block": "head", "cka": 0.4}]})
    assert curve.data[0].line.color == figures.MODE_COLORS["parameter"] and list(curve.data[0].y) == [1.0, 0.4]
    matrix = figures.plot_cka_matrix({"blocks_a": ["a1", "a2"], "blocks_b": ["b1"], "cka": [[0.5], [0.25]],
                                      "label_a": "source", "label_b": "scratch"})
    assert matrix.data[0].zmax == 1 and "source" in matrix.layout.title.text
    with pytest.raises(ValueError, match="one row per block"):
        figures.plot_cka_matrix({"blocks_a": ["a1"], "blocks_b": ["b1"], "cka": [[0.5, 0.1]]})


def test_projection_figure_has_one_trace_per_class() -> None:
    figure = figures.plot_feature_projection({"x": [0, 1, 2, 3], "y": [1, 0, 1, 0], "labels": [0, 1, 1, 0],
                                              "class_names": ["cat", "dog"], "block": "dense1", "method": "tsne"})
    assert [trace.name for trace in figure.data] == ["cat", "dog"]
    assert "t-SNE" in figure.layout.title.text


def test_verification_figure_names_both_correlations_and_n() -> None:
    figure = figures.plot_verification(verify_scores([0.1, 0.3, 0.2], [0.5, 0.9, 0.7], labels=[0, 1, 2]),
                                       score_title="LogME")
    assert "τ = +1.00" in figure.layout.title.text and "ρ = +1.00" in figure.layout.title.text
    assert "n = 3" in figure.layout.title.text
    ranking = figures.plot_source_ranking([{"source": "a", "logme": 0.1, "leep": -1.0, "probe_accuracy": 0.8},
                                           {"source": "b", "logme": 0.3, "leep": -0.9, "probe_accuracy": 0.9}])
    assert list(ranking.data[0].y) == ["b", "a"]
