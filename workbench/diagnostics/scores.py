"""Transferability scores of features before any training: LogME, LEEP and a linear probe.

* **LogME** (You et al., ICML 2021): the marginal evidence of a Bayesian linear model on the
  features, per class, averaged, in one of two conventions (`LOGME_CONVENTIONS`) that part when
  features are wider than the examples;
* **LEEP** (Nguyen et al., ICML 2020): the log-likelihood of the target labels under the source
  model's own class predictions, re-mapped to the target classes empirically;
* **linear probe**: logistic regression on frozen features, the plain baseline.

All three take plain arrays (float64 arithmetic) and return floats.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from workbench.diagnostics.arrays import as_matrix, single_threaded_blas

LOGME_TOLERANCE = 1e-6
LOGME_MAX_ITERATIONS = 1000
DEFAULT_LOGME_CONVENTION = "workbench"
LOGME_CONVENTIONS = {
    "workbench": "the exact log evidence: every zero eigenvalue of FᵀF counts in log|A|",
    "reference": "as thuml/LogME and the published tables: with fewer examples than feature dimensions "
                 "(N < D), the D − N zero eigenvalues of FᵀF are left out of log|A|",
}
# Keeps the LogME fixed point finite when a class's targets are orthogonal to every feature
# (m = 0) or fitted exactly (residual = 0); far below any value real data produces.
_TINY = 1e-12


def logme_details(
    features: Any,
    labels: Any,
    max_iterations: int = LOGME_MAX_ITERATIONS,
    tolerance: float = LOGME_TOLERANCE,
    convention: str = DEFAULT_LOGME_CONVENTION,
) -> dict[str, Any]:
    """LogME (You et al., 2021) with its per-class details.

    For each class c, the one-hot targets y = [label == c] are modelled as y = F m + noise with
    prior m ~ N(0, α⁻¹ I) and noise ~ N(0, β⁻¹); α and β maximise the evidence p(y | F, α, β) by
    the paper's fixed-point iteration (MacKay's updates γ = Σ σᵢ / (σᵢ + α/β), α = γ / mᵀm,
    β = (n − γ) / ‖F m − y‖²), computed on the eigen-decomposition of the smaller Gram matrix
    (F Fᵀ or Fᵀ F), so wide features (d > n) cost O(n² d).

    The two conventions differ only in log |A| = log |αI + β FᵀF|, where each of the d − rank(F)
    zero eigenvalues of FᵀF contributes log α:

    * "workbench" keeps them all: the value is the exact log evidence at the fixed point;
    * "reference" does what the reference code (thuml/LogME) does: when n < d it takes log |A|
      over the n singular values of F only, while still counting d/2·log α, so each class gains
      (d − n)/2·log α / n. Published LogME tables use it. When n ≥ d the two agree (its
      truncated SVD keeps singular values above 1e-10, which in floating point keeps the rounding
      noise of zero eigenvalues too). With features wider than the examples (conv features on a
      small label budget) they part by tens of nats per example: random ReLU features with
      n = 200 and d = 1,024 score about −0.5 (workbench) against about +19 (reference). Compare
      scores only within one convention. Both run the fixed point to convergence; the reference
      code stops once α/β changes by less than 0.1% (and adds 1e-5 to the update denominators),
      which on that example leaves its number 0.3% lower (18.93 against 19.00).

    Args:
        features: (n, d) features, used as they are (no centring or scaling, as in the paper).
        labels: (n,) integer class labels 0..k-1.
        max_iterations: fixed-point steps per class at most (features much wider than the examples
            can need a few hundred). Defaults to 1000.
        tolerance: stop when α/β changes by less than this fraction. Defaults to 1e-6.
        convention: "workbench" or "reference" (see above). Defaults to "workbench".

    Returns:
        {"logme" (mean over classes of the per-example log evidence), "per_class", "alpha",
        "beta", "iterations", "converged" (every class converged), "convention", "kept"
        (how many eigenvalues of FᵀF the convention takes log |A| over: d for "workbench",
        min(n, d) for "reference"), "width" (d)}.

    Raises:
        ValueError: when features and labels disagree in length, labels are not integers ≥ 0,
            or the convention is not known.
    """
    check_logme_convention(convention)
    matrix = as_matrix(features, "features")
    targets = _check_labels(labels, matrix.shape[0], "features")
    examples, width = matrix.shape
    one_hot = (targets[:, None] == np.arange(int(targets.max()) + 1)[None, :]).astype(np.float64)
    with single_threaded_blas():
        eigenvalues, projections = _logme_spectrum(matrix, one_hot)
    # The reference code's SVD of F has min(n, d) singular values; the d − n beyond them are gone.
    kept = width if convention == "workbench" else min(examples, width)
    results = [_logme_fixed_point(eigenvalues, projections[:, index], float(np.sum(one_hot[:, index] ** 2)),
                                  examples, width - kept, max_iterations, tolerance)
               for index in range(one_hot.shape[1])]
    per_class = [result["evidence"] for result in results]
    return {"logme": float(np.mean(per_class)), "per_class": per_class,
            "alpha": [result["alpha"] for result in results], "beta": [result["beta"] for result in results],
            "iterations": [result["iterations"] for result in results],
            "converged": all(result["converged"] for result in results),
            "convention": convention, "kept": int(kept), "width": int(width)}


def logme(features: Any, labels: Any, convention: str = DEFAULT_LOGME_CONVENTION) -> float:
    """LogME score: mean per-example log evidence of a linear model on the features (higher = better).

    See `logme_details` for the algorithm and the two conventions. Comparable between feature
    sets on the same examples and labels (blocks of one model, or several source models), within
    one convention.

    Args:
        features: (n, d) features.
        labels: (n,) integer class labels 0..k-1.
        convention: "workbench" (exact evidence) or "reference" (thuml/LogME, the published
            tables). Defaults to "workbench".
    """
    return float(logme_details(features, labels, convention=convention)["logme"])


def check_logme_convention(convention: str) -> None:
    """Refuse an unknown LogME convention, naming the allowed ones.

    Raises:
        ValueError: for anything but "workbench" or "reference".
    """
    if convention not in LOGME_CONVENTIONS:
        raise ValueError(f"convention={convention!r} is not a LogME convention. Allowed: "
                         f"{', '.join(LOGME_CONVENTIONS)}. Pass convention='reference' for the published numbers.")


def _logme_spectrum(features: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Non-zero eigenvalues σᵢ of Fᵀ F and the projections uᵢᵀ y of the targets on F's left singular vectors."""
    examples, width = features.shape
    if examples <= width:
        eigenvalues, vectors = np.linalg.eigh(features @ features.T)
        projections = vectors.T @ targets
    else:
        eigenvalues, vectors = np.linalg.eigh(features.T @ features)
        roots = np.sqrt(np.clip(eigenvalues, 0.0, None))
        with np.errstate(divide="ignore", invalid="ignore"):
            projections = (vectors.T @ (features.T @ targets)) / roots[:, None]
    # Like numpy's matrix_rank: eigenvalues below this are rounding noise of true zeros.
    threshold = max(float(eigenvalues.max(initial=0.0)), 0.0) * max(examples, width) * np.finfo(np.float64).eps
    keep = eigenvalues > threshold
    return eigenvalues[keep], projections[keep]


