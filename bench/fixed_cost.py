"""Benchmark 9: the per-run fixed cost, the wall time of a one-epoch run on 25 images minus its fit time,
in a warm process (issue #15).

A study trains many short runs in one process; each pays for building the model, copying the
source's weights, compiling and tracing the steps, evaluating the test set, and writing the run
directory (model, history, metrics, manifest), whatever it trains. This trains 25 images (mnist-5k
5-9, 5 per class, the run cache off) again and again in one process, as the runs of a study follow
each other (the seed changes from run to run), and times each phase. Each run trains two epochs:
the second one's time is the fit time of an epoch (its steps are traced by then, and the default
`steps_per_execution` may run a whole epoch in one call, so single batches cannot be timed), and
the one-epoch run is the run less its second epoch.

| phase | what |
|---|---|
| model build + transfer | `prepare_run`: the source run read (its model is cached per process), the task's splits, the new model built and the source's weights copied |
| compile | the fine-tuning plan: freezing, optimizer, `compile`, and the lent traced model set to the fresh weights |
| tracing | the first epoch minus the second (Keras traces its steps, tf.data starts its iterators) |
| fit | the second epoch (training and validation): what an epoch on these 25 images costs, not fixed cost |
| fit set-up | the rest of `model.fit`: tf.data pipelines and iterators, callbacks, the epoch checkpoints |
| evaluation | the test set predicted and scored |
| writing | the run directory: config, history, metrics, `model.keras`, manifest, the rename; the run read back |

Fixed cost = wall time − 2 × fit (the one-epoch run's wall time less its fit). Reported: the median over the warm runs, with and without lending
traced models (`WORKBENCH_TRACE_REUSE=off`), interleaved. Goal ≤ 1 s.

    .venv/bin/python bench/fixed_cost.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import functools
import os
import statistics
import sys
import time
from typing import Any

import common

GOAL_SECONDS = 1.0
PHASES = ("model build + transfer", "compile", "tracing", "fit", "fit set-up", "evaluation", "writing")


def instrument(timings: dict[str, float]) -> Any:
    """Wrap the training module's phases so each call adds its wall time to `timings`; return the
    batch-timing callback."""
    import keras

    import workbench.training as training

    def wrap(name: str, label: str) -> None:
        original = getattr(training, name)

        @functools.wraps(original)
        def timed(*arguments: Any, **keywords: Any) -> Any:
            started = time.perf_counter()
            try:
                return original(*arguments, **keywords)
            finally:
                timings[label] = timings.get(label, 0.0) + time.perf_counter() - started

        setattr(training, name, timed)

    for name, label in (("prepare_run", "model build + transfer"), ("compile_plan", "compile"),
                        ("_borrow_traced_model", "compile"), ("_fit", "fit call"),
                        ("evaluate_model", "evaluation"), ("write_run_files", "writing"),
                        ("build_manifest", "writing"), ("save_config", "writing"), ("move_into_place", "writing"),
                        ("load_run", "writing")):
        wrap(name, label)

    class EpochTimes(keras.callbacks.Callback):
        """Wall time of every epoch, training and validation (the first includes the tracing)."""

        def on_train_begin(self, logs: dict | None = None) -> None:
            self.epochs: list[float] = []

        def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
            self.started = time.perf_counter()

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            self.epochs.append(time.perf_counter() - self.started)

    return EpochTimes


def one_run(source: str, runs_dir: str, seed: int, reuse: bool, timings: dict[str, float], epoch_times: Any) -> dict:
    """Train one 25-image, two-epoch transfer run; return the one-epoch run's wall time, its fit
    time (the second epoch), its fixed cost and the phases."""
    import workbench
    from workbench import traced_models

    os.environ[traced_models.REUSE_ENVIRONMENT_VARIABLE] = "on" if reuse else "off"
    timings.clear()
    times = epoch_times()
    started = time.perf_counter()
    workbench.transfer(source=source, task="mnist-5k:5-9", mode="parameter", per_class=5, epochs=2, seed=seed,
                       name="fixed-cost", overwrite=True, runs_dir=runs_dir, cache=False, callbacks=[times])
    first, fit = times.epochs
    wall = time.perf_counter() - started - fit  # the one-epoch run
    phases = {"model build + transfer": timings.get("model build + transfer", 0.0),
              "compile": timings.get("compile", 0.0), "tracing": first - fit, "fit": fit,
              "fit set-up": timings.get("fit call", 0.0) - first - fit,
              "evaluation": timings.get("evaluation", 0.0), "writing": timings.get("writing", 0.0)}
    phases["other"] = wall - sum(phases.values())
    return {"wall": wall, "fit": fit, "fixed": wall - fit, "phases": phases}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5, help="rounds of (lent, traced afresh) runs (default 5)")
    common.add_json_argument(parser)
    arguments = parser.parse_args(argv)

    import workbench

    timings: dict[str, float] = {}
    epoch_times = instrument(timings)
    runs_dir = str(common.scratch_folder("bench-fixed-cost-"))
    print("per-run fixed cost: one-epoch transfer runs on 25 images (mnist-5k 5-9, 5 per class), one warm "
          f"process, {arguments.repeats} rounds of (traced models lent, traced afresh)", flush=True)
    workbench.pretrain(task="mnist-5k:0-4", per_class=5, epochs=1, name="source", runs_dir=runs_dir, cache=False)
    source = f"{runs_dir}/source"
    seed = 0
    for reuse in (True, False):  # warm-up: imports, the dataset and source caches, a first trace
        one_run(source, runs_dir, seed, reuse, timings, epoch_times)
        seed += 1
    results: dict[str, list[dict]] = {"lent": [], "afresh": []}
    for repeat in range(arguments.repeats):
        for name in results:
            result = one_run(source, runs_dir, seed, name == "lent", timings, epoch_times)
            seed += 1
            results[name].append(result)
            print(f"  round {repeat + 1} {name}: wall {result['wall']:.2f} s, fit {result['fit']:.2f} s, "
                  f"fixed {result['fixed']:.2f} s", flush=True)
    medians = {name: {key: statistics.median(run[key] for run in runs) for key in ("wall", "fit", "fixed")}
               for name, runs in results.items()}
    phases = {name: {phase: statistics.median(run["phases"][phase] for run in runs)
                     for phase in (*PHASES, "other")} for name, runs in results.items()}
    for name in results:
        print(f"  {name}: median fixed cost {medians[name]['fixed']:.2f} s of {medians[name]['wall']:.2f} s; split "
              "(medians): " + ", ".join(f"{phase} {seconds:.2f} s" for phase, seconds in phases[name].items()),
              flush=True)
    value = medians["lent"]["fixed"]
    ratio = common.median_ratio([run["fixed"] for run in results["lent"]],
                                [run["fixed"] for run in results["afresh"]])
    met = value <= GOAL_SECONDS
    split = ", ".join(f"{phase} {seconds:.2f}" for phase, seconds in phases["lent"].items() if phase != "fit")
    text = (f"per-run fixed cost (one-epoch run on 25 images minus its fit time, warm process): median "
            f"{value:.2f} s with traced models lent ({split} s), {medians['afresh']['fixed']:.2f} s traced afresh "
            f"(lent / afresh {ratio:.2f}), n={arguments.repeats}; goal <= {GOAL_SECONDS:.0f} s: "
            f"{'met' if met else 'NOT met'}")
    common.emit_result({"name": "fixed_cost", "value": round(value, 3), "unit": "s", "goal": f"<= {GOAL_SECONDS:.0f} s",
                        "met": met, "text": text,
                        "details": {"medians": medians, "phases": phases, "lent_over_afresh": ratio,
                                    "runs": results, "repeats": arguments.repeats}}, arguments.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
