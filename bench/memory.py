"""Benchmark 2: peak resident memory of training on a CIFAR-10-sized set, workbench / article baseline.

The set is 50,000 training and 10,000 test images of 32x32x3 (tiles of ../shared/data/cifar10-mini
where that folder exists, random uint8 images otherwise), given to both sides as the uint8 arrays
`keras.datasets.cifar10.load_data()` returns. Each side runs in a fresh process that reports its
own peak resident memory (VmHWM) at the end:

- baseline (the article's style): the task's splits divided by 255.0 (float64 copies; the uint8
  arrays are dropped, as `images = images / 255.0` drops them), the seed CNN, a plain `model.fit`
  with validation, the test set predicted;
- workbench: `workbench.pretrain(task="cifar10")` with LiveCurves (no frontend): the dataset stays
  uint8, in one copy (the task's splits read their rows of it; the tf.data pipeline gathers each
  batch from it in NumPy and scales batch by batch), evaluation included.

Both train the same number of batches (`--steps`, then they stop, since the peak is reached when
the data is set up and the first batches run, not later in an epoch; `--steps 0` trains a whole
epoch). Rounds alternate A B …; the figure is the median ratio workbench / baseline. Goal: ≤ 0.3
(issue #15). A third process, the floor (TensorFlow, Keras and the seed CNN trained on one batch,
no data set: the runtime baseline), splits the workbench's peak into runtime baseline, data (the
uint8 arrays, once) and the rest.

    .venv/bin/python bench/memory.py [--repeats 1] [--steps 100] [--train-images 50000]
"""

from __future__ import annotations

import argparse
import statistics
import sys

import common

GOAL = 0.3


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=1, help="A/B rounds, each side in a fresh process (default 1)")
    parser.add_argument("--steps", type=int, default=100, help="training batches per side; 0 = one epoch (default 100)")
    parser.add_argument("--train-images", type=int, default=50_000, help="training images (default 50000)")
    parser.add_argument("--test-images", type=int, default=10_000, help="test images (default 10000)")
    parser.add_argument("--batch-size", type=int, default=32, help="batch size (default 32)")
    parser.add_argument("--side", choices=("baseline", "workbench", "floor"), help=argparse.SUPPRESS)  # in a child
    common.add_json_argument(parser)
    arguments = parser.parse_args(argv)
    if arguments.side:
        return measure_one_side(arguments)

    child_arguments = [f"--steps={arguments.steps}", f"--train-images={arguments.train_images}",
                       f"--test-images={arguments.test_images}", f"--batch-size={arguments.batch_size}"]
    peaks: dict[str, list[float]] = {"baseline": [], "workbench": []}
    origin = ""
    print(f"memory: {arguments.repeats} round(s), each side in a fresh process, {arguments.train_images} + "
          f"{arguments.test_images} images of 32x32x3, "
          f"{f'{arguments.steps} batches' if arguments.steps else 'one epoch'} of {arguments.batch_size}", flush=True)
    for repeat in range(arguments.repeats):
        for side in ("baseline", "workbench"):
            peak, stdout = common.peak_rss_of(common.python_command("memory.py", f"--side={side}", *child_arguments))
            peaks[side].append(peak / 2**20)
            origin = next((line[len("DATA "):] for line in stdout.splitlines() if line.startswith("DATA ")), origin)
            print(f"  round {repeat + 1} {side}: peak RSS {peak / 2**20:,.0f} MiB", flush=True)
    # The floor: TensorFlow, Keras and the compiled seed CNN trained on 32 images, with no data set.
    floor = common.peak_rss_of(common.python_command("memory.py", "--side=floor", *child_arguments))[0] / 2**20
    data = (arguments.train_images + arguments.test_images) * 32 * 32 * 3 / 2**20
    split = {"runtime_baseline": round(floor), "data": round(data),
             "rest": round(statistics.median(peaks["workbench"]) - floor - data)}
    print(f"  workbench peak split: runtime baseline {split['runtime_baseline']:,} MiB (TensorFlow, Keras, the seed "
          f"CNN trained on one batch, no data set), data {split['data']:,} MiB (the uint8 arrays, once), the rest "
          f"{split['rest']:,} MiB; the baseline used {statistics.median(peaks['baseline']) - floor:,.0f} MiB above "
          "the runtime baseline", flush=True)
    ratio = common.median_ratio(peaks["workbench"], peaks["baseline"])
    met = ratio <= GOAL
    text = (f"peak RSS workbench / plain fit: median ratio {ratio:.3f} ({common.format_values(peaks['workbench'], 0)} "
            f"vs {common.format_values(peaks['baseline'], 0)} MiB; workbench = runtime baseline "
            f"{split['runtime_baseline']:,} + data {split['data']:,} + rest {split['rest']:,} MiB), "
            f"n={arguments.repeats}; goal <= {GOAL}: {'met' if met else 'NOT met'}")
    common.emit_result({
        "name": "memory", "value": round(ratio, 3), "unit": "ratio", "goal": f"<= {GOAL}", "met": met, "text": text,
        "details": {"peak_mib": peaks, "floor_mib": round(floor), "split_mib": split,
                    "train_images": arguments.train_images, "test_images": arguments.test_images,
                    "steps": arguments.steps, "data": origin},
    }, arguments.json)
    return 0


def measure_one_side(arguments: argparse.Namespace) -> int:
    """In a child process: train one side, then print this process's peak resident memory."""
    import keras

    class StopAfterBatches(keras.callbacks.Callback):
        """Stops `fit` after `steps` training batches (both sides get the same one)."""

        def __init__(self, steps: int) -> None:
            super().__init__()
            self.steps = steps

        def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
            if batch + 1 >= self.steps:
                self.model.stop_training = True

    if arguments.side == "floor":
        import numpy as np

        from workbench.models import build_model

        model = build_model("seed-cnn", common.CIFAR_CLASSES, common.CIFAR_SHAPE, seed=0)
        model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                      metrics=["accuracy"])
        model.fit(np.zeros((32, *common.CIFAR_SHAPE), "float32"), np.zeros(32, "int64"), verbose=0)
        model.predict(np.zeros((32, *common.CIFAR_SHAPE), "float32"), verbose=0)
        common.report_own_peak_rss()
        return 0
    origin = common.install_cifar10_stand_in(arguments.train_images, arguments.test_images)
    print(f"DATA {origin}")
    callbacks = [StopAfterBatches(arguments.steps)] if arguments.steps else []
    if arguments.side == "baseline":
        import workbench.data

        task_data = workbench.data.prepare_task("cifar10", None, 0.1, 0)
        # The article holds only its float64 copies: drop every other reference to the uint8 data
        # (the stand-in's arrays and the workbench's per-process dataset cache).
        common.remove_cifar10_stand_in()
        workbench.data._load_named.cache_clear()
        common.fit_baseline(task_data, epochs=1, batch_size=arguments.batch_size, seed=0, callbacks=callbacks)
    else:
        import workbench
        from workbench.callbacks import LiveCurves

        workbench.pretrain(task="cifar10", epochs=1, batch_size=arguments.batch_size, seed=0, name="memory",
                           runs_dir=str(common.scratch_folder("bench-memory-")),
                           callbacks=[LiveCurves(None, label="memory"), *callbacks])
    common.report_own_peak_rss()
    return 0


if __name__ == "__main__":
    sys.exit(main())
