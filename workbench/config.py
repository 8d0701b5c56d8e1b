"""One configuration schema for every run.

CLI flags, papermill parameters (`-p name value`, `-f params.yaml`) and widget values all become a
`RunConfig`. Static validation (types, ranges, allowed names) lives here and runs once, at the edge;
checks that need the data or the source model (class names, budgets, block counts) run in
`data.py` and `transfer.py` before anything is written to disk.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from workbench.errors import ConfigError

KINDS = ("pretrain", "transfer")
MODES = ("parameter", "feature", "structure")
MODE_DESCRIPTIONS = {
    "parameter": "copy the source weights, freeze the first `freeze_depth` blocks, fine-tune the rest",
    "feature": "copy the source weights, freeze the whole feature extractor, train a new head",
    "structure": "same architecture, fresh weights: the from-scratch baseline",
}
ARCHITECTURES = ("seed-cnn", "mobilenet_v2", "resnet50")
BLOCK_LR_KINDS = ("uniform", "geometric", "decay")
UNFREEZE_KINDS = ("none", "gradual", "two-stage")
BATCHNORM_POLICIES = ("frozen", "train")
HEAD_INITS = ("zero", "keras")
CACHE_CHOICES = ("auto", "on", "off")
AUGMENTATIONS = ("flip", "rotate", "translate")
STRATEGIES = ("default", "mirrored", "multiworker")
PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")
DEFAULT_SOURCE_TASK = "mnist-5k:0-4"
DEFAULT_TARGET_TASK = "mnist-5k:5-9"


def mode_label(mode: str, freeze_depth: int | None) -> str:
    """Display name of a mode, with its freeze depth where the user chose it."""
    if mode == "parameter" and freeze_depth:
        return f"parameter (freeze {freeze_depth})"
    return mode


@dataclass
class RunConfig:
    """Everything that defines one training run.

    Args:
        kind: "pretrain" (train a source model) or "transfer" (carry a source run to a target task).
        task: `DATASET[:CLASSES]`, e.g. "mnist-5k:0-4" or "folder:/data/flowers:roses,tulips".
        model: architecture for pretraining: "seed-cnn", "mobilenet_v2" or "resnet50".
            Transfer runs take the source run's architecture. Defaults to "seed-cnn".
        weights: initial backbone weights for pretraining: "none", "imagenet" (downloads) or the
            path of a local weights file. Defaults to "none".
        input_shape: (height, width, channels) of the model input; images are resized and
            converted in the pipeline. Transfer runs take the source model's. Defaults to (32, 32, 3).
        source: path of the source run directory (transfer only).
        mode: "parameter", "feature" or "structure" (transfer only). Defaults to "parameter".
        freeze_depth: number of leading blocks frozen (parameter mode; 0 = fine-tune everything).
            Feature and structure modes fix it themselves, so leave it unset there. Defaults to 0.
        per_class: training examples per class (the label budget); None takes all.
        validation_split: fraction of the training pool held out for validation. Defaults to 0.1.
        epochs: number of training epochs. Defaults to 5.
        batch_size: mini-batch size: the global batch, split across replicas under a distribution
            strategy. Defaults to 32.
        learning_rate: Adam learning rate. Defaults to 1e-3.
        seed: seeds the splits, the label budget draw, the initial weights and shuffling.
        name: run directory name under `runs_dir`; None makes one from kind, mode and time.
        runs_dir: folder that holds run directories. Defaults to "runs".
        overwrite: replace an existing run of the same name. Defaults to False.
        copy_depth: parameter mode: copy only the first n blocks and start the rest fresh
            (Yosinski's AnB / AnB+); None copies every block that fits. Defaults to None.
        block_lr: per-block learning rates: "uniform", "geometric" (fastai's slice, from `lr_low`
            at the first block to `learning_rate` at the head) or "decay" (timm's layer decay).
            Defaults to "uniform".
        lr_low: the first block's learning rate for "geometric". Defaults to learning_rate / 100.
        layer_decay: factor per block below the head for "decay". Defaults to 0.75.
        unfreeze: "none", "gradual" (unfreeze one block top-down every `unfreeze_every` epochs,
            from head-only down to `freeze_depth`) or "two-stage" (fastai's fine_tune: one
            head-only epoch, then everything above `freeze_depth` at half the rate, spread
            geometrically). Defaults to "none".
        unfreeze_every: epochs between gradual unfreezing steps. Defaults to 1.
        batchnorm: BatchNorm layers in frozen blocks: "frozen" (inference mode, statistics fixed)
            or "train" (fastai's train_bn: they keep training). Defaults to "frozen".
        head_init: how a new head on copied features starts, whatever path built it: "zero" (BiT;
            first predictions uniform) or "keras" (Keras' random init). A head above a fresh block,
            and every pretrained model, starts from Keras' init. Defaults to "zero".
        cache_features: feature mode: compute the frozen extractor's outputs once and train the
            head on them: "auto" (whenever there is no augmentation and BatchNorm stays frozen), "on"
            or "off". Defaults to "auto".
        augment: training-set augmentation, "none" or a comma list of flip, rotate, translate.
            Turns feature caching off. Defaults to "none".
        strategy: where training runs: "default" (one device), "mirrored" (every local GPU, or every
            local logical device when there is no GPU) or "multiworker" (several machines, each
            running the same command, described by the TF_CONFIG environment variable; the chief
            writes the run). `batch_size` is the global batch, split across the replicas. Defaults
            to "default".
        precision: the model's Keras dtype policy: "float32", "mixed_float16" (float16 compute with
            loss scaling, for GPUs with tensor cores) or "mixed_bfloat16"; the logits layer always
            computes in float32. Defaults to "float32".
        data_root: a folder copy of the keras.datasets datasets, read instead of downloading:
            `train/` and `test/` class sub-folders (or `<data_root>/cifar10/train/...`), e.g.
            "../shared/data/cifar10-mini"; stored as an absolute path (`workbench.data.local_copies`).
            None downloads through keras.datasets. Defaults to None.
        cache: reuse a finished run with the same settings, source run, data and engine versions
            instead of training (`workbench.run_cache`); False always trains. Defaults to True.
        edits: structure edits applied to the source's architecture (transfer only), e.g.
            "cut conv2; add dense 128" or "widen dense1 to 128; deepen after conv2" (the forms are
            `workbench.structure.EDIT_FORMS`); a list of items is joined. Stored as the canonical
            text; "" transfers the source's own architecture. Defaults to "".
        grow_noise: Net2Net growth (widen, deepen): the standard deviation of the noise added to
            the grown weights, relative to their standard deviation, to break the symmetry of
            replicated units; 0 keeps the source's function exactly. Defaults to 0.
    """

    kind: str = "pretrain"
    task: str = DEFAULT_SOURCE_TASK
    model: str = "seed-cnn"
    weights: str = "none"
    input_shape: tuple[int, int, int] = (32, 32, 3)
    source: str | None = None
    mode: str = "parameter"
    freeze_depth: int | None = None
    per_class: int | None = None
    validation_split: float = 0.1
    epochs: int = 5
    batch_size: int = 32
    learning_rate: float = 1e-3
    seed: int = 0
    name: str | None = None
    runs_dir: str = "runs"
    overwrite: bool = False
    copy_depth: int | None = None
    block_lr: str = "uniform"
    lr_low: float | None = None
    layer_decay: float = 0.75
    unfreeze: str = "none"
    unfreeze_every: int = 1
    batchnorm: str = "frozen"
    head_init: str = "zero"
    cache_features: str = "auto"
    augment: str = "none"
    strategy: str = "default"
    precision: str = "float32"
    cache: bool = True
    data_root: str | None = None
    edits: str = ""
    grow_noise: float = 0.0

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Check types and ranges; raise `ConfigError` naming the bad value and the fix."""
        _check_choice("kind", self.kind, KINDS)
        if not isinstance(self.task, str) or not self.task.strip():
            raise ConfigError(
                f"task={self.task!r} is empty. Pass a task as DATASET[:CLASSES], for example "
                f"--task {DEFAULT_TARGET_TASK}."
            )
        _check_choice("model", self.model, ARCHITECTURES)
        _check_choice("strategy", self.strategy, STRATEGIES)
        _check_choice("precision", self.precision, PRECISIONS)
        self.input_shape = _coerce_shape(self.input_shape)
        self.epochs = _check_int("epochs", self.epochs, minimum=1, fix="Pass --epochs 1 or more.")
        self.batch_size = _check_int("batch_size", self.batch_size, minimum=1, fix="Pass --batch-size 1 or more.")
        self.seed = _check_int("seed", self.seed, minimum=0, fix="Pass a non-negative --seed.")
        if self.per_class is not None:
            self.per_class = _check_int(
                "per_class", self.per_class, minimum=1,
                fix="Pass --per-class 1 or more, or leave it out to use every training example.",
            )
        if self.freeze_depth is not None:
            self.freeze_depth = _check_int(
                "freeze_depth", self.freeze_depth, minimum=0,
                fix="Pass --freeze-depth 0 (fine-tune everything) or a positive number of blocks.",
            )
        self.learning_rate = _check_float("learning_rate", self.learning_rate, low=0.0, high=10.0)
        self.validation_split = _check_float(
            "validation_split", self.validation_split, low=0.0, high=0.9, low_inclusive=True
        )
        self._validate_techniques()
        self._validate_edits()
        from workbench.data.local_copies import check_data_root  # the layout of a copy is the data's concern

        self.data_root = check_data_root(self.data_root, self.task)
        if not isinstance(self.cache, bool):
            raise ConfigError(f"cache={self.cache!r} is not true or false. Pass --no-cache (-p cache false) to "
                              "train even where a finished run with the same settings exists.")
        if self.kind == "transfer":
            _check_choice("mode", self.mode, MODES)
            if not self.source:
                raise ConfigError(
                    "A transfer run needs a source run. Pass --source runs/NAME (a directory made by "
                    "`workbench pretrain`)."
                )
            if self.mode != "parameter" and self.freeze_depth is not None:
                fixed = "all feature blocks" if self.mode == "feature" else "no blocks"
                raise ConfigError(
                    f"freeze_depth={self.freeze_depth} was given with mode={self.mode!r}, which "
                    f"always freezes {fixed}. Leave --freeze-depth out, or use --mode parameter."
                )
        if self.name is not None:
            name = str(self.name)
            if not name or "/" in name or name.startswith(".") or name != name.strip():
                raise ConfigError(
                    f"name={self.name!r} is not a usable run directory name. Use letters, digits, "
                    "'-' and '_', without '/' or a leading '.'."
                )

    def _validate_techniques(self) -> None:
        _check_choice("block_lr", self.block_lr, BLOCK_LR_KINDS)
        _check_choice("unfreeze", self.unfreeze, UNFREEZE_KINDS)
        _check_choice("batchnorm", self.batchnorm, BATCHNORM_POLICIES)
        _check_choice("head_init", self.head_init, HEAD_INITS)
        if isinstance(self.cache_features, bool):
            self.cache_features = "on" if self.cache_features else "off"
        _check_choice("cache_features", self.cache_features, CACHE_CHOICES)
        self.augment = normalize_augment(self.augment)
        self.unfreeze_every = _check_int("unfreeze_every", self.unfreeze_every, minimum=1,
                                         fix="Pass --unfreeze-every 1 or more.")
        self.layer_decay = _check_float("layer_decay", self.layer_decay, low=0.0, high=1.0)
        if self.lr_low is not None:
            self.lr_low = _check_float("lr_low", self.lr_low, low=0.0, high=10.0)
        if self.copy_depth is not None:
            self.copy_depth = _check_int("copy_depth", self.copy_depth, minimum=0,
                                         fix="Pass --copy-depth 0 or more, or leave it out to copy every block.")
        is_parameter = self.kind == "transfer" and self.mode == "parameter"
        chosen = [name for name, value, default in (
            ("copy_depth", self.copy_depth, None), ("block_lr", self.block_lr, "uniform"),
            ("unfreeze", self.unfreeze, "none")) if value != default]
        if chosen and not is_parameter:
            raise ConfigError(
                f"{', '.join(chosen)} only apply to parameter transfer (a transfer run with mode "
                f"'parameter'), not to kind={self.kind!r}, mode={self.mode!r}. Use --mode parameter, or "
                "leave them out."
            )
        if self.cache_features == "on" and (self.kind != "transfer" or self.mode != "feature"
                                            or self.augment != "none" or self.batchnorm != "frozen"):
            raise ConfigError(
                "cache_features='on' needs feature transfer without augmentation and with frozen BatchNorm "
                "(the frozen extractor's outputs must not change between epochs). Use --mode feature "
                "--augment none --batchnorm frozen, or --cache-features auto."
            )

    def _validate_edits(self) -> None:
        from workbench.structure.spec import format_edits, parse_edits  # pure: no TensorFlow

        self.edits = format_edits(parse_edits(self.edits))
        self.grow_noise = _check_float("grow_noise", self.grow_noise, low=0.0, high=1.0, low_inclusive=True)
        chosen = [f"{name}={value!r}" for name, value, default in (("edits", self.edits, ""),
                                                                  ("grow_noise", self.grow_noise, 0.0))
                  if value != default]
        if self.cache_features == "on" and self._edits_add_layers():
            raise ConfigError(f"cache_features='on' with edits={self.edits!r}: the added or resized layers below the "
                              "head train in feature transfer too, so there are no fixed features to cache. Use "
                              "--cache-features auto, or edits without add, hidden and input.")
        if chosen and self.kind != "transfer":
            verb, them = ("change", "them") if len(chosen) > 1 else ("changes", "it")
            raise ConfigError(f"{' and '.join(chosen)} {verb} a source's architecture, so only a transfer run takes "
                              f"{them}, not kind={self.kind!r}. Use `workbench transfer --source runs/NAME --edit "
                              f"...`, or leave {them} out.")

    def uses_feature_cache(self) -> bool:
        """Whether this run trains its head on cached features (feature mode, no augmentation)."""
        return (self.kind == "transfer" and self.mode == "feature" and self.augment == "none"
                and self.batchnorm == "frozen" and self.cache_features != "off" and not self._edits_add_layers())

    def _edits_add_layers(self) -> bool:
        """Whether the edits may put fresh layers below the head (add, hidden, input), which feature
        transfer trains too, so the outputs below the head are not fixed features to cache."""
        from workbench.structure.spec import parse_edits

        return any(edit.kind in ("add", "hidden", "input") for edit in parse_edits(self.edits))

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict of every field (tuples become lists)."""
        values = dataclasses.asdict(self)
        values["input_shape"] = list(self.input_shape)
        return values

    def replace(self, **changes: Any) -> RunConfig:
        """Return a validated copy with some fields changed."""
        return dataclasses.replace(self, **changes)


FIELD_NAMES = tuple(f.name for f in dataclasses.fields(RunConfig))


def config_from_mapping(values: Mapping[str, Any], **defaults: Any) -> RunConfig:
    """Build a `RunConfig` from a mapping such as CLI flags, papermill parameters or widget values.

    Dashes in keys are accepted as underscores (`freeze-depth` = `freeze_depth`); `None` values
    fall back to the defaults. A `preset` name (`workbench.presets`) fills in the task, epochs and
    label budget it suggests wherever `values` gives none (the source task for `kind="pretrain"`).

    Args:
        values: field name → value, and optionally `preset`.
        **defaults: values used where `values` has none (e.g. `kind="transfer"`).

    Returns:
        The validated configuration.

    Raises:
        ConfigError: for an unknown field or a bad value.
    """
    from workbench.presets import SOURCE, TARGET, apply_preset

    merged: dict[str, Any] = dict(defaults)
    for key, value in values.items():
        name = str(key).replace("-", "_")
        if name not in FIELD_NAMES and name != "preset":
            raise ConfigError(
                f"Unknown parameter {key!r}. Allowed parameters: {', '.join(FIELD_NAMES)}. "
                "Check the spelling (use -p freeze_depth 2, for example)."
            )
        if value is not None:
            merged[name] = value
    merged = apply_preset(merged, SOURCE if merged.get("kind", "pretrain") == "pretrain" else TARGET)
    if merged.get("kind") == "transfer" and "task" not in merged:
        merged["task"] = DEFAULT_TARGET_TASK
    return RunConfig(**merged)


def load_parameter_file(path: str | Path) -> dict[str, Any]:
    """Read a YAML (or JSON) parameter file into a dict, papermill's `-f` style.

    Raises:
        ConfigError: when the file is missing, unreadable, or not a mapping.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"Parameter file {str(path)!r} does not exist. Pass -f with the path of a YAML file.")
    try:
        loaded = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise ConfigError(
            f"Parameter file {str(path)!r} is not valid YAML ({describe_yaml_error(error)}). Fix the file: one "
            "`name: value` per line, e.g. `epochs: 3`."
        ) from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise ConfigError(
            f"Parameter file {str(path)!r} holds a {type(loaded).__name__}, not a mapping of "
            "name: value lines. Write one `name: value` per line."
        )
    return loaded


def describe_yaml_error(error: yaml.YAMLError) -> str:
    """A YAML parse error on one line ("line 2, column 1: expected ...") for a one-paragraph message."""
    mark = getattr(error, "problem_mark", None)
    problem = getattr(error, "problem", None) or str(error).splitlines()[0]
    return f"line {mark.line + 1}, column {mark.column + 1}: {problem}" if mark is not None else problem


def parse_parameter_value(text: str) -> Any:
    """Parse a `-p name value` value the way papermill does: as YAML (numbers, lists, null)."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def normalize_augment(value: Any) -> str:
    """Turn an augmentation choice ("none", "flip,rotate", a list, None) into its canonical text.

    Raises:
        ConfigError: for an unknown augmentation.
    """
    if value in (None, "", False, "none"):
        return "none"
    names = value if isinstance(value, (list, tuple)) else str(value).split(",")
    names = [str(name).strip() for name in names if str(name).strip()]
    unknown = [name for name in names if name not in AUGMENTATIONS]
    if unknown:
        raise ConfigError(
            f"augment={value!r} has unknown augmentation(s) {', '.join(unknown)}. Allowed: none, or a comma "
            f"list of {', '.join(AUGMENTATIONS)}. Pass --augment flip,translate, for example."
        )
    return ",".join(name for name in AUGMENTATIONS if name in names) or "none"


def save_config(config: RunConfig, path: Path) -> None:
    """Write a config as indented JSON."""
    path.write_text(json.dumps(config.to_dict(), indent=2) + "\n")


def _check_choice(name: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        flag = name.replace("_", "-")
        raise ConfigError(
            f"{name}={value!r} is not known. Allowed values: {', '.join(allowed)}. "
            f"Pass --{flag} {allowed[0]}, for example."
        )


def _check_int(name: str, value: Any, minimum: int, fix: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ConfigError(f"{name}={value!r} is not a whole number. {fix}")
    try:
        number = int(value) if not isinstance(value, float) or value.is_integer() else None
    except ValueError:
        number = None
    if number is None:
        raise ConfigError(f"{name}={value!r} is not a whole number. {fix}")
    if number < minimum:
        raise ConfigError(f"{name}={number} is below the minimum of {minimum}. {fix}")
    return number


def _check_float(
    name: str, value: Any, low: float, high: float, low_inclusive: bool = False
) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name}={value!r} is not a number. Pass a number such as 0.001.") from None
    too_low = number < low if low_inclusive else number <= low
    if too_low or number > high or number != number:
        interval = f"{'[' if low_inclusive else '('}{low}, {high}]"
        raise ConfigError(f"{name}={value!r} is outside {interval}. Pass a value in that range.")
    return number


def _coerce_shape(value: Any) -> tuple[int, int, int]:
    if isinstance(value, str):
        parts = value.lower().replace(",", "x").split("x")
    else:
        parts = list(value) if isinstance(value, (list, tuple)) else [value]
    try:
        shape = tuple(int(part) for part in parts)
    except (TypeError, ValueError):
        shape = ()
    if len(shape) != 3 or shape[2] not in (1, 3) or min(shape[:2]) < 8:
        raise ConfigError(
            f"input_shape={value!r} is not HEIGHTxWIDTHxCHANNELS with sides of at least 8 and 1 or 3 "
            "channels. Pass --input-shape 32x32x3, for example."
        )
    return shape  # type: ignore[return-value]


# Settings of studies (seeds, jobs, cluster, detect, number lists) live in workbench.study_options;
# re-exported here because every front end imports them from the config module.
from workbench.study_options import (  # noqa: E402,F401
    CLUSTER_VARIABLE,
    DEFAULT_SCHEDULER_PORT,
    LOCAL_CLUSTER,
    check_cluster,
    check_detect,
    check_jobs,
    parse_int_list,
    resolve_cluster,
    resolve_seeds,
)
