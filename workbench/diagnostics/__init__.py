"""What transferred, and what will: layer diagnostics after training, transferability before it.

After training (compare a transfer run with where it started):

* **weight drift** (`drift`): per layer and per block, ‖W_after − W_before‖ / ‖W_before‖, the
  relative distance a transfer run's weights moved from the source weights they were copied from;
* **representation similarity** (`similarity`): linear CKA (Kornblith et al., ICML 2019) between
  two models' activations at each block on the target's test images, and the block × block matrix;
* **feature views** (`projection`): 2-D projections (PCA, t-SNE) of a block's features, by class.

Before training (score a source model on the target's training images, in seconds):

* **LogME**, **LEEP** and a **linear probe** on frozen features (`scores`);
* `score_blocks` scores every cut point of a source model and suggests a freeze depth,
  `rank_sources` ranks several source runs, and `verify_scores` says how well a score predicted
  the fine-tuned accuracies, as Kendall's τ and Spearman's ρ (`ranking`).

Nothing here trains a model: the fine-tunes that verify the scores live in `workbench.verification`,
the run look-ups (`source_run_of`, `run_label`, `run_test_images`) in `workbench.runs`, and the
text tables in `workbench.text_tables`; their names stay importable from here too. The numerical
core is pure numpy on float64 arrays; only the functions that extract activations or load runs
touch Keras, which they import on first use. Results are plain dicts and lists (JSON-ready).
"""

from __future__ import annotations

import importlib
from typing import Any

from workbench.diagnostics.activations import (
    INPUT_CUT,
    MAX_FEATURES,
    PENULTIMATE_CUT,
    block_activations,
    pooling_factor,
    reduce_activations,
    resolve_cuts,
    subsample_indices,
)
from workbench.diagnostics.arrays import single_threaded_blas
from workbench.diagnostics.drift import diagnose_run, drift_for_run, weight_drift
from workbench.diagnostics.projection import (
    PROJECTION_METHODS,
    feature_projection,
    feature_projection_for_run,
    project_features,
)
from workbench.diagnostics.ranking import (
    BLOCK_SCORES,
    DEFAULT_TOLERANCE,
    SOURCE_SCORES,
    describe_suggestion_rule,
    rank_sources,
    score_blocks,
    suggest_freeze_depth,
    verify_cut_points,
    verify_scores,
    verify_source_ranking,
)
from workbench.diagnostics.scores import (
    LOGME_MAX_ITERATIONS,
    LOGME_TOLERANCE,
    leep,
    linear_probe_accuracy,
    logme,
    logme_details,
    softmax,
)
from workbench.diagnostics.similarity import cka_between, cka_by_block, cka_for_run, cka_matrix, linear_cka
from workbench.runs import run_label, run_test_images, source_run_of
from workbench.text_tables import format_block_scores, format_source_ranking, format_verification

# workbench.verification trains models and imports this package, so its names, kept importable
# from here for compatibility, load on first use (module __getattr__) rather than in a cycle.
_VERIFICATION_NAMES = ("verify_by_training", "verify_sources_by_training")

__all__ = [
    "BLOCK_SCORES",
    "DEFAULT_TOLERANCE",
    "INPUT_CUT",
    "LOGME_MAX_ITERATIONS",
    "LOGME_TOLERANCE",
    "MAX_FEATURES",
    "PENULTIMATE_CUT",
    "PROJECTION_METHODS",
    "SOURCE_SCORES",
    "block_activations",
    "cka_between",
    "cka_by_block",
    "cka_for_run",
    "cka_matrix",
    "describe_suggestion_rule",
    "diagnose_run",
    "drift_for_run",
    "feature_projection",
    "feature_projection_for_run",
    "format_block_scores",
    "format_source_ranking",
    "format_verification",
    "leep",
    "linear_cka",
    "linear_probe_accuracy",
    "logme",
    "logme_details",
    "pooling_factor",
    "project_features",
    "rank_sources",
    "reduce_activations",
    "resolve_cuts",
    "run_label",
    "run_test_images",
    "score_blocks",
    "single_threaded_blas",
    "softmax",
    "source_run_of",
    "subsample_indices",
    "suggest_freeze_depth",
    "verify_by_training",
    "verify_cut_points",
    "verify_scores",
    "verify_source_ranking",
    "verify_sources_by_training",
    "weight_drift",
]


def __getattr__(name: str) -> Any:
    if name in _VERIFICATION_NAMES:
        return getattr(importlib.import_module("workbench.verification"), name)
    raise AttributeError(f"module 'workbench.diagnostics' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_VERIFICATION_NAMES})
