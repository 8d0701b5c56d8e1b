"""Traced models lent from one run to the next within a process, so a study traces each graph once.

Keras traces a model's train, test and predict steps into TensorFlow graphs once per model object
(`make_train_function` and its siblings). On a CPU that takes 1-2 s per run, most of a short run's
fixed cost (issue #15), although the runs of a study often train the very same graph: the same
architecture, trainability, optimizer settings and step code, with other starting weights
(another seed, copied or fresh blocks, another label budget). Such a run borrows the idle model of
an earlier run whose graph is identical (`graph_signature`), puts its own freshly built model's
variables and its fresh optimizer's state into that model's variables, and trains it, traced
functions and all. The traced functions read every number from those variables, so the run trains
what the fresh model would have, bit for bit (`tests/test_fixed_cost_paths.py`).

`workbench.training` lends only where that plainly holds: one stage (an unfreezing schedule
retraces mid-run), no cached-feature head, the default strategy, float32. Set
`WORKBENCH_TRACE_REUSE=off` to trace every run afresh (as the equivalence tests' cold side does).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from typing import Any

import keras

REUSE_ENVIRONMENT_VARIABLE = "WORKBENCH_TRACE_REUSE"


def reuse_enabled() -> bool:
    """False when `WORKBENCH_TRACE_REUSE` is off, false, no or 0."""
    return os.environ.get(REUSE_ENVIRONMENT_VARIABLE, "on").strip().lower() not in ("off", "false", "no", "0")


def graph_signature(model: Any) -> str:
    """A hash of everything a compiled model's traced step functions depend on besides variable values.

    The architecture (layer configs, names, dtype policies, trainable flags), every variable's path,
    trainability, shape and dtype, the optimizer's class, settings (per-variable learning-rate
    scales included: they are constants in the traced update) and variables, the compile settings
    (loss, metrics, steps per execution, jit), the step functions' code (a patched `train_step`
    is other code) and Keras' global float type and image layout.
    """
    optimizer = model.optimizer
    parts = {
        "architecture": json.loads(model.to_json()),
        "variables": [(variable.path, bool(variable.trainable), tuple(variable.shape), str(variable.dtype))
                      for variable in model.variables],
        "optimizer": [type(optimizer).__module__, type(optimizer).__qualname__, optimizer.get_config()],
        "optimizer_variables": [(variable.path.split("/", 1)[-1], tuple(variable.shape), str(variable.dtype))
                                for variable in optimizer.variables],
        "compile": model.get_compile_config(),
        "execution": [model.jit_compile, model.steps_per_execution, model.run_eagerly],
        "steps": [id(function) for function in _step_functions(model)],
        "keras": [keras.config.floatx(), keras.config.image_data_format()],
    }
    return hashlib.sha256(_describe(parts, optimizer.name).encode()).hexdigest()


def _describe(parts: dict[str, Any], optimizer_name: str) -> str:
    text = json.dumps(parts, sort_keys=True, default=repr)
    # Keras numbers each new optimizer's name (blockwise_adam_1, _2, …, also the first part of its
    # variables' paths, left out above): a label, not part of the graph.
    return text.replace(json.dumps(optimizer_name), '"<optimizer>"')


def _step_functions(model: Any) -> tuple[Any, ...]:
    """The code Keras traces for a model: its class's step functions, loss and call."""
    model_class = type(model)
    return (model_class.train_step, model_class.test_step, model_class.predict_step, model_class.compute_loss,
            model_class.call)


@functools.lru_cache(maxsize=4)
def _idle_models(signature: str) -> list[tuple[Any, tuple[Any, ...]]]:
    """Graph signature → the idle traced model of a finished run (at most one), with the step
    functions it was traced from (an `id` in the signature can be reused once a function is freed).

    Process-wide on purpose: the traced functions live on model objects, and the next run of the
    same graph (the next seed of a study, often) is in this process. Four graphs at most (the least
    recently used is dropped, its model freed); `list.pop` and `append` keep a model with one run
    at a time, even with runs in several threads.
    """
    return []


def borrow_traced_model(fresh: Any) -> tuple[Any, str | None]:
    """The model to train in place of the compiled, freshly built `fresh`, and its graph signature.

    When an idle model with the same graph exists, its variables and its optimizer's variables are
    set to `fresh`'s (weights as built, optimizer state as new) and it is returned; otherwise
    `fresh` itself. Give it back with `return_traced_model` once the run has finished.

    Returns:
        (model, signature); signature is None when reuse is off (nothing to give back).
    """
    if not reuse_enabled():
        return fresh, None
    signature = graph_signature(fresh)
    idle = _idle_models(signature)
    try:
        model, steps = idle.pop()
    except IndexError:
        return fresh, signature
    if any(mine is not theirs for mine, theirs in zip(steps, _step_functions(fresh), strict=True)):
        return fresh, signature  # other code under a reused id: trace afresh (the old model is dropped)
    for target, source in zip(model.variables, fresh.variables, strict=True):
        target.assign(source.value)
    for target, source in zip(model.optimizer.variables, fresh.optimizer.variables, strict=True):
        target.assign(source.value)
    if hasattr(fresh.optimizer, "variable_scales"):  # equal by the signature; the plan's own dict
        model.optimizer.variable_scales = fresh.optimizer.variable_scales
    model.reset_metrics()
    model.stop_training = False
    return model, signature


def return_traced_model(model: Any, signature: str | None) -> None:
    """Keep a finished run's model for the next run of the same graph (one idle model per graph)."""
    if signature is None:
        return
    idle = _idle_models(signature)
    if not idle:
        idle.append((model, _step_functions(model)))


def forget_traced_models() -> None:
    """Drop every idle model (tests and benchmarks that want cold runs in a warm process)."""
    _idle_models.cache_clear()
