"""Benchmark 6: training images per second on an accelerator, float32 vs mixed precision vs XLA.

For the seed CNN (32x32x3) and MobileNetV2 (weights=None, 96x96x3), both built by
`workbench.models.build_model` with 10 classes, and each batch size, it trains on one synthetic
batch of random images and labels, repeated by tf.data (no decoding or augmentation; the batch's
copy to the device at each step is included, as in a real run), in these variants:

| variant              | Keras dtype policy | jit_compile |
|----------------------|--------------------|-------------|
| float32              | float32            | False       |
| mixed_float16        | mixed_float16      | False       |
| xla                  | float32            | True        |
| mixed_float16+xla    | mixed_float16      | True        | (only with `--variants ...,mixed_float16+xla`)

The dtype policy is set here directly with `keras.mixed_precision.set_global_policy` (Keras wraps
the optimizer in a LossScaleOptimizer under mixed_float16). Each variant: build, compile, `--warmup`
steps (tracing, XLA compilation, autotuning), then `--steps` timed steps in one `fit` call; images/s
= steps x batch / seconds. Achieved TFLOP/s use the same FLOP count as bench/throughput.py. Note
that "float32" on Ampere or newer GPUs runs convolutions and matmuls in TF32 (TensorFlow's default).

Prints a table and writes it as JSON (default bench/gpu-results.json, which bench/run_all.py puts
into bench/RESULTS.md). Without a GPU it says so and exits with status 3; `--allow-cpu --quick`
runs it on the CPU, slowly, to try it out.

    bench/gpu.sh                                   # on a GPU machine: about 2-4 minutes on one H100
    .venv/bin/python bench/gpu.py --allow-cpu --quick
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import time
from pathlib import Path

import common

MODELS = {"seed-cnn": (32, 32, 3), "mobilenet_v2": (96, 96, 3)}
VARIANTS = {
    "float32": ("float32", False),
    "mixed_float16": ("mixed_float16", False),
    "xla": ("float32", True),
    "mixed_float16+xla": ("mixed_float16", True),
}
DEFAULT_RESULTS = common.REPO / "bench" / "gpu-results.json"
NO_GPU_STATUS = 3


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch-sizes", default="32,256",
                        help="comma list of batch sizes (default 32,256: the workbench's default and a large one)")
    parser.add_argument("--steps", type=int, default=100, help="timed steps per variant (default 100)")
    parser.add_argument("--warmup", type=int, default=10, help="untimed steps first (default 10)")
    parser.add_argument("--models", default=",".join(MODELS), help=f"comma list of {', '.join(MODELS)}")
    parser.add_argument("--variants", default="float32,mixed_float16,xla",
                        help=f"comma list of {', '.join(VARIANTS)} (default float32,mixed_float16,xla)")
    parser.add_argument("--budget-seconds", type=float, default=210.0,
                        help="skip the variants left once this much time has passed (default 210)")
    parser.add_argument("--quick", action="store_true", help="3 timed steps after 2, batch 8: a smoke test")
    parser.add_argument("--allow-cpu", action="store_true", help="run without a GPU (slow; use with --quick)")
    parser.add_argument("--json", metavar="PATH", default=None,
                        help=f"where the results go (default {DEFAULT_RESULTS.relative_to(common.REPO)} on a GPU; "
                             "nothing is written on a CPU unless given)")
    arguments = parser.parse_args(argv)
    if arguments.quick:
        arguments.steps, arguments.warmup, arguments.batch_sizes = 3, 2, "8"
    models = _choices(arguments.models, MODELS, "--models")
    variants = _choices(arguments.variants, VARIANTS, "--variants")
    batch_sizes = [int(size) for size in arguments.batch_sizes.split(",") if size.strip()]

    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if not gpus and not arguments.allow_cpu:
        print("bench/gpu.py: no GPU is visible to TensorFlow on this machine, so there is nothing to measure. "
              "Run bench/gpu.sh on a machine with an NVIDIA GPU and a CUDA build of TensorFlow "
              "(pip install 'tensorflow[and-cuda]'), or pass --allow-cpu --quick to try the script here.",
              file=sys.stderr)
        return NO_GPU_STATUS
    device = _device_name(tf, gpus)
    print(f"accelerator benchmark on {device}: models {', '.join(models)}; variants {', '.join(variants)}; "
          f"batch sizes {', '.join(map(str, batch_sizes))}; {arguments.warmup} warm-up + {arguments.steps} timed steps",
          flush=True)
    started = time.perf_counter()
    rows = []
    for model_name in models:
        for batch_size in batch_sizes:
            for variant in variants:
                if time.perf_counter() - started > arguments.budget_seconds:
                    rows.append({"model": model_name, "batch_size": batch_size, "variant": variant,
                                 "images_per_second": None, "note": "skipped: time budget spent"})
                    continue
                rows.append(measure(model_name, batch_size, variant, arguments.steps, arguments.warmup))
                print("  " + _format_row(rows[-1]), flush=True)
    print()
    print(format_table(rows))
    result = {"date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"), "device": device,
              "machine": common.machine_description(), "steps": arguments.steps, "warmup": arguments.warmup,
              "quick": arguments.quick, "rows": rows}
    json_path = arguments.json or (str(DEFAULT_RESULTS) if gpus else None)
    if json_path:
        Path(json_path).write_text(json.dumps(result, indent=2) + "\n")
        print(f"\nwritten to {json_path}")
    return 0


def measure(model_name: str, batch_size: int, variant: str, steps: int, warmup: int) -> dict:
    """Train one model in one variant on a repeated synthetic batch; return its row."""
    import keras
    import tensorflow as tf

    from workbench.models import build_model

    policy, jit_compile = VARIANTS[variant]
    input_shape = MODELS[model_name]
    keras.backend.clear_session()  # the previous variant's models and traced functions go
    keras.mixed_precision.set_global_policy(policy)
    try:
        model = build_model(model_name, 10, input_shape, seed=0)
        model.compile(optimizer=keras.optimizers.Adam(1e-3),
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"],
                      jit_compile=jit_compile)
        with tf.device("/CPU:0"):  # tf.data runs on the host; fit copies each batch to the device
            images = tf.random.uniform((batch_size, *input_shape), seed=0)
            labels = tf.random.uniform((batch_size,), maxval=10, dtype=tf.int64, seed=1)
        dataset = tf.data.Dataset.from_tensors((images, labels)).repeat()
        compile_started = time.perf_counter()
        model.fit(dataset, steps_per_epoch=warmup, epochs=1, shuffle=False, verbose=0)
        warmup_seconds = time.perf_counter() - compile_started
        timed_started = time.perf_counter()
        # The epoch end reads the loss back, so the time covers every queued step.
        model.fit(dataset, steps_per_epoch=steps, epochs=1, shuffle=False, verbose=0)
        seconds = time.perf_counter() - timed_started
    finally:
        keras.mixed_precision.set_global_policy("float32")
    forward = common.forward_flops_per_image(model)
    images_per_second = steps * batch_size / seconds
    return {"model": model_name, "input_shape": list(input_shape), "batch_size": batch_size, "variant": variant,
            "images_per_second": round(images_per_second, 1),
            "tflops": round(3 * forward * images_per_second / 1e12, 3),
            "warmup_seconds": round(warmup_seconds, 1), "note": ""}


def _format_row(row: dict) -> str:
    if row["images_per_second"] is None:
        return f"{row['model']:13} batch {row['batch_size']:4}  {row['variant']:18} {row['note']}"
    return (f"{row['model']:13} batch {row['batch_size']:4}  {row['variant']:18} {row['images_per_second']:10,.0f} "
            f"images/s  {row['tflops']:7.3f} TFLOP/s  (warm-up {row['warmup_seconds']:.0f} s)")


def format_table(rows: list[dict]) -> str:
    """A Markdown table of the rows, with each variant's speed-up over float32 at the same model and batch."""
    float32 = {(row["model"], row["batch_size"]): row["images_per_second"] for row in rows
               if row["variant"] == "float32" and row["images_per_second"]}
    lines = ["| model | batch | variant | images/s | vs float32 | TFLOP/s |", "|---|---:|---|---:|---:|---:|"]
    for row in rows:
        rate = row["images_per_second"]
        base = float32.get((row["model"], row["batch_size"]))
        if rate is None:
            lines.append(f"| {row['model']} | {row['batch_size']} | {row['variant']} | {row['note']} | | |")
            continue
        speedup = f"{rate / base:.2f}x" if base else ""
        lines.append(f"| {row['model']} | {row['batch_size']} | {row['variant']} | {rate:,.0f} | {speedup} | "
                     f"{row['tflops']:.3f} |")
    return "\n".join(lines)


def _choices(text: str, known: dict, flag: str) -> list[str]:
    chosen = [item.strip() for item in text.split(",") if item.strip()]
    unknown = [item for item in chosen if item not in known]
    if unknown or not chosen:
        raise SystemExit(f"bench/gpu.py: {flag} {text!r} names unknown or no entries ({', '.join(unknown)}). "
                         f"Known: {', '.join(known)}.")
    return chosen


def _device_name(tf: object, gpus: list) -> str:
    if not gpus:
        return f"CPU only ({common.machine_description()['cpu']})"
    names = []
    for gpu in gpus:
        details = tf.config.experimental.get_device_details(gpu)  # type: ignore[attr-defined]
        names.append(details.get("device_name", gpu.name))
    return ", ".join(names)


if __name__ == "__main__":
    sys.exit(main())
