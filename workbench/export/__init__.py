"""Runs in the trackers Keras and TensorFlow users already look at: TensorBoard and MLflow.

- `collect`: the runs an export covers (every complete run directory under a folder, named by
  its path there) and each run's fingerprint;
- `tensorboard`: `export_tensorboard` (per-epoch scalars and the HParams dashboard, from finished
  runs), `TensorBoardLogging` and `tensorboard_logger` (the same logs, live, while runs train);
- `mlflow`: `export_mlflow` (parameters, per-epoch metrics, the run directory as artifacts, tags;
  exporting again skips runs already there). MLflow is an optional extra:
  `pip install -e '.[mlflow]'`.

Importing this package imports neither TensorFlow nor MLflow; each export loads what it needs.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "NamedRun": "workbench.export.collect",
    "collect_runs": "workbench.export.collect",
    "run_fingerprint": "workbench.export.collect",
    "export_tensorboard": "workbench.export.tensorboard",
    "export_run": "workbench.export.tensorboard",
    "tensorboard_logger": "workbench.export.tensorboard",
    "TensorBoardLogging": "workbench.export.tensorboard",
    "export_mlflow": "workbench.export.mlflow",
    "MlflowExport": "workbench.export.mlflow",
    "DEFAULT_TRACKING_URI": "workbench.export.mlflow",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'workbench.export' has no attribute {name!r}")
