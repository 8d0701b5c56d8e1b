"""LogME, LEEP and the linear probe (`workbench.diagnostics.scores`), checked against independent,
straightforward implementations written here from the papers' definitions."""

from __future__ import annotations

import math

import numpy as np
import pytest

from workbench import diagnostics
from workbench.diagnostics import leep, linear_probe_accuracy, logme, logme_details, softmax


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
