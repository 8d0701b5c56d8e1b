"""Distribution strategies and mixed precision: mirrored replicas, multi-worker processes, float16.

Logical CPU devices and multi-worker collectives can only be set up before TensorFlow runs
anything in a process, so those tests train in fresh subprocesses.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import keras
import pytest

from workbench.config import RunConfig
from workbench.devices import is_chief, precision_policy, read_tf_config
from workbench.errors import ConfigError
from workbench.training import effective_batch_size

TINY_SOURCE = {"task": "mnist-5k:0-4", "per_class": 40, "epochs": 2, "seed": 0}

# Two logical CPUs, so MirroredStrategy has two replicas on a machine without GPUs. The transfer's
# two-stage unfreezing (a head-only epoch, then every block at geometric per-block rates) runs
# BlockwiseAdam's per-variable lookup and the train-function rebuild on mirrored variables.
MIRRORED_SCRIPT = r"""
import json, sys
import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import workbench

runs, common = sys.argv[1], json.loads(sys.argv[2])
results = {}
for strategy in ("default", "mirrored"):
    run = workbench.pretrain(name=strategy, strategy=strategy, runs_dir=runs, **common)
    results[strategy] = {"accuracy": run.test_accuracy, "manifest": run.manifest, "epochs": len(run.history)}
run = workbench.transfer(name="transfer", source=f"{runs}/mirrored", task="mnist-5k:5-9", per_class=20, epochs=2,
                         unfreeze="two-stage", strategy="mirrored", runs_dir=runs)
results["transfer"] = {"accuracy": run.test_accuracy, "manifest": run.manifest, "epochs": len(run.history),
                       "status": run.status}
