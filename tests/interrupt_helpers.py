"""Ctrl-C in tests: interrupt a run mid-epoch in this process, start a command as a terminal
would, and wait for it after the signal.

A process inherits an *ignored* SIGINT, and Python then leaves it ignored (as for a job started
in the background). Test workers can run with SIGINT ignored (pytest-xdist), so a command they
start would never see the test's Ctrl-C: `start_as_in_a_terminal` starts it with SIGINT at its
default instead.
"""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import keras


class InterruptInSecondEpoch(keras.callbacks.Callback):
    """Interrupts training (like Ctrl-C) at batch `batch` of the second epoch."""

    def __init__(self, batch: int) -> None:
        super().__init__()
        self.batch = batch

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.epoch = epoch

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if self.epoch == 1 and batch == self.batch:
            raise KeyboardInterrupt


@contextmanager
def python_sigint_handler() -> Iterator[None]:
    """SIGINT handled as in a plain `python` (KeyboardInterrupt) while inside; then as before."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def start_as_in_a_terminal(command: list[str], **options: Any) -> subprocess.Popen:
    """`subprocess.Popen(command, **options)`, the command starting with SIGINT at its default.

    A handler set in this process is reset to the default in the new program (only an ignored
    signal carries over), so none of this test process's handling reaches the command.
    """
    with python_sigint_handler():
        return subprocess.Popen(command, **options)


def output_after_interrupt(process: subprocess.Popen, timeout: float) -> str:
    """The command's stderr once it exits; an AssertionError with its last lines if it is still running."""
    try:
        return process.communicate(timeout=timeout)[1]
    except subprocess.TimeoutExpired as expired:
        error = expired.stderr.decode(errors="replace") if isinstance(expired.stderr, bytes) else expired.stderr
        raise AssertionError(f"still running {timeout:.0f} s after Ctrl-C; the end of its stderr:\n"
                             f"{(error or '')[-3000:]}") from None
