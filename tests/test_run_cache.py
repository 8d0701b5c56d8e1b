"""The run cache: a finished run is reused instead of trained again when its settings, source run,
data and versions all match, and only then."""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import threading
from pathlib import Path

import keras
import numpy as np
import pytest
from PIL import Image

import workbench
from workbench.cli import main
from workbench.config import config_from_mapping
from workbench.errors import ConfigError
from workbench.run_cache import CACHE_ENVIRONMENT_VARIABLE, cache_record, cache_use, reuse_note

TINY = {"task": "mnist-5k:0-4", "per_class": 10, "epochs": 1}


def _pretrain(runs_dir: Path, name: str, **overrides):
    return workbench.pretrain(**{**TINY, "runs_dir": str(runs_dir), "name": name, **overrides})


def _reused_from(run) -> str | None:
    return ((run.manifest.get("cache") or {}).get("reused") or {}).get("from")


def _weights(run) -> list[np.ndarray]:
    return run.load_model().get_weights()


def _numbers(run) -> tuple:
    history = [{key: value for key, value in row.items() if key != "seconds"} for row in run.history]
    return run.metrics["test_accuracy"], run.metrics["test_loss"], run.metrics["confusion_matrix"], history


def test_an_identical_run_under_another_name_is_a_copy_that_equals_the_trained_one(runs_dir: Path) -> None:
    trained = _pretrain(runs_dir, "first")
    copy = _pretrain(runs_dir, "second")
    assert _reused_from(trained) is None
    assert _reused_from(copy) == str(trained.path)
    assert "a copy of" in reuse_note(copy) and str(trained.path) in reuse_note(copy)
    assert copy.path == runs_dir / "second" and copy.config["name"] == "second"
    assert _numbers(copy) == _numbers(trained)
    assert all(np.array_equal(a, b) for a, b in zip(_weights(copy), _weights(trained)))
    # The model file is shared (hard link), the small files are the copy's own.
    assert copy.model_path.stat().st_ino == trained.model_path.stat().st_ino
    assert json.loads((trained.path / "config.json").read_text())["name"] == "first"
    # Two paths to the same numbers agree: training the same config again gives what the cache served.
    retrained = _pretrain(runs_dir, "third", cache=False)
    assert _reused_from(retrained) is None and retrained.config["cache"] is False
    assert _numbers(retrained) == _numbers(copy)


def test_regenerating_in_place_reuses_the_run_without_rewriting_it(runs_dir: Path) -> None:
    trained = _pretrain(runs_dir, "source")
    model_file = trained.model_path.stat()
    since = datetime.datetime.now().astimezone()
    again = _pretrain(runs_dir, "source", overwrite=True)
    assert again.path == trained.path
    assert again.model_path.stat().st_ino == model_file.st_ino
    assert again.model_path.stat().st_mtime_ns == model_file.st_mtime_ns
    assert _reused_from(again) == str(trained.path)
    assert "already there" in reuse_note(again)
    assert again.manifest["created"] == trained.manifest["created"]
    assert cache_use([runs_dir], since) == {"trained": 0, "reused": 1}
    # An existing name without --overwrite is still refused, reusable or not.
    with pytest.raises(ConfigError, match="already exists"):
        _pretrain(runs_dir, "source")


