"""The run cache: reuse a finished run instead of training it again.

`train_run` asks here first (`reuse_cached_run`), and every run it trains records in its manifest
what it was trained from (`manifest_record`). A finished run in the same `runs_dir` is reused when
everything that decides its numbers matches:

| part     | what is compared                                              | why                               |
|----------|---------------------------------------------------------------|-----------------------------------|
| config   | every `RunConfig` field but name, runs_dir, overwrite, cache,  | the settings                      |
|          | source; for transfer runs also model, weights, input_shape     |                                   |
|          | (the source model decides those)                               |                                   |
| source   | sha256 of the source run's `model.keras` (transfer runs)       | a source trained again            |
|          |                                                               | invalidates what was made from it |
| data     | the task's data fingerprint (`TaskData.fingerprint`, the one   | a changed dataset (a folder with  |
|          | the manifest records): every image and label of every split    | new images)                       |
| versions | tensorflow, keras, numpy                                       | a release can change the numbers  |
| code     | sha256 of the engine modules' source (`ENGINE_MODULES`)        | see below                         |

Why a code fingerprint rather than workbench's version: the version (0.1.0) is not bumped when the
engine changes, and engine changes do change numbers (a new head initialisation, another shuffle).
Hashing the modules on the path config → data → model → transfer → training catches every such
change; the price is that editing a comment there retrains too, which costs time, never a wrong number.
The source fingerprint hashes the file's bytes, which include Keras' save date: a source trained
again invalidates its dependants even if its weights came out the same.

Where the match is the requested run itself (a report regenerated into the same folder, with
`overwrite`), nothing is written but the manifest's `cache.reused` entry. A match under another
name is copied, not linked: run directories are deleted and replaced independently (`--overwrite`,
a report regeneration), which would leave a symlink dangling. Only `model.keras`, the large file, is
hard-linked where the file system allows it: run files are never rewritten in place (a run is
replaced whole, by a rename), so the two names cannot diverge.

Never reused: stopped or failed runs, runs trained before the cache existed (no `cache` entry in
their manifest), and multi-worker runs (every worker would have to decide alike). Off: `cache=False`
(`--no-cache`, `-p cache false`), or `WORKBENCH_RUN_CACHE=off` in the environment, which is how
`workbench report --no-cache` reaches the notebooks' kernels.
"""

from __future__ import annotations

import datetime
import functools
import hashlib
import importlib
import json
import os
import secrets
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from workbench.config import RunConfig
from workbench.errors import WorkbenchError
from workbench.formatting import json_safe
from workbench.runs import TEMPORARY_PREFIX, Run, load_run, replace_directory, resolve_run_path, write_json

CACHE_ENVIRONMENT_VARIABLE = "WORKBENCH_RUN_CACHE"
MANIFEST_KEY = "cache"
# Fields that do not change a run's numbers: where it is written, what it is called, and the source's
# path (its fingerprint is compared instead).
IGNORED_FIELDS = ("name", "runs_dir", "overwrite", "cache", "source")
# A transfer run takes its architecture and input shape from the source model, whatever these say.
SOURCE_DECIDED_FIELDS = ("model", "weights", "input_shape")
# The modules on the path config → data → model → transfer → training (paths under workbench/).
ENGINE_MODULES = ("data", "structure", "models.py", "transfer_modes.py", "fine_tuning.py", "schedules.py",
                  "training.py", "evaluation.py", "run_files.py", "traced_models.py", "callbacks.py", "devices.py")
VERSION_PACKAGES = ("tensorflow", "keras", "numpy")


def cache_applies(config: RunConfig) -> bool:
    """Whether `train_run` may reuse a finished run for `config`.

    Args:
        config: the run's config; `cache=False` turns the cache off for it.

    Returns:
        False for `cache=False`, for `WORKBENCH_RUN_CACHE=off` (or 0, false, no) in the environment, and
        for multi-worker runs; True otherwise.
    """
    switched_off = os.environ.get(CACHE_ENVIRONMENT_VARIABLE, "").strip().lower() in ("off", "0", "false", "no")
    return bool(config.cache) and not switched_off and config.strategy != "multiworker"


def reuse_cached_run(config: RunConfig) -> Run | None:
    """The finished run that matches `config`, reused under `config.name`; None means: train it.

    Args:
        config: the run, with its final name.

    Returns:
        The reused run, read back from `runs_dir/name` (in place, or a copy of the match), or None
        when the cache does not apply (`cache_applies`) or no finished run matches.
    """
    if not cache_applies(config):
        return None
    record = cache_record(config)
    found = find_cached_run(config, record) if record is not None else None
    return _reuse(found, config) if found is not None else None


