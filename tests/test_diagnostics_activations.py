"""Activations at cut points (`workbench.diagnostics.activations`): pooling and subsampling on plain
arrays; extraction from real models is covered in test_diagnostics_models.py."""

from __future__ import annotations

import numpy as np
import pytest

from workbench import diagnostics
from workbench.errors import ConfigError


def test_wide_feature_maps_are_pooled_to_the_feature_budget() -> None:
    batch = np.arange(2 * 5 * 5 * 3, dtype=np.float32).reshape(2, 5, 5, 3)
    assert diagnostics.reduce_activations(batch, max_features=100).shape == (2, 75)
    pooled = diagnostics.reduce_activations(batch, max_features=27)  # 2 × 2 windows → 3 × 3 × 3
    assert pooled.shape == (2, 27)
    # Edge windows average only the pixels they hold: the last one is the corner pixel itself.
    np.testing.assert_allclose(pooled.reshape(2, 3, 3, 3)[0, 0, 0], batch[0, :2, :2].mean(axis=(0, 1)))
    np.testing.assert_allclose(pooled.reshape(2, 3, 3, 3)[1, 2, 2], batch[1, 4, 4])
    assert diagnostics.reduce_activations(batch, max_features=26).shape == (2, 12)  # 3 × 3 windows


def test_subsample_indices_are_sorted_seeded_and_keep_everything_that_fits() -> None:
    first, again = diagnostics.subsample_indices(100, 7, seed=3), diagnostics.subsample_indices(100, 7, seed=3)
    np.testing.assert_array_equal(first, again)
    assert len(set(first.tolist())) == 7 and list(first) == sorted(first)
    np.testing.assert_array_equal(diagnostics.subsample_indices(5, None), np.arange(5))
    np.testing.assert_array_equal(diagnostics.subsample_indices(5, 10), np.arange(5))
    with pytest.raises(ConfigError, match="max_examples=0"):
        diagnostics.subsample_indices(5, 0)