def _logme_fixed_point(eigenvalues: np.ndarray, projections: np.ndarray, target_norm: float, examples: int,
                       dropped: int, max_iterations: int, tolerance: float) -> dict[str, Any]:
    """α, β and the per-example evidence of one class; `dropped` zero eigenvalues of FᵀF are left out
    of log|A| while still counted in d/2·log α (0 for the exact evidence)."""
    squared = projections**2
    # The part of y outside F's column space, which no weights can fit.
    outside = max(target_norm - float(squared.sum()), 0.0)
    rank = len(eigenvalues)

    def fit(ratio: float) -> tuple[float, float, float]:
        gamma = float(np.sum(eigenvalues / (eigenvalues + ratio)))
        weights_norm = float(np.sum(eigenvalues * squared / (eigenvalues + ratio) ** 2))
        residual = float(np.sum(squared * (ratio / (eigenvalues + ratio)) ** 2)) + outside
        return gamma, weights_norm, residual

    alpha, beta, iterations, converged = 1.0, 1.0, 0, False
    while iterations < max_iterations:
        iterations += 1
        ratio = alpha / beta
        gamma, weights_norm, residual = fit(ratio)
        if rank:
            alpha = gamma / max(weights_norm, _TINY)
        beta = (examples - gamma) / max(residual, _TINY)
        if abs(alpha / beta - ratio) <= tolerance * ratio:
            converged = True
            break
    _, weights_norm, residual = fit(alpha / beta)
    # d/2·log α − ½·log|αI + β FᵀF| with d − rank zero eigenvalues = rank/2·log α − ½·Σ log(α + β σᵢ);
    # each zero eigenvalue a convention leaves out of log|A| adds ½·log α back.
    evidence = ((rank + dropped) / 2 * math.log(alpha) + examples / 2 * math.log(beta)
                - 0.5 * float(np.sum(np.log(alpha + beta * eigenvalues)))
                - beta / 2 * residual - alpha / 2 * weights_norm - examples / 2 * math.log(2 * math.pi))
    return {"evidence": evidence / examples, "alpha": alpha, "beta": beta, "iterations": iterations,
            "converged": converged}


