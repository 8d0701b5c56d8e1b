"""The diagnostics package keeps its one import path and stays light: every name the single module
`workbench/diagnostics.py` offered is still importable from `workbench.diagnostics`, and importing
it (or the text tables) loads neither TensorFlow nor the training code."""

from __future__ import annotations

import subprocess
import sys

import pytest

import workbench.diagnostics

# Every public name of the module before it became a package (issue #11).
NAMES_BEFORE_THE_SPLIT = """
INPUT_CUT PENULTIMATE_CUT PROJECTION_METHODS BLOCK_SCORES MAX_FEATURES DEFAULT_TOLERANCE LOGME_TOLERANCE
LOGME_MAX_ITERATIONS linear_cka cka_between single_threaded_blas subsample_indices reduce_activations
pooling_factor resolve_cuts block_activations cka_by_block cka_matrix cka_for_run run_test_images weight_drift
drift_for_run source_run_of run_label diagnose_run project_features feature_projection feature_projection_for_run
logme_details logme softmax leep linear_probe_accuracy score_blocks suggest_freeze_depth describe_suggestion_rule
rank_sources verify_scores verify_cut_points verify_by_training verify_source_ranking verify_sources_by_training
format_block_scores format_source_ranking format_verification
""".split()


@pytest.mark.parametrize("name", NAMES_BEFORE_THE_SPLIT)
def test_every_name_of_the_old_module_is_importable_from_the_package(name: str) -> None:
    assert name in workbench.diagnostics.__all__
    assert getattr(workbench.diagnostics, name) is not None


@pytest.mark.parametrize("module", ["workbench.diagnostics", "workbench.text_tables", "workbench.verification"])
def test_importing_loads_neither_tensorflow_nor_keras(module: str) -> None:
    probe = f"import sys, {module}; print(sorted(name for name in ('tensorflow', 'keras') if name in sys.modules))"
    completed = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True)
    assert completed.stdout.strip() == "[]"
