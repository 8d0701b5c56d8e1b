"""Benchmark 7: time to the first epoch on a 60,000-file CIFAR-10 folder, first run vs a cached run.

Builds a folder with CIFAR-10's full layout (train/<class>/ 5,000 JPEGs and test/<class>/ 1,000 per
class: 60,000 files) by tiling ../shared/data/cifar10-mini (300 + 100 JPEGs per class) with hard
links (copies where the file system refuses links; random JPEGs where cifar10-mini is absent).
Then, each in a fresh process (nothing cached in memory), `workbench.pretrain(task="cifar10",
data_root=FOLDER)` is timed from the process's start to the moment its first epoch begins
(imports, reading the folder, the splits, the pipeline and the model; the run is then stopped), and
reading the folder alone is timed inside it:

- first: an empty decoded-image cache (`WORKBENCH_CACHE_DIR`), so every file is checked and decoded;
- cached: the cache the first runs filled, so the arrays are read back (`workbench.data.decoded_cache`).

The two alternate (first, cached, first, cached, …); the figure is the median of each and of
their per-round ratio, with each process's peak resident memory. The folder's files are in the
page cache for both (the links share 4,000 inodes), so "first" measures decoding, not the disk.

    .venv/bin/python bench/dataset_cache.py [--repeats 3] [--train-per-class 5000] [--test-per-class 1000]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import common

CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
FIRST_EPOCH_MARKER = "FIRST_EPOCH_AT"
LOAD_MARKER = "LOAD_SECONDS"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3, help="rounds of (first, cached) (default 3)")
    parser.add_argument("--train-per-class", type=int, default=5000, help="train images per class (default 5000)")
    parser.add_argument("--test-per-class", type=int, default=1000, help="test images per class (default 1000)")
    parser.add_argument("--child", metavar="FOLDER", help=argparse.SUPPRESS)  # one timed run, in its own process
    common.add_json_argument(parser)
    arguments = parser.parse_args(argv)
    if arguments.child:
        return child(arguments.child)

    scratch = common.scratch_folder("bench-dataset-cache-")
    started = time.perf_counter()
    folder, origin = tile_folder(scratch / "cifar10", arguments.train_per_class, arguments.test_per_class)
    files = sum(1 for _ in folder.rglob("*.jpg"))
    print(f"{files:,} files in {folder} ({origin}), built in {time.perf_counter() - started:.1f} s", flush=True)
    cached_dir = scratch / "cache-kept"

    def first() -> dict[str, float]:
        empty = scratch / f"cache-empty-{time.monotonic_ns()}"
        result = timed_child(folder, empty)
        shutil.rmtree(empty, ignore_errors=True)
        return result

    timed_child(folder, cached_dir)  # fills the kept cache (not counted)
    results = common.interleave({"first": first, "cached": lambda: timed_child(folder, cached_dir)},
                                arguments.repeats, warmup=False)
    seconds = {name: [row["seconds"] for row in rows] for name, rows in results.items()}
    loads = {name: [row["load_seconds"] for row in rows] for name, rows in results.items()}
    peaks = {name: [row["peak_mib"] for row in rows] for name, rows in results.items()}
    ratio = common.median_ratio(seconds["first"], seconds["cached"])
    first_median, cached_median = statistics.median(seconds["first"]), statistics.median(seconds["cached"])
    load_medians = {name: statistics.median(values) for name, values in loads.items()}
    cache_mib = sum(path.stat().st_size for path in cached_dir.rglob("*") if path.is_file()) / 2 ** 20
    text = (f"time to the first epoch on {files:,} JPEGs: first run {first_median:.1f} s, cached {cached_median:.1f} s "
            f"(median ratio {ratio:.1f}x, n={arguments.repeats} rounds), of which reading the folder "
            f"{load_medians['first']:.1f} s vs {load_medians['cached']:.1f} s; peak RSS "
            f"{statistics.median(peaks['first']):.0f} vs {statistics.median(peaks['cached']):.0f} MiB; cache "
            f"{cache_mib:.0f} MiB on disk")
    for name in ("first", "cached"):
        print(f"  {name + ':':<8}{common.format_values(seconds[name], 2)} s to the first epoch, reading the folder "
              f"{common.format_values(loads[name], 2)} s, peak {common.format_values(peaks[name], 0)} MiB")
    common.emit_result({
        "name": "dataset_cache", "value": round(cached_median, 2), "unit": "s", "goal": "report (no goal)",
        "met": None, "text": text,
        "details": {"first_seconds": seconds["first"], "cached_seconds": seconds["cached"], "ratio": round(ratio, 2),
                    "load_seconds": loads, "load_medians": load_medians,
                    "first_median": round(first_median, 2), "peak_mib": peaks, "files": files,
                    "cache_mib": round(cache_mib, 1), "origin": origin, "repeats": arguments.repeats},
    }, arguments.json)
    return 0


def tile_folder(target: Path, train_per_class: int, test_per_class: int) -> tuple[Path, str]:
    """CIFAR-10's folder layout with `train_per_class` + `test_per_class` files per class, by hard links.

    Returns:
        The folder, and where its images came from.
    """
    source = common.CIFAR10_MINI
    origin = f"{source} tiled by hard links"
    if not source.is_dir():
        source = _random_jpegs(target.parent / "random-seed-images")
        origin = f"random 32x32 JPEGs tiled ({common.CIFAR10_MINI} is absent)"
    for split, count in (("train", train_per_class), ("test", test_per_class)):
        for class_name in CLASSES:
            images = sorted((source / split / class_name).iterdir())
            out = target / split / class_name
            out.mkdir(parents=True)
            for number in range(count):
                _link_or_copy(images[number % len(images)], out / f"{number:05d}.jpg")
    return target, origin


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def _random_jpegs(folder: Path) -> Path:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    for split, count in (("train", 300), ("test", 100)):
        for class_name in CLASSES:
            (folder / split / class_name).mkdir(parents=True)
            for number in range(count):
                Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(
                    folder / split / class_name / f"{number:04d}.jpg", quality=90)
    return folder


def timed_child(folder: Path, cache_dir: Path) -> dict[str, float]:
    """Seconds from starting a fresh process to its first epoch, and that process's peak memory (MiB)."""
    started = time.time()
    finished = subprocess.run([*common.python_command("dataset_cache.py"), "--child", str(folder)],
                              capture_output=True, text=True, cwd=common.REPO,
                              env={**os.environ, "WORKBENCH_CACHE_DIR": str(cache_dir)})
    if finished.returncode != 0:
        raise RuntimeError(f"the timed run failed ({finished.returncode}):\n{finished.stderr[-3000:]}")
    marks = {marker: [line.split()[1] for line in finished.stdout.splitlines() if line.startswith(marker)]
             for marker in (FIRST_EPOCH_MARKER, LOAD_MARKER)}
    if not all(marks.values()):
        raise RuntimeError(f"the timed run printed no {FIRST_EPOCH_MARKER} line:\n{finished.stdout[-2000:]}")
    peak = common._reported_peak(finished.stdout)
    return {"seconds": float(marks[FIRST_EPOCH_MARKER][0]) - started, "load_seconds": float(marks[LOAD_MARKER][0]),
            "peak_mib": peak / 2 ** 20}


def child(folder: str) -> int:
    """One run: pretrain on the whole folder, print when its first epoch begins, then stop it.

    The folder is read first on its own (timed), then by the run, which finds it in the process's
    memory: the time to the first epoch is the same work either way.
    """
    import tempfile
    import threading

    import keras

    import workbench
    from workbench.data import load_dataset

    started = time.perf_counter()
    load_dataset("cifar10", data_root=folder)
    print(f"{LOAD_MARKER} {time.perf_counter() - started}", flush=True)
    stop = threading.Event()

    class FirstEpoch(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
            print(f"{FIRST_EPOCH_MARKER} {time.time()}", flush=True)

        def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
            stop.set()  # the first epoch has begun: nothing more to measure

    with tempfile.TemporaryDirectory(prefix="bench-dataset-cache-runs-") as runs_dir:
        workbench.pretrain(task="cifar10", data_root=folder, per_class=50, epochs=1, name="first-epoch",
                           runs_dir=runs_dir, callbacks=[FirstEpoch()], stop_event=stop)
    common.report_own_peak_rss()
    return 0


if __name__ == "__main__":
    sys.exit(main())
