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
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.errors import SourceRunError

RUN_FILES = ("config.json", "history.csv", "metrics.json", "manifest.json")
HISTORY_COLUMNS = ("epoch", "loss", "accuracy", "val_loss", "val_accuracy", "seconds", "partial")
TEMPORARY_PREFIX = ".tmp-"


# One model per process: the source of the current study (see `Run.load_model(shared=True)`).
_shared_model: dict[str, Any] = {}


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
            if _shared_model.get("key") != key:
                _shared_model.update(key=key, model=self.load_model())
            return _shared_model["model"]
        import keras

        import workbench.models  # noqa: F401 - registers the workbench's custom layers

        if not self.model_path.is_file():
            raise SourceRunError(
                f"Run {str(self.path)!r} holds no model.keras. Pick a run that finished training "
                "(`workbench runs` lists them) or pretrain one with `workbench pretrain`."
            )
        try:
            return keras.saving.load_model(self.model_path, compile=compile, safe_mode=True)
        except Exception as error:  # noqa: BLE001 - every load failure gets one readable message
            text = str(error)
            if "lambda" in text.lower() or "safe_mode" in text:
                raise SourceRunError(
                    f"{str(self.model_path)!r} holds a Lambda layer (or other arbitrary code), which Keras' safe "
                    "mode refuses to load because it could run anything. Rebuild the model from named layers "
                    "(the workbench's models have none), or pretrain a new source run."
                ) from None
            raise SourceRunError(
                f"{str(self.model_path)!r} cannot be loaded ({type(error).__name__}: {text[:200]}). The file is "
                "truncated or not a Keras 3 model; train the run again (`workbench pretrain` / `workbench transfer`)."
            ) from None

    def _model_file_key(self) -> tuple[str, int, int] | None:
        try:
            status = self.model_path.stat()
        except OSError:
            return None
        return str(self.model_path.resolve()), status.st_size, status.st_mtime_ns

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
    path.write_text(json.dumps(_without_nan(value), indent=2) + "\n")


def _without_nan(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {key: _without_nan(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_without_nan(item) for item in value]
    return value
