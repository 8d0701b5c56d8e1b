"""Named source → target task pairs at different task distances, for sweeps and reports.

Yosinski et al. (2014) found that how far the target lies from the source decides how much the
copied layers are worth: upper layers are specific to the source task, and the farther the target,
the less copying helps and the more freezing those layers hurts. A preset names such a pair, so a
study can be repeated "near" and "far" with one word:

    import workbench

    source = workbench.pretrain(preset="cifar-far", data_root="../shared/data/cifar10-mini", name="photos")
    workbench.compare(preset="cifar-far", source=str(source.path), data_root="../shared/data/cifar10-mini")

Two pairs on the embedded digits (`near`, `far`) and two on CIFAR-10 photos (`cifar-near`,
`cifar-far`). The digit presets keep the source task of the default report set (`mnist-5k:0-4`), so
the source model `01_pretrain_source` trains serves both, and both targets have five classes, so
chance level (0.2) and the label budget mean the same thing in each; only the distance changes.

The photo presets also size the study for photos (`TaskPreset.sizes`): more source epochs, and
label budgets in the tens to hundreds, where 5 labels per class leave a CNN near chance on
CIFAR-10. Every front end uses these sizes unless the user gives the value:

| front end | how | what the preset fills in |
|---|---|---|
| CLI | `--preset NAME` on pretrain, transfer, compare, sweep-depth, sweep-budget, lr-find, rank | the task (source for pretrain, target otherwise), epochs, per_class; budgets for sweep-budget |
| API | `preset="NAME"` in `pretrain`, `transfer`, `compare`, `sweep_depth`, `sweep_budget`, `rank` | the same |
| report set | `workbench report -p preset NAME` | source_task, target_task, source_epochs, source_per_class, epochs, per_class, budgets (before `--quick`, `-f` and `-p`) |
| panel | the "Preset" dropdown | both tasks, epochs and labels per class in the boxes |

CIFAR-10 downloads through keras.datasets unless `data_root` points at a folder copy
(`workbench.data.local_copies`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from workbench.errors import ConfigError

# Roles a preset fills parameters for: a source run (pretrain) or a run on the target task.
SOURCE, TARGET = "source", "target"
# What a report notebook's parameters are called, for each preset size.
REPORT_PARAMETER_NAMES = {"source_epochs": "source_epochs", "source_per_class": "source_per_class",
                          "epochs": "epochs", "per_class": "per_class", "budgets": "budgets"}


@dataclass(frozen=True)
class TaskPreset:
    """A named source → target pair, why it sits at that distance, and the study sizes it suits.

    Attributes:
        sizes: defaults the front ends use unless the user gives the value: `source_epochs`,
            `source_per_class` (None: every example), `epochs` and `per_class` of the target runs,
            and `budgets` (labels per class) of the label-budget sweep. Empty for the digit
            presets, which keep the workbench's own defaults.
    """

    name: str
    source_task: str
    target_task: str
    description: str
    sizes: Mapping[str, Any] = field(default_factory=dict)

    def parameters(self) -> dict[str, Any]:
        """The run parameters the preset sets: `source_task` and `target_task`."""
        return {"source_task": self.source_task, "target_task": self.target_task}

    def run_parameters(self, role: str) -> dict[str, Any]:
        """`RunConfig` fields for a run in `role`: "source" (pretrain) or "target" (every other run).

        Returns:
            `task`, and where the preset sizes them, `epochs` and `per_class`.
        """
        if role == SOURCE:
            values = {"task": self.source_task, "epochs": self.sizes.get("source_epochs"),
                      "per_class": self.sizes.get("source_per_class")}
        else:
            values = {"task": self.target_task, "epochs": self.sizes.get("epochs"),
                      "per_class": self.sizes.get("per_class")}
        return {key: value for key, value in values.items() if value is not None}

    def report_parameters(self) -> dict[str, Any]:
        """The report notebooks' parameters the preset sets: both tasks and its sizes."""
        values = self.parameters()
        values.update({REPORT_PARAMETER_NAMES[key]: list(value) if isinstance(value, tuple) else value
                       for key, value in self.sizes.items()})
        return values

    def describe_sizes(self) -> str:
        """The sizes in words, e.g. "source epochs 15, epochs 10, labels per class 100, budgets 10, 25, …"."""
        if not self.sizes:
            return "the workbench's own defaults for epochs and labels per class"
        words = {"source_epochs": "source epochs", "source_per_class": "source labels per class",
                 "epochs": "epochs", "per_class": "labels per class", "budgets": "budget sweep"}
        return ", ".join(f"{words[key]} {_describe_size(value)}" for key, value in self.sizes.items())


def _describe_size(value: Any) -> str:
    if value is None:
        return "all"
    if isinstance(value, (list, tuple)):
        return ", ".join(_describe_size(item) for item in value)
    return str(value)


