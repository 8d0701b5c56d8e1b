"""The one progress callback: every epoch reaches the CLI bar, the notebook lines and any listener,
on every training path. Driven with hand-written logs, as Keras' own callback tests do, plus one
real feature run on cached features."""

from __future__ import annotations

import io
from contextlib import redirect_stderr
from pathlib import Path

import workbench
from workbench.callbacks import EpochProgress, ProgressUpdate, progress_bar, progress_lines


def _drive(callback, epochs: int, logs: dict | None = None) -> None:
    callback.set_params({"epochs": epochs})
    callback.on_train_begin()
    for epoch in range(epochs):
        callback.on_epoch_begin(epoch)
        callback.on_epoch_end(epoch, logs or {"loss": 0.5, "accuracy": 0.75, "val_accuracy": 0.5})
    callback.on_train_end()


def test_the_bar_draws_every_epoch_even_when_epochs_take_microseconds() -> None:
    stderr = io.StringIO()
    with redirect_stderr(stderr):
        _drive(progress_bar("feature digits:5-9"), epochs=3)
    drawn = stderr.getvalue()
    assert "1/3" in drawn and "2/3" in drawn and "3/3" in drawn
    assert "val_accuracy=0.500" in drawn


def test_notebook_lines_print_one_labelled_line_per_epoch(capsys) -> None:
    _drive(progress_lines("pretrain"), epochs=2)
    lines = capsys.readouterr().out.splitlines()
    assert lines == ["pretrain epoch 1/2: loss 0.5000, accuracy 0.7500, val_accuracy 0.5000",
                     "pretrain epoch 2/2: loss 0.5000, accuracy 0.7500, val_accuracy 0.5000"]


def test_updates_start_at_zero_and_end_once_finished() -> None:
    updates: list[ProgressUpdate] = []
    _drive(EpochProgress("run", updates.append), epochs=2)
    assert [(update.epoch, update.finished) for update in updates] == [(0, False), (1, False), (2, False), (2, True)]
    assert all(update.epochs == 2 and update.label == "run" for update in updates)


def test_a_head_trained_on_cached_features_reports_every_epoch(source_run, runs_dir: Path) -> None:
    updates: list[ProgressUpdate] = []
    run = workbench.transfer(source=str(source_run.path), task="mnist-5k:5-9", mode="feature", per_class=5,
                             epochs=3, runs_dir=str(runs_dir), callbacks=[EpochProgress("feature", updates.append)])
    assert run.manifest["fine_tuning"]["feature_cache"] is True
    assert [update.epoch for update in updates if not update.finished] == [0, 1, 2, 3]
