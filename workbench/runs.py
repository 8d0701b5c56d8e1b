"""The run format on disk, and reading runs back.

A run is a directory `runs/<name>/` holding:

| file             | what                                                                    |
|------------------|-------------------------------------------------------------------------|
| `config.json`    | the `RunConfig` it was trained from                                     |
| `history.csv`    | per epoch: epoch, loss, accuracy, val_loss, val_accuracy, seconds, partial |
| `metrics.json`   | status, test accuracy and loss, per-class accuracy, confusion matrix    |
| `model.keras`    | the trained model (Keras 3 format; loaded in safe mode)                 |
| `transfer.json`  | the weight-transfer report (transfer runs)                              |
| `transfer.txt`   | the same report as a text table                                         |
| `manifest.json`  | versions, seed, data fingerprint and summary, input adaptation, timings |

A run directory is written under a temporary name and renamed into place when complete, so a
directory with a `config.json` under `runs/` is always a complete run.
"""

from __future__ import annotations

import csv
import functools
import json
import math
import os
import secrets
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.config import mode_label
from workbench.errors import SourceRunError
from workbench.formatting import json_safe

RUN_FILES = ("config.json", "history.csv", "metrics.json", "manifest.json")
HISTORY_COLUMNS = ("epoch", "loss", "accuracy", "val_loss", "val_accuracy", "seconds", "partial")
TEMPORARY_PREFIX = ".tmp-"


# One model per process: the source of the current study (see `Run.load_model(shared=True)`).
@dataclass
class Run:
    """A finished (or stopped) run read back from its directory."""

    path: Path
    config: dict[str, Any]
    history: list[dict[str, Any]]
    metrics: dict[str, Any]
    manifest: dict[str, Any]
    transfer_report: dict[str, Any] | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        """The run directory's name."""
        return self.path.name

    @property
    def status(self) -> str:
        """"finished", "stopped" (by the user) or "failed" (the loss became NaN; see metrics["failure"])."""
        return str(self.metrics.get("status", "unknown"))

    @property
    def test_accuracy(self) -> float:
        """Accuracy on the held-out test set."""
        return float(self.metrics.get("test_accuracy", math.nan))

    @property
    def model_path(self) -> Path:
        """Where the trained model is saved."""
        return self.path / "model.keras"

    def load_model(self, compile: bool = False, shared: bool = False) -> Any:
        """Load the trained model with Keras' safe mode on (no arbitrary code from the file).

        Args:
            compile: restore the training configuration too. Defaults to False.
            shared: return the model most recently loaded from this very file (same path, size and
                modification time) instead of reading it again: a study transfers from one source
                many times. The caller must only read it. Defaults to False.

        Raises:
            SourceRunError: when the run holds no model.
        """
        if shared and not compile:
            key = self._model_file_key()
            if key is None:
                return self.load_model()  # no file: the usual readable error
            return _load_model_once(key)
        return _read_model(self.path, self.model_path, compile)

    def _model_file_key(self) -> tuple[str, int, int] | None:
        try:
            status = self.model_path.stat()
        except OSError:
            return None
        return str(self.model_path.resolve()), status.st_size, status.st_mtime_ns

    def task_data(self, all_labels: bool = False) -> Any:
        """The run's task rebuilt from its config: the same classes and, with the same seed, the same
        train/validation/test splits and label budget (`workbench.data.TaskData`).

        Args:
            all_labels: ignore the run's label budget and keep every training example (the test
                split is the same either way). Defaults to False.
        """
        from workbench.data import prepare_task

        config = self.config
        per_class = None if all_labels else config.get("per_class")
        return prepare_task(config["task"], per_class, float(config.get("validation_split", 0.1)),
                            int(config.get("seed", 0)), config.get("data_root"))

    def summary(self) -> dict[str, Any]:
        """One row of key figures for tables (`workbench runs`, the panel)."""
        config = self.config
        best_validation = [row["val_accuracy"] for row in self.history if not math.isnan(row["val_accuracy"])]
        return {
            "name": self.name,
            "kind": config.get("kind"),
            "mode": config.get("mode") if config.get("kind") == "transfer" else "pretrain",
            "task": config.get("task"),
            "model": self.manifest.get("architecture", config.get("model")),
            "freeze_depth": (self.transfer_report or {}).get("freeze_depth"),
            "per_class": config.get("per_class"),
            "seed": config.get("seed"),
            "epochs": len(self.history),
            "best_val_accuracy": max(best_validation) if best_validation else math.nan,
            "test_accuracy": self.test_accuracy,
            "seconds": float(self.manifest.get("train_seconds", math.nan)),
            "status": self.status,
            "created": self.manifest.get("created", ""),
        }


