"""The kernel the notebooks run on: which one, where its output goes, and starting it ahead of time.

`resolve_kernel` makes sure the named kernel exists. `KernelLogManager` starts every report
kernel with its stdout and stderr in the notebook's `kernel.log` and TensorFlow's C++ start-up
notices turned off. With `-j N` a report worker takes a notebook before the notebooks it runs
`after` have finished, starts its kernel, runs the report set's `warm_up` code in it (silently, in
a namespace of its own: no output, no names, no history, no execution count), and waits for its go
file (`wait_for_go`), which the runner creates once the notebook may run. papermill then executes
the notebook in that kernel (`km=`), exactly as in a cold one: the warm-up only imports modules.

No widget or TensorFlow import here.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jupyter_client.manager import AsyncKernelManager
from traitlets import Unicode
from traitlets.config import Config

from workbench.errors import ReportError
from workbench.fast_start import QUIET_TENSORFLOW_LOG_LEVEL, TENSORFLOW_LOG_LEVEL_VARIABLE
from workbench.reports.plan import DEFAULT_KERNEL

logger = logging.getLogger(__name__)

KERNEL_START_TIMEOUT = 120
GO_POLL_SECONDS = 0.1


@dataclass
class KernelChoice:
    """The kernel notebooks run on; `provided_dir` is set when the runner had to supply its spec."""

    name: str
    note: str | None = None
    provided_dir: Path | None = None
    previous_jupyter_path: str | None = None

    def release(self) -> None:
        """Remove a supplied kernel spec again and restore `JUPYTER_PATH`."""
        if self.provided_dir is None:
            return
        shutil.rmtree(self.provided_dir, ignore_errors=True)
        if self.previous_jupyter_path is None:
            os.environ.pop("JUPYTER_PATH", None)
        else:
            os.environ["JUPYTER_PATH"] = self.previous_jupyter_path
        self.provided_dir = None


def resolve_kernel(name: str) -> KernelChoice:
    """Make sure kernel `name` exists; provide the default one for this interpreter if it does not.

    `make setup` installs the "workbench" kernel into the virtual environment. Where it is
    missing (a plain `pip install`), a kernel spec of the same name that runs this very
    interpreter is written to a temporary folder and put on `JUPYTER_PATH`, so papermill still
    runs an explicit, known kernel rather than whatever "python3" happens to be.

    Returns:
        The kernel, with a note for the log and index when its spec had to be supplied; call
        `.release()` once the notebooks have run.

    Raises:
        ReportError: for an unknown kernel other than the default one.
    """
    from jupyter_client.kernelspec import KernelSpecManager

    available = KernelSpecManager().find_kernel_specs()
    if name in available:
        return KernelChoice(name)
    if name != DEFAULT_KERNEL:
        raise ReportError(
            f"Jupyter kernel {name!r} is not installed. Installed kernels: {', '.join(sorted(available)) or 'none'}. "
            f"Pass --kernel {DEFAULT_KERNEL} (run `make setup` to install it) or one of those."
        )
    folder = Path(tempfile.mkdtemp(prefix="workbench-kernel-"))
    spec_dir = folder / "kernels" / name
    spec_dir.mkdir(parents=True)
    spec = {"argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": "Python (workbench)", "language": "python"}
    (spec_dir / "kernel.json").write_text(json.dumps(spec, indent=1))
    previous = os.environ.get("JUPYTER_PATH")
    # Worker processes (-j N) inherit the environment, so they find the spec too.
    os.environ["JUPYTER_PATH"] = os.pathsep.join(filter(None, [str(folder), previous]))
    note = (f"kernel {name!r} is not installed (`make setup` installs it); using this interpreter, "
            f"{sys.executable}, under that name")
    return KernelChoice(name, note, folder, previous)


class KernelLogManager(AsyncKernelManager):
    """Starts each kernel with its own stdout and stderr going to the notebook's `kernel.log`.

    ipykernel echoes what it captures at the file-descriptor level (TensorFlow's C++ start-up
    lines, its own transport warnings) to the process's original streams; the notebook's outputs
    already hold those lines, so the terminal would show each twice and without the notebook's
    name. The log keeps them for a kernel that dies before it can report anything.

    Example:
        `KernelLogManager(kernel_name="workbench", log_path="out/01/kernel.log")`, or for a kernel
        papermill starts itself, `config=kernel_log_config(path)` beside
        `kernel_manager_class=KernelLogManager`.
    """

    log_path = Unicode("", config=True, help="File that receives the kernel's stdout and stderr; '' leaves them.")

    async def _async_launch_kernel(self, kernel_cmd: list[str], **kw: Any) -> None:
        environment = kw.get("env")
        if isinstance(environment, dict):
            # The kernel's own copy of the environment: a level the user set still wins.
            environment.setdefault(TENSORFLOW_LOG_LEVEL_VARIABLE, QUIET_TENSORFLOW_LOG_LEVEL)
        if not self.log_path:
            return await super()._async_launch_kernel(kernel_cmd, **kw)
        with open(self.log_path, "ab") as log:
            kw.setdefault("stdout", log)
            kw.setdefault("stderr", log)
            return await super()._async_launch_kernel(kernel_cmd, **kw)


def kernel_log_config(log_path: Path) -> Config:
    """The traitlets config that sends the kernels papermill starts to `log_path`.

    papermill creates its kernel manager itself (from `kernel_manager_class`) and hands it only the
    client's config, so the log path has to travel there.
    """
    return Config({KernelLogManager.__name__: {"log_path": str(log_path)}})


def start_warm_kernel(manager: AsyncKernelManager, cwd: str, warm_up: str, timeout: float) -> Any | None:
    """Start the kernel of `manager` in `cwd` and run `warm_up` in it; None where that fails.

    A kernel that does not start or whose warm-up raises is shut down again: the notebook then
    starts its own kernel, as without warming, and meets the same problem in a cell, where the
    report shows it.

    Returns:
        The started kernel manager, for papermill's `km=`.
    """
    from jupyter_core.utils import run_sync

    try:
        # nbclient would pass the same: no history database shared between kernels.
        run_sync(manager.start_kernel)(cwd=cwd, extra_arguments=["--HistoryManager.hist_file=:memory:"])
        if warm_up.strip():
            _run_warm_up(manager, warm_up, timeout)
        return manager
    except Exception as error:  # noqa: BLE001 - the notebook falls back to a kernel of its own
        logger.debug("warming kernel %s failed (%s); the notebook starts its own", manager.kernel_name, error)
        stop_kernel(manager)
        return None


def _run_warm_up(manager: AsyncKernelManager, warm_up: str, timeout: float) -> None:
    from jupyter_core.utils import run_sync

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
