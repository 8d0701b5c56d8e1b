"""Transfer Learning Workbench: carry a trained Keras CNN to a new task and measure what works.

The public API mirrors the command line:

    import workbench
    source = workbench.pretrain(task="mnist-5k:0-4", epochs=5, name="source")
    run = workbench.transfer(source="runs/source", task="mnist-5k:5-9", mode="parameter",
                             freeze_depth=2, per_class=5, epochs=10)
    comparison = workbench.compare(source="runs/source", task="mnist-5k:5-9", per_class=5,
                                   seeds=3, epochs=10)
    print(comparison.format_table())

Heavy modules (TensorFlow) load on first use, so `import workbench` stays fast.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "pretrain": "workbench.api",
    "transfer": "workbench.api",
    "compare": "workbench.api",
    "compare_structures": "workbench.api",
    "sweep_depth": "workbench.api",
    "sweep_budget": "workbench.api",
    "lr_find": "workbench.api",
    "Comparison": "workbench.experiments",
    "RunConfig": "workbench.config",
    "Run": "workbench.runs",
    "load_run": "workbench.runs",
    "list_runs": "workbench.runs",
    "WorkbenchError": "workbench.errors",
    "panel": "workbench.panels",
    "TransferPanel": "workbench.panels",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'workbench' has no attribute {name!r}")
