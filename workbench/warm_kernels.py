"""Kernels started ahead of their notebook's turn, so that a report's notebooks start warm.

Most of a short report notebook's fixed cost is its kernel: the process starts, then the first
cells import TensorFlow (5–8 s on two cores). With `-j N` a report worker takes a notebook before
the notebooks it runs `after` have finished, starts its kernel, runs the report set's `warm_up`
code in it (silently, in a namespace of its own: no output, no names, no history, no execution
count), and waits for its go file, which the runner creates once the notebook may run. papermill
then executes the notebook in that kernel (`km=`), exactly as in a cold one: the warm-up only
imports modules.

Used by `workbench.reports`; no widget or TensorFlow import here.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

logger = logging.getLogger("workbench.reports")

GO_POLL_SECONDS = 0.1


def start_warm_kernel(kernel_manager_class: type, kernel: str, cwd: str, warm_up: str, timeout: float) -> Any | None:
    """Start kernel `kernel` in `cwd` and run `warm_up` in it; None where that fails.

    A kernel that does not start or whose warm-up raises is shut down again: the notebook then
    starts its own kernel, as without warming, and meets the same problem in a cell, where the
    report shows it.

    Returns:
        The started kernel manager (an `AsyncKernelManager`), for papermill's `km=`.
    """
    from jupyter_core.utils import run_sync

    manager = kernel_manager_class(kernel_name=kernel)
    try:
        # nbclient would pass the same: no history database shared between kernels.
        run_sync(manager.start_kernel)(cwd=cwd, extra_arguments=["--HistoryManager.hist_file=:memory:"])
        if warm_up.strip():
            client = manager.client()
            client.start_channels()
            try:
                run_sync(client.wait_for_ready)(timeout=timeout)
                # In a namespace of its own: the notebook must not find names it did not define.
                request = client.execute(f"exec(compile({warm_up!r}, '<warm-up>', 'exec'), {{}})", silent=True,
                                         store_history=False, allow_stdin=False)
                reply = _reply_to(client, request, timeout)
            finally:
                client.stop_channels()
            if reply["content"].get("status") != "ok":
                raise RuntimeError(f"{reply['content'].get('ename')}: {reply['content'].get('evalue')}")
        return manager
    except Exception as error:  # noqa: BLE001 - the notebook falls back to a kernel of its own
        logger.debug("warming kernel %s failed (%s); the notebook starts its own", kernel, error)
        stop_kernel(manager)
        return None


def _reply_to(client: Any, request: str, timeout: float) -> dict[str, Any]:
    from jupyter_core.utils import run_sync

    deadline = time.monotonic() + timeout
    while True:
        reply = run_sync(client.get_shell_msg)(timeout=max(0.1, deadline - time.monotonic()))
        if reply["parent_header"].get("msg_id") == request:
            return reply


def stop_kernel(manager: Any) -> None:
    """Shut a warm kernel down (after its notebook, or after a failed warm-up); never raises."""
    from jupyter_core.utils import run_sync

    try:
        if manager.has_kernel:
            run_sync(manager.shutdown_kernel)(now=False)
    except Exception as error:  # noqa: BLE001 - a kernel that is already gone is fine
        logger.debug("shutting a warm kernel down: %s", error)


def wait_for_go(go_file: Path) -> None:
    """Block until the runner creates `go_file`.

    Raises:
        RuntimeError: when the runner is gone or gave up (it removes the folder of go files
            when it stops early, so that no worker waits for a turn that will not come).
    """
    parent = os.getppid()
    while not go_file.exists():
        if os.getppid() != parent or not go_file.parent.is_dir():
            raise RuntimeError("the report run stopped before this notebook's turn")
        time.sleep(GO_POLL_SECONDS)
