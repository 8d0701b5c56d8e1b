"""Linear CKA (`workbench.diagnostics.similarity`), checked against Kornblith et al.'s HSIC definition
computed directly; the model-level CKA functions are in test_diagnostics_models.py."""

from __future__ import annotations

import math

import numpy as np
import pytest

from workbench.diagnostics import cka_between, linear_cka


def random_orthogonal(size: int, seed: int) -> np.ndarray:
    matrix, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(size, size)))
    return matrix


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


def test_cka_between_has_a_row_per_block_of_a_and_a_column_per_block_of_b() -> None:
    rng = np.random.default_rng(6)
    x, y = rng.normal(size=(10, 4)), rng.normal(size=(10, 3))
    matrix = cka_between({"a1": x, "a2": y}, {"b1": y})
    assert matrix == [[linear_cka(x, y)], [pytest.approx(1.0)]]
