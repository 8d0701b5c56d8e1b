"""What LiveCurves costs: training wall time with a FigureWidget attached vs. without the callback.

    .venv/bin/python bench/live_curves_overhead.py            # in a real kernel (default)
    .venv/bin/python bench/live_curves_overhead.py --no-kernel

The measurement runs inside a real IPython kernel started with jupyter_client, and this script
plays the frontend: it reads every IOPub message the kernel sends, so each FigureWidget update is
serialised, sent over ZeroMQ and received, as in JupyterLab (only the browser's drawing, which
happens in another process, is left out). `--no-kernel` measures in this process instead, where
widget messages go nowhere.

One compiled seed CNN trains on embedded mnist-5k; fits alternate A (no LiveCurves) and B
(LiveCurves drawing into a fresh FigureWidget, a point every batch, throttled), A B A B ...
after one warm-up fit. The result is the median of the per-pair ratios B/A; the goal is < 1.05.
It also prints the time spent inside LiveCurves' hooks on the training thread, which load from
other processes does not blur. Not a test: timings depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import json
import queue
import sys
import textwrap
import time

MEASUREMENT = textwrap.dedent(
    """
    import json, os, statistics, time
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras
    from workbench.callbacks import LiveCurves
    from workbench.data import make_pipeline, prepare_task
    from workbench.models import build_model
    from workbench.panels import make_curve_figure

    task = prepare_task("mnist-5k:0-4", per_class={per_class}, validation_split=0.1, seed=0)
    shape = (32, 32, 3)
    train = make_pipeline(*task.train, shape, 32, shuffle=True, seed=0)
    validation = make_pipeline(*task.validation, shape, 128)
    model = build_model("seed-cnn", task.num_classes, shape, seed=0)
    model.compile(keras.optimizers.Adam(1e-3),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])

    class TimedLiveCurves(LiveCurves):
        # LiveCurves that also adds up the time its hooks take on the training thread.

        hook_seconds = 0.0

        def _timed(self, hook, *arguments):
            started = time.perf_counter()
            hook(*arguments)
            self.hook_seconds += time.perf_counter() - started

        def on_train_begin(self, logs=None):
            self._timed(super().on_train_begin, logs)

        def on_epoch_begin(self, epoch, logs=None):
            self._timed(super().on_epoch_begin, epoch, logs)

        def on_train_batch_end(self, batch, logs=None):
            self._timed(super().on_train_batch_end, batch, logs)

        def on_epoch_end(self, epoch, logs=None):
            self._timed(super().on_epoch_end, epoch, logs)

        def on_train_end(self, logs=None):
            self._timed(super().on_train_end, logs)

    def fit(callbacks):
        started = time.perf_counter()
        model.fit(train, validation_data=validation, epochs={epochs}, verbose=0, callbacks=callbacks)
        return time.perf_counter() - started

    fit([])  # warm-up: tracing and first-epoch costs stay out of the comparison
    without, with_curves, redraws, hook_seconds = [], [], [], []
    for repeat in range({repeats}):
        without.append(fit([]))
        curves = TimedLiveCurves(make_curve_figure(), label=f"parameter #{{repeat}}", every_n_batches={every})
        with_curves.append(fit([curves]))
        redraws.append(curves.redraws)
        hook_seconds.append(curves.hook_seconds)
    ratios = [b / a for a, b in zip(without, with_curves)]
    print("RESULT " + json.dumps({{
        "without": without, "with_curves": with_curves, "ratios": ratios,
        "median_ratio": statistics.median(ratios), "redraws": redraws, "hook_seconds": hook_seconds,
        "median_hook_share": statistics.median(h / b for h, b in zip(hook_seconds, with_curves)),
        "steps_per_epoch": len(train),
    }}))
    """
)


def run_in_kernel(code: str, timeout: float) -> tuple[str, int]:
    """Execute `code` in a fresh kernel, draining IOPub like a frontend; return stdout and comm messages."""
    from jupyter_client.manager import start_new_kernel

    manager, client = start_new_kernel(kernel_name="python3")
    stdout, comm_messages = [], 0
    try:
        message_id = client.execute(code)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                message = client.get_iopub_msg(timeout=1)
            except queue.Empty:
                continue
            kind = message["msg_type"]
            if kind in ("comm_open", "comm_msg"):
                comm_messages += 1
            elif kind == "stream" and message["content"]["name"] == "stdout":
                stdout.append(message["content"]["text"])
            elif kind == "error":
                raise RuntimeError("\n".join(message["content"]["traceback"]))
            elif (kind == "status" and message["content"]["execution_state"] == "idle"
                  and message["parent_header"].get("msg_id") == message_id):
                break
        else:
            raise TimeoutError(f"the measurement did not finish within {timeout} s")
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
    return "".join(stdout), comm_messages


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=4, help="epochs per fit (default 4)")
    parser.add_argument("--per-class", type=int, default=200, help="training examples per class (default 200)")
    parser.add_argument("--repeats", type=int, default=5, help="A/B pairs (default 5)")
    parser.add_argument("--every-n-batches", type=int, default=1, help="LiveCurves batch points (default 1)")
    parser.add_argument("--no-kernel", action="store_true", help="measure in this process, without a kernel")
    arguments = parser.parse_args()
    code = MEASUREMENT.format(per_class=arguments.per_class, epochs=arguments.epochs,
                              repeats=arguments.repeats, every=arguments.every_n_batches)
    if arguments.no_kernel:
        import contextlib
        import io

        captured = io.StringIO()
        with contextlib.redirect_stdout(captured):
            exec(compile(code, "<measurement>", "exec"), {})
        output, comm_messages, where = captured.getvalue(), None, "in-process (no kernel, no frontend)"
    else:
        output, comm_messages, where = *run_in_kernel(code, timeout=1800), "in an ipykernel, IOPub drained"
    (line,) = [line for line in output.splitlines() if line.startswith("RESULT ")]
    result = json.loads(line[len("RESULT "):])
    print(f"LiveCurves overhead, {where}: {arguments.repeats} A/B pairs of {arguments.epochs} epochs x "
          f"{result['steps_per_epoch']} batches, a point every {arguments.every_n_batches} batch(es)")
    for index, (without, with_curves) in enumerate(zip(result["without"], result["with_curves"])):
        print(f"  pair {index + 1}: without {without:.3f} s, with FigureWidget {with_curves:.3f} s, "
              f"ratio {with_curves / without:.3f}; {result['redraws'][index]} redraws, "
              f"{result['hook_seconds'][index] * 1000:.1f} ms inside LiveCurves")
    if comm_messages is not None:
        print(f"  widget messages received by the frontend stand-in: {comm_messages}")
    print(f"time inside LiveCurves on the training thread: {result['median_hook_share']:.2%} of the fit (median)")
    print(f"median ratio (with / without): {result['median_ratio']:.3f}  (goal < 1.05)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
