"""Where a run computes: its tf.distribute strategy and its Keras mixed-precision policy.

| strategy      | replicas                                             | who writes the run |
|---------------|------------------------------------------------------|--------------------|
| `default`     | one device                                           | this process       |
| `mirrored`    | every local GPU (every local logical CPU without one) | this process       |
| `multiworker` | every device of every worker listed in `TF_CONFIG`   | the chief only     |

`batch_size` is always the *global* batch: tf.distribute splits each batch across the replicas.
Models, optimizers and `compile()` must be created under `strategy.scope()`; `fit` and `predict`
find the strategy the model was built under by themselves.

Strategies are created once per process and cached: TensorFlow configures its collective
operations at start-up, so a `MultiWorkerMirroredStrategy` must exist before anything else runs
TensorFlow ops in the process (the `workbench` command creates it first thing).
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from collections.abc import Iterator, Mapping
from typing import Any

from workbench.config import PRECISIONS, STRATEGIES
from workbench.errors import ConfigError

EXAMPLE_TF_CONFIG = ('{"cluster": {"worker": ["10.0.0.1:12345", "10.0.0.2:12345"]}, '
                     '"task": {"type": "worker", "index": 0}}')
_TF_CONFIG_HELP = (
    f"Set it on every worker before starting the same command there, e.g. TF_CONFIG='{EXAMPLE_TF_CONFIG}' "
    "on the first of two workers and the same with \"index\": 1 on the second (worker 0 is the chief and "
    "writes the run). For the GPUs of one machine use --strategy mirrored instead."
)
_strategies: dict[str, Any] = {}
_lock = threading.Lock()


def distribution_strategy(name: str) -> Any:
    """The process's `tf.distribute.Strategy` for a `RunConfig.strategy` value, created once.

    Args:
        name: "default", "mirrored" or "multiworker".

    Returns:
        The strategy; use `with strategy.scope():` around model, optimizer and `compile()`.

    Raises:
        ConfigError: for an unknown name; for "multiworker", when TF_CONFIG is missing or invalid
            or TensorFlow already ran in this process.
    """
    import tensorflow as tf

    if name not in STRATEGIES:
        raise ConfigError(f"strategy={name!r} is not known. Allowed values: {', '.join(STRATEGIES)}. "
                          "Pass --strategy default, for example.")
    with _lock:
        if name in _strategies:
            return _strategies[name]
        if name == "default":
            # Outside every scope this is TensorFlow's default (one-device, no-op) strategy.
            strategy = tf.distribute.get_strategy()
            if tf.distribute.has_strategy():
                return strategy
        elif name == "mirrored":
            gpus = tf.config.list_logical_devices("GPU")
            # Without GPUs MirroredStrategy would pick CPU:0 only; logical CPUs (set up with
            # tf.config.set_logical_device_configuration) become replicas too.
            devices = gpus or tf.config.list_logical_devices("CPU")
            strategy = tf.distribute.MirroredStrategy(devices=[device.name for device in devices])
        else:
            read_tf_config()
            try:
                strategy = _keras_multi_worker_strategy_class()()
            except RuntimeError as error:
                if "startup" not in str(error).lower():
                    raise
                raise ConfigError(
                    "strategy='multiworker' must be set up before TensorFlow runs anything else in the process "
                    "(TensorFlow configures its collective operations once, at start-up), and this process has "
                    "already used TensorFlow. Start it in a fresh process: run `workbench pretrain --strategy "
                    "multiworker ...` (or transfer, compare, ...) on every worker, or restart the kernel and make "
                    "the multiworker run the first thing it does."
                ) from None
        _strategies[name] = strategy
        return strategy


def _keras_multi_worker_strategy_class() -> type:
    """`tf.distribute.MultiWorkerMirroredStrategy` with the `reduce` that Keras 3's `fit` calls.

    Keras 3 (3.15, TF 2.21) reduces a whole `(images, labels)` batch in one call before training,
    and each scalar loss and metric with `axis=0` after every step; TensorFlow's multi-worker
    `reduce` takes one value at a time and fails on both ("Attempt to convert a value (PerReplica",
    "Invalid reduction dimension 0 for input with 0 dimensions": tensorflow/tensorflow#72388). This
    reduces each value of a structure on its own, across replicas only for scalars.
    """
    import tensorflow as tf

    class KerasMultiWorkerMirroredStrategy(tf.distribute.MultiWorkerMirroredStrategy):
        def reduce(self, reduce_op: Any, value: Any, axis: int | None = None) -> Any:
            def reduce_one(item: Any) -> Any:
                local = item.values[0] if isinstance(item, tf.distribute.DistributedValues) else item
                rank = getattr(getattr(local, "shape", None), "rank", None)
                return super(KerasMultiWorkerMirroredStrategy, self).reduce(reduce_op, item, axis if rank else None)

            return tf.nest.map_structure(reduce_one, value)

    return KerasMultiWorkerMirroredStrategy


def read_tf_config(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Read and check the TF_CONFIG environment variable that describes a multi-worker cluster.

    Args:
        environ: the environment to read. Defaults to `os.environ`.

    Returns:
        The parsed TF_CONFIG: `cluster` (job → list of "host:port") and `task` (type, index).

    Raises:
        ConfigError: when TF_CONFIG is missing, not JSON, or does not describe this worker.
    """
    text = (os.environ if environ is None else environ).get("TF_CONFIG", "")
    if not text.strip():
        raise ConfigError(f"strategy='multiworker' needs the TF_CONFIG environment variable, which is not set. "
                          f"{_TF_CONFIG_HELP}")
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise ConfigError(f"TF_CONFIG={text!r} is not valid JSON ({error}). {_TF_CONFIG_HELP}") from None
    cluster = value.get("cluster") if isinstance(value, dict) else None
    task = value.get("task") if isinstance(value, dict) else None
    problem = None
    if not isinstance(cluster, dict) or not cluster:
        problem = "has no \"cluster\" mapping of job names to address lists"
    elif set(cluster) - {"chief", "worker"}:
        other_jobs = sorted(set(cluster) - {"chief", "worker"})
        problem = f"has jobs {other_jobs}; multiworker training uses only chief and worker"
    elif any(not isinstance(addresses, list) or not addresses
             or not all(isinstance(address, str) and ":" in address for address in addresses)
             for addresses in cluster.values()):
        problem = "lists addresses that are not \"host:port\" strings"
    elif not isinstance(task, dict) or task.get("type") not in cluster:
        problem = f"has a \"task\" whose \"type\" is not one of the cluster's jobs ({', '.join(cluster)})"
    elif not isinstance(task.get("index"), int) or not 0 <= task["index"] < len(cluster[task["type"]]):
        problem = (f"has task index {task.get('index')!r}, outside 0..{len(cluster[task['type']]) - 1} for the "
                   f"{len(cluster[task['type']])} {task['type']} address(es)")
    if problem:
        raise ConfigError(f"TF_CONFIG={text!r} {problem}. {_TF_CONFIG_HELP}")
    return value


def is_chief(strategy: Any) -> bool:
    """Whether this process writes the run: always, except on the non-chief workers of a cluster.

    The chief is the task of type "chief", or worker 0 when the cluster has no "chief" job.
    """
    resolver = getattr(strategy, "cluster_resolver", None)
    task_type = getattr(resolver, "task_type", None)
    if not task_type or task_type == "chief":
        return True
    return task_type == "worker" and resolver.task_id == 0 and "chief" not in resolver.cluster_spec().as_dict()


def replica_count(strategy: Any) -> int:
    """How many replicas share each batch (1 for the default strategy)."""
    return int(strategy.num_replicas_in_sync)


def worker_count(strategy: Any) -> int:
    """How many processes train together (1 unless the strategy is multi-worker)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not getattr(resolver, "task_type", None):
        return 1
    cluster = resolver.cluster_spec().as_dict()
    return sum(len(cluster.get(job, ())) for job in ("chief", "worker"))


@contextlib.contextmanager
def precision_policy(name: str) -> Iterator[None]:
    """Build layers under a Keras dtype policy, and put the previous global policy back after.

    Keras keeps the global policy per thread; restoring it matters because the panel and notebooks
    run several runs, with different precisions, in one process.

    Args:
        name: "float32", "mixed_float16" or "mixed_bfloat16".

    Raises:
        ConfigError: for an unknown name.
    """
    import keras

    if name not in PRECISIONS:
        raise ConfigError(f"precision={name!r} is not known. Allowed values: {', '.join(PRECISIONS)}. "
                          "Pass --precision float32, for example.")
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


@contextlib.contextmanager
def model_scope(strategy: Any, precision: str) -> Iterator[None]:
    """The scope models and optimizers of a run are created in: the strategy's, with its dtype policy."""
    with strategy.scope(), precision_policy(precision):
        yield


def shard_by_data(dataset: Any) -> Any:
    """Set a pipeline's multi-worker auto-sharding to DATA (None passes through).

    The workbench's pipelines read in-memory arrays (`from_tensor_slices`), not files, so the
    default AUTO policy would fail to shard by file and fall back, with a warning, to DATA anyway:
    every worker builds the same (equally seeded) pipeline and keeps its own share of each batch.
    Outside multi-worker training the option has no effect.
    """
    if dataset is None:
        return None
    import tensorflow as tf

    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)


def describe_distribution(name: str, strategy: Any, batch_size: int, precision: str) -> dict[str, Any]:
    """The manifest entry: strategy, workers, replicas, global and per-replica batch, precision."""
    replicas = replica_count(strategy)
    return {"strategy": name, "workers": worker_count(strategy), "replicas": replicas,
            "global_batch_size": batch_size, "per_replica_batch_size": batch_size // replicas,
            "precision": precision}
