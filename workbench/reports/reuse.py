"""Notebooks whose inputs did not change are not run again: their previous report is kept.

The run cache (`workbench.run_cache`) spares the training, but a notebook also starts a kernel,
imports TensorFlow and computes what is not a run (05's scores and CKA): seconds each, which a
regeneration with nothing changed should not spend. So, in the same output folder, a notebook's
previous report (executed notebook, HTML, `metrics.json`) is kept when all of these match what its
last successful run recorded in `index.json` (its `key`):

| input         | compared                                                                           |
|---------------|------------------------------------------------------------------------------------|
| the notebook  | its file's bytes                                                                   |
| parameters    | its final parameters (config, `--quick`, -f, -p)                                   |
| code          | every module of the `workbench` package (figures and text change a report too)     |
| versions      | Python and the packages that compute or render (`KEY_PACKAGES`)                    |
| data          | every parameter or literal notebook default naming a folder or file (a `folder:`   |
|               | task, `data_root`): its files' names, sizes and times (the output folder left out) |
| prerequisites | the keys of the notebooks in its `after` list, which must be kept too              |
| runs          | the run folders' state (run names, `model.keras` and `config.json` sizes and       |
|               | times) equals the state the last report left                                       |

Anything else, and `--no-cache` (`-p cache false`), runs the notebook; its runs may still come from
the run cache.
"""

from __future__ import annotations

import ast
import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from workbench.reports.execute import STATUS_OK, NotebookResult
from workbench.reports.index import VERSION_PACKAGES, package_versions
from workbench.reports.plan import (
    INDEX_JSON_FILE,
    MANAGED_PARAMETERS,
    METRICS_FILE,
    RUNS_FOLDER,
    NotebookPlan,
    ReportPlan,
    declared_parameters,
)

KEY_PACKAGES = ("scikit-learn", "scipy", "mlxtend", "pillow", "pandas")
FOLDER_TASK_PREFIX = "folder:"


def notebook_keys(plan: ReportPlan) -> dict[str, str]:
    """Each notebook's input key (hex): what its report depends on, its prerequisites' keys included.

    Args:
        plan: the checked plan (notebooks in dependency order).
    """
    shared = {"code": package_fingerprint(), "versions": package_versions((*VERSION_PACKAGES, *KEY_PACKAGES)),
              "kernel": plan.kernel}
    keys: dict[str, str] = {}
    for notebook in plan.notebooks:  # dependency order: prerequisites first
        parts = {**shared, "notebook": _file_hash(notebook.source), "parameters": notebook.parameters,
                 "data": _named_files_state({**_defaults(notebook), **notebook.parameters}, plan.output_dir),
                 "after": [keys.get(name, "") for name in notebook.after]}
        keys[notebook.name] = hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:24]
    return keys


def runs_state(plan: ReportPlan) -> str:
    """A hash of the notebooks' run folders: run names with the sizes and times of their `model.keras`
    and `config.json` (a run trained, replaced or deleted changes it; a run reused in place does not)."""
    folders = sorted({str(notebook.parameters.get("runs_dir") or plan.output_dir / RUNS_FOLDER)
                      for notebook in plan.notebooks})
    entries = []
    for folder in folders:
        root = Path(folder)
        if not root.is_dir():
            continue
        for run in sorted(root.iterdir()):
            if run.name.startswith(".") or not run.is_dir():
                continue
            entries.append([folder, run.name, *(_stat(run / name) for name in ("model.keras", "config.json"))])
    return hashlib.sha256(json.dumps(entries).encode()).hexdigest()[:24]


