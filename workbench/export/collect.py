"""The runs an export covers: every complete run directory under a folder, each with a stable name.

`workbench export tensorboard runs` and `workbench export mlflow reports` take a folder of runs. It
may be a flat runs folder (`runs/source`, `runs/cmp-parameter-s0`), a report output whose
notebooks each keep their runs (`reports/02_transfer_modes/runs/...`), or one run directory. A
run's name is its path below that folder, so the names stay unique and mean the same in every
tracker.
"""

from __future__ import annotations

import datetime
import hashlib
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workbench.errors import ExportError, SourceRunError
from workbench.formatting import to_float
from workbench.runs import TEMPORARY_PREFIX, Run, load_run


@dataclass(frozen=True)
class NamedRun:
    """A run found under the exported folder.

    Args:
        name: its path below that folder, with "/" between parts (e.g. "source" or
            "02_transfer_modes/runs/compare-parameter-s0"); the folder's own name for a single run.
        run: the run, read back from its directory.
    """

    name: str
    run: Run


def collect_runs(runs_dir: str | os.PathLike[str]) -> list[NamedRun]:
    """Every complete run directory under `runs_dir` (or `runs_dir` itself when it is one), by name.

    Temporary folders of runs still training (or killed) are skipped, and so is everything inside
    a run directory.

    Args:
        runs_dir: a folder of run directories, at any depth, or one run directory.

    Returns:
        The runs, sorted by name.

    Raises:
        ExportError: when the folder does not exist, is a file, or holds no complete run.
    """
    root = Path(runs_dir).expanduser()
    fix = ("Pass a folder of run directories, e.g. `runs` (where `workbench pretrain` and `workbench transfer` "
           "write) or `reports` (the report set keeps each notebook's runs there).")
    if not root.exists():
        raise ExportError(f"RUNS_DIR {str(runs_dir)!r} does not exist. {fix}")
    if not root.is_dir():
        raise ExportError(f"RUNS_DIR {str(runs_dir)!r} is a file, not a folder. {fix}")
    if (root / "config.json").is_file():
        return [NamedRun(root.resolve().name, load_run(root))]
    found = []
    for folder, subfolders, files in os.walk(root):
        subfolders[:] = sorted(name for name in subfolders if not name.startswith((".", TEMPORARY_PREFIX)))
        if "config.json" not in files:
            continue
        subfolders[:] = []  # a run's own folders (checkpoints, assets) hold no runs
        try:
            run = load_run(Path(folder))
        except (SourceRunError, ValueError, OSError):
            continue  # incomplete: still being written, or damaged
        found.append(NamedRun(Path(folder).relative_to(root).as_posix(), run))
    if not found:
        raise ExportError(f"RUNS_DIR {str(runs_dir)!r} holds no complete run directory (a folder with config.json, "
                          f"history.csv, metrics.json and manifest.json). {fix}")
    return sorted(found, key=lambda named: named.name)


FINGERPRINT_FILES = ("config.json", "history.csv", "metrics.json")


def run_fingerprint(run: Run) -> str:
    """A short hash of what a run is: its config, history and metrics files, and when it was made.

    The same run exported twice has the same fingerprint, wherever it is; a run trained again under
    the same name (with `--overwrite`) has another.

    Args:
        run: the run.

    Returns:
        16 hexadecimal digits.
    """
    digest = hashlib.sha256()
    for name in FINGERPRINT_FILES:
        digest.update(name.encode())
        digest.update((run.path / name).read_bytes())
    digest.update(str(run.manifest.get("created", "")).encode())
    return digest.hexdigest()[:16]


def measurement(value: Any) -> float | None:
    """A metric value for a tracker: a finite float, or None for a missing, NaN or infinite one
    (left out of the export rather than written as NaN).

    Args:
        value: a number from a run's history or metrics, or None.
    """
    number = to_float(value, finite=True)
    return None if math.isnan(number) else number


def created_seconds(run: Run) -> float | None:
    """When a run was made (its manifest's `created`), in seconds since the epoch; None if unknown.

    Args:
        run: the run.
    """
    created = run.manifest.get("created")
    try:
        return datetime.datetime.fromisoformat(str(created)).timestamp() if created else None
    except ValueError:
        return None