@functools.lru_cache(maxsize=1)
def _load_model_once(key: tuple[str, int, int]) -> Any:
    """The model of one file (path, size, modification time), loaded once: a study transfers from
    one source many times. A changed file has a new key and is read again."""
    path = Path(key[0])
    return _read_model(path.parent, path, compile=False)


def _read_model(run_path: Path, model_path: Path, compile: bool) -> Any:
    import keras

    import workbench.models  # noqa: F401 - registers the workbench's custom layers

    if not model_path.is_file():
        raise SourceRunError(
            f"Run {str(run_path)!r} holds no model.keras. Pick a run that finished training "
            "(`workbench runs` lists them) or pretrain one with `workbench pretrain`."
        )
    try:
        return keras.saving.load_model(model_path, compile=compile, safe_mode=True)
    except Exception as error:  # noqa: BLE001 - every load failure gets one readable message
        text = str(error)
        if "lambda" in text.lower() or "safe_mode" in text:
            raise SourceRunError(
                f"{str(model_path)!r} holds a Lambda layer (or other arbitrary code), which Keras' safe "
                "mode refuses to load because it could run anything. Rebuild the model from named layers "
                "(the workbench's models have none), or pretrain a new source run."
            ) from None
        raise SourceRunError(
            f"{str(model_path)!r} cannot be loaded ({type(error).__name__}: {text[:200]}). The file is "
            "truncated or not a Keras 3 model; train the run again (`workbench pretrain` / `workbench transfer`)."
        ) from None


def resolve_run_path(reference: str | Path, runs_dir: str | Path = "runs") -> Path:
    """Find a run from a path (`runs/source`) or a bare name under `runs_dir` (`source`).

    Raises:
        SourceRunError: when neither names a complete run directory.
    """
    candidates = [Path(reference).expanduser()]
    if not candidates[0].is_absolute():
        candidates.append(Path(runs_dir) / reference)
    for candidate in candidates:
        if (candidate / "config.json").is_file():
            return candidate
    known = [run.name for run in list_runs(runs_dir)][:10]
    hint = f" Runs in {str(runs_dir)!r}: {', '.join(known)}." if known else f" {str(runs_dir)!r} holds no runs yet."
    raise SourceRunError(
        f"Source run {str(reference)!r} does not exist (no config.json there).{hint} Pass --source with a "
        "run directory, or make one with `workbench pretrain --name source`."
    )


def load_run(reference: str | Path, runs_dir: str | Path = "runs") -> Run:
    """Read a run directory back into a `Run`.

    Raises:
        SourceRunError: missing or incomplete run.
    """
    path = resolve_run_path(reference, runs_dir)
    missing = [name for name in RUN_FILES if not (path / name).is_file()]
    if missing:
        raise SourceRunError(
            f"Run {str(path)!r} is incomplete (missing {', '.join(missing)}). Delete it and train it again."
        )
    transfer_path = path / "transfer.json"
    return Run(
        path=path,
        config=json.loads((path / "config.json").read_text()),
        history=read_history(path / "history.csv"),
        metrics=json.loads((path / "metrics.json").read_text()),
        manifest=json.loads((path / "manifest.json").read_text()),
        transfer_report=json.loads(transfer_path.read_text()) if transfer_path.is_file() else None,
    )


def list_runs(runs_dir: str | Path = "runs") -> list[Run]:
    """Every complete run under `runs_dir`, oldest first (temporary directories are skipped)."""
    root = Path(runs_dir)
    if not root.is_dir():
        return []
    runs = []
    for path in sorted(root.iterdir()):
        if path.name.startswith(".") or not (path / "config.json").is_file():
            continue
        try:
            runs.append(load_run(path))
        except (SourceRunError, ValueError, OSError):
            continue
    return sorted(runs, key=lambda run: (run.manifest.get("created", ""), run.name))


def write_history(path: Path, rows: list[dict[str, Any]]) -> None:
    """Write history rows as CSV with the standard columns."""
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=HISTORY_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({key: row.get(key, "") for key in HISTORY_COLUMNS})


def read_history(path: Path) -> list[dict[str, Any]]:
    """Read `history.csv` back into rows of numbers (epoch int, partial bool, the rest float)."""
    rows = []
    with path.open(newline="") as handle:
        for record in csv.DictReader(handle):
            row: dict[str, Any] = {"epoch": int(record["epoch"])}
            for key in HISTORY_COLUMNS[1:-1]:
                text = record.get(key, "")
                row[key] = float(text) if text not in ("", None) else math.nan
            row["partial"] = record.get("partial") == "True"
            rows.append(row)
    return rows


