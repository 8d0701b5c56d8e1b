"""The "Fine-tuning techniques" section: one widget per technique field of `RunConfig` (block
learning rates, unfreezing, BatchNorm policy, new-head initialisation, feature cache, augmentation, copy
depth), enabled
only where the mode allows it, and a preview of the per-block rates and unfreezing stages."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ipywidgets as widgets

from workbench.config import (
    AUGMENTATIONS,
    BATCHNORM_POLICIES,
    BLOCK_LR_KINDS,
    CACHE_CHOICES,
    HEAD_INITS,
    UNFREEZE_KINDS,
    config_from_mapping,
)
from workbench.errors import WorkbenchError
from workbench.panels.components import LABEL_STYLE, accordion, short_layout
from workbench.panels.previews import LayerPlan, format_technique_preview
from workbench.panels.summaries import format_problem, muted


class TechniquesPart:
    """The technique widgets, their enabled state per mode, and the plan preview under them."""

    EXPOSED = ("block_lr_buttons", "lr_low", "layer_decay", "unfreeze_buttons", "unfreeze_every", "batchnorm_buttons",
               "head_init_buttons", "cache_buttons", "augment_checks", "copy_depth", "technique_info",
               "techniques_section")

    def __init__(self) -> None:
        short, style = short_layout(), LABEL_STYLE
        self.block_lr_buttons = widgets.ToggleButtons(
            options=list(BLOCK_LR_KINDS), value="uniform", description="Block LRs", style=style,
            tooltips=["every block at the learning rate",
                      "geometric spread from the lowest LR (first block) to the learning rate (head): fastai's slice",
                      "layer-wise decay: each block below the head gets 'decay' times the rate above: "
                      "timm's layer_decay"])
        self.lr_low = widgets.FloatText(value=0.0, description="Lowest LR", layout=short, style=style,
                                        tooltip="the first block's rate for 'geometric'; 0 = learning rate / 100")
        self.layer_decay = widgets.FloatText(value=0.75, description="Layer decay", layout=short, style=style,
                                             tooltip="factor per block below the head for 'decay', in (0, 1]")
        self.unfreeze_buttons = widgets.ToggleButtons(
            options=list(UNFREEZE_KINDS), value="none", description="Unfreeze", style=style,
            tooltips=["train at the freeze depth from the first epoch",
                      "start head-only, unfreeze one block top-down every N epochs down to the freeze depth (ULMFiT)",
                      "fastai's fine_tune: one head-only epoch, then down to the freeze depth at half the rate, "
                      "spread geometrically"])
        self.unfreeze_every = widgets.IntText(value=1, description="every N epochs", layout=short, style=style)
        self.batchnorm_buttons = widgets.ToggleButtons(
            options=list(BATCHNORM_POLICIES), value="frozen", description="BatchNorm", style=style,
            tooltips=["BatchNorm in frozen blocks runs in inference mode, statistics fixed",
                      "BatchNorm in frozen blocks keeps training (fastai's train_bn)"])
        self.head_init_buttons = widgets.ToggleButtons(
            options=list(HEAD_INITS), value="zero", description="New head", style=style,
            tooltips=["a new head on copied features starts at zero: first predictions uniform (BiT)",
                      "a new head on copied features starts from Keras' random initialisation"])
        self.cache_buttons = widgets.ToggleButtons(
            options=list(CACHE_CHOICES), value="auto", description="Feature cache", style=style,
            tooltips=["cache the frozen extractor's outputs whenever there is no augmentation",
                      "always cache (needs no augmentation)", "never cache"])
        self.augment_checks = {name: widgets.Checkbox(value=False, description=name, indent=False,
                                                      layout=widgets.Layout(width="7em"))
                               for name in AUGMENTATIONS}
        self.copy_depth = widgets.Dropdown(options=[("all blocks", "all")], value="all", description="Copy blocks",
                                           style=style, layout=widgets.Layout(width="26em"))
        self.technique_info = widgets.HTML()
        self.techniques_section = accordion([
            widgets.HBox([self.block_lr_buttons]),
            widgets.HBox([self.lr_low, self.layer_decay]),
            widgets.HBox([self.unfreeze_buttons, self.unfreeze_every]),
            self.copy_depth,
            self.batchnorm_buttons,
            self.head_init_buttons,
            self.cache_buttons,
            widgets.HBox([widgets.Label("Augmentation", layout=widgets.Layout(width="9em")),
                          *self.augment_checks.values()]),
            self.technique_info,
        ], "Fine-tuning techniques")
        self.techniques_section.add_class("workbench-techniques-section")
        self.technique_info.add_class("workbench-techniques")

    @property
    def controls(self) -> list[widgets.Widget]:
        """Every technique widget whose value changes the plan."""
        return [self.block_lr_buttons, self.lr_low, self.layer_decay, self.unfreeze_buttons, self.unfreeze_every,
                self.batchnorm_buttons, self.head_init_buttons, self.cache_buttons, self.copy_depth,
                *self.augment_checks.values()]

    def values(self, mode: str) -> dict[str, Any]:
        """The fine-tuning technique settings as `RunConfig` fields, as they apply to `mode`.

        A setting is passed only where its widget is enabled for that mode (the rest are None,
        which `config_from_mapping` reads as the default), the same rule `RunConfig` validates:
        copy depth, block learning rates and unfreezing belong to parameter transfer, feature
        caching to feature transfer, the BatchNorm policy to modes that freeze blocks, the head's
        initialisation to modes that copy features (structure's head is always fresh).
        """
        parameter = mode == "parameter"
        block_lr = self.block_lr_buttons.value if parameter else None
        unfreeze = self.unfreeze_buttons.value if parameter else None
        augment = ",".join(name for name, check in self.augment_checks.items() if check.value) or "none"
        return {
            "copy_depth": self.copy_depth.value if parameter and self.copy_depth.value != "all" else None,
            "block_lr": block_lr,
            "lr_low": (self.lr_low.value or None) if block_lr == "geometric" else None,
            "layer_decay": self.layer_decay.value if block_lr == "decay" else None,
            "unfreeze": unfreeze,
            "unfreeze_every": self.unfreeze_every.value if unfreeze == "gradual" else None,
            "batchnorm": self.batchnorm_buttons.value if mode != "structure" else None,
            "head_init": self.head_init_buttons.value if mode != "structure" else None,
            "cache_features": self.cache_buttons.value if mode == "feature" else None,
            "augment": augment,
        }

    def update_copy_options(self, plan: LayerPlan | None) -> None:
        """Offer "all blocks" and every copy depth of the selected source, keeping the user's choice."""
        names = plan.block_names if plan is not None else []
        options = [("all blocks", "all"), ("0: none (every block starts fresh)", 0)]
        options += [(f"{depth}: {', '.join(names[:depth])}", depth) for depth in range(1, len(names))]
        current = self.copy_depth.value
        self.copy_depth.options = options
        self.copy_depth.value = current if current in [value for _, value in options] else "all"

    def show(self, mode: str, plan: LayerPlan | None, transfer_values: Callable[[], dict[str, Any]]) -> None:
        """Enable the widgets that `mode` allows and preview what training will do.

        Args:
            mode: the transfer mode picked in the panel.
            plan: the source's `LayerPlan`; None shows a hint instead of the preview.
            transfer_values: returns the panel's transfer settings as `RunConfig` fields.
        """
        parameter = mode == "parameter"
        self.block_lr_buttons.disabled = self.unfreeze_buttons.disabled = self.copy_depth.disabled = not parameter
        self.lr_low.disabled = not (parameter and self.block_lr_buttons.value == "geometric")
        self.layer_decay.disabled = not (parameter and self.block_lr_buttons.value == "decay")
        self.unfreeze_every.disabled = not (parameter and self.unfreeze_buttons.value == "gradual")
        self.batchnorm_buttons.disabled = mode == "structure"  # nothing is frozen
        self.head_init_buttons.disabled = mode == "structure"  # nothing is copied: the head is fresh like the rest
        self.cache_buttons.disabled = mode != "feature"  # only feature transfer has a frozen extractor to cache
        if plan is None:
            self.technique_info.value = muted("Pick a source run to preview the per-block "
                                              "learning rates and the unfreezing stages.")
            return
        try:
            values = transfer_values()
            values["source"] = values["source"] or "preview"
            config = config_from_mapping(values, kind="transfer")
            self.technique_info.value = format_technique_preview(config, plan.blocks, plan.batchnorm_layers)
        except WorkbenchError as error:
            self.technique_info.value = format_problem("workbench-technique-error", str(error))
