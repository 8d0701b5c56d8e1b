"""Fine-tuning techniques that Keras has no built-in for: per-block learning rates, unfreezing on a
schedule, training a head on cached features, and the learning-rate finder.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import keras
import numpy as np

from workbench.config import RunConfig
from workbench.data.pipelines import epoch_batches, steps_per_epoch
from workbench.devices import shard_by_data
from workbench.models import Block
from workbench.schedules import Stage, block_learning_rates, unfreeze_stages
from workbench.transfer_modes import freeze_blocks, max_freeze_depth


@keras.saving.register_keras_serializable(package="workbench")
class BlockwiseAdam(keras.optimizers.Adam):
    """Adam with a learning-rate multiplier per variable (discriminative learning rates).

    Scaling gradients would not work: Adam divides by the gradient's own running magnitude, so
    its step size ignores gradient scale. The multiplier is applied to the learning rate inside
    each variable's update instead. Multipliers are looked up by `variable.path` when the train
    step is traced, so changing them takes effect once the train function is rebuilt.

    Args:
        variable_scales: `variable.path` → multiplier of the learning rate; missing paths use 1.
        **kwargs: passed to `keras.optimizers.Adam`.
    """

    def __init__(self, variable_scales: dict[str, float] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.variable_scales = dict(variable_scales or {})

    def update_step(self, gradient: Any, variable: Any, learning_rate: Any) -> Any:
        # The TF backend passes the raw tf.Variable; find the Keras variable (and its path) by index.
        keras_variable = self._trainable_variables[self._get_variable_index(variable)]
        scale = self.variable_scales.get(keras_variable.path, 1.0)
        return super().update_step(gradient, variable, learning_rate * scale)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config["variable_scales"] = dict(self.variable_scales)
        return config


def variable_scales(model: Any, blocks: list[Block], rates: Sequence[float], base_rate: float) -> dict[str, float]:
    """Map each weight's path to its block's learning rate divided by `base_rate`."""
    scales = {}
    for block, rate in zip(blocks, rates):
        for layer_name in block.layer_names:
            for weight in model.get_layer(layer_name).weights:
                scales[weight.path] = float(rate) / base_rate
    return scales


class FineTuningPlan:
    """Applies a run's stages (freeze depth, learning rate, per-block rates) to a model.

    Build it, then `compile_model()`; pass `callback()` to `fit` when there is more than one stage.
    """

    def __init__(self, model: Any, blocks: list[Block], config: RunConfig, freeze_depth: int) -> None:
        self.model = model
        self.blocks = blocks
        self.config = config
        self.stages = unfreeze_stages(config.unfreeze, config.epochs, freeze_depth, max_freeze_depth(blocks),
                                      config.unfreeze_every)
        self.log: list[dict[str, Any]] = []
        self.optimizer = BlockwiseAdam(learning_rate=config.learning_rate)
        # Build the optimizer's slots for every variable that any stage will train, so later
        # stages can unfreeze blocks without a new optimizer: state stays consistent, and the
        # slots of newly unfrozen variables simply start at zero.
        freeze_blocks(model, min(stage.freeze_depth for stage in self.stages), blocks, config.batchnorm)
        self.optimizer.build(model.trainable_variables)
        self.apply(self.stages[0], epoch=0)

    def apply(self, stage: Stage, epoch: int) -> None:
        """Set the model's trainability and the optimizer's rates for `stage`."""
        freeze_blocks(self.model, stage.freeze_depth, self.blocks, self.config.batchnorm)
        learning_rate = self.config.learning_rate * stage.lr_scale
        kind = stage.block_lr or self.config.block_lr
        lr_low = None if stage.block_lr else self.config.lr_low
        rates = block_learning_rates(kind, learning_rate, len(self.blocks), lr_low, self.config.layer_decay)
        self.optimizer.learning_rate.assign(learning_rate)
        self.optimizer.variable_scales = variable_scales(self.model, self.blocks, rates, learning_rate)
        self.log.append({"epoch": epoch + 1, "freeze_depth": stage.freeze_depth, "learning_rate": learning_rate,
                         "block_learning_rates": {block.name: rate for block, rate in zip(self.blocks, rates)}})

    def compile_model(self, steps_per_execution: int = 1) -> None:
        """Compile with the plan's optimizer: logits out, sparse labels in.

        Args:
            steps_per_execution: training steps per call into the traced function
                (`steps_per_execution_for`). Defaults to 1.
        """
        self.model.compile(optimizer=self.optimizer,
                           loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                           metrics=["accuracy"], steps_per_execution=steps_per_execution)

    def callback(self) -> Any:
        """A callback that switches stages at their first epoch (None for a single stage)."""
        return UnfreezeSchedule(self) if len(self.stages) > 1 else None


class UnfreezeSchedule(keras.callbacks.Callback):
    """Moves a `FineTuningPlan` to its next stage at the stage's first epoch.

    Changing `trainable` takes effect only when the train step is traced again, which is what
    `compile()` arranges; inside `fit()` the callback asks for that directly with
    `make_train_function(force=True)`, keeping the compiled loss, metrics and optimizer state.
    """

    def __init__(self, plan: FineTuningPlan) -> None:
        super().__init__()
        self.plan = plan
        self.current: Stage | None = None

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.current = self.plan.stages[0]

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        stage = next(stage for stage in self.plan.stages if stage.first_epoch <= epoch < stage.end_epoch)
        if stage is not self.current:
            self.plan.apply(stage, epoch)
            self.model.make_train_function(force=True)
            self.current = stage


def fit_head_on_cached_features(
    model: Any,
    make_dataset: Callable[[str], Any],
    epochs: int,
    learning_rate: float,
    batch_size: int,
    seed: int,
    callbacks: Sequence[Any],
) -> Any:
    """Feature transfer with the frozen extractor run once: train the head on cached features.

    The extractor (everything below the `head` layer) is frozen, so its outputs for the training
    images are the same every epoch; computing them once and training a one-layer model on them
    gives the same result at a fraction of the cost. The trained weights are copied back into
    `model`'s head afterwards.

    Args:
        model: the transferred model (extractor frozen).
        make_dataset: split → the split's image pipeline, in order (one pass).
        epochs, learning_rate, batch_size, seed: as for the uncached run.
        callbacks: Keras callbacks; they see the head model.

    Returns:
        The head model, trained.
    """
    head = model.get_layer("head")
    extractor = keras.Model(model.input, head.input)
    cached = {}
    for split in ("train", "validation"):
        dataset = make_dataset(split)
        if dataset is None:
            continue
        features = extractor.predict(dataset, verbose=0)
        labels = np.concatenate([labels.numpy() for _, labels in dataset])
        cached[split] = (features, labels)
    head_input = keras.Input(shape=cached["train"][0].shape[1:], name="features")
    head_model = keras.Model(head_input, keras.layers.Dense(head.units, name="head")(head_input))
    head_model.get_layer("head").set_weights(head.get_weights())
    features, labels = cached["train"]
    steps = steps_per_epoch(len(labels), batch_size)
    # A head step costs microseconds, so Keras' per-call Python (and not the arithmetic) would set
    # the pace: a whole epoch per call (`whole_epoch`). The stream below holds every epoch back to
    # back and is read by one iterator (a new iterator per epoch costs ~10 ms, more than the epoch),
    # so a call must end with its epoch: k = the epoch's steps does, whatever their number.
    head_model.compile(optimizer=keras.optimizers.Adam(learning_rate),
                       loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"],
                       steps_per_execution=steps_per_execution_for(steps, whole_epoch=True))
    # The same (seed, epoch) orders as the image pipeline, so cached and uncached runs see the
    # same batches in the same order.
    train = shard_by_data(epoch_batches((features, labels), batch_size, shuffle=True, seed=seed, epochs=epochs))
    validation = None
    if "validation" in cached:
        # The same batches as `epoch_batches` gives, from an in-memory dataset: Keras starts an
        # iterator over it at every epoch end, and the gathering pipeline's costs ~10 ms to start,
        # a third of a cached epoch. (Features are small; the image pipelines avoid such copies.)
        import tensorflow as tf

        validation = shard_by_data(tf.data.Dataset.from_tensor_slices(cached["validation"]).batch(batch_size * 4))
    build_metrics_before_fit(head_model, train)
    head_model.fit(train, validation_data=validation, epochs=epochs, steps_per_epoch=steps, shuffle=False,
                   verbose=0, callbacks=list(callbacks))
    head.set_weights(head_model.get_layer("head").get_weights())
    return head_model


MAX_STEPS_PER_EXECUTION = 8


def steps_per_execution_for(steps: int, limit: int = MAX_STEPS_PER_EXECUTION, whole_epoch: bool = False) -> int:
    """How many training steps one call into Keras' traced train function runs (`steps_per_execution`).

    Each call costs Keras' per-step Python (the loop, callbacks, turning the logs into numbers), a
    few milliseconds on a CPU, a fifth of a batch-32 step of the seed CNN: running k steps per call
    in a `tf.while_loop` saves most of it. The steps are the very same (same batches, same order,
    same updates), so the weights and metrics are too (`tests/test_training_speed_paths.py`); what
    changes is that batch callbacks (Stop, the NaN guard, LiveCurves' batch points) run at every
    k-th batch instead of every one, and that a call must not run on into the next epoch (the
    training pipeline starts an iterator per epoch, `callbacks.PipelineEpoch`). Hence:

    - an epoch has at least 4 calls (k ≤ steps / 4), so Stop still lands inside an epoch, within
      a quarter of it at most;
    - k ≤ `limit`: 8 steps of batch 32 take about a tenth of a second here, which is how late a
      Stop may come;
    - epochs of fewer than 16 steps (tiny label budgets, where tracing and evaluation cost more
      than the steps) keep one step per call, so batch callbacks still see every batch there;
    - with `whole_epoch` (the cached-feature head, whose steps cost microseconds and whose
      stream holds every epoch back to back): the whole epoch, one call per epoch (Stop and the
      batch callbacks then act at epoch ends, milliseconds apart);
    - 1 under a tf.distribute strategy: Keras 3 fails there with more than one step per call ("You
      must feed a value for placeholder tensor", keras-team/keras#19246).

    Args:
        steps: training steps per epoch.
        limit: the most steps per call. Defaults to `MAX_STEPS_PER_EXECUTION` (8).
        whole_epoch: `steps` instead (`limit` does not apply). Defaults to False.
    """
    import tensorflow as tf

    if tf.distribute.has_strategy():
        return 1
    if whole_epoch:
        return max(1, steps)
    chosen = min(limit, steps // 4)
    return chosen if chosen >= 4 else 1


def predict_step_by_step(model: Any, dataset: Any, steps: int | None = None) -> np.ndarray:
    """`model.predict(dataset, steps=steps)` with one batch per call, whatever the model's `steps_per_execution`.

    Keras' predict runs k steps per call by tracing k copies of the model into one function (and a
    second function for a shorter last call), where fit and evaluate loop over one copy: on a
    model compiled with k > 1 a single prediction pass would trace up to 2k forward passes. The
    one-step function is kept on the model, so the next pass (or run, with a lent traced model)
    reuses it; the outputs are the same as k=1's.
    """
    per_call = model.steps_per_execution
    if per_call == 1:
        return model.predict(dataset, steps=steps, verbose=0)
    compiled_function = model.predict_function
    model.steps_per_execution, model.predict_function = 1, getattr(model, "_one_step_predict_function", None)
    try:
        return model.predict(dataset, steps=steps, verbose=0)
    finally:
        model._one_step_predict_function = model.predict_function
        model.steps_per_execution, model.predict_function = per_call, compiled_function


def find_learning_rate(
    model: Any,
    train_data: Any,
    min_lr: float = 1e-6,
    max_lr: float = 1.0,
    steps: int = 100,
    divergence_factor: float = 4.0,
) -> dict[str, Any]:
    """The learning-rate range test (Smith, 2017; fastai's `lr_find`), restoring the weights after.

    Trains one batch per step while the learning rate grows exponentially from `min_lr` to
    `max_lr`, records each batch's loss, and stops early once the smoothed loss exceeds
    `divergence_factor` times its best. The model's weights and optimizer state are put back.

    Args:
        model: a compiled model (its optimizer's learning rate is overwritten during the test).
        train_data: a batched `tf.data.Dataset` (repeated as needed).
        min_lr, max_lr: the range. Defaults to 1e-6 and 1.
        steps: number of batches. Defaults to 100.
        divergence_factor: stop when the smoothed loss exceeds this times its minimum. Defaults to 4.

    Returns:
        learning_rates, losses, smoothed_losses, and `suggestion` (see `suggest_learning_rate`).
    """
    weights = [weight.copy() for weight in model.get_weights()]
    optimizer_state = [variable.numpy().copy() for variable in model.optimizer.variables] if model.optimizer.built else None
    rates = np.geomspace(min_lr, max_lr, steps)
    losses: list[float] = []
    smoothed: list[float] = []
    average = 0.0
    best = math.inf
    try:
        for step, (images, labels) in enumerate(train_data.repeat().take(steps)):
            model.optimizer.learning_rate.assign(float(rates[step]))
            loss = float(model.train_on_batch(images, labels, return_dict=True)["loss"])
            losses.append(loss)
            average = 0.98 * average + 0.02 * loss
            smoothed.append(average / (1 - 0.98 ** (step + 1)))  # bias-corrected moving average
            best = min(best, smoothed[-1])
            if not math.isfinite(loss) or smoothed[-1] > divergence_factor * best:
                break
    finally:
        model.set_weights(weights)
        if optimizer_state is not None:
            for variable, value in zip(model.optimizer.variables, optimizer_state):
                variable.assign(value)
    used = [float(rate) for rate in rates[: len(losses)]]
    return {"learning_rates": used, "losses": losses, "smoothed_losses": smoothed,
            "suggestion": suggest_learning_rate(used, smoothed)}


def suggest_learning_rate(learning_rates: Sequence[float], smoothed_losses: Sequence[float]) -> float:
    """The rate where the smoothed loss falls fastest (steepest slope against log learning rate),
    looked for between the first tenth of the sweep (where the moving average is still settling,
    which fastai also skips) and the loss minimum; NaN with fewer than three points."""
    if len(learning_rates) < 3:
        return math.nan
    losses = np.asarray(smoothed_losses, dtype=float)
    logs = np.log10(np.asarray(learning_rates, dtype=float))
    start = min(10, len(losses) // 10)
    end = start + int(np.nanargmin(losses[start:])) + 1
    if end - start < 3:
        return float(learning_rates[start])
    slopes = np.gradient(losses[start:end], logs[start:end])
    return float(learning_rates[start + int(np.nanargmin(slopes))])


def build_metrics_before_fit(model: Any, dataset: Any) -> None:
    """Build a compiled model's loss and metric state from the dataset's element spec.

    Without a distribution strategy, Keras builds the compiled metrics inside the first trace of
    the train step; because that creates variables, TensorFlow then traces the step a second
    time. Building them beforehand, symbolically, saves that second trace (about a third of a
    short run's time on a CPU). Only the spec is read, so no batch is drawn and the seeded
    shuffle order, hence what is learned, stays the same. A no-op where Keras lacks the hook.
    """
    symbolic_build = getattr(model, "_symbolic_build", None)
    element_spec = getattr(dataset, "element_spec", None)
    if symbolic_build is None or element_spec is None:
        return
    batch = tuple(keras.KerasTensor(tuple(spec.shape), spec.dtype.name) for spec in element_spec)
    symbolic_build(data_batch=batch)