def test_no_cache_in_every_form_trains_again(runs_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first_model = _pretrain(runs_dir, "run").model_path.stat().st_ino
    forced = _pretrain(runs_dir, "run", overwrite=True, cache=False)
    assert _reused_from(forced) is None
    assert forced.model_path.stat().st_ino != first_model  # a new file: trained and saved again
    monkeypatch.setenv(CACHE_ENVIRONMENT_VARIABLE, "off")
    assert _reused_from(_pretrain(runs_dir, "env")) is None
    monkeypatch.delenv(CACHE_ENVIRONMENT_VARIABLE)
    assert _reused_from(_pretrain(runs_dir, "cached")) is not None
    assert config_from_mapping({"cache": False}).cache is False
    with pytest.raises(ConfigError, match="cache='maybe' is not true or false. Pass --no-cache"):
        config_from_mapping({"cache": "maybe"})


def test_the_cli_line_says_a_run_was_reused_and_no_cache_trains(runs_dir: Path, capsys: pytest.CaptureFixture) -> None:
    flags = ["pretrain", "--task", "mnist-5k:0-4", "--per-class", "10", "--epochs", "1", "--runs-dir", str(runs_dir)]
    assert main([*flags, "--name", "a"]) == 0
    assert "reused" not in capsys.readouterr().err
    assert main([*flags, "--name", "b"]) == 0
    output = capsys.readouterr()
    assert f"finished (reused: a copy of '{runs_dir / 'a'}', not trained again): pretrain on mnist-5k:0-4" in output.err
    assert output.out.strip() == str(runs_dir / "b")
    assert main([*flags, "--name", "c", "--no-cache"]) == 0
    assert "reused" not in capsys.readouterr().err
    assert main([*flags, "--name", "d", "-p", "cache", "false"]) == 0
    assert "reused" not in capsys.readouterr().err


def test_stopped_and_failed_runs_are_never_reused(runs_dir: Path) -> None:
    stop = threading.Event()
    stop.set()
    stopped = workbench.pretrain(stop_event=stop, **TINY, runs_dir=str(runs_dir), name="stopped")
    assert stopped.status == "stopped" and stopped.manifest["cache"]["data"]
    finished = _pretrain(runs_dir, "finished")
    assert _reused_from(finished) is None  # the stopped run was there: it was not taken
    for file in ("metrics.json", "manifest.json"):  # as a run whose loss became NaN is saved
        values = json.loads((finished.path / file).read_text())
        (finished.path / file).write_text(json.dumps({**values, "status": "failed"}))
    assert _reused_from(_pretrain(runs_dir, "after-failed")) is None


def test_the_key_leaves_out_only_what_does_not_change_the_numbers(source_run, runs_dir: Path) -> None:
    def record(**values):
        return cache_record(config_from_mapping({**TINY, **values}))

    assert record(name="a", runs_dir="x", overwrite=True, cache=False) == record(name="b")
    assert record(epochs=2) != record() and record(seed=1) != record() and record(learning_rate=0.01) != record()
    assert record()["source"] is None and set(record()["versions"]) == {"tensorflow", "keras", "numpy"}
    transfer = {"kind": "transfer", "source": str(source_run.path), "task": "mnist-5k:5-9"}
    # A transfer run's architecture and input shape come from its source model, whatever the config says.
    assert record(**transfer, model="resnet50", input_shape="28x28x1") == record(**transfer)
    assert record(**transfer, mode="feature") != record(**transfer)
    model_bytes = source_run.model_path.read_bytes()
    assert record(**transfer)["source"]["fingerprint"] == hashlib.sha256(model_bytes).hexdigest()[:32]
    assert record()["versions"]["keras"] == keras.__version__


@pytest.mark.slow
def test_changing_one_parameter_retrains_only_the_runs_it_changes(source_run, runs_dir: Path) -> None:
    study = {"source": str(source_run.path), "task": "mnist-5k:5-9", "per_class": 2, "epochs": 1,
             "seeds": [0], "modes": ["structure", "parameter"], "runs_dir": str(runs_dir), "name": "study",
             "overwrite": True}
    first = workbench.compare(**study)
    assert [_reused_from(run) for run in first.runs] == [None, None]
    second = workbench.compare(**study, freeze_depth=2)  # parameter transfer only: structure is unchanged
    reused = {run.config["mode"]: _reused_from(run) for run in second.runs}
    assert reused == {"structure": str(runs_dir / "study-structure-s0"), "parameter": None}
    assert second.runs[1].transfer_report["freeze_depth"] == 2


@pytest.mark.slow
def test_a_changed_source_run_invalidates_the_runs_made_from_it(runs_dir: Path) -> None:
    source = _pretrain(runs_dir, "source")
    transfer = {"task": "mnist-5k:5-9", "per_class": 2, "epochs": 1, "runs_dir": str(runs_dir)}
    first = workbench.transfer(source=str(source.path), name="t1", **transfer)
    # The same model under another name (a cache copy: the same bytes) is the same source.
    twin = _pretrain(runs_dir, "twin")
    from_twin = workbench.transfer(source=str(twin.path), name="t2", **transfer)
    assert _reused_from(from_twin) == str(first.path)
    assert from_twin.config["source"] == str(twin.path) and from_twin.manifest["source_run"] == str(twin.path)
    # Trained again, the source is another file: what was made from it is trained again too.
    _pretrain(runs_dir, "source", overwrite=True, cache=False)
    after = workbench.transfer(source=str(source.path), name="t3", **transfer)
    assert _reused_from(after) is None
    assert after.manifest["cache"]["source"]["fingerprint"] != first.manifest["cache"]["source"]["fingerprint"]


def _image_folder(root: Path) -> Path:
    rng = np.random.default_rng(0)
    for label, shade in (("dark", 30), ("light", 200)):
        (root / label).mkdir(parents=True)
        for number in range(12):
            pixels = np.clip(shade + rng.integers(-20, 20, (8, 8, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(root / label / f"{number}.png")
    return root


@pytest.mark.slow
def test_a_changed_dataset_invalidates_the_runs_that_use_it(tmp_path: Path, runs_dir: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from workbench.data import load_folder

    monkeypatch.setenv("WORKBENCH_CACHE_DIR", str(tmp_path / "decoded"))
    folder = _image_folder(tmp_path / "images")
    task = {"task": f"folder:{folder}", "epochs": 1, "runs_dir": str(runs_dir)}
    load_folder.cache_clear()
    first = workbench.pretrain(name="f1", **task)
    assert _reused_from(workbench.pretrain(name="f2", **task)) == str(first.path)
    Image.fromarray(np.full((8, 8, 3), 255, dtype=np.uint8)).save(folder / "dark" / "0.png")
    load_folder.cache_clear()  # the folder is read once per process: this process reads it again
    changed = workbench.pretrain(name="f3", **task)
    assert _reused_from(changed) is None
    assert changed.manifest["data"]["fingerprint"] != first.manifest["data"]["fingerprint"]
    load_folder.cache_clear()


def test_report_no_cache_reaches_the_notebooks_kernels(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    import yaml
    from report_helpers import write_notebook

    write_notebook(tmp_path / "environment.ipynb", 'output_dir = "."',
                   "import os\nfrom workbench import notebook_support as support",
                   f"support.record_metrics(output_dir, cache=os.environ.get({CACHE_ENVIRONMENT_VARIABLE!r}, 'on'))")
    config = {"kernel": "workbench", "timeout": 120, "notebooks": [{"path": "environment.ipynb"}]}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))

    def cache_seen(*flags: str) -> str:
        output = tmp_path / "out"
        assert main(["report", "--config", str(tmp_path / "config.yaml"), "-o", str(output), "--no-log-output",
                     *flags]) == 0
        capsys.readouterr()
        return json.loads((output / "environment" / "metrics.json").read_text())["cache"]

    assert cache_seen() == "on"
    assert cache_seen("--no-cache") == "off"
    assert cache_seen("-p", "cache", "false") == "off"
    assert main(["report", "--config", str(tmp_path / "config.yaml"), "-p", "cache", "maybe"]) == 2
    assert "Parameter cache='maybe' is not true or false" in capsys.readouterr().err
    assert CACHE_ENVIRONMENT_VARIABLE not in os.environ
