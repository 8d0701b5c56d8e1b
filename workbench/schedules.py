"""Fine-tuning schedules as plain values: per-block learning rates and unfreezing stages.

Pure functions (no Keras), so the plans can be tested, printed and shown before any training.
"""

from __future__ import annotations

from dataclasses import dataclass

from workbench.config import BLOCK_LR_KINDS, UNFREEZE_KINDS
from workbench.errors import ConfigError

# fastai's fine_tune spreads its second stage over slice(lr / 100, lr): lr_mult = 100.
TWO_STAGE_LR_SPREAD = 100.0


def block_learning_rates(
    kind: str,
    learning_rate: float,
    num_blocks: int,
    lr_low: float | None = None,
    layer_decay: float = 0.75,
) -> list[float]:
    """One learning rate per block, first (input) block first, head last.

    Args:
        kind: "uniform" (every block at `learning_rate`), "geometric" (fastai's `slice(lr_low,
            learning_rate)`: geometrically spaced from `lr_low` at the first block to
            `learning_rate` at the head) or "decay" (timm's layer decay: the head at
            `learning_rate`, each block below it `layer_decay` times the one above).
        learning_rate: the head's learning rate.
        num_blocks: number of blocks, head included.
        lr_low: the first block's rate for "geometric". Defaults to learning_rate / 100.
        layer_decay: the factor per block for "decay", in (0, 1]. Defaults to 0.75.

    Raises:
        ConfigError: unknown kind or out-of-range values.
    """
    if kind not in BLOCK_LR_KINDS:
        raise ConfigError(f"block_lr={kind!r} is not known. Allowed: {', '.join(BLOCK_LR_KINDS)}. Pass --block-lr geometric, for example.")
    if num_blocks < 1:
        raise ConfigError(f"num_blocks={num_blocks} must be at least 1.")
    if kind == "uniform" or num_blocks == 1:
        return [float(learning_rate)] * num_blocks
    if kind == "geometric":
        low = learning_rate / TWO_STAGE_LR_SPREAD if lr_low is None else float(lr_low)
        if not 0 < low <= learning_rate:
            raise ConfigError(
                f"lr_low={low:g} must be above 0 and at most learning_rate={learning_rate:g}. "
                "Pass --lr-low smaller than --learning-rate, e.g. a hundredth of it."
            )
        ratio = (learning_rate / low) ** (1.0 / (num_blocks - 1))
        return [low * ratio**index for index in range(num_blocks)]
    if not 0 < layer_decay <= 1:
        raise ConfigError(f"layer_decay={layer_decay:g} must be in (0, 1]. Pass --layer-decay 0.75, for example.")
    return [learning_rate * layer_decay ** (num_blocks - 1 - index) for index in range(num_blocks)]


@dataclass(frozen=True)
class Stage:
    """A span of epochs [first_epoch, end_epoch) trained at one freeze depth and learning-rate scale."""

    first_epoch: int
    end_epoch: int
    freeze_depth: int
    lr_scale: float = 1.0
    block_lr: str | None = None  # overrides the run's block_lr for this stage (two-stage recipe)


def unfreeze_stages(kind: str, epochs: int, final_depth: int, max_depth: int, every: int = 1) -> list[Stage]:
    """Split training into stages of constant freeze depth.

    - "none": one stage at `final_depth`.
    - "gradual" (ULMFiT): start with every block below the head frozen (`max_depth`), then unfreeze
      one more block, top-down, every `every` epochs, until `final_depth` is reached.
    - "two-stage" (fastai's `fine_tune`): one epoch with only the head training, then the rest at
      `final_depth` with half the learning rate spread geometrically over the blocks.

    Args:
        kind: "none", "gradual" or "two-stage".
        epochs: total epochs.
        final_depth: the freeze depth training ends at (the run's `freeze_depth`).
        max_depth: the deepest freeze depth (every block below the head).
        every: epochs between unfreezing steps for "gradual". Defaults to 1.

    Raises:
        ConfigError: unknown kind, or `every` < 1.
    """
    if kind not in UNFREEZE_KINDS:
        raise ConfigError(f"unfreeze={kind!r} is not known. Allowed: {', '.join(UNFREEZE_KINDS)}. Pass --unfreeze gradual, for example.")
    if every < 1:
        raise ConfigError(f"unfreeze_every={every} must be at least 1 epoch. Pass --unfreeze-every 1.")
    if kind == "none" or final_depth >= max_depth:
        return [Stage(0, epochs, final_depth)]
    if kind == "two-stage":
        if epochs == 1:
            return [Stage(0, 1, max_depth)]
        return [Stage(0, 1, max_depth), Stage(1, epochs, final_depth, lr_scale=0.5, block_lr="geometric")]
    stages = []
    depth, epoch = max_depth, 0
    while epoch < epochs:
        end = epochs if depth == final_depth else min(epochs, epoch + every)
        stages.append(Stage(epoch, end, depth))
        epoch, depth = end, max(final_depth, depth - 1)
    return stages