def manifest_record(config: RunConfig, data_fingerprint: str | None) -> dict[str, Any] | None:
    """The `cache` entry a newly trained run's manifest gets, so that later runs can reuse it.

    Written by training whether or not the cache was on for this run: `--no-cache` trains again,
    and the fresh run is then the one to reuse.

    Args:
        config: the config the run was trained from.
        data_fingerprint: its task data's fingerprint (the manifest's `data.fingerprint`).

    Returns:
        `cache_record(config)` plus "data", or None when the source run cannot be read.
    """
    record = cache_record(config)
    return None if record is None else {**record, "data": data_fingerprint}


def cache_record(config: RunConfig) -> dict[str, Any] | None:
    """What decides the numbers of a run of `config`, except the data fingerprint (computed only
    when a candidate matches the rest).

    Args:
        config: the run's config.

    Returns:
        {"config", "source", "versions", "code"} as JSON values, or None when the source run cannot
        be read (training then reports why).
    """
    values = config.to_dict()
    ignored = IGNORED_FIELDS + (SOURCE_DECIDED_FIELDS if config.kind == "transfer" else ())
    source = None
    if config.kind == "transfer":
        try:
            source_path = resolve_run_path(str(config.source), config.runs_dir)
            source = {"run": str(source_path), "fingerprint": file_fingerprint(source_path / "model.keras")}
        except (WorkbenchError, OSError):
            return None
    record = {"config": {key: value for key, value in values.items() if key not in ignored},
              "source": source, "versions": number_deciding_versions(), "code": code_fingerprint()}
    return json.loads(json.dumps(json_safe(record)))  # compared with JSON read back from manifests


def find_cached_run(config: RunConfig, record: dict[str, Any]) -> Path | None:
    """The finished run in `config.runs_dir` that matches `record` and the task's data, if any.

    The run of the requested name is tried first (reuse in place), then the others, newest first.

    Args:
        config: the run's config (its runs_dir, name and task).
        record: `cache_record(config)`.

    Returns:
        The matching run directory, or None.
    """
    data_fingerprint: str | None = None
    for path in _candidates(Path(config.runs_dir), str(config.name)):
        stored = _stored_record(path)
        if stored is None or not _same_settings(stored, record):
            continue
        if data_fingerprint is None:
            data_fingerprint = _data_fingerprint(config)
            if data_fingerprint is None:
                return None
        if stored.get("data") == data_fingerprint:
            return path
    return None


def file_fingerprint(path: Path) -> str:
    """sha256 of a file's bytes (hex, 32 digits), remembered per (path, size, modification time).

    Raises:
        OSError: when the file cannot be read.
    """
    status = path.stat()
    return _hash_file(str(path.resolve()), status.st_size, status.st_mtime_ns)


@functools.lru_cache(maxsize=64)
def _hash_file(path: str, size: int, modified: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:32]


@functools.lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """sha256 (hex, 16 digits) of the source of the engine modules (`ENGINE_MODULES`), read once per process."""
    package = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for entry in ENGINE_MODULES:
        target = package / entry
        files = sorted(target.rglob("*.py")) if target.is_dir() else [target]
        for path in files:
            digest.update(str(path.relative_to(package)).encode() + b"\0")
            digest.update(path.read_bytes() if path.is_file() else b"missing")
    return digest.hexdigest()[:16]


def number_deciding_versions() -> dict[str, str]:
    """The versions of tensorflow, keras and numpy this process runs, as the manifest records them
    (training imports them anyway)."""
    return {name: str(importlib.import_module(name).__version__) for name in VERSION_PACKAGES}


def reuse_note(run: Run) -> str:
    """" (reused: ...)" for a run the cache served, to append to a one-line summary; "" otherwise.

    Args:
        run: a run just returned by `train_run`.
    """
    reused = (run.manifest.get(MANIFEST_KEY) or {}).get("reused")
    if not reused:
        return ""
    origin = Path(str(reused.get("from", "")))
    if origin.name == run.path.name and origin.parent.resolve() == run.path.parent.resolve():
        return " (reused: the finished run already there, not trained again)"
    return f" (reused: a copy of {str(origin)!r}, not trained again)"


def cache_use(runs_dirs: Sequence[str | Path], since: datetime.datetime) -> dict[str, int]:
    """How many runs in these folders were trained, and how many reused, since `since`.

    Args:
        runs_dirs: run folders (missing ones are skipped).
        since: an aware datetime; runs created or reused before it are not counted.

    Returns:
        {"trained": n, "reused": m}.
    """
    counts = {"trained": 0, "reused": 0}
    since = since.replace(microsecond=0)  # manifests record whole seconds
    for folder in dict.fromkeys(str(path) for path in runs_dirs):
        for path in _run_directories(Path(folder)):
            try:
                manifest = json.loads((path / "manifest.json").read_text())
            except (OSError, ValueError):
                continue
            reused = (manifest.get(MANIFEST_KEY) or {}).get("reused") or {}
            if _at_or_after(reused.get("at"), since):
                counts["reused"] += 1
            elif _at_or_after(manifest.get("created"), since):
                counts["trained"] += 1
    return counts


