"""Tests for `workbench.reports.kernel`: the kernel spec supplied when missing, and a worker that
gives up waiting for its turn when the runner stops."""

from __future__ import annotations

import json
import os
import shutil
import sys
import threading
import time
from pathlib import Path

import pytest

from workbench import reports
from workbench.reports import ReportError
from workbench.reports.kernel import wait_for_go


def test_missing_default_kernel_is_provided_for_this_interpreter(monkeypatch):
    from jupyter_client.kernelspec import KernelSpecManager

    monkeypatch.setattr(KernelSpecManager, "find_kernel_specs", lambda self: {})
    monkeypatch.setenv("JUPYTER_PATH", "")
    choice = reports.resolve_kernel("workbench")
    assert choice.name == "workbench" and "not installed" in choice.note
    folder = Path(os.environ["JUPYTER_PATH"].split(os.pathsep)[0])
    assert folder == choice.provided_dir
    spec = json.loads((folder / "kernels" / "workbench" / "kernel.json").read_text())
    assert spec["argv"][0] == sys.executable
    choice.release()
    assert not folder.exists() and os.environ["JUPYTER_PATH"] == ""
    with pytest.raises(ReportError, match="not installed"):
        reports.resolve_kernel("some-other-kernel")


def test_a_worker_waiting_for_its_turn_gives_up_when_the_runner_removes_the_go_folder(tmp_path):
    signals = tmp_path / "signals"
    signals.mkdir()
    outcome: dict = {}

    def wait(name: str) -> None:
        try:
            wait_for_go(signals / f"{name}.go")
            outcome[name] = "go"
        except RuntimeError as error:
            outcome[name] = str(error)

    first = threading.Thread(target=wait, args=("first",))
    first.start()
    (signals / "first.go").touch()
    first.join(timeout=10)
    assert outcome["first"] == "go"
    second = threading.Thread(target=wait, args=("second",))
    second.start()
    time.sleep(0.3)
    assert second.is_alive()  # still waiting for its turn
    shutil.rmtree(signals)  # what run_notebooks does when it stops early
    second.join(timeout=10)
    assert not second.is_alive() and "stopped before this notebook's turn" in outcome["second"]


def test_report_kernels_start_with_tensorflow_quiet_and_their_output_in_the_log(tmp_path, monkeypatch):
    import asyncio

    from jupyter_client.manager import AsyncKernelManager

    from workbench.fast_start import QUIET_TENSORFLOW_LOG_LEVEL as QUIET
    from workbench.reports.kernel import KernelLogManager, kernel_log_config

    launched: list[dict] = []

    async def launch(self, kernel_cmd, **options) -> None:
        launched.append(options)

    monkeypatch.setattr(AsyncKernelManager, "_async_launch_kernel", launch)
    log = tmp_path / "kernel.log"
    # The way papermill builds it: the class plus the client's config.
    manager = KernelLogManager(kernel_name="workbench", config=kernel_log_config(log))
    assert manager.log_path == str(log)
    asyncio.run(manager._async_launch_kernel(["python"], env={"PATH": "/bin"}))
    asyncio.run(manager._async_launch_kernel(["python"], env={"TF_CPP_MIN_LOG_LEVEL": "0"}))
    assert launched[0]["env"] == {"PATH": "/bin", "TF_CPP_MIN_LOG_LEVEL": QUIET}
    assert launched[1]["env"]["TF_CPP_MIN_LOG_LEVEL"] == "0"  # a level the user chose wins
    assert launched[0]["stdout"].name == str(log) and launched[0]["stderr"].name == str(log) and log.is_file()
    asyncio.run(KernelLogManager(kernel_name="workbench")._async_launch_kernel(["python"], env={}))
    assert "stdout" not in launched[2] and launched[2]["env"] == {"TF_CPP_MIN_LOG_LEVEL": QUIET}
