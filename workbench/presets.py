"""Named source → target task pairs at different task distances, for sweeps and reports.

Yosinski et al. (2014) found that how far the target lies from the source decides how much the
copied layers are worth: upper layers are specific to the source task, and the farther the target,
the less copying helps and the more freezing those layers hurts. A preset names such a pair on the
embedded data, so a study can be repeated "near" and "far" with one word:

    import workbench
    from workbench.presets import preset

    tasks = preset("far")  # {"source_task": "mnist-5k:0-4", "target_task": "digits:5-9"}
    workbench.sweep_depth(source="runs/source", task=tasks["target_task"], per_class=5, seeds=3)

Both presets keep the source task of the default report set (`mnist-5k:0-4`), so the source model
`01_pretrain_source` trains serves both, and both targets have five classes, so chance level (0.2)
and the label budget mean the same thing in each; only the distance changes. In the report
notebooks `03_freeze_depth` and `04_label_budget`, `-p preset far` replaces `source_task` and
`target_task`; an empty `preset` keeps them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from workbench.errors import ConfigError


@dataclass(frozen=True)
class TaskPreset:
    """A named source → target pair and why it sits at that distance."""

    name: str
    source_task: str
    target_task: str
    description: str

    def parameters(self) -> dict[str, Any]:
        """The run parameters the preset sets: `source_task` and `target_task`."""
        return {"source_task": self.source_task, "target_task": self.target_task}


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
    )
}


def preset(name: str) -> dict[str, Any]:
    """The run parameters of a named task-distance preset, e.g. `preset("far")`.

    Args:
        name: a key of `PRESETS` ("near" or "far"); case and surrounding spaces are ignored.

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
            f"{', '.join(repr(key) for key in PRESETS)} (e.g. -p preset far), or an empty preset to use "
            "source_task and target_task as given."
        )
    return PRESETS[key]


def describe_presets() -> str:
    """Every preset, one line each: name, tasks and why it sits at that distance."""
    return "\n".join(f"- {item.description}" for item in PRESETS.values())
