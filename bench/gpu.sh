#!/usr/bin/env bash
# Benchmark 6 on a GPU machine: training images/s of the seed CNN (32x32x3) and MobileNetV2
# (96x96x3) in float32, mixed_float16 and XLA, at batch 32 (the workbench's default) and 256.
# About 2-4 minutes on one H100. Prints a table and writes bench/gpu-results.json, which
# `make bench` copies into bench/RESULTS.md.
#
#   bench/gpu.sh                                # uses .venv/bin/python when it exists, else python3
#   PYTHON=python3 bench/gpu.sh --batch-sizes 64 --variants float32,mixed_float16,xla,mixed_float16+xla
#   bench/gpu.sh --allow-cpu --quick            # a smoke test without a GPU
#
# Needs the workbench and a CUDA build of TensorFlow: pip install -e . 'tensorflow[and-cuda]'.
# Without a GPU it says so and exits with status 3.
set -euo pipefail
cd "$(dirname "$0")/.."

python="${PYTHON:-}"
if [[ -z "$python" ]]; then
    if [[ -x .venv/bin/python ]]; then python=.venv/bin/python; else python=python3; fi
fi
if command -v nvidia-smi >/dev/null 2>&1; then
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
fi
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"
exec "$python" bench/gpu.py "$@"
