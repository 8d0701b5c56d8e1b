"""Benchmark 1: what a workbench training run costs over the article's plain `model.fit`.

A (baseline, the article's style): the seed CNN, `model.fit` on NumPy arrays scaled with `/ 255.0`,
validation on the validation split each epoch, then the test set predicted and the model saved.
B (workbench): `workbench.pretrain` of the same task: config checks, the task's splits (the
dataset itself is loaded once per process, by the warm-up), build, compile, `fit` on the tf.data
pipeline with the run's callbacks (history, stop flag, NaN guard, a checkpoint every epoch) plus
`LiveCurves` with no frontend (figure None, as under papermill), then the test set predicted,
metrics computed and the run directory written (model, history, metrics, manifest).

Both sides: the same splits (CIFAR-sized 32x32x3 images, so no input adaptation is needed), model
builder and seed (the same initial weights), optimizer, loss, batch size and epochs. Rounds
alternate A B A B … after one warm-up of each; the figure is the median of the per-round ratios
B / A of the whole run. The ratio of the `fit` calls alone (the manifest's `train_seconds` against
the baseline's `fit`) is printed too. Goal: ≤ 1.05.

    .venv/bin/python bench/overhead.py [--repeats 5] [--epochs 3] [--train-images 3000]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import common

GOAL = 1.05


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5, help="A/B rounds after the warm-up (default 5)")
    parser.add_argument("--epochs", type=int, default=3, help="epochs per run (default 3)")
    parser.add_argument("--train-images", type=int, default=3000,
                        help="CIFAR-sized training pool; 10%% of it is held out for validation (default 3000)")
    parser.add_argument("--test-images", type=int, default=1000, help="test images (default 1000)")
    parser.add_argument("--batch-size", type=int, default=32, help="batch size (default 32)")
    parser.add_argument("--every-n-batches", type=int, default=None,
                        help="LiveCurves also records a point every N batches (default: epoch ends, as the panel)")
    common.add_json_argument(parser)
    arguments = parser.parse_args(argv)

    import workbench
    from workbench.callbacks import LiveCurves
    from workbench.data import prepare_task

    origin = common.install_cifar10_stand_in(arguments.train_images, arguments.test_images)
    runs_dir = common.scratch_folder("bench-overhead-")
    settings = {"task": "cifar10", "epochs": arguments.epochs, "batch_size": arguments.batch_size, "seed": 0,
                "validation_split": 0.1}

    def baseline() -> dict[str, float]:
        task_data = prepare_task("cifar10", None, settings["validation_split"], settings["seed"])
        result = common.fit_baseline(task_data, arguments.epochs, arguments.batch_size, settings["seed"],
                                     save_to=runs_dir / "baseline.keras")
        return {"total": result["total_seconds"], "fit": result["fit_seconds"], "accuracy": result["test_accuracy"]}

    def workbench_run() -> dict[str, float]:
        curves = LiveCurves(None, label="bench", every_n_batches=arguments.every_n_batches)
        started = time.perf_counter()
        run = workbench.pretrain(callbacks=[curves], name="bench", runs_dir=str(runs_dir), overwrite=True, **settings)
        return {"total": time.perf_counter() - started, "fit": run.manifest["train_seconds"],
                "accuracy": run.test_accuracy}

    print(f"overhead: {arguments.repeats} interleaved rounds (A = plain fit, B = workbench run), "
          f"{arguments.epochs} epochs, batch {arguments.batch_size}; data: {origin}", flush=True)
    results = common.interleave({"baseline": baseline, "workbench": workbench_run}, arguments.repeats,
                                log=lambda line: print(line, flush=True))
    total = {side: [row["total"] for row in rows] for side, rows in results.items()}
    fit = {side: [row["fit"] for row in rows] for side, rows in results.items()}
    whole_ratio = common.median_ratio(total["workbench"], total["baseline"])
    fit_ratio = common.median_ratio(fit["workbench"], fit["baseline"])
    for side in ("baseline", "workbench"):
        print(f"  {side:9} whole run s: {common.format_values(total[side], 2)}   fit s: "
              f"{common.format_values(fit[side], 2)}   test accuracy "
              f"{statistics.mean(row['accuracy'] for row in results[side]):.3f}")
    print(f"  fit calls only (manifest train_seconds / baseline fit): median ratio {fit_ratio:.3f}")
    met = whole_ratio <= GOAL
    text = (f"workbench run / plain fit, whole run: median ratio {whole_ratio:.3f} (fit alone {fit_ratio:.3f}), "
            f"n={arguments.repeats} rounds; goal <= {GOAL}: {'met' if met else 'NOT met'}")
    common.emit_result({
        "name": "overhead", "value": round(whole_ratio, 3), "unit": "ratio", "goal": f"<= {GOAL}", "met": met,
        "text": text,
        "details": {"fit_ratio": round(fit_ratio, 3), "whole_seconds": total, "fit_seconds": fit,
                    "repeats": arguments.repeats, "epochs": arguments.epochs, "data": origin},
    }, arguments.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