def write_json(path: Path, value: Any) -> None:
    """Write JSON with NaN turned into null, so every JSON reader accepts the file."""
    path.write_text(json.dumps(json_safe(value), indent=2) + "\n")


# --------------------------------------------------------------------------------------------
# Runs looked up from runs: a reference as a Run, a transfer run's source, display labels and
# test images (moved here from workbench.diagnostics in issue #11; appended as one block).
# --------------------------------------------------------------------------------------------


def as_run(run: Run | str | Path, runs_dir: str | Path = "runs") -> Run:
    """A `Run` as it is, or the run a reference names (a path, or a name under `runs_dir`).

    Args:
        run: a `Run`, or a run's path or name.
        runs_dir: where bare run names are looked up. Defaults to "runs".

    Raises:
        SourceRunError: when the reference names no complete run.
    """
    return run if isinstance(run, Run) else load_run(run, runs_dir)


def source_run_of(run: Run, runs_dir: str | Path = "runs") -> Run:
    """The source `Run` a transfer run was made from.

    Args:
        run: a transfer run.
        runs_dir: where a bare source name is looked up when the run's config names no
            runs_dir. Defaults to "runs".

    Raises:
        SourceRunError: for a pretraining run, or when the source run no longer exists.
    """
    reference = run.config.get("source") or run.manifest.get("source_run")
    if run.config.get("kind") != "transfer" or not reference:
        raise SourceRunError(
            f"Run {run.name!r} is a {run.config.get('kind', 'pretrain')} run with no source model, so there is "
            "nothing to compare it with. Pick a transfer run (`workbench runs` lists them)."
        )
    candidates = [reference, run.path.parent / Path(reference).name]
    for candidate in candidates:
        try:
            return load_run(candidate, run.config.get("runs_dir", runs_dir))
        except SourceRunError:
            continue
    raise SourceRunError(
        f"The source run {reference!r} of run {run.name!r} no longer exists. Restore it, or diagnose "
        "a run whose source is still on disk."
    )


def run_label(run: Run) -> str:
    """A short display label for a run: its mode (with freeze depth), copy depth and seed.

    Args:
        run: any run; a pretraining run is labelled "pretrain s<seed>".
    """
    config = run.config
    if config.get("kind") != "transfer":
        return f"pretrain s{config.get('seed', 0)}"
    depth = (run.transfer_report or {}).get("freeze_depth", config.get("freeze_depth"))
    label = mode_label(str(config.get("mode")), depth)
    if config.get("copy_depth") is not None:
        label += f" copy {config['copy_depth']}"
    return f"{label} s{config.get('seed', 0)}"


def run_test_images(run: Run) -> tuple[Any, Any]:
    """The uint8 test images and labels of a run's target task (the same split it was scored on).

    Args:
        run: a run; its task, validation split and seed rebuild the split.
    """
    return run.task_data(all_labels=True).test


# --------------------------------------------------------------------------------------------
# Run matching for the panel's Diagnose view (moved here from workbench.panels in issue #11;
# appended as one block).
# --------------------------------------------------------------------------------------------


def structure_reference(run: Run, runs: list[Run]) -> Run | None:
    """The structure (from-scratch) run that `run` is best compared with, among `runs`.

    It must share the run's source, target task, label budget and seed, so that the two models saw
    the same data and differ only in where their weights started. The newest match wins.

    Args:
        run: a transfer run.
        runs: the candidates, oldest first (e.g. the runs of a panel session).

    Returns:
        That run, or None when there is none (or `run` is itself a structure run).
    """
    config = run.config
    if config.get("kind") != "transfer" or config.get("mode") == "structure":
        return None
    same = ("source", "task", "per_class", "seed")
    for candidate in reversed(list(runs)):
        other = candidate.config
        if (candidate.name != run.name and other.get("kind") == "transfer" and other.get("mode") == "structure"
                and all(other.get(key) == config.get(key) for key in same) and candidate.model_path.is_file()):
            return candidate
    return None


def replace_directory(temporary: Path, final: Path) -> None:
    """Rename a finished run folder into place; a run already there is swapped out first, then
    deleted, so the final path never holds half of either."""
    if final.exists():
        retired = final.with_name(f"{TEMPORARY_PREFIX}{final.name}-replaced-{secrets.token_hex(4)}")
        os.replace(final, retired)
        os.replace(temporary, final)
        shutil.rmtree(retired, ignore_errors=True)
    else:
        os.replace(temporary, final)