# ------------------------------------------------------------------------------------------------
# Candidates, matching, and the two ways of reusing
# ------------------------------------------------------------------------------------------------


def _run_directories(root: Path) -> list[Path]:
    try:
        return [path for path in root.iterdir() if path.is_dir() and not path.name.startswith(".")]
    except OSError:
        return []


def _candidates(root: Path, name: str) -> Iterator[Path]:
    requested = root / name
    if requested.is_dir():
        yield requested
    others = [path for path in _run_directories(root) if path.name != name]
    yield from sorted(others, key=_modified, reverse=True)


def _modified(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:  # replaced meanwhile by another process
        return 0.0


def _stored_record(path: Path) -> dict[str, Any] | None:
    """A finished run's cache record, or None (no record, not finished, no model, unreadable)."""
    try:
        manifest = json.loads((path / "manifest.json").read_text())
        metrics = json.loads((path / "metrics.json").read_text())
    except (OSError, ValueError):
        return None
    record = manifest.get(MANIFEST_KEY)
    if not isinstance(record, dict) or metrics.get("status") != "finished" or manifest.get("status") != "finished":
        return None
    if not (path / "model.keras").is_file() or not (path / "config.json").is_file():
        return None
    return record


def _same_settings(stored: dict[str, Any], record: dict[str, Any]) -> bool:
    if any(stored.get(key) != record[key] for key in ("config", "versions", "code")):
        return False
    if record["source"] is None:
        return stored.get("source") is None
    return (stored.get("source") or {}).get("fingerprint") == record["source"]["fingerprint"]


def _data_fingerprint(config: RunConfig) -> str | None:
    """The fingerprint training would record; None when the task cannot be prepared (training says why)."""
    from workbench.data import prepare_task

    try:
        return prepare_task(config.task, config.per_class, config.validation_split, config.seed,
                            config.data_root).fingerprint()
    except (WorkbenchError, OSError, ValueError):
        return None


def _reuse(found: Path, config: RunConfig) -> Run:
    final = Path(config.runs_dir) / str(config.name)
    reused = {"from": str(found), "at": _now()}
    if found.resolve() == final.resolve():
        manifest = json.loads((final / "manifest.json").read_text())
        manifest[MANIFEST_KEY] = {**manifest[MANIFEST_KEY], "reused": reused}
        _replace_json(final / "manifest.json", manifest)
        return load_run(final)
    temporary = final.parent / f"{TEMPORARY_PREFIX}{final.name}-{secrets.token_hex(4)}"
    try:
        shutil.copytree(found, temporary, copy_function=_link_model_or_copy)
        _rewrite_copy(temporary, config, reused)
        replace_directory(temporary, final)
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
    return load_run(final)


def _rewrite_copy(folder: Path, config: RunConfig, reused: dict[str, str]) -> None:
    """The copy's config.json and manifest.json say its own name, folder and source, and where it came from."""
    values = json.loads((folder / "config.json").read_text())
    values.update(name=config.name, runs_dir=config.runs_dir, overwrite=config.overwrite, cache=config.cache)
    manifest = json.loads((folder / "manifest.json").read_text())
    if config.kind == "transfer":
        values["source"] = manifest["source_run"] = str(resolve_run_path(str(config.source), config.runs_dir))
    manifest[MANIFEST_KEY] = {**manifest[MANIFEST_KEY], "reused": reused}
    _replace_json(folder / "config.json", values)
    _replace_json(folder / "manifest.json", manifest)


def _link_model_or_copy(source: str, destination: str) -> str:
    if Path(source).name == "model.keras":
        try:
            os.link(source, destination)
            return destination
        except OSError:
            pass  # another file system, or links not allowed: copy
    return shutil.copy2(source, destination)


def _replace_json(path: Path, value: Any) -> None:
    """Write JSON beside `path`, then rename it over `path`: a reader sees the old or the new file,
    and a hard-linked original is never written through."""
    partial = path.with_name(f".{path.name}.partial")
    write_json(partial, value)
    os.replace(partial, path)


def _now() -> str:
    return datetime.datetime.now().astimezone().isoformat(timespec="seconds")


def _at_or_after(text: Any, since: datetime.datetime) -> bool:
    try:
        return datetime.datetime.fromisoformat(str(text)) >= since
    except (TypeError, ValueError):
        return False
