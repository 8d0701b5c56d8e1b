"""The JupyterLab panel: pick a source run, a transfer mode and a freeze depth; start and stop runs;
watch their accuracy and loss curves overlaid live; read the results table and the weight-transfer
report. `workbench.panel()` builds one; the last expression of a cell displays it.

One module per part of the panel, each a small class that owns its widgets; `app` composes them:

* `source`: the source run picker and the "Pretrain a new source model" section.
* `structure`: the architecture view: the source's blocks with "cut here", "widen to" and
  "deepen after", append, head width and input shape, the Edits box (the spec as text, two-way)
  and a live preview of the edited network (`structure_preview` holds its plain functions).
* `transfer`: target task, training settings, mode, the freeze-depth slider with its live
  preview (of the edited network's blocks when there are edits), and Start.
* `techniques`: the "Fine-tuning techniques" section (the technique fields of `RunConfig`),
  enabled only where the mode allows them, with a preview of the per-block rates and stages.
* `sweep`: the "Sweep" section; the Sweep button runs a freeze-depth or label-budget sweep,
  redrawing its figure (mean ± sd per series) as each run's point comes in.
* `rank`: Rank, beside the slider, scores every cut point of the source before any training and
  suggests a freeze depth; "Use it" moves the slider there.
* `diagnose`: weight drift and linear CKA per block of the selected run.
* `results`: the live chart, the results table and the weight-transfer report.
* `worker`: the training thread (one job at a time, Stop via a `threading.Event`, errors shown
  in the panel), with the status line and the message area; its docstring says why a thread.
* `previews` and `summaries`: plain helpers, no widgets: what the settings will do (freeze
  preview, technique plan, sweep boxes parsed and checked) and what happened, as HTML.

Only this package imports ipywidgets. Every handler turns widget values into a `RunConfig` with
`config_from_mapping` (the schema the CLI and papermill use) and calls `train_run` or a sweep.
"""

from __future__ import annotations

from workbench.fast_start import quiet_tensorflow_logs

# The panel's cell would otherwise start with TensorFlow's C++ notices (oneDNN, CUDA drivers).
quiet_tensorflow_logs()

# After the log level, which TensorFlow reads when it is imported.
from workbench.panels.app import TransferPanel, panel  # noqa: E402
from workbench.panels.components import make_curve_figure  # noqa: E402
from workbench.panels.diagnose import DIAGNOSE_EXAMPLES  # noqa: E402
from workbench.data import KNOWN_CLASS_NAMES  # noqa: E402 - moved to the engine; importable here too
from workbench.panels.previews import (  # noqa: E402
    SWEEP_KINDS,
    SWEEP_NAMES,
    LayerPlan,
    SweepRequest,
    budget_text,
    format_freeze_preview,
    format_sweep_plan,
    format_technique_preview,
    layer_plan,
    parse_sweep_values,
    preview_transfer,
    sweep_budgets,
    sweep_depths,
    target_class_names,
    technique_stages,
)
from workbench.panels.source import describe_source, source_runs  # noqa: E402
from workbench.panels.summaries import (  # noqa: E402
    RANK_SETTING_NAMES,
    RESULT_COLUMNS,
    STATUS_COLORS,
    format_diagnosis_summary,
    format_error,
    format_outcome,
    format_progress,
    format_rank_details,
    format_rank_suggestion,
    format_results_table,
    format_sweep_table,
    rank_key,
    result_row,
)
from workbench.runs import structure_reference  # noqa: E402 - moved to the engine; importable here too
from workbench.sweeps import count_sweep_runs  # noqa: E402 - moved to the engine; importable here too

__all__ = [
    "DIAGNOSE_EXAMPLES",
    "KNOWN_CLASS_NAMES",
    "RANK_SETTING_NAMES",
    "RESULT_COLUMNS",
    "STATUS_COLORS",
    "SWEEP_KINDS",
    "SWEEP_NAMES",
    "LayerPlan",
    "SweepRequest",
    "TransferPanel",
    "budget_text",
    "count_sweep_runs",
    "describe_source",
    "format_diagnosis_summary",
    "format_error",
    "format_freeze_preview",
    "format_outcome",
    "format_progress",
    "format_rank_details",
    "format_rank_suggestion",
    "format_results_table",
    "format_sweep_plan",
    "format_sweep_table",
    "format_technique_preview",
    "layer_plan",
    "make_curve_figure",
    "panel",
    "parse_sweep_values",
    "preview_transfer",
    "rank_key",
    "result_row",
    "source_runs",
    "structure_reference",
    "sweep_budgets",
    "sweep_depths",
    "target_class_names",
    "technique_stages",
]
