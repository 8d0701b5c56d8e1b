"""The JupyterLab panel: pick a source run, a transfer mode and a freeze depth; start and stop runs;
watch their accuracy and loss curves overlaid live; read the results table and the weight-transfer
report. `workbench.panel()` builds one; the last expression of a cell displays it.

This is the only module that imports ipywidgets. Widgets are built apart from the logic: the
helpers at the top (`layer_plan`, `preview_transfer`, `target_class_names`, `format_results_table`)
take and return plain values, and every handler turns widget values into a `RunConfig` with
`config_from_mapping` (the schema the CLI and papermill use) and calls `train_run`.

Why training runs in a worker thread: a kernel handles widget messages (such as a click on Stop)
only between cells, or while its main thread is idle. If `fit()` ran inside the Start button's
handler, the Stop click would wait in the kernel's queue until `fit()` returned, and polling that
queue from a batch callback did not deliver it on this stack either (see DESIGN.md). So Start
launches `train_run` in a thread and returns at once: the kernel stays free, Stop's handler runs
immediately and sets the `threading.Event` that `train_run` checks after every batch
(`StopOnEvent`), and the run is saved complete with status "stopped". Widget and FigureWidget
updates from that thread are sent over the kernel's IOPub channel, which accepts them from any
thread. The thread brings duties, handled below: one run at a time (Start is disabled and a lock
refuses a second run), every exception raised in the thread is shown in the panel, and nothing
writes to an `Output` widget from the thread (no `with Output():` across threads).
"""

from __future__ import annotations

import html
import logging
import math
import os
import threading
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ipywidgets as widgets

# The panel's cell would otherwise start with TensorFlow's CUDA and CPU-feature notices.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402 - after the log level, which TensorFlow reads when it is imported
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from workbench import figures
from workbench.callbacks import LiveCurves
from workbench.config import (
    ARCHITECTURES,
    DEFAULT_SOURCE_TASK,
    DEFAULT_TARGET_TASK,
    MODE_DESCRIPTIONS,
    MODES,
    RunConfig,
    config_from_mapping,
)
from workbench.data import (
    CIFAR10_CLASSES,
    CIFAR100_CLASSES,
    DIGIT_CLASSES,
    FASHION_MNIST_CLASSES,
    parse_task,
    resolve_classes,
)
from workbench.errors import ConfigError, SourceRunError, WorkbenchError
from workbench.experiments import mode_label
from workbench.models import HEAD_BLOCK, Block, architecture_of, model_blocks
from workbench.runs import Run, list_runs, load_run
from workbench.transfer_modes import format_transfer_report, max_freeze_depth, resolve_freeze_depth

logger = logging.getLogger(__name__)

# Class names of the datasets whose classes are known without loading them, so a task's class
# list is checked (and counted, for the freeze preview) as it is typed, even for cifar10, which
# would otherwise download first. Folder datasets are checked when the run loads them.
KNOWN_CLASS_NAMES: dict[str, tuple[str, ...]] = {
    "mnist-5k": DIGIT_CLASSES,
    "digits": DIGIT_CLASSES,
    "mnist": DIGIT_CLASSES,
    "fashion_mnist": FASHION_MNIST_CLASSES,
    "cifar10": CIFAR10_CLASSES,
    "cifar100": tuple(CIFAR100_CLASSES),
}
RESULT_COLUMNS = ("run", "mode", "freeze depth", "budget", "seed", "epochs", "best val acc", "test acc",
                  "seconds", "status")
STATUS_COLORS = {"finished": "#1A7F37", "stopped": "#9A6700", "diverged": "#CF222E"}


# ------------------------------------------------------------------------------------------------
# Pure helpers: plain values in, plain values out
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LayerPlan:
    """What the freeze preview needs from a source model, read once when the source is picked.

    `layers` holds, per layer in model order: name, block and its weights as
    (shape, trainable-when-the-layer-trains) pairs; BatchNorm moving statistics are never trainable.
    """

    architecture: str
    blocks: tuple[Block, ...]
    layers: tuple[dict[str, Any], ...]
    source_classes: int


def layer_plan(model: Any) -> LayerPlan:
    """Read the blocks and weight shapes of a workbench model for `preview_transfer`."""
    blocks = tuple(model_blocks(model))
    block_of = {name: block.name for block in blocks for name in block.layer_names}
    layers = []
    source_classes = 0
    for layer in model.layers:
        # A frozen layer reports every weight as non-trainable; thaw it briefly to learn which
        # weights train when it trains (BatchNorm's moving statistics never do).
        was_trainable = layer.trainable
        layer.trainable = True
        weights = tuple((tuple(int(size) for size in weight.shape), bool(weight.trainable)) for weight in layer.weights)
        layer.trainable = was_trainable
        layers.append({"layer": layer.name, "block": block_of.get(layer.name, "?"), "weights": weights})
        if layer.name == HEAD_BLOCK and weights:
            source_classes = weights[0][0][-1]
    return LayerPlan(architecture_of(model), blocks, tuple(layers), source_classes)


