"""What the panel sends to the frontend while its worker thread trains, recorded without a browser.

ipywidgets' own tests swap the kernel's comm for a dummy that keeps the messages a widget sends
(`ipywidgets/widgets/tests/utils.py`: `DummyComm`, `setup_test_comm`); this does the same through
`comm.create_comm`, which ipywidgets 8 calls for every widget it opens, and notes the thread each
message was sent from. In JupyterLab these messages travel over IOPub to the browser.
"""

from __future__ import annotations

import shutil
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import comm
import pytest

import workbench
from workbench.panels.worker import THREAD_NAME as WORKER_THREAD
from workbench.runs import load_run

RUN_TIMEOUT = 90


@dataclass(frozen=True)
class Sent:
    """One message a widget sent: which widget (its model id), from which thread, and its state."""

    model_id: str
    thread: str
    state: dict[str, Any]


class RecordingComm:
    """Stands in for the kernel's comm of one widget and records what the widget sends."""

    kernel = "Truthy"  # ipywidgets sends only through a comm that has a kernel

    def __init__(self, sent: list[Sent]) -> None:
        self.comm_id = uuid.uuid4().hex
        self.sent = sent

    def open(self, *args: Any, **kwargs: Any) -> None:
        pass

    def on_msg(self, *args: Any, **kwargs: Any) -> None:
        pass

    def close(self, *args: Any, **kwargs: Any) -> None:
        pass

    def send(self, data: dict[str, Any] | None = None, metadata: Any = None, buffers: Any = None) -> None:
        if (data or {}).get("method") == "update":
            self.sent.append(Sent(self.comm_id, threading.current_thread().name, dict(data["state"])))


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[Sent]:
    """Every widget created in the test gets a recording comm; the list fills as widgets send."""
    messages: list[Sent] = []
    monkeypatch.setattr(comm, "create_comm", lambda *args, **kwargs: RecordingComm(messages))
    return messages


@pytest.fixture
def source_runs_dir(source_run, runs_dir: Path) -> Path:
    shutil.copytree(source_run.path, runs_dir / "source")
    return runs_dir


def values_sent(messages: list[Sent], widget: Any, key: str, thread: str | None = None) -> list[Any]:
    """The values of `key` that `widget` sent, in order (only from `thread` when given)."""
    return [message.state[key] for message in messages
            if message.model_id == widget.model_id and key in message.state and thread in (None, message.thread)]


def test_a_run_started_with_start_sends_status_and_curves_from_the_worker_thread(
        sent: list[Sent], source_runs_dir: Path) -> None:
    panel = workbench.panel(runs_dir=source_runs_dir, epochs=1, per_class=5, task="mnist-5k:5-9")
    before_start = len(sent)
    panel.start_button.click()
    assert panel.wait(timeout=RUN_TIMEOUT) and panel.message.value == ""
    after_start = sent[before_start:]

    # Start disables itself from the kernel's thread; everything else comes from the worker.
    assert values_sent(after_start, panel.start_button, "disabled", threading.main_thread().name) == [True]
    statuses = values_sent(after_start, panel.status, "value", WORKER_THREAD)
    label = "parameter · 5/class · s0 · #1"
    assert statuses[0] == f"Training {label}: epoch 0/1"
    assert statuses[1].startswith(f"Training {label}: epoch 1/1 · train acc 0.") and " · val acc 0." in statuses[1]
    assert statuses[-1].startswith("<span class='workbench-outcome'>Finished: ")

    # The FigureWidget's plotly messages: four new traces, then one update with the epoch's points.
    added = [message for message in values_sent(after_start, panel.curves, "_py2js_addTraces", WORKER_THREAD)
             if message]
    names = [trace["name"] for message in added for trace in message["trace_data"]]
    assert len(names) == 4 and names == [trace.name for trace in panel.curves.data]
    assert all(name.startswith(label) for name in names)
    updates = [message for message in values_sent(after_start, panel.curves, "_py2js_update", WORKER_THREAD)
               if message]
    points = updates[-1]["style_data"]
    assert points["x"] == [[1.0]] * 4
    assert points["y"] == [[trace.y[0]] for trace in panel.curves.data]  # what the kernel holds is what was sent
    assert values_sent(after_start, panel.start_button, "disabled", WORKER_THREAD) == [False]
    assert values_sent(after_start, panel.stop_button, "disabled", WORKER_THREAD) == [True]


def test_stop_sent_while_the_worker_trains_ends_the_run_and_its_progress_messages(
        sent: list[Sent], source_runs_dir: Path) -> None:
    panel = workbench.panel(runs_dir=source_runs_dir, epochs=40, per_class=5, task="mnist-5k:5-9")
    panel.start_button.click()
    deadline = time.monotonic() + RUN_TIMEOUT
    while not any(" · val acc " in value for value in values_sent(sent, panel.status, "value", WORKER_THREAD)):
        assert time.monotonic() < deadline and panel.running, panel.message.value
        time.sleep(0.05)
    before_stop = len(sent)
    panel.stop_button.click()
    assert panel.wait(timeout=RUN_TIMEOUT)

    run = load_run(panel.last_run.path)
    assert run.status == "stopped" and run.metrics["epochs_completed"] < 40
    main = threading.main_thread().name
    assert values_sent(sent[before_stop:], panel.stop_button, "disabled", main) == [True]
    assert values_sent(sent[before_stop:], panel.status, "value", main) == ["Stopping after the current batch…"]
    stopping = next(index for index, message in enumerate(sent) if index >= before_stop and message.thread == main
                    and message.state.get("value") == "Stopping after the current batch…")
    after_stop = sent[stopping + 1:]
    # After Stop the worker sends no more epoch progress, only the outcome.
    worker_statuses = values_sent(after_stop, panel.status, "value", WORKER_THREAD)
    assert worker_statuses and not any(value.startswith("Training") for value in worker_statuses)
    assert worker_statuses[-1].startswith("<span class='workbench-outcome'>Stopped: ")
    assert values_sent(after_stop, panel.start_button, "disabled", WORKER_THREAD) == [False]
