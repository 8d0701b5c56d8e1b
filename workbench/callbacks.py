"""Keras callbacks the workbench trains with: history with timings, a stop flag, progress bars.

Each works in any plain `model.fit` as well, and resets its state in `on_train_begin`.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import keras

HISTORY_KEYS = ("loss", "accuracy", "val_loss", "val_accuracy")


class HistoryRecorder(keras.callbacks.Callback):
    """Records one row per epoch: epoch (1-based), loss, accuracy, val_loss, val_accuracy, seconds.

    A row also says `partial` when training stopped inside that epoch, so a curve can mark it.

    Args:
        initial_rows: rows of epochs trained before (a resumed run); kept at the start of `rows`.
    """

    def __init__(self, initial_rows: list[dict[str, Any]] | None = None) -> None:
        super().__init__()
        self.initial_rows = list(initial_rows or [])
        self.rows: list[dict[str, Any]] = []
        self.stopped_mid_epoch = False
        self._epoch_started = 0.0
        self._batches_done = 0
        self._batches_per_epoch: int | None = None

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.rows = list(self.initial_rows)
        self.stopped_mid_epoch = False
        self._batches_per_epoch = (self.params or {}).get("steps")

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._epoch_started = time.perf_counter()
        self._batches_done = 0

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self._batches_done = batch + 1

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        row: dict[str, Any] = {"epoch": epoch + 1}
        for key in HISTORY_KEYS:
            value = logs.get(key)
            row[key] = float(value) if value is not None else math.nan
        row["seconds"] = time.perf_counter() - self._epoch_started
        partial = bool(self.model is not None and self.model.stop_training and self._batches_per_epoch
                       and self._batches_done < self._batches_per_epoch)
        row["partial"] = partial
        self.stopped_mid_epoch = self.stopped_mid_epoch or partial
        self.rows.append(row)


class StopOnEvent(keras.callbacks.Callback):
    """Stops training after the current batch once `event` is set (e.g. by a Stop button).

    Checking a `threading.Event` costs nanoseconds, so it runs at every batch: a stop request
    takes effect within one batch.
    """

    def __init__(self, event: threading.Event) -> None:
        super().__init__()
        self.event = event
        self.stopped = False

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.stopped = False
        self._check()

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self._check()

    def _check(self) -> None:
        if self.event.is_set() and self.model is not None:
            self.model.stop_training = True
            self.stopped = True


class PipelineEpoch(keras.callbacks.Callback):
    """Tells a one-epoch training pipeline which epoch it is reading (`data.pipelines.epoch_batches`).

    Keras starts a new iterator over the training data at every epoch when `fit` gets no
    `steps_per_epoch`; the pipeline reads `variable` then, so epoch e is read in epoch e's
    (seed, e) order, as in one stream of every epoch back to back. Needed where a call into the
    traced train function runs several steps (`steps_per_execution`): it must stop at its epoch's
    end, which a stream of every epoch would not give it.

    Args:
        first_epoch: the epoch training starts at (a resumed run starts later). Defaults to 0.
    """

    def __init__(self, first_epoch: int = 0) -> None:
        import tensorflow as tf

        super().__init__()
        self.variable = tf.Variable(first_epoch, dtype=tf.int64, trainable=False, name="pipeline_epoch")

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.variable.assign(epoch)


class NanGuard(keras.callbacks.Callback):
    """Stops training when the loss becomes NaN or infinite and puts back the last good weights.

    The weights are copied at every epoch end (and at the start), so a run that diverges keeps
    the model of its last complete, finite epoch; `reason` says what happened, for the run's
    metrics and the user.
    """

    def __init__(self) -> None:
        super().__init__()
        self.reason: str | None = None
        self._good_weights: list[Any] | None = None
        self._good_epoch = 0
        self._epoch = 0

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.reason = None
        self._good_weights = [weight.copy() for weight in self.model.get_weights()]
        self._good_epoch = 0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._epoch = epoch

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        loss = (logs or {}).get("loss")
        if loss is None or math.isfinite(float(loss)) or self.reason:
            return
        # With several steps per call Keras reports each call's last batch: past the epoch's end
        # for a short last call.
        batch = min(batch, ((self.params or {}).get("steps") or batch + 1) - 1)
        self.reason = (f"the training loss became {float(loss)} at epoch {self._epoch + 1}, batch {batch + 1}; "
                       f"the weights were restored to the end of epoch {self._good_epoch}. Lower the learning "
                       "rate (try `workbench lr-find`) and train again")
        if self._good_weights is not None:
            self.model.set_weights(self._good_weights)
        self.model.stop_training = True

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        loss = (logs or {}).get("loss")
        if self.reason is None and loss is not None and math.isfinite(float(loss)):
            self._good_weights = [weight.copy() for weight in self.model.get_weights()]
            self._good_epoch = epoch + 1


@dataclass(frozen=True)
class ProgressUpdate:
    """What `EpochProgress` tells its `show` function at train begin, each epoch end and train end.

    Args:
        label: the run's label, e.g. "pretrain" or "parameter seed 0".
        epoch: epochs finished so far (0 at train begin; counted from the resumed epoch on resume).
        epochs: epochs planned, or None when Keras did not say.
        logs: the latest epoch's Keras logs (loss, accuracy, val_loss, val_accuracy).
        seconds: wall time since train begin.
        finished: True once, at train end.
    """

    label: str
    epoch: int
    epochs: int | None
    logs: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    finished: bool = False

    def line(self) -> str:
        """`"pretrain epoch 2/5: loss 0.3120, accuracy 0.9120, val_loss ..."` (missing keys left out)."""
        of = f"/{self.epochs}" if self.epochs else ""
        shown = [f"{key} {float(self.logs[key]):.4f}" for key in HISTORY_KEYS if key in self.logs]
        return f"{self.label} epoch {self.epoch}{of}: " + ", ".join(shown)


class EpochProgress(keras.callbacks.Callback):
    """The one per-epoch progress callback: the CLI's bars, the panel's status line, the notebooks'
    log lines and the parallel workers' relay all render the `ProgressUpdate`s it sends to `show`.

    Every training path (full fit, head on cached features, resume) reports each epoch once, so a
    bar or a status line always reaches the number of epochs that ran.

    Example:
        >>> model.fit(data, epochs=3, callbacks=[EpochProgress("demo", lambda update: print(update.line()))])

    Args:
        label: the run's label.
        show: called with a `ProgressUpdate` at train begin (epoch 0), after every epoch and at
            train end (`finished=True`).
    """

    def __init__(self, label: str, show: Callable[[ProgressUpdate], None]) -> None:
        super().__init__()
        self.label = str(label)
        self.show = show
        self._started = time.perf_counter()
        self._epochs: int | None = None
        self._epoch = 0
        self._logs: dict[str, float] = {}

    def _update(self, finished: bool = False) -> ProgressUpdate:
        return ProgressUpdate(self.label, self._epoch, self._epochs, dict(self._logs),
                              time.perf_counter() - self._started, finished)

    def on_train_begin(self, logs: dict | None = None) -> None:
        self._started = time.perf_counter()
        self._epochs = (self.params or {}).get("epochs")
        self._epoch, self._logs = 0, {}
        self.show(self._update())

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        # On resume Keras starts at `initial_epoch`: count from there.
        self._epoch = max(self._epoch, epoch)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self._epoch = epoch + 1
        self._logs = {key: float(value) for key, value in (logs or {}).items() if key in HISTORY_KEYS}
        self.show(self._update())

    def on_train_end(self, logs: dict | None = None) -> None:
        self.show(self._update(finished=True))


class _TqdmBar:
    """Renders `ProgressUpdate`s as one tqdm bar per run (stderr, so stdout stays parseable)."""

    def __init__(self, position: int = 0, leave: bool = False) -> None:
        self.position = position
        self.leave = leave
        self.bar: Any = None

    def __call__(self, update: ProgressUpdate) -> None:
        from tqdm import tqdm

        if self.bar is None and not update.finished:
            # Epochs are rare events: draw every one. tqdm's default (redraw at most every 0.1 s)
            # left a bar of fast epochs (a head on cached features) showing 1/3 when all 3 had run.
            self.bar = tqdm(total=update.epochs, desc=update.label, unit="epoch", position=self.position,
                            leave=self.leave, dynamic_ncols=True, initial=update.epoch, mininterval=0, miniters=1)
            return
        if self.bar is None:
            return
        shown = {key: f"{update.logs[key]:.3f}" for key in ("accuracy", "val_accuracy") if key in update.logs}
        self.bar.set_postfix(shown, refresh=False)
        self.bar.update(update.epoch - self.bar.n)
        if update.finished:
            self.bar.close()
            self.bar = None


def progress_bar(label: str, position: int = 0, leave: bool = False) -> EpochProgress:
    """The CLI's progress: one tqdm bar per run that advances per epoch and shows the latest
    accuracies, instead of Keras' per-batch output.

    Args:
        label: the bar's description.
        position: the bar's line (for several bars at once). Defaults to 0.
        leave: keep the finished bar on screen. Defaults to False.
    """
    return EpochProgress(label, _TqdmBar(position, leave))


def EpochProgressBar(description: str, position: int = 0, leave: bool = False) -> EpochProgress:  # noqa: N802
    """The earlier name of `progress_bar`, kept so existing scripts work."""
    return progress_bar(description, position, leave)


def _print_line(update: ProgressUpdate) -> None:
    if update.epoch and not update.finished:
        print(update.line(), flush=True)


def progress_lines(label: str) -> EpochProgress:
    """The notebooks' progress: one printed line per epoch, like Keras' `verbose=2`, labelled.

    Under papermill each line is a stream output that `--log-output` forwards to the terminal, so
    the person running `workbench report` sees progress; `verbose=1` progress bars would flood
    the report instead.
    """
    return EpochProgress(label, _print_line)


class LiveCurves(keras.callbacks.Callback):
    """Draws train and validation accuracy and loss into a plotly figure while `fit()` runs.

    Works in any `model.fit`: pass a `plotly.graph_objects.FigureWidget` to watch the curves grow in
    JupyterLab, a plain `go.Figure` (filled in memory, e.g. to show or save after training), any
    object with the same trace API (`add_trace`, `data`, optionally `batch_update` and `layout`),
    or None (papermill, plain Python), where it only records the points in `self.points`.

    Each `fit()` adds four traces labelled after `label`: train accuracy (dashed), validation
    accuracy (solid), and the same two for loss. Loss goes to the second subplot when the figure
    has one (`xaxis2`, e.g. from `make_subplots(rows=1, cols=2)`), else to a second y axis on the
    right. Points are kept at every epoch end (and every `every_n_batches` batches, at fractional
    epochs); sending them to the figure is throttled: inside an epoch at most one redraw per
    `min_interval` seconds, at epoch ends always, unless redraws have already used more than
    `max_overhead` of the training time, in which case they also wait `min_interval`. The last
    points are always drawn at `on_train_end`, so a stopped run shows where it stopped.

    Args:
        figure: the figure to draw into, or None to only record points. Defaults to None.
        label: run label for the legend; a label starting with a mode name ("parameter ...")
            takes that mode's colour. Defaults to "run".
        every_n_batches: also record a train point every N batches; None records epoch ends
            only. Defaults to None.
        min_interval: seconds between two redraws inside an epoch. Defaults to 0.5.
        max_overhead: the share of training wall time redraws may take before epoch-end redraws
            are throttled too. Defaults to 0.02.
        color: line colour; None takes the label's mode colour. Defaults to None.
    """

    def __init__(
        self,
        figure: Any = None,
        label: str = "run",
        every_n_batches: int | None = None,
        min_interval: float = 0.5,
        max_overhead: float = 0.02,
        color: str | None = None,
    ) -> None:
        super().__init__()
        if every_n_batches is not None and (isinstance(every_n_batches, bool) or int(every_n_batches) < 1):
            raise ValueError(f"every_n_batches={every_n_batches!r} must be 1 or more. Pass None for epoch ends only.")
        self.figure = figure
        self.label = str(label)
        self.every_n_batches = int(every_n_batches) if every_n_batches is not None else None
        self.min_interval = float(min_interval)
        self.max_overhead = float(max_overhead)
        self.color = color
        self.points: dict[str, tuple[list[float], list[float]]] = {}
        self.traces: dict[str, Any] = {}
        self.redraws = 0
        self.redraw_seconds = 0.0
        self._reset_state()

    # Which logs key feeds which trace, and whether it is the loss subplot.
    SERIES = (
        ("accuracy", "train", "accuracy", False),
        ("val_accuracy", "validation", "accuracy", False),
        ("loss", "train", "loss", True),
        ("val_loss", "validation", "loss", True),
    )

    def _reset_state(self) -> None:
        self.points = {key: ([], []) for key, *_ in self.SERIES}
        self.traces = {}
        self.redraws = 0
        self.redraw_seconds = 0.0
        self._drawn_counts = {key: 0 for key, *_ in self.SERIES}
        self._started = time.perf_counter()
        self._last_redraw = -math.inf
        self._epoch = 0
        self._batches_in_epoch = 0
        self._steps: int | None = None

    def on_train_begin(self, logs: dict | None = None) -> None:
        self._reset_state()
        self._steps = (self.params or {}).get("steps")
        if self.figure is not None:
            self._add_traces()

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._epoch = epoch
        self._batches_in_epoch = 0

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        done_before, self._batches_in_epoch = self._batches_in_epoch, batch + 1
        # A point whenever a multiple of N was passed: with steps_per_execution k > 1 Keras calls
        # this once per k batches (batch = k-1, 2k-1, ...), so `batch + 1` may step over it.
        every = self.every_n_batches
        if every is None or not self._steps or (batch + 1) // every == done_before // every:
            return
        position = self._epoch + min(1.0, (batch + 1) / self._steps)
        for key in ("accuracy", "loss"):
            self._record(key, position, (logs or {}).get(key))
        self._maybe_redraw(epoch_end=False)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        # A run stopped inside an epoch gets its last point where it stopped, not at the epoch end.
        fraction = 1.0
        if self._steps and 0 < self._batches_in_epoch < self._steps:
            fraction = self._batches_in_epoch / self._steps
        position = epoch + fraction
        for key, *_ in self.SERIES:
            self._record(key, position, logs.get(key))
        self._maybe_redraw(epoch_end=True)

    def on_train_end(self, logs: dict | None = None) -> None:
        self.redraw()

    def _record(self, key: str, position: float, value: Any) -> None:
        if value is None:
            return
        number = float(value)
        if math.isnan(number):
            return
        xs, ys = self.points[key]
        if xs and xs[-1] == position:  # an epoch end after a batch point at the same place
            ys[-1] = number
            self._drawn_counts[key] = min(self._drawn_counts[key], len(xs) - 1)
            return
        xs.append(position)
        ys.append(number)

    def _maybe_redraw(self, epoch_end: bool) -> None:
        now = time.perf_counter()
        recent = now - self._last_redraw < self.min_interval
        over_budget = self.redraw_seconds > self.max_overhead * (now - self._started)
        if recent and (not epoch_end or over_budget):
            return
        self.redraw()

    def redraw(self) -> None:
        """Send every point not yet drawn to the figure now (no-op without a figure)."""
        import contextlib

        if self.figure is None or not self.traces:
            return
        changed = [key for key, *_ in self.SERIES if len(self.points[key][0]) != self._drawn_counts[key]]
        if not changed:
            return
        started = time.perf_counter()
        batch_update = getattr(self.figure, "batch_update", None)
        # One batch_update sends all four traces' changes to the browser in one message.
        with batch_update() if batch_update is not None else contextlib.nullcontext():
            for key in changed:
                xs, ys = self.points[key]
                trace = self.traces[key]
                trace.x = tuple(xs)
                trace.y = tuple(ys)
                self._drawn_counts[key] = len(xs)
        finished = time.perf_counter()
        self.redraws += 1
        self.redraw_seconds += finished - started
        self._last_redraw = finished

    def _add_traces(self) -> None:
        from workbench.figures import TRAIN_DASH, VALIDATION_DASH, assign_colors

        color = self.color or assign_colors([self.label])[self.label]
        layout = getattr(self.figure, "layout", None)
        has_second_subplot = layout is not None and getattr(layout, "xaxis2", None) is not None
        if has_second_subplot:
            loss_axes = {"xaxis": "x2", "yaxis": "y2"}
        else:
            loss_axes = {"xaxis": "x", "yaxis": "y2"}
            if layout is not None and hasattr(self.figure, "update_layout"):
                self.figure.update_layout(yaxis2={"title": {"text": "Loss"}, "overlaying": "y", "side": "right"})
        for key, split, metric, is_loss in self.SERIES:
            trace = {
                "type": "scatter",
                "x": [],
                "y": [],
                "mode": "lines+markers",
                "name": f"{self.label} ({split})",
                "legendgroup": self.label,
                # One legend entry per split; the loss traces follow their accuracy twins.
                "showlegend": not is_loss,
                "line": {"color": color, "dash": TRAIN_DASH if split == "train" else VALIDATION_DASH, "width": 2},
                "marker": {"size": 4},
                "hovertemplate": f"<b>{self.label}</b><br>{split} {metric}: %{{y:.4f}}<br>epoch %{{x:.2f}}<extra></extra>",
            }
            if is_loss:
                trace.update(loss_axes)
            self.figure.add_trace(trace)
            self.traces[key] = self.figure.data[-1]

