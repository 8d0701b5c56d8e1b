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


def reference_code_logme(features: np.ndarray, labels: np.ndarray, stop: float = 1e-3, epsilon: float = 1e-5,
                         steps: int = 100) -> float:
    """LogME as the reference code (thuml/LogME, `_fit_fixed_point`) computes it, written here from its
    algorithm: an SVD of F (N ≤ D) or of FᵀF (N > D, singular values above 1e-10 kept), MacKay's
    updates with `epsilon` added to both denominators, stopping once α/β moves by less than `stop`,
    and the evidence D/2·log α + N/2·log β − ½·Σ log(α + β σᵢ²) − β/2·res − α/2·mᵀm − N/2·log 2π over
    the singular values σ it kept (so for N < D the D − N zero eigenvalues of FᵀF are left out).
    """
    features = features.astype(np.float64)
    n, d = features.shape
    if n > d:
        _, values, right = np.linalg.svd(features.T @ features)
        singular = np.sqrt(values)
        kept = int(np.sum(singular > 1e-10))
        singular, left = singular[:kept], (features @ right.T)[:, :kept] / singular[:kept]
    else:
        left, singular, _ = np.linalg.svd(features, full_matrices=False)
    sigma = singular**2
    evidences = []
    for label in range(labels.max() + 1):
        y = (labels == label).astype(np.float64)
        x2 = (left.T @ y) ** 2
        outside = float(y @ y - x2.sum())
        alpha, beta = 1.0, 1.0
        for _ in range(steps):
            ratio = alpha / beta
            gamma = float(np.sum(sigma / (sigma + ratio)))
            weights = float(np.sum(sigma * x2 / (ratio + sigma) ** 2))
            residual = float(np.sum(x2 / (1 + sigma / ratio) ** 2)) + outside
            alpha, beta = gamma / (weights + epsilon), (n - gamma) / (residual + epsilon)
            if abs(alpha / beta - ratio) / ratio <= stop:
                break
        evidence = (d / 2 * np.log(alpha) + n / 2 * np.log(beta) - 0.5 * np.sum(np.log(alpha + beta * sigma))
                    - beta / 2 * residual - alpha / 2 * weights - n / 2 * np.log(2 * np.pi))
        evidences.append(evidence / n)
    return float(np.mean(evidences))


def random_relu_features(examples: int, width: int, classes: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return np.maximum(rng.normal(size=(examples, width)), 0.0), rng.integers(0, classes, size=examples)


def test_reference_logme_convention_reproduces_the_reference_code_on_wide_features() -> None:
    # The case: random ReLU features, N = 200 examples, D = 1,024 dimensions. The issue's
    # exact draw is not known; this one gives -0.51 (workbench) against 18.93 (the reference code).
    features, labels = random_relu_features(200, 1024, classes=5, seed=0)
    workbench_value = logme(features, labels)
    reference_value = logme(features, labels, convention="reference")
    assert workbench_value == pytest.approx(-0.513, abs=0.01)
    assert reference_value == pytest.approx(19.0, abs=0.1)
    # Run to convergence, the reference code's arithmetic gives the reference convention's value;
    # with its own early stop (α/β moving by < 0.1%) it lands 0.3% lower, as it publishes.
    converged = reference_code_logme(features, labels, stop=1e-12, epsilon=0.0, steps=100_000)
    assert reference_value == pytest.approx(converged, rel=1e-6)  # the default stop: α/β settled to 1e-6
    tight = logme_details(features, labels, tolerance=1e-13, max_iterations=100_000, convention="reference")
    assert tight["logme"] == pytest.approx(converged, rel=1e-9)
    published = reference_code_logme(features, labels)
    assert published == pytest.approx(18.93, abs=0.01) and reference_value == pytest.approx(published, rel=0.005)
    details = logme_details(features, labels, convention="reference")
    assert details["converged"] and details["kept"] == 200 and details["width"] == 1024
    # The gap is exactly the (D − N)/2·log α per class the reference leaves out of log|A|, per example.
    gap = np.mean([(1024 - 200) / 2 * np.log(alpha) / 200 for alpha in details["alpha"]])
    assert reference_value - workbench_value == pytest.approx(gap, rel=1e-6)


@pytest.mark.parametrize(("examples", "width"), [(400, 64), (64, 64)])
def test_both_logme_conventions_agree_when_there_are_at_least_as_many_examples_as_dimensions(
        examples: int, width: int) -> None:
    features, labels = random_relu_features(examples, width, classes=4, seed=1)
    workbench_value = logme(features, labels)
    assert logme(features, labels, convention="reference") == pytest.approx(workbench_value, rel=1e-9, abs=1e-9)
    reference_code = reference_code_logme(features, labels, stop=1e-12, epsilon=0.0, steps=100_000)
    assert workbench_value == pytest.approx(reference_code, rel=1e-9)


def test_an_unknown_logme_convention_is_refused_with_the_allowed_ones() -> None:
    with pytest.raises(ValueError, match="Allowed: workbench, reference"):
        logme(np.ones((4, 2)), [0, 1, 0, 1], convention="published")


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
