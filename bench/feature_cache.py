"""Benchmark: feature transfer with cached features vs running the frozen extractor every epoch.

Interleaves uncached (A) and cached (B) runs, A B A B …, on the same config and seed, and prints
the median ratio of seconds per epoch (A / B; epochs after the first, which carries one-time
tracing and, for B, the feature extraction), the ratio of whole-run training time, and the test
accuracies of both. Goal: ≥ 10× per epoch.

    .venv/bin/python bench/feature_cache.py [--repeats 3] [--epochs 10] [--model seed-cnn]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--model", default="seed-cnn", help="seed-cnn or mobilenet_v2 (bigger extractor)")
    parser.add_argument("--task", default="mnist-5k:5-9")
    arguments = parser.parse_args(argv)

    import workbench

    runs_dir = tempfile.mkdtemp(prefix="bench-cache-")
    source = workbench.pretrain(task="mnist-5k:0-4", model=arguments.model, per_class=50, epochs=1,
                                name="source", runs_dir=runs_dir)
    common = {"source": str(source.path), "task": arguments.task, "mode": "feature", "epochs": arguments.epochs,
              "runs_dir": runs_dir, "seed": 0}
    timings: dict[str, list[float]] = {"off": [], "on": []}
    epoch_seconds: dict[str, list[float]] = {"off": [], "on": []}
    accuracies: dict[str, list[float]] = {"off": [], "on": []}
    for repeat in range(arguments.repeats):
        for cache in ("off", "on"):
            run = workbench.transfer(cache_features=cache, name=f"{cache}-{repeat}", **common)
            timings[cache].append(run.manifest["train_seconds"])
            epoch_seconds[cache].append(statistics.median(row["seconds"] for row in run.history[1:]))
            accuracies[cache].append(run.test_accuracy)
    ratios = [uncached / cached for uncached, cached in zip(timings["off"], timings["on"])]
    epoch_ratios = [uncached / cached for uncached, cached in zip(epoch_seconds["off"], epoch_seconds["on"])]
    print(f"feature caching, {arguments.model} on {arguments.task}, {arguments.epochs} epochs, "
          f"{arguments.repeats} interleaved repeats")
    print(f"  train seconds uncached: {', '.join(f'{t:.2f}' for t in timings['off'])}")
    print(f"  train seconds cached:   {', '.join(f'{t:.2f}' for t in timings['on'])}")
    print(f"  test accuracy uncached {statistics.mean(accuracies['off']):.3f}, cached {statistics.mean(accuracies['on']):.3f}")
    print(f"  seconds per epoch uncached: {', '.join(f'{t:.3f}' for t in epoch_seconds['off'])}")
    print(f"  seconds per epoch cached:   {', '.join(f'{t:.3f}' for t in epoch_seconds['on'])}")
    print(f"  speed-up per epoch (median of uncached / cached): {statistics.median(epoch_ratios):.1f}x  (goal >= 10x)")
    print(f"  speed-up of the whole training (median): {statistics.median(ratios):.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
