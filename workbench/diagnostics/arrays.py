"""Array helpers shared by the diagnostics: one matrix shape for every input, one BLAS thread."""

from __future__ import annotations

import contextlib
from typing import Any

import numpy as np


def as_matrix(values: Any, name: str) -> np.ndarray:
    """Values as a float64 (examples, features) matrix: a vector becomes one column, higher ranks are flattened.

    Args:
        values: an array-like of any rank ≥ 1.
        name: the argument's name, for the error message.

    Raises:
        ValueError: for a scalar.
    """
    array = np.asarray(values, dtype=np.float64)
    if array.ndim == 1:
        return array.reshape(-1, 1)
    if array.ndim == 0:
        raise ValueError(f"{name} is a scalar; pass an (examples, features) array.")
    return array.reshape(array.shape[0], -1)


def single_threaded_blas() -> contextlib.AbstractContextManager:
    """A context that runs BLAS/LAPACK on one thread (a no-op where threadpoolctl is missing).

    The matrices here are small (at most a few thousand rows), so BLAS threads cost more in
    start-up and contention than they save: with two threads on a shared 2-core machine, the
    Gram products and eigen-decompositions of LogME and CKA ran 3-10× slower than on one.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # threadpoolctl comes with scikit-learn; without it, keep the defaults
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")