def preview_transfer(plan: LayerPlan, mode: str, freeze_depth: int | None, num_classes: int | None) -> dict[str, Any]:
    """Predict `transfer_model`'s weight-transfer report without building a model.

    Building and copying a model on every slider move would cost seconds for the larger backbones
    and would run Keras on the kernel's thread while a run trains in another; this computes the
    same blocks, per-layer actions and parameter counts from shapes alone.

    Args:
        plan: the source model's `LayerPlan`.
        mode: "parameter", "feature" or "structure".
        freeze_depth: the user's depth (parameter mode); the other modes fix it.
        num_classes: target classes (the new head's width); None keeps the source's.

    Returns:
        A report with the keys of `transfer_model`'s: mode, architecture, freeze_depth, blocks,
        layers (layer, block, action, reason, trainable, params), trainable_params, frozen_params.

    Raises:
        ConfigError: unknown mode or a depth out of range.
    """
    blocks = list(plan.blocks)
    depth = resolve_freeze_depth(mode, freeze_depth, blocks)
    classes = num_classes or plan.source_classes
    frozen_layers = {name for block in blocks[:depth] for name in block.layer_names}
    rows = []
    trainable_total = frozen_total = 0
    for layer in plan.layers:
        weights = layer["weights"]
        if layer["layer"] == HEAD_BLOCK:
            weights = tuple((shape[:-1] + (classes,), trains) for shape, trains in weights)
        trainable = layer["layer"] not in frozen_layers
        if not weights:
            action, reason = "no weights", "layer has no weights"
        elif mode == "structure":
            action, reason = "re-initialised", "structure transfer starts from fresh weights"
        elif mode == "feature" and layer["block"] == HEAD_BLOCK:
            action, reason = "re-initialised", "feature transfer trains a new head"
        elif layer["layer"] == HEAD_BLOCK and classes != plan.source_classes:
            action, reason = "skipped", f"{plan.source_classes} source classes vs {classes} target classes; new head"
        else:
            action, reason = "copied", "same shape"
        params = 0
        for shape, trains in weights:
            count = math.prod(shape)
            params += count
            if trainable and trains:
                trainable_total += count
            else:
                frozen_total += count
        rows.append({"layer": layer["layer"], "block": layer["block"], "action": action, "reason": reason,
                     "trainable": trainable, "params": params})
    return {
        "mode": mode,
        "architecture": plan.architecture,
        "freeze_depth": depth,
        "blocks": [{"name": block.name, "frozen": index < depth, "layers": list(block.layer_names)}
                   for index, block in enumerate(blocks)],
        "layers": rows,
        "trainable_params": trainable_total,
        "frozen_params": frozen_total,
    }


def target_class_names(task: str) -> list[str] | None:
    """The class names a task selects, for datasets whose classes are known without loading.

    Returns:
        The selected class names in order, or None for a folder dataset (checked when loaded).

    Raises:
        DataError: unknown dataset, unknown class name, index out of range, repeated class.
    """
    spec = parse_task(task)
    names = KNOWN_CLASS_NAMES.get(spec.dataset)
    if names is None:
        return None
    return [names[index] for index in resolve_classes(spec.class_tokens, names, spec.text)]


def source_runs(runs_dir: str | Path) -> list[Run]:
    """Runs in `runs_dir` that hold a model, newest first (pretrained sources before transfers)."""
    runs = [run for run in list_runs(runs_dir) if run.model_path.is_file()]
    runs.reverse()
    return sorted(runs, key=lambda run: run.config.get("kind") != "pretrain")


def describe_source(run: Run) -> str:
    """One line for the source dropdown: name, what it was trained on, architecture, test accuracy."""
    kind = run.config.get("kind", "?")
    accuracy = run.test_accuracy
    shown = f"test acc {accuracy:.3f}" if math.isfinite(accuracy) else "no test accuracy"
    return f"{run.name} · {kind} {run.config.get('task', '?')} · {run.manifest.get('architecture', '?')} · {shown}"


def _format_number(value: Any, digits: int = 3) -> str:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return "–"
    return f"{number:.{digits}f}" if math.isfinite(number) else "–"


def result_row(run: Run) -> dict[str, str]:
    """One results-table row of a run, as display strings keyed by `RESULT_COLUMNS`."""
    summary = run.summary()
    planned = run.config.get("epochs")
    done = run.metrics.get("epochs_completed", summary["epochs"])
    budget = summary["per_class"]
    depth = summary["freeze_depth"]
    return {
        "run": summary["name"],
        "mode": str(summary["mode"]),
        "freeze depth": "–" if depth is None else str(depth),
        "budget": "all" if budget is None else f"{budget}/class",
        "seed": str(summary["seed"]),
        "epochs": f"{done}/{planned}",
        "best val acc": _format_number(summary["best_val_accuracy"]),
        "test acc": _format_number(summary["test_accuracy"]),
        "seconds": _format_number(summary["seconds"], 1),
        "status": summary["status"],
    }


