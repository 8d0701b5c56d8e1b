"""The panel's worker thread, and the status line and message area that report on it.

Why training runs in a worker thread: a kernel handles widget messages (such as a click on Stop)
only between cells, or while its main thread is idle. If `fit()` ran inside the Start button's
handler, the Stop click would wait in the kernel's queue until `fit()` returned, and polling that
queue from a batch callback did not deliver it on this stack either (see DESIGN.md). So Start
launches `train_run` in a thread and returns at once: the kernel stays free, Stop's handler runs
immediately and sets the `threading.Event` that `train_run` checks after every batch
(`StopOnEvent`), and the run is saved complete with status "stopped". Widget and FigureWidget
updates from that thread are sent over the kernel's IOPub channel, which accepts them from any
thread. The thread brings duties, handled here: one job at a time (a lock refuses a second, and
the panel disables its buttons), every exception raised in the thread is shown in the panel, and
nothing writes to an `Output` widget from the thread (no `with Output():` across threads).
"""

from __future__ import annotations

import html
import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any

import ipywidgets as widgets

from workbench.callbacks import EpochProgress, ProgressUpdate
from workbench.config import RunConfig
from workbench.errors import WorkbenchError
from workbench.panels.summaries import format_error, format_progress
from workbench.runs import Run

# The panel's log records keep the name they had before the panel became a package.
logger = logging.getLogger("workbench.panels")

# Jobs whose Stop drops a result instead of ending a run early.
QUICK_JOBS = ("rank", "diagnose")
THREAD_NAME = "workbench-training"


class Worker:
    """Runs the panel's jobs (a run, a sweep, a Rank, a diagnosis) one at a time in a thread.

    Owns the Stop button, the status line and the message area, where every error (from the
    thread or from a widget handler) is shown; `errors` keeps them, newest last.

    Args:
        set_running: called with True when a job starts and False when it ends (in the thread),
            to disable the buttons that would start another job.
        extra_callbacks: Keras callbacks added to every run. Defaults to none.
    """

    def __init__(self, set_running: Callable[[bool], None], extra_callbacks: Sequence[Any] = ()) -> None:
        self.set_running_hook = set_running
        self.extra_callbacks = list(extra_callbacks)
        self.errors: list[BaseException] = []
        self.stop_event = threading.Event()
        self.thread: threading.Thread | None = None
        self.kind: str | None = None
        self.description = ""
        self._lock = threading.Lock()
        self.stop_button = widgets.Button(description="Stop", icon="stop", button_style="danger", disabled=True,
                                          tooltip="Stop after the current batch; the run is kept, marked stopped")
        self.status = widgets.HTML(value="Ready.")
        self.message = widgets.HTML()
        self.stop_button.add_class("workbench-stop")
        self.status.add_class("workbench-status")
        self.message.add_class("workbench-message")

    @property
    def running(self) -> bool:
        """Whether a job is in progress in the worker thread."""
        return self._lock.locked()

    @property
    def sweeping(self) -> bool:
        """Whether the job in progress is a sweep."""
        return self.kind == "sweep"

    def show_error(self, error: BaseException, context: str = "") -> None:
        """Show an error in the message area (with its traceback unless it is a user error) and keep it."""
        self.errors.append(error)
        if not isinstance(error, WorkbenchError):
            logger.error("workbench panel: %s", context or "handler failed", exc_info=error)
        self.message.value = format_error(error, context)

    def busy_message(self) -> str:
        """Why another job cannot start now."""
        if self.kind in QUICK_JOBS:
            return f"{self.description.capitalize()} is in progress: wait a few seconds for it to finish."
        return "A run is already training: wait for it to finish, or press Stop first."

    def refuse_if_running(self) -> None:
        """Raise `WorkbenchError` (with `busy_message`) while a job is in progress."""
        if self.running:
            raise WorkbenchError(self.busy_message())

    def start(self, job: Callable[[threading.Event], None], description: str, kind: str = "train") -> None:
        """Run `job(stop_event)` in the worker thread: one job at a time, its errors shown in the panel.

        Args:
            job: the work; it should return soon after `stop_event` is set.
            description: what the job does, for the status line and error messages.
            kind: "train", "sweep", "rank" or "diagnose": words the Stop and "busy" messages.
                Defaults to "train".

        Raises:
            WorkbenchError: a job is already in progress.
        """
        if not self._lock.acquire(blocking=False):
            raise WorkbenchError(self.busy_message())
        try:
            self.stop_event = threading.Event()
            self.kind = kind
            self.description = description
            self.message.value = ""
            self._set_running(True)
            self.status.value = f"Starting {html.escape(description)}…"
            self.thread = threading.Thread(target=self._work, args=(job, self.stop_event, description),
                                           name=THREAD_NAME, daemon=True)
            self.thread.start()
        except BaseException:
            self._set_running(False)
            self.kind = None
            self._lock.release()
            raise

    def train(self, config: RunConfig, callbacks: Sequence[Any], description: str,
              on_done: Callable[[Run], None]) -> None:
        """Train one run in the worker thread, then hand it to `on_done` (in that thread)."""
        progress = self.progress(description)

        def job(stop_event: threading.Event) -> None:
            # Imported when the first run starts: building the panel needs no training code.
            from workbench.training import train_run

            run = train_run(config, callbacks=[*callbacks, progress, *self.extra_callbacks], stop_event=stop_event)
            on_done(run)

        self.start(job, description)

    def progress(self, description: str) -> EpochProgress:
        """The callback that writes "Training DESCRIPTION: epoch 3/10 · val acc 0.712 · 4 s" into the status line."""
        return EpochProgress(description, self._show_progress)

    def _show_progress(self, update: ProgressUpdate) -> None:
        # The outcome ("Finished: …") follows at once from the job itself.
        if not update.finished:
            self.show_status(format_progress(update))

    def show_status(self, text: str) -> None:
        """Write plain `text` into the status line, unless Stop was pressed (its message stays)."""
        if not self.stop_event.is_set():
            self.status.value = html.escape(text)

    def stop(self) -> None:
        """Ask the job to stop: a run after its current batch, a sweep also starts no further run."""
        self.stop_event.set()
        self.stop_button.disabled = True
        if not self.running:
            return
        if self.kind in QUICK_JOBS:
            self.status.value = (f"Stopping {html.escape(self.description)}: its result is dropped when "
                                 "the current computation returns…")
        else:
            self.status.value = ("Stopping the sweep after the current batch; no further run starts…"
                                 if self.sweeping else "Stopping after the current batch…")

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the current job's thread ends; return False if it is still running after `timeout`."""
        thread = self.thread
        if thread is not None:
            thread.join(timeout)
            return not thread.is_alive()
        return True

    def _set_running(self, running: bool) -> None:
        self.set_running_hook(running)
        self.stop_button.disabled = not running

    def _work(self, job: Callable[[threading.Event], None], stop_event: threading.Event, description: str) -> None:
        try:
            job(stop_event)
        except BaseException as error:  # noqa: BLE001 - shown in the panel; a thread has no caller
            self.show_error(error, context=f"{description} failed")
            self.status.value = "Failed: see the message below."
        finally:
            self._set_running(False)
            self.kind = None
            self._lock.release()