def reusable_results(plan: ReportPlan, keys: Mapping[str, str], state: str) -> dict[str, NotebookResult]:
    """The notebooks whose previous report in the output folder can stand: same key, same runs state,
    finished ok, files still there, prerequisites kept too.

    Args:
        plan: the checked plan.
        keys: `notebook_keys(plan)`.
        state: `runs_state(plan)` now, before anything runs.

    Returns:
        name → the previous result, marked `reused`, for each notebook that need not run.
    """
    if not plan.cache:
        return {}
    try:
        previous = json.loads((plan.output_dir / INDEX_JSON_FILE).read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(previous, dict) or previous.get("runs_state") != state:
        return {}
    entries = {str(entry.get("name")): entry for entry in previous.get("reports") or [] if isinstance(entry, dict)}
    kept: dict[str, NotebookResult] = {}
    for notebook in plan.notebooks:
        entry = entries.get(notebook.name)
        if entry is None or not all(name in kept for name in notebook.after):
            continue
        result = _previous_result(notebook, entry, keys[notebook.name], str(previous.get("generated") or ""))
        if result is not None:
            kept[notebook.name] = result
    return kept


def package_fingerprint() -> str:
    """sha256 (hex, 16 digits) of every module of the `workbench` package."""
    package = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        digest.update(str(path.relative_to(package)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def describe_reuse(results: Sequence[NotebookResult]) -> str:
    """"Notebooks: 5 of 5 kept from the previous report (inputs unchanged)", or "" when none was."""
    kept = [result for result in results if result.reused]
    if not kept:
        return ""
    return (f"Notebooks: {len(kept)} of {len(results)} kept from the previous report in this folder (inputs "
            f"unchanged: {', '.join(result.name for result in kept)}); --no-cache runs them again.")


def _previous_result(notebook: NotebookPlan, entry: Mapping[str, Any], key: str,
                     generated: str) -> NotebookResult | None:
    if entry.get("status") != STATUS_OK or entry.get("key") != key:
        return None
    files = {kind: Path(str(path)).name for kind, path in (entry.get("files") or {}).items()}
    if not files.get("html") or not all((notebook.folder / name).is_file() for name in files.values()):
        return None
    try:
        metrics = json.loads((notebook.folder / METRICS_FILE).read_text()) if "metrics" in files else {}
    except (OSError, ValueError):
        return None
    reused = {"generated": generated, "seconds": entry.get("seconds")}
    return NotebookResult(notebook.name, notebook.title, STATUS_OK, float(entry.get("seconds") or 0.0),
                          dict(notebook.parameters), metrics=metrics, files=files, reused=reused)


def _defaults(notebook: NotebookPlan) -> dict[str, Any]:
    """The notebook's own parameter defaults that are plain literals (a folder named there counts too)."""
    values = {}
    for name, text in declared_parameters(notebook.source).items():
        try:
            values[name] = ast.literal_eval(str(text))
        except (ValueError, SyntaxError):
            continue
    return values


def _named_files_state(parameters: Mapping[str, Any], output_dir: Path) -> list[Any]:
    """Names, sizes and modification times of the files under every folder or file a parameter names
    (the report's own output folder left out: the reports change it)."""
    state = []
    for name, value in sorted(parameters.items()):
        if name in MANAGED_PARAMETERS or name == "runs_dir" or not isinstance(value, str):
            continue
        text = value[len(FOLDER_TASK_PREFIX):] if value.startswith(FOLDER_TASK_PREFIX) else value
        candidates = [text, text.rsplit(":", 1)[0]] if ":" in text else [text]
        path = next((Path(item).expanduser() for item in candidates if item and Path(item).expanduser().exists()), None)
        if path is None:
            continue
        files = [path] if path.is_file() else sorted(item for item in path.rglob("*")
                                                     if item.is_file() and not item.is_relative_to(output_dir))
        state.append([name, [[str(item.relative_to(path) if item != path else item.name), *_stat(item)]
                             for item in files]])
    return state


def _stat(path: Path) -> list[int]:
    try:
        status = path.stat()
    except OSError:
        return [-1, -1]
    return [status.st_size, status.st_mtime_ns]


def _file_hash(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    except OSError:
        return "missing"