def format_results_table(rows: Sequence[Mapping[str, str]]) -> str:
    """An HTML table of result rows (see `result_row`), or a hint when there are none yet."""
    if not rows:
        return "<p style='color:#6C6C6C'>No runs in this session yet: press Start.</p>"
    head = "".join(f"<th style='padding:2px 8px;text-align:left'>{html.escape(column)}</th>" for column in RESULT_COLUMNS)
    body = []
    for row in rows:
        cells = []
        for column in RESULT_COLUMNS:
            value = html.escape(str(row.get(column, "")))
            style = "padding:2px 8px"
            if column == "status":
                style += f";color:{STATUS_COLORS.get(row.get(column, ''), '#24292F')};font-weight:600"
            cells.append(f"<td style='{style}'>{value}</td>")
        body.append(f"<tr class='workbench-result'>{''.join(cells)}</tr>")
    return (f"<table class='workbench-results' style='border-collapse:collapse;font-size:13px'>"
            f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>")


def format_freeze_preview(report: Mapping[str, Any]) -> str:
    """HTML chips, one per block (grey = frozen, orange = trains), and the parameter counts."""
    chips = []
    for block in figures.summarize_blocks(report["layers"]):
        frozen = block["trainable_params"] == 0 and block["frozen_params"] > 0
        state = "frozen" if frozen else "trains"
        color = figures.FROZEN_COLOR if frozen else figures.TRAINABLE_COLOR
        layer_names = ", ".join(layer["layer"] for layer in block["layers"])
        params = block["trainable_params"] + block["frozen_params"]
        chips.append(
            f"<span class='workbench-block workbench-block-{state}' title='{html.escape(layer_names)}' "
            f"style='display:inline-block;margin:2px;padding:2px 8px;border-radius:4px;color:white;"
            f"background:{color}'>{html.escape(block['block'])}: {state} ({params:,})</span>"
        )
    frozen_names = [block["name"] for block in report["blocks"] if block["frozen"]]
    frozen_text = ", ".join(frozen_names) if frozen_names else "none"
    return (
        f"<div>{''.join(chips)}</div>"
        f"<div class='workbench-freeze-counts'>freeze depth {report['freeze_depth']}: frozen blocks: "
        f"{html.escape(frozen_text)} · <b>{report['trainable_params']:,}</b> trainable, "
        f"<b>{report['frozen_params']:,}</b> frozen parameters</div>"
    )


def format_error(error: BaseException, context: str = "") -> str:
    """An error as HTML for the panel: the message for user errors, plus the traceback otherwise."""
    prefix = f"<b>{html.escape(context)}</b><br>" if context else ""
    if isinstance(error, WorkbenchError):
        body = html.escape(str(error))
    else:
        trace = "".join(traceback.format_exception(type(error), error, error.__traceback__))
        body = (f"{html.escape(type(error).__name__)}: {html.escape(str(error))}"
                f"<details><summary>traceback</summary><pre>{html.escape(trace)}</pre></details>")
    return (f"<div class='workbench-error' style='color:#CF222E;border:1px solid #CF222E;border-radius:4px;"
            f"padding:4px 8px;white-space:pre-wrap'>{prefix}{body}</div>")


def make_curve_figure(title: str = "Accuracy and loss per epoch (dashed = train, solid = validation)") -> go.FigureWidget:
    """An empty accuracy | loss FigureWidget that `LiveCurves` draws runs into."""
    figure = make_subplots(rows=1, cols=2, subplot_titles=("Accuracy", "Loss"), horizontal_spacing=0.08)
    figure.update_xaxes(title={"text": "Epoch"}, rangemode="tozero")
    figure.update_yaxes(title={"text": "Accuracy"}, range=[0, 1.02], row=1, col=1)
    figure.update_yaxes(title={"text": "Loss"}, rangemode="tozero", row=1, col=2)
    figure.update_layout(template=figures.TEMPLATE, title={"text": title, "font": {"size": 14}}, height=380,
                         margin={"l": 50, "r": 20, "t": 60, "b": 40},
                         legend={"orientation": "h", "y": -0.2, "groupclick": "togglegroup"})
    return go.FigureWidget(figure)


def _replace_figure(widget: go.FigureWidget, figure: go.Figure) -> None:
    """Show another figure in a FigureWidget, in place (the widget stays where it is displayed)."""
    widget.data = ()
    # Assigning a layout only sends the keys it sets, and the browser merges them into the old
    # layout; clear the old keys first so that e.g. a "no data yet" annotation does not linger.
    stale = {key: None for key in widget.layout.to_plotly_json() if key != "template"}
    if stale:
        widget.plotly_relayout(stale)
    widget.add_traces(figure.data)
    widget.layout = figure.layout


class _StatusUpdates(keras.callbacks.Callback):
    """Writes "epoch 3/10 · val acc 0.712 · 4 s" into the panel's status line at each epoch end."""

    def __init__(self, show: Callable[[str], None], description: str) -> None:
        super().__init__()
        self.show = show
        self.description = description
        self._started = time.perf_counter()

    def on_train_begin(self, logs: dict | None = None) -> None:
        self._started = time.perf_counter()
        self.show(f"Training {self.description}: epoch 0/{(self.params or {}).get('epochs', '?')}")

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        shown = " · ".join(f"{name} {_format_number(logs.get(key))}"
                           for key, name in (("accuracy", "train acc"), ("val_accuracy", "val acc")) if key in logs)
        seconds = time.perf_counter() - self._started
        self.show(f"Training {self.description}: epoch {epoch + 1}/{(self.params or {}).get('epochs', '?')}"
                  f" · {shown} · {seconds:.0f} s")


# ------------------------------------------------------------------------------------------------
# The panel
# ------------------------------------------------------------------------------------------------


class TransferPanel:
    """The workbench's interactive panel (ipywidgets 8 and plotly FigureWidgets).

    Display it by making it the last expression of a cell (or with `IPython.display.display`).
    Widgets are public attributes, so scripts and tests can set `.value` and call `.click()`.

    Args:
        runs_dir: folder that holds the run directories: sources are listed from it, new runs are
            written to it. Defaults to "runs".
        source: the source run to preselect (a path or a name under `runs_dir`); None picks the
            newest pretrained run. Defaults to None.
        task: target task, `DATASET[:CLASSES]`. Defaults to "mnist-5k:5-9".
        mode: "parameter", "feature" or "structure". Defaults to "parameter".
        freeze_depth: blocks frozen in parameter mode. Defaults to 0.
        per_class: label budget per class; None or 0 takes every example. Defaults to 5.
        epochs: epochs per run. Defaults to 10.
        learning_rate: Adam learning rate. Defaults to 1e-3.
        seed: seed of the splits, budget draw and initial weights. Defaults to 0.
        batch_size: mini-batch size. Defaults to 32.
        pretrain_task: task of the "pretrain a new source" section. Defaults to "mnist-5k:0-4".
        pretrain_model: architecture to pretrain. Defaults to "seed-cnn".
        pretrain_epochs: pretraining epochs. Defaults to 5.
        pretrain_per_class: pretraining budget per class; None takes all. Defaults to None.
        live_every_batches: also plot a train point every N batches; None plots epoch ends
            only. Defaults to None.
        callbacks: extra Keras callbacks added to every run. Defaults to none.
    """

    def __init__(
        self,
        runs_dir: str | Path = "runs",
        source: str | Path | None = None,
        task: str = DEFAULT_TARGET_TASK,
        mode: str = "parameter",
        freeze_depth: int = 0,
        per_class: int | None = 5,
        epochs: int = 10,
        learning_rate: float = 1e-3,
        seed: int = 0,
        batch_size: int = 32,
        pretrain_task: str = DEFAULT_SOURCE_TASK,
        pretrain_model: str = "seed-cnn",
        pretrain_epochs: int = 5,
        pretrain_per_class: int | None = None,
        live_every_batches: int | None = None,
        callbacks: Sequence[Any] = (),
    ) -> None:
        if mode not in MODES:
            raise ConfigError(f"mode={mode!r} is not known. Allowed modes: {', '.join(MODES)}. Pass mode='parameter'.")
        if pretrain_model not in ARCHITECTURES:
            raise ConfigError(f"pretrain_model={pretrain_model!r} is not known. Allowed models: "
                              f"{', '.join(ARCHITECTURES)}. Pass pretrain_model='seed-cnn'.")
        self.runs_dir = Path(runs_dir)
        self.live_every_batches = live_every_batches
        self.extra_callbacks = list(callbacks)
        self.session_runs: list[Run] = []
        self.errors: list[BaseException] = []
        self.last_run: Run | None = None
        self._plan: LayerPlan | None = None
        self._plans: dict[str, LayerPlan] = {}
        self._parameter_depth = int(freeze_depth or 0)
        self._run_lock = threading.Lock()
        self._stop_event = threading.Event()
        self._thread: threading.Thread | None = None
        self._runs_started = 0
        self._mode_repeats: dict[str, int] = {}
        self._extra_colors = 0
        self._updating_sources = False
        self._updating_reports = False
        self._build_widgets(task, mode, per_class, epochs, learning_rate, seed, batch_size,
                            pretrain_task, pretrain_model, pretrain_epochs, pretrain_per_class)
        self._connect()
        self.refresh_sources(select=source)
        self._show_task_classes()
        self._show_mode()

    # -- building -------------------------------------------------------------------------------

    def _build_widgets(self, task: str, mode: str, per_class: int | None, epochs: int, learning_rate: float,
                       seed: int, batch_size: int, pretrain_task: str, pretrain_model: str,
                       pretrain_epochs: int, pretrain_per_class: int | None) -> None:
        wide = widgets.Layout(width="34em")
        short = widgets.Layout(width="15em")
        style = {"description_width": "9em"}

        self.source_dropdown = widgets.Dropdown(description="Source run", options=[], layout=widgets.Layout(width="52em"), style=style)
        self.refresh_button = widgets.Button(icon="refresh", tooltip="Rescan the runs folder for source runs",
                                             layout=widgets.Layout(width="3em"))
        self.source_info = widgets.HTML()

        self.pretrain_task = widgets.Text(value=pretrain_task, description="Task", layout=wide, style=style,
                                          continuous_update=False)
        self.pretrain_model = widgets.Dropdown(options=list(ARCHITECTURES), value=pretrain_model, description="Model",
                                               layout=wide, style=style)
        self.pretrain_per_class = widgets.IntText(value=pretrain_per_class or 0, description="Labels/class",
                                                  tooltip="0 takes every example", layout=short, style=style)
        self.pretrain_epochs = widgets.IntText(value=pretrain_epochs, description="Epochs", layout=short, style=style)
        self.pretrain_learning_rate = widgets.FloatText(value=1e-3, description="Learning rate", layout=short, style=style)
        self.pretrain_seed = widgets.IntText(value=0, description="Seed", layout=short, style=style)
        self.pretrain_name = widgets.Text(value="", placeholder="optional, e.g. source", description="Run name",
                                          layout=wide, style=style)
        self.pretrain_button = widgets.Button(description="Pretrain", icon="graduation-cap", button_style="primary",
                                              tooltip="Train a new source model on this task")
        self.pretrain_curves = make_curve_figure("Pretraining: accuracy and loss per epoch")
        self.pretrain_section = widgets.Accordion(children=[widgets.VBox([
            widgets.HBox([self.pretrain_task, self.pretrain_model]),
            widgets.HBox([self.pretrain_per_class, self.pretrain_epochs, self.pretrain_learning_rate, self.pretrain_seed]),
            widgets.HBox([self.pretrain_name, self.pretrain_button]),
            self.pretrain_curves,
        ])])
        self.pretrain_section.set_title(0, "Pretrain a new source model")

        self.task_text = widgets.Text(value=task, description="Target task", layout=wide, style=style,
                                      continuous_update=False)
        self.task_info = widgets.HTML()
        self.per_class = widgets.IntText(value=per_class or 0, description="Labels/class", layout=short, style=style)
        self.epochs = widgets.IntText(value=epochs, description="Epochs", layout=short, style=style)
        self.learning_rate = widgets.FloatText(value=learning_rate, description="Learning rate", layout=short, style=style)
        self.seed = widgets.IntText(value=seed, description="Seed", layout=short, style=style)
        self.batch_size = widgets.IntText(value=batch_size, description="Batch size", layout=short, style=style)

        self.mode_buttons = widgets.ToggleButtons(
            options=list(MODES), value=mode, description="Mode", style=style,
            tooltips=[MODE_DESCRIPTIONS[name] for name in MODES],
        )
        self.mode_info = widgets.HTML()
        self.freeze_slider = widgets.IntSlider(value=0, min=0, max=1, description="Freeze depth", style=style,
                                               continuous_update=True, layout=wide)
        self.freeze_info = widgets.HTML()

        self.start_button = widgets.Button(description="Start", icon="play", button_style="success",
                                           tooltip="Train a transfer run with these settings")
        self.stop_button = widgets.Button(description="Stop", icon="stop", button_style="danger", disabled=True,
                                          tooltip="Stop after the current batch; the run is kept, marked stopped")
        self.clear_button = widgets.Button(description="Clear chart", icon="eraser",
                                           tooltip="Remove the curves (runs stay on disk and in the table)")
        self.status = widgets.HTML(value="Ready.")
        self.message = widgets.HTML()
        self.curves = make_curve_figure()
        self.results = widgets.HTML(value=format_results_table([]))
        self.report_dropdown = widgets.Dropdown(description="Report of", options=[], style=style,
                                                layout=widgets.Layout(width="52em"))
        self.report_text = widgets.HTML()
        self.report_figure = go.FigureWidget(figures.empty_figure("No run selected yet", title="Weight transfer"))
        self.report_figure.update_layout(height=300)

        def header(text: str) -> widgets.HTML:
            return widgets.HTML(f"<h4 style='margin:10px 0 2px 0'>{html.escape(text)}</h4>")

        self.widget = widgets.VBox([
            widgets.HTML(f"<h3 style='margin:0'>Transfer Learning Workbench</h3>"
                         f"<span style='color:#6C6C6C'>runs folder: {html.escape(str(self.runs_dir))}</span>"),
            header("Source"),
            widgets.HBox([self.source_dropdown, self.refresh_button]),
            self.source_info,
            self.pretrain_section,
            header("Target task"),
            self.task_text,
            self.task_info,
            widgets.HBox([self.per_class, self.epochs, self.learning_rate]),
            widgets.HBox([self.seed, self.batch_size]),
            header("Transfer"),
            self.mode_buttons,
            self.mode_info,
            self.freeze_slider,
            self.freeze_info,
            widgets.HBox([self.start_button, self.stop_button, self.clear_button]),
            self.status,
            self.message,
            widgets.Box([self.curves], layout=widgets.Layout(display="block")).add_class("workbench-curves"),
            header("Runs in this session"),
            self.results,
            header("Weight-transfer report"),
            self.report_dropdown,
            widgets.Box([self.report_figure], layout=widgets.Layout(display="block")).add_class("workbench-report"),
            self.report_text,
        ])
        self.widget.add_class("workbench-panel")
        # Stable CSS hooks for browser tests and custom styling.
        for control, name in ((self.source_dropdown, "source"), (self.task_text, "task"), (self.per_class, "per-class"),
                              (self.epochs, "epochs"), (self.learning_rate, "learning-rate"), (self.seed, "seed"),
                              (self.mode_buttons, "mode"), (self.freeze_slider, "freeze-slider"),
                              (self.start_button, "start"), (self.stop_button, "stop"), (self.message, "message"),
                              (self.pretrain_button, "pretrain"), (self.results, "results-table")):
            control.add_class(f"workbench-{name}")
        self.status.add_class("workbench-status")
        self.freeze_info.add_class("workbench-freeze")

    def _connect(self) -> None:
        self.start_button.on_click(self._handler(lambda _: self.start()))
        self.stop_button.on_click(self._handler(lambda _: self.stop()))
        self.clear_button.on_click(self._handler(lambda _: self.clear_chart()))
        self.refresh_button.on_click(self._handler(lambda _: self.refresh_sources()))
        self.pretrain_button.on_click(self._handler(lambda _: self.pretrain()))
        self.source_dropdown.observe(
            self._handler(lambda _: None if self._updating_sources else self._load_source()), names="value")
        self.task_text.observe(self._handler(lambda _: self._show_task_classes()), names="value")
        self.mode_buttons.observe(self._handler(lambda _: self._show_mode()), names="value")
        self.freeze_slider.observe(self._handler(lambda _: self._show_freeze()), names="value")
        self.report_dropdown.observe(
            self._handler(lambda _: None if self._updating_reports else self._show_report()), names="value")

    def _handler(self, function: Callable[[Any], None]) -> Callable[[Any], None]:
        """Wrap a widget handler so that its exceptions appear in the panel instead of a log."""

        def handle(argument: Any = None) -> None:
            if isinstance(argument, widgets.Button):
                self.message.value = ""  # a new action: the last error no longer applies
            try:
                function(argument)
            except Exception as error:  # noqa: BLE001 - every error is shown, none is dropped
                self._show_error(error)

        return handle

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)

    # -- values → configs -----------------------------------------------------------------------

    def transfer_values(self) -> dict[str, Any]:
        """The transfer settings as `RunConfig` fields (what `config_from_mapping` takes)."""
        mode = self.mode_buttons.value
        return {
            "source": self.source_dropdown.value,
            "task": self.task_text.value.strip(),
            "mode": mode,
            "freeze_depth": self.freeze_slider.value if mode == "parameter" else None,
            "per_class": self.per_class.value or None,
            "epochs": self.epochs.value,
            "learning_rate": self.learning_rate.value,
            "seed": self.seed.value,
            "batch_size": self.batch_size.value,
            "runs_dir": str(self.runs_dir),
        }

    def transfer_config(self) -> RunConfig:
        """The validated transfer `RunConfig` of the current widget values.

        Raises:
            WorkbenchError: no source picked, or a bad value (named, with the fix).
        """
        if not self.source_dropdown.value:
            raise SourceRunError(
                f"No source run is selected, and {str(self.runs_dir)!r} holds no run with a model. "
                "Pretrain one under 'Pretrain a new source model' (or press the refresh button after "
                "`workbench pretrain --name source`)."
            )
        return config_from_mapping(self.transfer_values(), kind="transfer")

    def pretrain_values(self) -> dict[str, Any]:
        """The pretraining settings as `RunConfig` fields."""
        return {
            "task": self.pretrain_task.value.strip(),
            "model": self.pretrain_model.value,
            "per_class": self.pretrain_per_class.value or None,
            "epochs": self.pretrain_epochs.value,
            "learning_rate": self.pretrain_learning_rate.value,
            "seed": self.pretrain_seed.value,
            "name": self.pretrain_name.value.strip() or None,
            "batch_size": self.batch_size.value,
            "runs_dir": str(self.runs_dir),
        }

    def pretrain_config(self) -> RunConfig:
        """The validated pretraining `RunConfig` of the pretrain section."""
        return config_from_mapping(self.pretrain_values(), kind="pretrain")

    # -- actions --------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """Whether a run is training now."""
        return self._run_lock.locked()

    def start(self) -> None:
        """Start a transfer run with the current settings in a worker thread (Start button).

        Raises:
            WorkbenchError: a bad setting, a missing source or a run already in progress; nothing
                starts and the panel stays usable.
        """
        self._refuse_if_running()
        config = self.transfer_config()
        target_class_names(config.task)
        source = load_run(config.source, self.runs_dir)
        if not source.model_path.is_file():
            raise SourceRunError(f"Source run {str(source.path)!r} holds no model.keras. Pick another source run.")
        depth = config.freeze_depth if config.mode == "parameter" else None
        self._runs_started += 1
        label = f"{mode_label(config.mode, depth)} · {self._budget_text(config)} · s{config.seed} · #{self._runs_started}"
        live = LiveCurves(self.curves, label=label, color=self._next_color(config.mode),
                          every_n_batches=self.live_every_batches)
        self._launch(config, [live], label, self._transfer_done)

    def pretrain(self) -> None:
        """Pretrain a new source model in a worker thread (Pretrain button); it becomes the source."""
        self._refuse_if_running()
        config = self.pretrain_config()
        target_class_names(config.task)
        label = f"pretrain {config.model} · {config.task}"
        live = LiveCurves(self.pretrain_curves, label=label, every_n_batches=self.live_every_batches)
        self._launch(config, [live], label, self._pretrain_done)

    def _refuse_if_running(self) -> None:
        if self.running:
            raise WorkbenchError("A run is already training: wait for it to finish, or press Stop first.")

    def stop(self) -> None:
        """Ask the running run to stop after its current batch (Stop button)."""
        self._stop_event.set()
        self.stop_button.disabled = True
        if self.running:
            self.status.value = "Stopping after the current batch…"

    def clear_chart(self) -> None:
        """Remove every curve from the live chart (the runs stay in the table and on disk)."""
        if self.running:
            raise WorkbenchError("A run is training: clear the chart after it finishes or is stopped.")
        self.curves.data = ()
        self._mode_repeats.clear()
        self._extra_colors = 0

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the current run's thread ends; return False if it is still running after `timeout`."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
            return not thread.is_alive()
        return True

    def refresh_sources(self, select: str | Path | None = None) -> None:
        """Rescan the runs folder for runs that hold a model, and select `select` (or keep the current)."""
        runs = source_runs(self.runs_dir)
        options = [(describe_source(run), str(run.path)) for run in runs]
        wanted = None
        if select is not None:
            candidates = {str(Path(select)), str(self.runs_dir / str(select))}
            wanted = next((value for _, value in options if value in candidates), None)
            if wanted is None:
                self._show_error(SourceRunError(
                    f"Source run {str(select)!r} is not a run with a model in {str(self.runs_dir)!r}. "
                    "Pick one from the list or pretrain one below."))
        current = self.source_dropdown.value
        if wanted is None:
            wanted = current if current in [value for _, value in options] else (options[0][1] if options else None)
        # Changing the options makes the dropdown pick a value by itself; load only the final one.
        self._updating_sources = True
        try:
            self.source_dropdown.options = options
            self.source_dropdown.value = wanted
        finally:
            self._updating_sources = False
        self._load_source()
        if not options:
            self.source_info.value = (f"<span style='color:#9A6700'>{html.escape(str(self.runs_dir))} holds no run with "
                                      "a model yet: pretrain a source model below.</span>")
            self.pretrain_section.selected_index = 0

    # -- display updates ------------------------------------------------------------------------

    def _load_source(self) -> None:
        """Read the selected source's blocks for the freeze preview (the model is loaded once per run)."""
        path = self.source_dropdown.value
        self._plan = None
        try:
            if path and path not in self._plans:
                self._plans[path] = layer_plan(load_run(path).load_model())
            self._plan = self._plans.get(path) if path else None
        except Exception as error:  # noqa: BLE001 - an unreadable source is shown; the panel stays usable
            self.source_info.value = ""
            self._show_error(error, context=f"Could not read the model of {path}")
        if self._plan is not None:
            blocks = ", ".join(block.name for block in self._plan.blocks)
            self.source_info.value = (f"<span style='color:#6C6C6C'>{html.escape(self._plan.architecture)}, "
                                      f"{len(self._plan.blocks)} blocks: {html.escape(blocks)}</span>")
            self.freeze_slider.max = max_freeze_depth(list(self._plan.blocks))
        self._show_mode()

    def _show_task_classes(self) -> None:
        self._show_freeze()  # the head's size follows the number of target classes
        try:
            names = target_class_names(self.task_text.value)
        except WorkbenchError as error:
            self.task_info.value = f"<span class='workbench-task-error' style='color:#CF222E'>{html.escape(str(error))}</span>"
            return
        if names is None:
            self.task_info.value = "<span style='color:#6C6C6C'>folder dataset: classes are checked when the run starts</span>"
        else:
            self.task_info.value = (f"<span style='color:#6C6C6C'>{len(names)} classes: "
                                    f"{html.escape(', '.join(names[:12]))}{' …' if len(names) > 12 else ''}</span>")

    def _show_mode(self) -> None:
        mode = self.mode_buttons.value
        self.mode_info.value = f"<i>{html.escape(mode)}</i>: {html.escape(MODE_DESCRIPTIONS[mode])}"
        if self._plan is None:
            self.freeze_slider.disabled = True
            self.freeze_info.value = "<span style='color:#6C6C6C'>Pick or pretrain a source run to see its blocks.</span>"
            return
        deepest = max_freeze_depth(list(self._plan.blocks))
        if mode == "parameter":
            self.freeze_slider.disabled = False
            self.freeze_slider.value = min(self._parameter_depth, deepest)
        else:
            # The mode fixes the depth; show it on the slider, remember the user's own for later.
            self.freeze_slider.disabled = True
            self.freeze_slider.value = deepest if mode == "feature" else 0
        self._show_freeze()

    def _show_freeze(self) -> None:
        if self._plan is None:
            return
        mode = self.mode_buttons.value
        if mode == "parameter":
            self._parameter_depth = self.freeze_slider.value
        try:
            names = target_class_names(self.task_text.value)
        except WorkbenchError:
            names = None
        report = preview_transfer(self._plan, mode, self.freeze_slider.value if mode == "parameter" else None,
                                  len(names) if names else None)
        self.freeze_info.value = format_freeze_preview(report)

    def _show_error(self, error: BaseException, context: str = "") -> None:
        self.errors.append(error)
        if not isinstance(error, WorkbenchError):
            logger.error("workbench panel: %s", context or "handler failed", exc_info=error)
        self.message.value = format_error(error, context)

    def _show_report(self) -> None:
        name = self.report_dropdown.value
        run = next((run for run in self.session_runs if run.name == name), None)
        if run is None:
            return
        if run.transfer_report is None:
            _replace_figure(self.report_figure, figures.empty_figure(
                f"{run.name} is a pretraining run: no weights were transferred", title="Weight transfer"))
            self.report_text.value = ""
            return
        _replace_figure(self.report_figure, figures.plot_transfer_report(run.transfer_report))
        self.report_text.value = (f"<details><summary>layer by layer</summary><pre style='font-size:11px'>"
                                  f"{html.escape(format_transfer_report(run.transfer_report))}</pre></details>")

    # -- the worker thread ----------------------------------------------------------------------

    def _launch(self, config: RunConfig, callbacks: list[Any], description: str,
                on_done: Callable[[Run], None]) -> None:
        if not self._run_lock.acquire(blocking=False):
            raise WorkbenchError("A run is already training: wait for it to finish, or press Stop first.")
        try:
            self._stop_event = threading.Event()
            self.message.value = ""
            self._set_running(True)
            self.status.value = f"Starting {html.escape(description)}…"
            progress = _StatusUpdates(self._set_status, description)
            self._thread = threading.Thread(
                target=self._work,
                args=(config, [*callbacks, progress, *self.extra_callbacks], self._stop_event, description, on_done),
                name="workbench-training", daemon=True,
            )
            self._thread.start()
        except BaseException:
            self._set_running(False)
            self._run_lock.release()
            raise

    def _work(self, config: RunConfig, callbacks: list[Any], stop_event: threading.Event, description: str,
              on_done: Callable[[Run], None]) -> None:
        from workbench.training import train_run

        try:
            run = train_run(config, callbacks=callbacks, stop_event=stop_event)
            self.last_run = run
            self.session_runs.append(run)
            on_done(run)
        except BaseException as error:  # noqa: BLE001 - shown in the panel; a thread has no caller
            self._show_error(error, context=f"{description} failed")
            self.status.value = "Failed: see the message below."
        finally:
            self._set_running(False)
            self._run_lock.release()

    def _transfer_done(self, run: Run) -> None:
        self._update_results(select=run.name)
        self.status.value = self._describe_outcome(run)

    def _pretrain_done(self, run: Run) -> None:
        self._update_results(select=self.report_dropdown.value)
        self.refresh_sources(select=run.path)
        self.status.value = self._describe_outcome(run) + " It is now the selected source."

    def _update_results(self, select: str | None) -> None:
        self.results.value = format_results_table([result_row(run) for run in self.session_runs])
        self._updating_reports = True
        try:
            self.report_dropdown.options = [run.name for run in self.session_runs]
            self.report_dropdown.value = select
        finally:
            self._updating_reports = False
        self._show_report()

    def _describe_outcome(self, run: Run) -> str:
        done = run.metrics.get("epochs_completed")
        verb = {"stopped": "Stopped", "diverged": "Diverged"}.get(run.status, "Finished")
        return (f"<span class='workbench-outcome'>{verb}: {html.escape(run.name)} after {done} epoch(s), "
                f"test accuracy {_format_number(run.test_accuracy)}.</span>")

    def _set_status(self, text: str) -> None:
        if not self._stop_event.is_set():
            self.status.value = html.escape(text)

    def _set_running(self, running: bool) -> None:
        for control in (self.start_button, self.pretrain_button, self.source_dropdown, self.refresh_button,
                        self.clear_button):
            control.disabled = running
        self.stop_button.disabled = not running

    def _budget_text(self, config: RunConfig) -> str:
        return "all" if config.per_class is None else f"{config.per_class}/class"

    def _next_color(self, mode: str) -> str:
        """The mode's colour for its first run on the chart, then distinct colours for repeats."""
        repeats = self._mode_repeats.get(mode, 0)
        self._mode_repeats[mode] = repeats + 1
        if repeats == 0:
            return figures.MODE_COLORS[mode]
        color = figures.FALLBACK_COLORS[self._extra_colors % len(figures.FALLBACK_COLORS)]
        self._extra_colors += 1
        return color


def panel(runs_dir: str | Path = "runs", **options: Any) -> TransferPanel:
    """Build the transfer panel; make it the last expression of a cell to display it.

    Args:
        runs_dir: folder of the run directories (sources are listed from it, runs written to it).
            Defaults to "runs".
        **options: the other `TransferPanel` arguments (task, per_class, epochs, mode, …).

    Returns:
        The panel.
    """
    return TransferPanel(runs_dir=runs_dir, **options)