def softmax(logits: Any) -> np.ndarray:
    """Row-wise softmax of (n, k) logits, in float64, stable for large logits."""
    values = as_matrix(logits, "logits")
    shifted = np.exp(values - values.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def leep(source_probabilities: Any, target_labels: Any) -> float:
    """LEEP (Nguyen et al., 2020): how well the source model's own predictions explain the target labels.

    With θ(x) the source model's softmax over its Z classes on the n target training images:
    P̂(y, z) = (1/n) Σᵢ θ(xᵢ)_z [yᵢ = y], P̂(y | z) = P̂(y, z) / Σ_y P̂(y, z), and
    LEEP = (1/n) Σᵢ log Σ_z P̂(yᵢ | z) θ(xᵢ)_z: the average log-likelihood of the "expected
    empirical predictor". It is ≤ 0; higher means the source transfers better.

    Args:
        source_probabilities: (n, Z) rows of source-class probabilities (softmax, not logits:
            `softmax(logits)` converts).
        target_labels: (n,) integer target labels 0..k-1.

    Returns:
        The LEEP score.

    Raises:
        ValueError: for rows that are not probability distributions or mismatched lengths.
    """
    theta = as_matrix(source_probabilities, "source_probabilities")
    labels = _check_labels(target_labels, theta.shape[0], "source_probabilities")
    sums = theta.sum(axis=1)
    if np.any(theta < 0) or not np.allclose(sums, 1.0, atol=1e-3):
        raise ValueError(
            "source_probabilities rows must be probability distributions (non-negative, summing to 1); "
            f"row sums range {sums.min():.4g}..{sums.max():.4g}. Pass softmax(logits), not the logits."
        )
    theta = theta / sums[:, None]  # float32 softmax rows sum to 1 only within rounding
    joint = np.zeros((int(labels.max()) + 1, theta.shape[1]))
    np.add.at(joint, labels, theta)
    joint /= len(labels)
    marginal = joint.sum(axis=0)
    conditional = np.divide(joint, marginal[None, :], out=np.zeros_like(joint), where=marginal[None, :] > 0)
    expected = np.einsum("nz,nz->n", theta, conditional[labels])
    return float(np.mean(np.log(expected)))


def linear_probe_accuracy(
    train_features: Any,
    train_labels: Any,
    test_features: Any,
    test_labels: Any,
    regularization: float = 1.0,
    max_iterations: int = 200,
) -> float:
    """Accuracy of logistic regression trained on frozen features: the plain transferability baseline.

    Features are standardised on the training set (so one regularisation strength fits every
    block), then scikit-learn's L-BFGS logistic regression is fitted. A probe stopped at
    `max_iterations` is still a fair, cheap score, so the convergence warning is silenced.

    Args:
        train_features, train_labels: (n, d) features and labels to fit on.
        test_features, test_labels: (m, d) features and labels to score on.
        regularization: inverse L2 strength C. Defaults to 1.0.
        max_iterations: L-BFGS iterations at most. Defaults to 200.

    Returns:
        Accuracy on the test features, in [0, 1].

    Raises:
        ValueError: for fewer than two classes in the training labels or mismatched shapes.
    """
    # Here, not at the top: scikit-learn takes about a second to import, and only the probe needs it.
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    train_matrix, test_matrix = as_matrix(train_features, "train_features"), as_matrix(test_features, "test_features")
    train_targets = _check_labels(train_labels, train_matrix.shape[0], "train_features")
    test_targets = _check_labels(test_labels, test_matrix.shape[0], "test_features")
    if train_matrix.shape[1] != test_matrix.shape[1]:
        raise ValueError(f"train and test features differ in width ({train_matrix.shape[1]} vs "
                         f"{test_matrix.shape[1]}). Pass features of the same block.")
    if len(np.unique(train_targets)) < 2:
        raise ValueError("A linear probe needs training examples of at least two classes. Pass a larger label budget.")
    with single_threaded_blas(), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        scaler = StandardScaler().fit(train_matrix)
        train_matrix, test_matrix = scaler.transform(train_matrix), scaler.transform(test_matrix)
        if train_matrix.shape[1] > train_matrix.shape[0]:
            train_matrix, test_matrix = _row_space_coordinates(train_matrix, test_matrix)
        probe = LogisticRegression(C=regularization, max_iter=max_iterations)
        probe.fit(train_matrix, train_targets)
        return float(np.mean(probe.predict(test_matrix) == test_targets))


def _row_space_coordinates(train: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both feature sets in an orthonormal basis V of the training rows' span (n × n instead of n × d).

    L2-regularised logistic regression sees the weights only through X w and ‖w‖²; a weight
    component orthogonal to the training rows adds penalty without changing X w, so the optimum
    lies in their span: w = V a with ‖w‖ = ‖a‖ and X w = (X V) a. Fitting on X V gives the same
    model and predictions, at the cost of an n × n problem when the features are wider than n.
    """
    eigenvalues, vectors = np.linalg.eigh(train @ train.T)
    keep = eigenvalues > max(float(eigenvalues.max(initial=0.0)), 0.0) * max(train.shape) * np.finfo(np.float64).eps
    vectors, roots = vectors[:, keep], np.sqrt(eigenvalues[keep])
    # V = Xᵀ U Λ^-1/2, so X V = U Λ^1/2 and X_test V = X_test Xᵀ U Λ^-1/2.
    return vectors * roots, (test @ train.T @ vectors) / roots


def _check_labels(labels: Any, count: int, against: str) -> np.ndarray:
    array = np.asarray(labels).reshape(-1)
    if len(array) != count:
        raise ValueError(f"Got {len(array)} labels for {count} rows of {against}. Pass one label per example.")
    if count == 0:
        raise ValueError(f"{against} has no examples. Pass at least one example per class.")
    if not np.issubdtype(array.dtype, np.integer) and not np.all(np.equal(np.mod(array, 1), 0)):
        raise ValueError("Labels must be whole numbers 0..k-1. Pass integer class indices, not one-hot rows or names.")
    array = array.astype(np.int64)
    if array.min() < 0:
        raise ValueError(f"Labels must be ≥ 0, got {int(array.min())}. Pass class indices 0..k-1.")
    return array

