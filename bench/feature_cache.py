"""Benchmark 4: feature transfer with cached features vs running the frozen extractor every epoch.

Interleaves uncached (A) and cached (B) runs, A B A B …, on the same config and seed, and prints
the median ratio of seconds per epoch (A / B; epochs after the first, which carries one-time
tracing and, for B, the feature extraction), the ratio of whole-run training time, and the test
accuracies of both. Goal: ≥ 10× per epoch.

    .venv/bin/python bench/feature_cache.py [--repeats 3] [--epochs 10] [--model seed-cnn]
"""

from __future__ import annotations

import argparse
import statistics
import sys

import common

GOAL = 10.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--model", default="seed-cnn", help="seed-cnn or mobilenet_v2 (bigger extractor)")
    parser.add_argument("--task", default="mnist-5k:5-9")
    common.add_json_argument(parser)
    arguments = parser.parse_args(argv)

    import workbench

    runs_dir = str(common.scratch_folder("bench-cache-"))
    source = workbench.pretrain(task="mnist-5k:0-4", model=arguments.model, per_class=50, epochs=1,
                                name="source", runs_dir=runs_dir)
    settings = {"source": str(source.path), "task": arguments.task, "mode": "feature", "epochs": arguments.epochs,
                "runs_dir": runs_dir, "seed": 0, "overwrite": True}

    def transfer(cache: str) -> dict[str, float]:
        run = workbench.transfer(cache_features=cache, name=f"cache-{cache}", **settings)
        return {"train": run.manifest["train_seconds"],
                "epoch": statistics.median(row["seconds"] for row in run.history[1:]),
                "accuracy": run.test_accuracy}

    # No warm-up round: the first epoch of every run is left out of the per-epoch figure instead.
    results = common.interleave({"off": lambda: transfer("off"), "on": lambda: transfer("on")},
                                arguments.repeats, warmup=False, log=None)
    train = {cache: [row["train"] for row in rows] for cache, rows in results.items()}
    epoch = {cache: [row["epoch"] for row in rows] for cache, rows in results.items()}
    accuracy = {cache: statistics.mean(row["accuracy"] for row in rows) for cache, rows in results.items()}
    epoch_ratio = common.median_ratio(epoch["off"], epoch["on"])
    train_ratio = common.median_ratio(train["off"], train["on"])
    print(f"feature caching, {arguments.model} on {arguments.task}, {arguments.epochs} epochs, "
          f"{arguments.repeats} interleaved repeats")
    print(f"  train seconds uncached: {common.format_values(train['off'], 2)}")
    print(f"  train seconds cached:   {common.format_values(train['on'], 2)}")
    print(f"  test accuracy uncached {accuracy['off']:.3f}, cached {accuracy['on']:.3f}")
    print(f"  seconds per epoch uncached: {common.format_values(epoch['off'])}")
    print(f"  seconds per epoch cached:   {common.format_values(epoch['on'])}")
    print(f"  speed-up of the whole training (median): {train_ratio:.1f}x")
    met = epoch_ratio >= GOAL
    text = (f"speed-up per epoch, uncached / cached: median {epoch_ratio:.1f}x (whole training {train_ratio:.1f}x), "
            f"n={arguments.repeats} pairs; goal >= {GOAL:.0f}x: {'met' if met else 'NOT met'}")
    common.emit_result({
        "name": "feature_cache", "value": round(epoch_ratio, 1), "unit": "x", "goal": f">= {GOAL:.0f}x", "met": met,
        "text": text,
        "details": {"train_ratio": round(train_ratio, 2), "train_seconds": train, "epoch_seconds": epoch,
                    "test_accuracy": accuracy, "model": arguments.model, "task": arguments.task,
                    "epochs": arguments.epochs, "repeats": arguments.repeats},
    }, arguments.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
