"""What the benchmarks share: interleaved repeats, medians of ratios, peak memory of a child process,
CIFAR-sized data, the article-style baseline, the machine's description and the result line.

Every benchmark prints its figure as a ratio (or a rate) measured in one run, never against a
number from another day: the machine is shared and noisy, so contenders alternate A B A B … and
the median of the per-pair ratios is reported.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# Benchmarks time training: a run served from the run cache (workbench/run_cache.py) would time a
# copy. Every benchmark process, and every process it starts, trains; figure 5 turns it back on
# for its "regenerated" timing, which measures the cache itself.
os.environ.setdefault("WORKBENCH_RUN_CACHE", "off")

REPO = Path(__file__).resolve().parents[1]
# The shared CIFAR-10 sample beside the checkout (300 train and 100 test JPEGs per class).
CIFAR10_MINI = REPO.parent / "shared" / "data" / "cifar10-mini"
CIFAR_SHAPE = (32, 32, 3)
CIFAR_CLASSES = 10


# ---------------------------------------------------------------------------------------------
# Timing
# ---------------------------------------------------------------------------------------------

def interleave(contenders: dict[str, Callable[[], Any]], repeats: int, warmup: bool = True,
               log: Callable[[str], None] | None = print) -> dict[str, list[Any]]:
    """Call each contender once per repeat, in turn (A B A B …), and collect what they return.

    Args:
        contenders: name → a function of no arguments; it returns its own measurement (seconds,
            a dict, …), or None to have its wall time measured here.
        repeats: rounds; each contender runs once per round.
        warmup: run every contender once first and discard it (one-time costs: imports, dataset
            caches, TensorFlow's start-up). Defaults to True.
        log: where a line per measurement goes; None is silent. Defaults to print.

    Returns:
        name → the list of measurements, in round order.
    """
    if warmup:
        for name, function in contenders.items():
            started = time.perf_counter()
            function()
            if log:
                log(f"  warm-up {name}: {time.perf_counter() - started:.2f} s")
    results: dict[str, list[Any]] = {name: [] for name in contenders}
    for repeat in range(repeats):
        for name, function in contenders.items():
            started = time.perf_counter()
            value = function()
            results[name].append(time.perf_counter() - started if value is None else value)
            if log:
                log(f"  round {repeat + 1} {name}: {_describe(results[name][-1])}")
    return results


def _describe(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    if isinstance(value, dict):
        return ", ".join(f"{key} {_describe(item)}" for key, item in value.items())
    return str(value)


def median_ratio(numerators: Sequence[float], denominators: Sequence[float]) -> float:
    """The median of the per-round ratios numerator / denominator (pairs, not medians of each side)."""
    return statistics.median(a / b for a, b in zip(numerators, denominators, strict=True))


def scratch_folder(prefix: str) -> Path:
    """A new temporary folder (runs, reports, results) that is removed when the process exits."""
    import atexit
    import shutil
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix=prefix))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


def format_values(values: Sequence[float], digits: int = 3) -> str:
    """'1.234, 1.250, …' for a list of numbers."""
    return ", ".join(f"{value:.{digits}f}" for value in values)


# ---------------------------------------------------------------------------------------------
# Memory
# ---------------------------------------------------------------------------------------------

def peak_rss_of(argv: Sequence[str], env: dict[str, str] | None = None) -> tuple[int, str]:
    """Run a command in a fresh process; return its peak resident memory in bytes and its stdout.

    The child reports its own peak (`report_own_peak_rss`, VmHWM) as its last act. That is the
    peak of that one process; `getrusage(RUSAGE_CHILDREN)` would give the largest child so far,
    so in A B A B rounds each side would see the other's peak.

    Raises:
        RuntimeError: when the command fails (its stderr tail in the message).
    """
    process = subprocess.Popen(list(argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, **(env or {})}, cwd=REPO)
    stdout, stderr = process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({process.returncode}):\n{stderr[-3000:]}")
    peak = _reported_peak(stdout)
    return peak, stdout


PEAK_MARKER = "PEAK_RSS_BYTES"


def report_own_peak_rss() -> None:
    """Print this process's peak resident memory (VmHWM) for `peak_rss_of` to read."""
    print(f"{PEAK_MARKER} {own_peak_rss()}", flush=True)


def own_peak_rss() -> int:
    """This process's peak resident memory in bytes (Linux VmHWM; ru_maxrss elsewhere)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    import resource

    scale = 1 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


def _reported_peak(stdout: str) -> int:
    lines = [line for line in stdout.splitlines() if line.startswith(PEAK_MARKER)]
    if not lines:
        raise RuntimeError(f"the child printed no {PEAK_MARKER} line:\n{stdout[-2000:]}")
    return int(lines[-1].split()[1])


# ---------------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------------

def cifar_sized_arrays(train_count: int, test_count: int, seed: int = 0) -> tuple[Any, Any, Any, Any, str]:
    """CIFAR-10-sized uint8 data: tiles of ../shared/data/cifar10-mini, or random images without it.

    Returns:
        train_images (N, 32, 32, 3) uint8, train_labels (N,) int64, test_images, test_labels and a
        sentence saying where the images came from.
    """
    import numpy as np

    if CIFAR10_MINI.is_dir():
        (train_images, train_labels), (test_images, test_labels) = (
            _read_cifar10_mini(CIFAR10_MINI / split) for split in ("train", "test"))
        origin = (f"{CIFAR10_MINI} tiled: {len(train_labels)} train and {len(test_labels)} test images "
                  f"repeated to {train_count} and {test_count}")
        return (*_tile(train_images, train_labels, train_count), *_tile(test_images, test_labels, test_count), origin)
    rng = np.random.default_rng(seed)
    origin = f"random uint8 images ({CIFAR10_MINI} is absent)"
    return (rng.integers(0, 256, (train_count, *CIFAR_SHAPE), dtype=np.uint8),
            rng.integers(0, CIFAR_CLASSES, train_count).astype(np.int64),
            rng.integers(0, 256, (test_count, *CIFAR_SHAPE), dtype=np.uint8),
            rng.integers(0, CIFAR_CLASSES, test_count).astype(np.int64), origin)


def _read_cifar10_mini(split_root: Path) -> tuple[Any, Any]:
    import numpy as np
    from PIL import Image

    images, labels = [], []
    for label, class_dir in enumerate(sorted(path for path in split_root.iterdir() if path.is_dir())):
        for path in sorted(class_dir.iterdir()):
            with Image.open(path) as image:
                images.append(np.asarray(image.convert("RGB"), dtype=np.uint8))
            labels.append(label)
    return np.stack(images), np.asarray(labels, dtype=np.int64)


def _tile(images: Any, labels: Any, count: int) -> tuple[Any, Any]:
    """`count` images: the set in a fixed shuffled order (so any prefix mixes the classes), repeated."""
    import numpy as np

    order = np.random.default_rng(0).permutation(len(labels))
    indices = np.concatenate([order] * -(-count // len(labels)))[:count]
    return images[indices], labels[indices]


def install_cifar10_stand_in(train_count: int, test_count: int) -> str:
    """Make `keras.datasets.cifar10.load_data()` return CIFAR-sized arrays without a download.

    The workbench then reads them through its ordinary `cifar10` task, exactly as it reads the
    real CIFAR-10 once Keras has cached it (uint8 arrays, labels of shape (N, 1)). Nothing is
    written to ~/.keras. Use task "cifar10" afterwards.

    Returns:
        Where the images came from.
    """
    import keras

    train_images, train_labels, test_images, test_labels, origin = cifar_sized_arrays(train_count, test_count)
    result = ((train_images, train_labels.astype("uint8")[:, None]),
              (test_images, test_labels.astype("uint8")[:, None]))
    _ORIGINAL_LOAD_DATA.setdefault("cifar10", keras.datasets.cifar10.load_data)
    keras.datasets.cifar10.load_data = lambda: result
    return origin


_ORIGINAL_LOAD_DATA: dict[str, Any] = {}


def remove_cifar10_stand_in() -> None:
    """Put Keras' own `cifar10.load_data` back, releasing the stand-in's arrays."""
    import keras

    if "cifar10" in _ORIGINAL_LOAD_DATA:
        keras.datasets.cifar10.load_data = _ORIGINAL_LOAD_DATA.pop("cifar10")


# ---------------------------------------------------------------------------------------------
# The article's baseline
# ---------------------------------------------------------------------------------------------

def fit_baseline(task_data: Any, epochs: int, batch_size: int, seed: int, learning_rate: float = 1e-3,
                 save_to: Path | None = None, callbacks: Sequence[Any] = ()) -> dict[str, float]:
    """The article's style: the seed CNN, a plain `model.fit` on NumPy arrays scaled with `/ 255.0`.

    Same model (built by the workbench's builder, so the same initial weights for the same seed),
    optimizer, loss, batch size, epochs and splits as a workbench run of that task; validation on
    the validation split each epoch; then the test set is predicted (batches of 4 × batch size,
    as the workbench evaluates) and, with `save_to`, the model is saved. The uint8 splits are
    released as each float64 copy is made, as `images = images / 255.0` does in the article.

    Returns:
        fit_seconds (the `model.fit` call), total_seconds (scaling, building, fit, predict,
        save) and test_accuracy.
    """
    import keras
    import numpy as np

    from workbench.models import build_model

    started = time.perf_counter()
    (train_images, train_labels), (validation_images, validation_labels), (test_images, test_labels) = (
        task_data.train, task_data.validation, task_data.test)
    task_data.train = task_data.validation = task_data.test = None  # the float64 copies replace them
    train_images = train_images / 255.0
    validation_images = validation_images / 255.0
    test_images = test_images / 255.0
    model = build_model("seed-cnn", task_data.num_classes, tuple(train_images.shape[1:]), seed=seed)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    fit_started = time.perf_counter()
    model.fit(train_images, train_labels, batch_size=batch_size, epochs=epochs,
              validation_data=(validation_images, validation_labels) if len(validation_labels) else None,
              verbose=0, callbacks=list(callbacks))
    fit_seconds = time.perf_counter() - fit_started
    logits = model.predict(test_images, batch_size=batch_size * 4, verbose=0)
    accuracy = float((np.argmax(logits, axis=1) == test_labels).mean())
    if save_to is not None:
        model.save(save_to)
    return {"fit_seconds": fit_seconds, "total_seconds": time.perf_counter() - started, "test_accuracy": accuracy}


# ---------------------------------------------------------------------------------------------
# Arithmetic: FLOPs of a model, the machine's matmul rate
# ---------------------------------------------------------------------------------------------

def forward_flops_per_image(model: Any) -> int:
    """Floating-point operations of one image's forward pass, counted from the layer shapes.

    Convolutions and dense layers only (2 per multiply-add; biases, activations, pooling and
    BatchNorm are left out: they are a few percent and memory-bound). A training step costs about
    3x this: the forward pass, then the gradients with respect to activations and to weights.
    """
    import math

    total = 0
    for layer in _flat_layers(model):
        kind = type(layer).__name__
        if kind in ("Conv2D", "DepthwiseConv2D", "Dense"):
            output = layer.output.shape
            kernel = layer.kernel.shape
            positions = math.prod(int(size) for size in output[1:-1])  # 1 for Dense
            if kind == "DepthwiseConv2D":
                total += 2 * positions * int(kernel[0]) * int(kernel[1]) * int(kernel[2]) * int(kernel[3])
            else:
                total += 2 * positions * math.prod(int(size) for size in kernel)
    return total


def _flat_layers(model: Any) -> list[Any]:
    layers = []
    for layer in model.layers:
        layers.extend(_flat_layers(layer) if hasattr(layer, "layers") and layer.layers else [layer])
    return layers


def matmul_rate(size: int = 4096, repeats: int = 3) -> dict[str, float]:
    """This machine's dense float32 matmul rate with TensorFlow: `tf.linalg.matmul` of two size² matrices.

    Warmed up once, then timed `repeats` times; each product is read back so the time covers it.

    Returns:
        flops_per_second (median of the repeats, wall clock), best_flops_per_second, and
        flops_per_cpu_second (the same work per second of this process's CPU time, which load
        from other processes on a shared machine blurs less).
    """
    import tensorflow as tf

    first = tf.random.uniform((size, size), dtype=tf.float32)
    second = tf.random.uniform((size, size), dtype=tf.float32)
    float(tf.linalg.matmul(first, second)[0, 0])
    work = 2 * size ** 3
    rates, cpu_rates = [], []
    for _ in range(repeats):
        cpu_started, started = cpu_seconds(), time.perf_counter()
        float(tf.linalg.matmul(first, second)[0, 0])
        rates.append(work / (time.perf_counter() - started))
        cpu_rates.append(work / max(cpu_seconds() - cpu_started, 1e-9))
    return {"flops_per_second": statistics.median(rates), "best_flops_per_second": max(rates),
            "flops_per_cpu_second": statistics.median(cpu_rates)}


def cpu_seconds() -> float:
    """CPU time (user + system) this process has used, all threads."""
    times = os.times()
    return times.user + times.system


# ---------------------------------------------------------------------------------------------
# The machine and the result
# ---------------------------------------------------------------------------------------------

def machine_description() -> dict[str, str]:
    """CPU model, cores, memory, OS, Python and (when importable) TensorFlow and Keras versions."""
    cpu = platform.processor() or platform.machine()
    vector = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
            elif line.startswith("flags") and not vector:
                flags = set(line.split(":", 1)[1].split())
                # Which kernels TensorFlow can use (oneDNN is on by default only with AVX-512 and up).
                vector = ", ".join(flag for flag in ("avx512f", "avx2", "fma") if flag in flags) or "no AVX2"
    except OSError:
        pass
    if vector:
        cpu = f"{cpu} ({vector})"
    memory = "unknown"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = f"{int(line.split()[1]) / 1024 ** 2:.1f} GiB"
                break
    except OSError:
        pass
    description = {
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "memory": memory,
        "os": platform.platform(),
        "python": platform.python_version(),
    }
    try:
        from importlib.metadata import version

        description["tensorflow"] = version("tensorflow")
        description["keras"] = version("keras")
    except Exception:  # noqa: BLE001 - a description without versions is still a description
        pass
    return description


def emit_result(figure: dict[str, Any], json_path: str | None) -> None:
    """Print the one result line and, with `json_path`, write the figure for bench/run_all.py.

    Args:
        figure: name, value (a number or None), unit, text (the human line: value, n, goal),
            goal (text), met (True, False or None when there is no goal), details (anything).
        json_path: where to write it as JSON; None writes nothing.
    """
    print(f"RESULT {figure['name']}: {figure['text']}", flush=True)
    if json_path:
        Path(json_path).write_text(json.dumps(figure, indent=2, default=float) + "\n")


def add_json_argument(parser: Any) -> None:
    """The `--json PATH` option every benchmark takes (bench/run_all.py reads it)."""
    parser.add_argument("--json", metavar="PATH", help="also write the figure as JSON to PATH (for bench/run_all.py)")


def python_command(script: str, *arguments: str) -> list[str]:
    """Run a bench script with this interpreter (the .venv one under `make bench`)."""
    return [sys.executable, str(REPO / "bench" / script), *arguments]