CIFAR_SIZES = {
    # 15 epochs: the seed CNN's test accuracy on the six (or five) CIFAR-10 source classes levels off
    # around there at full size; every example of the source classes is used.
    "source_epochs": 15, "source_per_class": None,
    # Photos need labels: at 5 per class the seed CNN stays near chance on every mode.
    "epochs": 10, "per_class": 100,
    # 250 is the largest budget cifar10-mini (300 train images per class, 10% held out) can give.
    "budgets": (10, 25, 100, 250),
}

PRESETS: dict[str, TaskPreset] = {
    preset.name: preset
    for preset in (
        TaskPreset(
            name="near",
            source_task="mnist-5k:0-4",
            target_task="mnist-5k:5-9",
            description=(
                "near: MNIST digits 0-4 → MNIST digits 5-9. Same scans, writers, stroke width and "
                "image statistics; only the classes differ, so low and middle blocks (strokes, "
                "curves, junctions) carry over and transfer should help."
            ),
        ),
        TaskPreset(
            name="far",
            source_task="mnist-5k:0-4",
            target_task="digits:5-9",
            description=(
                "far: MNIST digits 0-4 → scikit-learn `digits` 5-9. Different classes *and* a "
                "different distribution: 8×8 images with 17 grey levels, upscaled to the model "
                "input, so strokes become blurred blocks. The source's features fit worse: transfer "
                "should gain less over structure than for `near`, and frozen features (feature "
                "transfer, deep AnB) should fall further below it."
            ),
        ),
        TaskPreset(
            name="cifar-near",
            source_task="cifar10:0-4",
            target_task="cifar10:5-9",
            description=(
                "cifar-near: CIFAR-10 classes 0-4 (airplane, automobile, bird, cat, deer) → 5-9 (dog, frog, "
                "horse, ship, truck). Photos from one collection on both sides, and each side mixes animals "
                "and vehicles, so the source has seen fur, wheels, sky and grass: textures and parts carry "
                "over, only the class boundaries are new."
            ),
            sizes=CIFAR_SIZES,
        ),
        TaskPreset(
            name="cifar-far",
            source_task="cifar10:bird,cat,deer,dog,frog,horse",
            target_task="cifar10:airplane,automobile,ship,truck",
            description=(
                "cifar-far: CIFAR-10 animals (bird, cat, deer, dog, frog, horse) → vehicles (airplane, "
                "automobile, ship, truck). Same camera statistics, but the source never saw a man-made "
                "object: edges and colours carry over, the upper blocks' fur, eyes and legs do not, so "
                "frozen upper blocks should cost more than on cifar-near."
            ),
            sizes=CIFAR_SIZES,
        ),
    )
}


def preset(name: str) -> dict[str, Any]:
    """The run parameters of a named task-distance preset, e.g. `preset("far")`.

    Args:
        name: a key of `PRESETS` ("near", "far", "cifar-near", "cifar-far"); case and surrounding
            spaces are ignored.

    Returns:
        `{"source_task": ..., "target_task": ...}`, ready to merge into notebook or run parameters.

    Raises:
        ConfigError: for an unknown name, listing the presets and what each one is.
    """
    return get_preset(name).parameters()


def get_preset(name: str) -> TaskPreset:
    """The `TaskPreset` called `name` (see `preset`).

    Raises:
        ConfigError: for an unknown name, listing the presets and what each one is.
    """
    key = str(name).strip().lower() if name is not None else ""
    if key not in PRESETS:
        known = "; ".join(f"{item.name} ({item.source_task} → {item.target_task})" for item in PRESETS.values())
        raise ConfigError(
            f"Unknown task-distance preset {name!r}. Known presets: {known}. Pass one of "
            f"{', '.join(repr(key) for key in PRESETS)} (e.g. -p preset far or --preset cifar-far), or an empty "
            "preset to use the tasks as given."
        )
    return PRESETS[key]


def apply_preset(values: Mapping[str, Any], role: str) -> dict[str, Any]:
    """Fill in a preset's parameters where `values` has none: the one rule every front end uses.

    `values` may hold `preset` (a name, or empty/None for none); it is removed. The preset's task,
    epochs and label budget for `role` go in under every key that `values` leaves unset (absent
    or None): what the user gives always wins.

    Args:
        values: run parameters, e.g. CLI flags or API keyword arguments.
        role: "source" for a pretraining run, "target" for any run on the target task.

    Returns:
        A new dict, without `preset`.

    Raises:
        ConfigError: for an unknown preset name.
    """
    merged = {key: value for key, value in values.items() if key != "preset"}
    name = values.get("preset")
    if name is None or not str(name).strip():
        return merged
    for key, value in get_preset(name).run_parameters(role).items():
        if merged.get(key) is None:
            merged[key] = value
    return merged


def preset_budgets(name: str | None) -> list[int | None] | None:
    """The label-budget sweep's budgets a preset suggests; None for no preset or one without its own."""
    if name is None or not str(name).strip():
        return None
    budgets = get_preset(name).sizes.get("budgets")
    return None if budgets is None else list(budgets)


def describe_presets() -> str:
    """Every preset, one line each: name, tasks, why it sits at that distance, and its study sizes."""
    return "\n".join(f"- {item.description} Sizes: {item.describe_sizes()}." for item in PRESETS.values())