print(json.dumps(results))
"""


def _environment(**changes: str) -> dict[str, str]:
    environment = {key: value for key, value in os.environ.items() if key != "TF_CONFIG"}
    environment.update(TF_CPP_MIN_LOG_LEVEL="3", **changes)
    return environment


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for probe in sockets:
            probe.bind(("127.0.0.1", 0))
        return [probe.getsockname()[1] for probe in sockets]
    finally:
        for probe in sockets:
            probe.close()


@pytest.mark.xdist_group("multiprocess")
@pytest.mark.slow
@pytest.mark.timeout(300)
def test_mirrored_training_splits_each_batch_over_two_replicas_and_learns_like_one_device(tmp_path: Path) -> None:
    completed = subprocess.run([sys.executable, "-c", MIRRORED_SCRIPT, str(tmp_path / "runs"), json.dumps(TINY_SOURCE)],
                               capture_output=True, text=True, timeout=280, env=_environment())
    assert completed.returncode == 0, completed.stderr[-3000:]
    results = json.loads(completed.stdout.strip().splitlines()[-1])
    default, mirrored, transfer = results["default"], results["mirrored"], results["transfer"]

    assert default["manifest"]["distribution"]["replicas"] == 1
    distribution = mirrored["manifest"]["distribution"]
    assert distribution["strategy"] == "mirrored" and distribution["replicas"] == 2
    assert distribution["global_batch_size"] == mirrored["manifest"]["batch_size"]
    assert distribution["per_replica_batch_size"] * 2 == distribution["global_batch_size"]
    # Same data and seed; the global batch differs by at most one example (a multiple of 2).
    assert mirrored["accuracy"] > 0.6 and abs(mirrored["accuracy"] - default["accuracy"]) < 0.1
    assert transfer["status"] == "finished" and transfer["epochs"] == 2
    assert transfer["manifest"]["distribution"]["replicas"] == 2
    assert [stage["freeze_depth"] for stage in transfer["manifest"]["fine_tuning"]["stages"]] == [4, 0]
    assert transfer["accuracy"] > 0.3  # five classes: better than chance after two short epochs


@pytest.mark.xdist_group("multiprocess")
@pytest.mark.slow
@pytest.mark.timeout(300)
def test_two_local_workers_train_one_run_that_only_the_chief_writes(tmp_path: Path) -> None:
    runs, scratch = tmp_path / "runs", tmp_path / "worker-temp"
    scratch.mkdir()
    cluster = {"worker": [f"127.0.0.1:{port}" for port in _free_ports(2)]}
    workers = []
    try:
        for index in range(2):
            tf_config = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})
            workers.append(subprocess.Popen(
                [sys.executable, "-m", "workbench.cli", "pretrain", "--strategy", "multiworker", "--task",
                 "mnist-5k:0-4", "--per-class", "10", "--epochs", "2", "--name", "cluster", "--runs-dir", str(runs)],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                env=_environment(TF_CONFIG=tf_config, TMPDIR=str(scratch))))
        outputs = [worker.communicate(timeout=280) for worker in workers]
    finally:
        for worker in workers:
            worker.kill()
            worker.wait()
    for worker, (_, stderr) in zip(workers, outputs):
        assert worker.returncode == 0, stderr[-3000:]

    assert [path.name for path in runs.iterdir()] == ["cluster"]  # no .tmp- folder left either
    history = (runs / "cluster" / "history.csv").read_text().strip().splitlines()
    assert len(history) == 1 + 2
    manifest = json.loads((runs / "cluster" / "manifest.json").read_text())
    assert manifest["distribution"]["workers"] == 2 and manifest["distribution"]["replicas"] == 2
    assert list(scratch.iterdir()) == []  # the non-chief's throwaway run folder is gone
    # Both workers evaluated the same (synchronised) weights and print where the chief wrote the run.
    scores = [line for _, stderr in outputs for line in stderr.splitlines() if "test accuracy" in line]
    assert len(scores) == 2 and scores[0].split("test accuracy")[1][:6] == scores[1].split("test accuracy")[1][:6]
    assert all(stdout.strip().endswith(str(runs / "cluster")) for stdout, _ in outputs)


class KillAfterFirstEpoch(keras.callbacks.Callback):
    """Interrupts training (like Ctrl-C) when the second epoch begins."""

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        if epoch == 1:
            raise KeyboardInterrupt


@pytest.mark.timeout(300)
def test_mixed_float16_computes_hidden_layers_in_float16_and_logits_in_float32(tmp_path: Path) -> None:
    import workbench
    from workbench.training import resume_run

    # Interrupted after one epoch and resumed: the loss scale is checkpointed and restored with
    # the weights and BlockwiseAdam's slots.
    # A quarter of TINY_SOURCE's images, as 24x24 grayscale (half the pixels and a third of the first
    # convolution's channels of the default 32x32x3): float16 kernels on a CPU are emulated, 30-40x
    # slower than float32.
    source = {**TINY_SOURCE, "per_class": 10, "input_shape": (24, 24, 1)}
    with pytest.raises(KeyboardInterrupt):
        workbench.pretrain(name="mixed", precision="mixed_float16", runs_dir=str(tmp_path),
                           callbacks=[KillAfterFirstEpoch()], **source)
    run = resume_run("mixed", tmp_path)

    assert keras.config.dtype_policy().name == "float32"  # the global policy was put back
    assert run.status == "finished" and run.metrics["resumed_at_epoch"] == 1 and len(run.history) == 2
    assert run.manifest["distribution"]["precision"] == "mixed_float16"
    model = run.load_model()  # safe mode
    compute_dtypes = {layer.name: layer.compute_dtype for layer in model.layers if layer.weights}
    assert compute_dtypes.pop("head") == "float32"
    assert set(compute_dtypes.values()) == {"float16"}
    assert all(weight.dtype == "float32" for weight in model.weights)  # float32 master weights
    model.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    from workbench.data import make_pipeline, prepare_task

    images, labels = prepare_task(source["task"], source["per_class"], 0.1, 0).test
    _, accuracy = model.evaluate(make_pipeline(images, labels, source["input_shape"], 128), verbose=0)
    assert accuracy == pytest.approx(run.test_accuracy, abs=0.01) and accuracy > 0.6


def test_a_mixed_float16_model_trains_through_a_loss_scale_optimizer_around_blockwise_adam() -> None:
    from workbench.fine_tuning import BlockwiseAdam
    from workbench.training import compile_plan, prepare_run

    prepared = prepare_run(RunConfig(task="mnist-5k:0-4", per_class=5, precision="mixed_float16"))
    plan = compile_plan(prepared)

    optimizer = prepared.model.optimizer
    assert type(optimizer).__name__ == "LossScaleOptimizer" and optimizer.inner_optimizer is plan.optimizer
    assert isinstance(plan.optimizer, BlockwiseAdam)
    # Built up front, so a checkpoint holds (and a resume restores) the loss scale too.
    assert optimizer.built and len(optimizer.variables) > len(plan.optimizer.variables)


@pytest.mark.parametrize(("arguments", "fragments"), [
    (["--strategy", "gpu"], ("'gpu'", "mirrored")),
    (["--precision", "half"], ("'half'", "mixed_float16")),
    (["-p", "strategy", "multiworker"], ("TF_CONFIG", '"cluster"')),  # without TF_CONFIG
])
def test_bad_strategy_and_precision_are_one_readable_error_and_write_nothing(
    arguments: list[str], fragments: tuple[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture,
) -> None:
    from workbench.cli import main

    monkeypatch.delenv("TF_CONFIG", raising=False)
    runs = tmp_path / "runs"
    code = main(["pretrain", "--per-class", "5", "--epochs", "1", "--runs-dir", str(runs), *arguments])
    stderr = capsys.readouterr().err

    assert code == 2
    assert stderr.count("error:") == 1 and "Traceback" not in stderr
    # Each bad value gets its own message: the value named, and the fix.
    assert all(fragment in stderr for fragment in fragments), stderr
    assert not runs.exists()


def test_multiworker_studies_refuse_local_worker_processes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    from workbench.cli import main

    monkeypatch.setenv("TF_CONFIG", '{"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 0}}')
    (tmp_path / "source").mkdir()
    (tmp_path / "source" / "config.json").write_text("{}")  # a source run is there: the -j is what is refused
    code = main(["compare", "--source", str(tmp_path / "source"), "--strategy", "multiworker", "-j", "2",
                 "--runs-dir", str(tmp_path / "runs")])
    stderr = capsys.readouterr().err
    assert code == 2 and "-j 1" in stderr and "Traceback" not in stderr
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("text, problem", [
    ("", "not set"),
    ("{not json", "not valid JSON"),
    ('{"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 2}}', "index 2"),
    ('{"cluster": {"worker": ["a:1"], "ps": ["c:3"]}, "task": {"type": "worker", "index": 0}}', "'ps'"),
    ('{"cluster": {"worker": ["nohost"]}, "task": {"type": "worker", "index": 0}}', "host:port"),
])
def test_tf_config_errors_name_the_problem_and_show_an_example(text: str, problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        read_tf_config({"TF_CONFIG": text})
    assert problem in str(caught.value) and '"task": {"type": "worker", "index": 0}' in str(caught.value)


def test_the_chief_is_worker_zero_unless_the_cluster_names_one() -> None:
    class Resolver:
        def __init__(self, task_type: str, task_id: int, cluster: dict) -> None:
            self.task_type, self.task_id, self.cluster = task_type, task_id, cluster

        def cluster_spec(self) -> "Resolver":
            return self

        def as_dict(self) -> dict:
            return self.cluster

    class Strategy:
        def __init__(self, *arguments: object) -> None:
            self.cluster_resolver = Resolver(*arguments)

    workers = {"worker": ["a:1", "b:2"]}
    assert is_chief(object())  # default and mirrored: one process
    assert is_chief(Strategy("worker", 0, workers)) and not is_chief(Strategy("worker", 1, workers))
    with_chief = {"chief": ["c:0"], **workers}
    assert is_chief(Strategy("chief", 0, with_chief)) and not is_chief(Strategy("worker", 0, with_chief))


def test_the_global_batch_is_a_multiple_of_the_replicas() -> None:
    assert effective_batch_size(32, 5000, replicas=1) == 32
    assert effective_batch_size(33, 5000, replicas=2) == 32
    assert effective_batch_size(32, 200, replicas=2) == 24  # 25 for 8 steps, rounded down to a multiple
    assert effective_batch_size(32, 3, replicas=4) == 4  # at least one example per replica


def test_the_precision_policy_is_restored_even_when_building_fails() -> None:
    with pytest.raises(RuntimeError), precision_policy("mixed_bfloat16"):
        assert keras.config.dtype_policy().name == "mixed_bfloat16"
        raise RuntimeError("model building failed")
    assert keras.config.dtype_policy().name == "float32"
