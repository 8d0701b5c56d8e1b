"""Keras callbacks the workbench trains with: history with timings, a stop flag, progress bars.

Each works in any plain `model.fit` as well, and resets its state in `on_train_begin`.
"""

from __future__ import annotations

import math
import threading
import time
from typing import Any

import keras

HISTORY_KEYS = ("loss", "accuracy", "val_loss", "val_accuracy")


class HistoryRecorder(keras.callbacks.Callback):
    """Records one row per epoch: epoch (1-based), loss, accuracy, val_loss, val_accuracy, seconds.

    A row also says `partial` when training stopped inside that epoch, so a curve can mark it.
    """

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[dict[str, Any]] = []
        self.stopped_mid_epoch = False
        self._epoch_started = 0.0
        self._batches_done = 0
        self._batches_per_epoch: int | None = None

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.rows = []
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


class EpochProgressBar(keras.callbacks.Callback):
    """One tqdm bar per run that advances per epoch and shows the latest accuracies.

    Used by the CLI instead of Keras' per-batch output. Writes to stderr so stdout stays parseable.
    """

    def __init__(self, description: str, position: int = 0, leave: bool = False) -> None:
        super().__init__()
        self.description = description
        self.position = position
        self.leave = leave
        self.bar: Any = None

    def on_train_begin(self, logs: dict | None = None) -> None:
        from tqdm import tqdm

        total = (self.params or {}).get("epochs")
        self.bar = tqdm(total=total, desc=self.description, unit="epoch", position=self.position,
                        leave=self.leave, dynamic_ncols=True)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        if self.bar is None:
            return
        shown = {key: f"{logs[key]:.3f}" for key in ("accuracy", "val_accuracy") if key in logs}
        self.bar.set_postfix(shown, refresh=False)
        self.bar.update(1)

    def on_train_end(self, logs: dict | None = None) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
