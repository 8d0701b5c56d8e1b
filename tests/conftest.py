"""Shared fixtures: a small source run trained once per test session, and browser discovery; the
quick report set starts building in the background as soon as a test that needs it is collected."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import pytest

from workbench.fast_start import quiet_tensorflow_logs, skip_slow_optional_imports  # noqa: E402

quiet_tensorflow_logs()  # CI logs without TensorFlow's C++ start-up lines, as the CLI prints none
skip_slow_optional_imports()  # as in the workbench's own processes: 3-4 s of lark parsers per worker
# Decoded image folders (`workbench.data.decoded_cache`) go to a folder of this test session, never
# to the user's ~/.cache; subprocesses (the CLI, kernels, workers) inherit it. The process that
# makes it removes it at exit. Under pytest-xdist the controller makes it before it starts the
# workers, which inherit and share it: cifar10-mini is then decoded once per session (~17 s of
# PNG decoding), not once per worker (writes are atomic, `decoded_cache.write_cached`).
SESSION_CACHE_VARIABLE = "WORKBENCH_TEST_SESSION_CACHE_DIR"
if not os.path.isdir(os.environ.get(SESSION_CACHE_VARIABLE, "")):
    os.environ[SESSION_CACHE_VARIABLE] = tempfile.mkdtemp(prefix="workbench-test-cache-")
    atexit.register(shutil.rmtree, os.environ[SESSION_CACHE_VARIABLE], ignore_errors=True)
os.environ["WORKBENCH_CACHE_DIR"] = os.environ[SESSION_CACHE_VARIABLE]

SHARED_CIFAR10_MINI = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "cifar10-mini"


@pytest.fixture(scope="session")
def source_run(tmp_path_factory: pytest.TempPathFactory):
    """A seed CNN pretrained on mnist-5k digits 0-4 (small budget, 2 epochs: a few seconds)."""
    import workbench

    runs_dir = tmp_path_factory.mktemp("source-runs")
    return workbench.pretrain(task="mnist-5k:0-4", per_class=100, epochs=2, name="source",
                              runs_dir=str(runs_dir), seed=0)


@pytest.fixture(scope="session")
def embedded_dask_cluster():
    """An embedded two-worker cluster, started once per session: `workbench.cluster`'s own LocalCluster.

    It is what `-j 2` starts (one thread per worker, the same worker environment), so a study sent
    to it trains as under `-j 2` without two more TensorFlow processes starting for every test
    (tens of seconds on two cores). `test_engine.py` lends it to `jobs=2` in-process, and starts
    `-j 2` itself from the command line with Ctrl-C. Its tests are marked
    `xdist_group("multiprocess")`, so under `make test` (`--dist loadgroup`) they run on one
    worker and share one cluster.
    """
    from workbench.cluster import _start_local_cluster

    cluster = _start_local_cluster(2)
    try:
        yield cluster
    finally:
        cluster.close(timeout=30)


@pytest.fixture(scope="session")
def local_dask_cluster(embedded_dask_cluster) -> str:
    """The scheduler address of `embedded_dask_cluster`, for studies sent there with `cluster=ADDRESS`."""
    return embedded_dask_cluster.scheduler_address


@pytest.fixture
def runs_dir(tmp_path: Path) -> Path:
    """An empty runs folder for one test."""
    path = tmp_path / "runs"
    path.mkdir()
    return path


@pytest.fixture(scope="session")
def cifar10_mini() -> Path:
    """../shared/data/cifar10-mini, or a skip where this checkout has no ../shared beside it."""
    if not SHARED_CIFAR10_MINI.is_dir():
        pytest.skip(f"{SHARED_CIFAR10_MINI} is absent (only present with ../shared beside the checkout)")
    # Resolved: runs store data_root with symlinks followed, and ../shared may be a link.
    return SHARED_CIFAR10_MINI.resolve()


@pytest.fixture(scope="session")
def chromium_executable() -> str:
    """Debian's Chromium for browser tests, or a skip that says how to install it."""
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        pytest.skip("Chromium is not installed: `apt-get install chromium` (.ci/run does this) to run browser tests")
    return path


@pytest.fixture(scope="session")
def chromium_arguments() -> list[str]:
    """Flags for headless Chromium on a machine with no network and, often, running as root."""
    return ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync"]


# trylast: after `-m` / `-k` have deselected, so that `pytest -m serial` (which selects no report
# test) does not start a two-notebooks-at-a-time build that would starve the browser test.
@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Start the quick report set now and run its tests last, so it builds while the others run."""
    from report_helpers import QUICK_REPORTS_FIXTURE, start_quick_reports

    _apply_xdist_groups(items)
    needing = [item for item in items if QUICK_REPORTS_FIXTURE in getattr(item, "fixturenames", ())]
    if not needing or config.option.collectonly:
        return
    start_quick_reports(config._tmp_path_factory)  # pytest's own factory: the same base folder as tmp_path
    others = [item for item in items if QUICK_REPORTS_FIXTURE not in getattr(item, "fixturenames", ())]
    items[:] = others + needing


def _apply_xdist_groups(items: list[pytest.Item]) -> None:
    """Make `--dist loadgroup` group again: the tests marked `xdist_group` run on one worker.

    pytest-xdist 3.8 groups a test by appending "@GROUP" to `item._nodeid` in each worker, but
    pytest 9 reads a node's id from `item._id`, so the suffix never reaches the scheduler and every
    marked test is scheduled on its own. The suffixed id is copied across here (after xdist's own
    hook: this one is `trylast`). Where either side changes, grouping silently stops and the tests
    are simply spread as under `--dist load`.
    """
    try:
        from _pytest.nodes import coerce_node_id
    except ImportError:
        return
    for item in items:
        grouped = item.__dict__.get("_nodeid")
        if isinstance(grouped, str) and "@" in grouped and grouped != item.nodeid and hasattr(item, "_id"):
            item._id = coerce_node_id(grouped)


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Stop a quick report build that is still running when the session ends (e.g. after `-x`)."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        return  # the other worker may still wait for it: the controller stops it after both
    from report_helpers import stop_quick_reports

    stop_quick_reports(session.config._tmp_path_factory)
