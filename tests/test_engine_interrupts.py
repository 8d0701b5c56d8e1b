"""Ctrl-C during a Dask study: the first one becomes a flag the collecting loop reads (no exception
raised inside Dask's client code), a second one raises as usual, and Python's handler comes back."""

from __future__ import annotations

import os
import signal
import threading

import pytest
from interrupt_helpers import python_sigint_handler

from workbench.engine import _mirror_stop, interrupt_as_flag


@pytest.fixture(autouse=True)
def plain_python_sigint():
    """SIGINT as a terminal's `python` has it (a pytest-xdist worker may run with it ignored)."""
    with python_sigint_handler():
        yield


def test_the_first_ctrl_c_sets_the_flag_and_the_second_raises() -> None:
    with interrupt_as_flag() as interrupted:
        os.kill(os.getpid(), signal.SIGINT)
        assert interrupted.wait(5)  # the handler ran: no KeyboardInterrupt reached this line
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
            threading.Event().wait(5)  # the signal is handled at the next bytecode
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_outside_the_main_thread_ctrl_c_is_left_to_python() -> None:
    seen = {}

    def body() -> None:
        with interrupt_as_flag() as interrupted:
            seen["handler"] = signal.getsignal(signal.SIGINT)
            seen["flag"] = interrupted.is_set()

    thread = threading.Thread(target=body)
    thread.start()
    thread.join()
    assert seen == {"handler": signal.default_int_handler, "flag": False}


def test_a_host_that_installed_its_own_handler_keeps_it() -> None:
    def own(signum, frame) -> None:  # e.g. a notebook kernel's interrupt handling
        pass

    previous = signal.signal(signal.SIGINT, own)
    try:
        with interrupt_as_flag():
            assert signal.getsignal(signal.SIGINT) is own
        assert signal.getsignal(signal.SIGINT) is own
    finally:
        signal.signal(signal.SIGINT, previous)


class FlakyStopFlag:
    """A Dask Event whose first waits fail, as they can while the scheduler is slow to answer."""

    def __init__(self, failures: int) -> None:
        self.failures, self.calls = failures, 0
        self.flag = threading.Event()

    def wait(self, timeout: float) -> bool:
        self.calls += 1
        if self.calls <= self.failures:
            raise OSError("Timed out trying to connect")
        return self.flag.wait(timeout)


def test_the_stop_mirror_keeps_asking_after_a_failed_wait(monkeypatch) -> None:
    monkeypatch.setattr("workbench.engine.STOP_RETRY_SECONDS", 0.01)
    remote, local = FlakyStopFlag(failures=3), threading.Event()
    watcher = threading.Thread(target=_mirror_stop, args=(remote, local), daemon=True)
    watcher.start()
    remote.flag.set()  # Stop, after the scheduler's first answers were lost
    assert local.wait(10), "the stop never reached the run"
    watcher.join(5)
    assert not watcher.is_alive() and remote.calls > 3
