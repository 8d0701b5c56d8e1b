"""Planning a report set: read the config, merge and check every parameter, order the notebooks.

Everything here runs before the first kernel starts, so a typo or an unusable value stops
`workbench report` with one readable error and nothing half-built.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.config import ConfigError, RunConfig, check_jobs, load_parameter_file, parse_int_list
from workbench.errors import ReportError, WorkbenchError

DEFAULT_CONFIG = Path("reports") / "config.yaml"
DEFAULT_KERNEL = "workbench"
DEFAULT_TIMEOUT = 1800
CONFIG_KEYS = ("kernel", "timeout", "jobs", "warm_up", "output_dir", "parameters", "quick", "notebooks")
NOTEBOOK_KEYS = ("path", "after", "parameters", "quick")
# Set by the runner for each notebook; the user moves the whole set with --output-dir instead.
MANAGED_PARAMETERS = ("output_dir",)
# Read by `workbench report` itself, not passed to the notebooks: `cache: false` (in the config's
# `parameters`, -f or -p) trains every run, as --no-cache does (`workbench.run_cache`).
REPORT_LEVEL_PARAMETERS = ("cache",)
RUNS_FOLDER = "runs"
METRICS_FILE = "metrics.json"
INDEX_JSON_FILE = "index.json"  # index.html's machine-readable twin; also the times of the last run

# Which RunConfig field checks each notebook parameter: one validation, the same messages.
_RUN_CONFIG_FIELDS = {
    "epochs": "epochs", "source_epochs": "epochs", "per_class": "per_class", "source_per_class": "per_class",
    "learning_rate": "learning_rate", "batch_size": "batch_size", "freeze_depth": "freeze_depth",
    "head_init": "head_init",
    "source_seed": "seed",
}
SWEEP_LIST_EXAMPLES = {"depths": "[0, 2, 4]", "budgets": "[1, 5, all]", "modes": "[structure, parameter]"}


@dataclass
class NotebookPlan:
    """One notebook of the report set, with the parameters it will run with."""

    name: str
    source: Path
    folder: Path
    after: list[str]
    parameters: dict[str, Any]
    title: str

    @property
    def executed_path(self) -> Path:
        """The executed notebook, kept for debugging."""
        return self.folder / f"{self.name}.ipynb"

    @property
    def html_path(self) -> Path:
        """The rendered report."""
        return self.folder / f"{self.name}.html"

    @property
    def metrics_path(self) -> Path:
        """The key numbers the notebook recorded."""
        return self.folder / METRICS_FILE


@dataclass
class ReportPlan:
    """Everything `workbench report` will do, fixed and checked before the first kernel starts."""

    config_path: Path
    output_dir: Path
    kernel: str
    timeout: int
    quick: bool
    notebooks: list[NotebookPlan]
    notes: list[str] = field(default_factory=list)
    jobs: int = 1
    warm_up: str = ""
    cache: bool = True
    baseline: Any = None  # the `reports.baseline.Baseline` to compare with, read before the run


    @property
    def index_path(self) -> Path:
        """The page that links every report."""
        return self.output_dir / "index.html"


def load_report_config(path: str | Path) -> dict[str, Any]:
    """Read and check a report-set file such as `reports/config.yaml`.

    Raises:
        ReportError: for a missing file, unknown keys or a malformed notebook list.
    """
    path = Path(path)
    if not path.is_file():
        raise ReportError(
            f"Report config {str(path)!r} does not exist. Run `workbench report` from the project folder "
            "(it reads reports/config.yaml), or pass --config PATH."
        )
    try:
        config = load_parameter_file(path)
    except ConfigError as error:
        raise ReportError(str(error).replace("Parameter file", "Report config")) from None
    unknown = sorted(set(config) - set(CONFIG_KEYS))
    if unknown:
        raise ReportError(
            f"Report config {str(path)!r} has unknown key(s) {', '.join(unknown)}. Allowed keys: "
            f"{', '.join(CONFIG_KEYS)}. Check the spelling."
        )
    _check_notebook_entries(config.get("notebooks"), path)
    for key in ("parameters", "quick"):
        if not isinstance(config.get(key) or {}, dict):
            raise ReportError(f"`{key}` in {str(path)!r} must be a mapping of `name: value` lines.")
    if not isinstance(config.get("warm_up") or "", str):
        raise ReportError(f"`warm_up` in {str(path)!r} must be Python code on one line, e.g. `warm_up: import workbench.api`.")
    return config


def _check_notebook_entries(notebooks: Any, path: Path) -> None:
    if not isinstance(notebooks, list) or not notebooks:
        raise ReportError(
            f"Report config {str(path)!r} lists no notebooks. Add a `notebooks:` list with one "
            "`- path: ../notebooks/NAME.ipynb` entry per notebook."
        )
    for entry in notebooks:
        if not isinstance(entry, dict) or "path" not in entry:
            raise ReportError(
                f"Notebook entry {entry!r} in {str(path)!r} has no `path`. Write `- path: ../notebooks/NAME.ipynb`."
            )
        extra = sorted(set(entry) - set(NOTEBOOK_KEYS))
        if extra:
            raise ReportError(
                f"Notebook entry for {entry['path']!r} has unknown key(s) {', '.join(extra)}. Allowed keys: "
                f"{', '.join(NOTEBOOK_KEYS)}."
            )


def merge_parameters(*layers: Mapping[str, Any] | None) -> dict[str, Any]:
    """Merge parameter mappings, later layers winning (papermill's `-f` then `-p` order)."""
    merged: dict[str, Any] = {}
    for layer in layers:
        merged.update(layer or {})
    return merged


def parse_parameter_pairs(pairs: Sequence[Sequence[str]]) -> dict[str, Any]:
    """`-p name value` pairs → a dict, each value parsed as YAML the way papermill does."""
    from workbench.config import parse_parameter_value

    return {str(name).replace("-", "_"): parse_parameter_value(str(value)) for name, value in pairs}


def declared_parameters(notebook: Path) -> dict[str, str]:
    """The names a notebook's `parameters` cell declares, with their default source text.

    Raises:
        ReportError: when the file is missing, unreadable, or has no cell tagged `parameters`.
    """
    import nbformat
    import papermill

    if not notebook.is_file():
        raise ReportError(
            f"Notebook {str(notebook)!r} does not exist. Fix its `path` in the report config (paths are "
            "relative to the config file)."
        )
    try:
        cells = nbformat.read(notebook, as_version=4).cells
    except Exception as error:  # nbformat raises several unrelated types for a broken file
        raise ReportError(f"Notebook {str(notebook)!r} cannot be read ({error}). Fix or replace the file.") from None
    if not any("parameters" in cell.get("metadata", {}).get("tags", []) for cell in cells):
        raise ReportError(
            f"Notebook {str(notebook)!r} has no cell tagged `parameters`. Tag the cell that sets the "
            "defaults (JupyterLab: property inspector → Cell Tags → parameters)."
        )
    return {name: spec["default"] for name, spec in papermill.inspect_notebook(str(notebook)).items()}


def plan_reports(
    config_path: str | Path = DEFAULT_CONFIG,
    output_dir: str | Path | None = None,
    parameters_file: str | Path | None = None,
    parameters: Mapping[str, Any] | None = None,
    quick: bool = False,
    kernel: str | None = None,
    timeout: int | None = None,
) -> ReportPlan:
    """Work out what to run: notebooks in dependency order, each with its final parameters.

    Args:
        config_path: the report-set file. Defaults to "reports/config.yaml".
        output_dir: where reports go; None takes the config's `output_dir` (relative to the config
            file; default: the config file's folder).
        parameters_file: a YAML file of parameters (papermill's `-f`).
        parameters: `-p` values, winning over everything else.
        quick: apply the config's `quick` parameters (tiny runs for CI). Defaults to False.
        kernel: Jupyter kernel name; None takes the config's (default "workbench").
        timeout: seconds one cell may run; None takes the config's (default 1800).

    Returns:
        The checked plan.

    Raises:
        ReportError, ConfigError: for anything unusable, before any notebook runs.
    """
    config_path = Path(config_path)
    config = load_report_config(config_path)
    base = config_path.resolve().parent
    root = Path(output_dir).resolve() if output_dir is not None else (base / str(config.get("output_dir", "."))).resolve()
    check_output_dir(root)
    kernel = str(kernel or config.get("kernel") or DEFAULT_KERNEL)
    timeout = _check_timeout(timeout if timeout is not None else config.get("timeout", DEFAULT_TIMEOUT))
    file_values = load_parameter_file(parameters_file) if parameters_file else {}
    user_values = merge_parameters(file_values, parameters)

    sources: dict[str, Path] = {}
    declared: dict[str, dict[str, str]] = {}
    for entry in config["notebooks"]:
        source = (base / str(entry["path"])).resolve()
        name = source.stem
        if name in sources:
            raise ReportError(f"Notebook {name!r} is listed twice in {str(config_path)!r}. List each notebook once.")
        sources[name] = source
        declared[name] = declared_parameters(source)
    _check_parameter_names(config, user_values, declared, config_path)

    plans = []
    for entry in config["notebooks"]:
        name = Path(str(entry["path"])).stem
        final = _notebook_parameters(config, entry, user_values, quick, base, root)
        final = {key: value for key, value in final.items() if key in declared[name]}
        validate_parameters(name, final)
        after = entry.get("after") or []
        after = [after] if isinstance(after, str) else [str(item) for item in after]
        plans.append(NotebookPlan(name, sources[name], root / name, after, final, notebook_title(sources[name])))
    jobs = check_jobs(config.get("jobs", 1), "`jobs:` in the report config")
    layers = (config.get("parameters"), config.get("quick") if quick else None, user_values)
    cache = merge_parameters(*layers).get("cache", True)
    if not isinstance(cache, bool):
        raise ReportError(f"Parameter cache={cache!r} is not true or false. Pass -p cache false (or --no-cache) to "
                          "train every run, or leave it out to reuse finished runs.")
    return ReportPlan(config_path, root, kernel, timeout, quick, order_notebooks(plans), jobs=jobs,
                      warm_up=str(config.get("warm_up") or ""), cache=cache)


def _notebook_parameters(config: Mapping[str, Any], entry: Mapping[str, Any], user_values: Mapping[str, Any],
                         quick: bool, base: Path, root: Path) -> dict[str, Any]:
    """One notebook's parameters, every layer merged, before keeping the names it declares."""
    name = Path(str(entry["path"])).stem
    layers = [config.get("parameters"), entry.get("parameters")]
    # A preset (-p preset cifar-far) replaces the config's digit-sized tasks, epochs and budgets with
    # its own; --quick, -f and -p still win over it.
    layers.append(_preset_parameters(name, merge_parameters(*layers, user_values).get("preset")))
    if quick:
        layers += [config.get("quick"), entry.get("quick")]
    config_values = merge_parameters(*layers)
    for key in ("runs_dir", "data_root"):  # paths in the config file are relative to the config file
        if config_values.get(key) is not None:
            config_values[key] = str((base / str(config_values[key])).resolve())
    values = merge_parameters(config_values, user_values)
    values.setdefault("runs_dir", str(root / RUNS_FOLDER))
    values["runs_dir"] = str(Path(str(values["runs_dir"])).expanduser().resolve())
    if isinstance(values.get("data_root"), str) and values["data_root"].strip():
        values["data_root"] = str(Path(values["data_root"].strip()).expanduser().resolve())
    values["output_dir"] = str(root / name)
    return values


def _preset_parameters(notebook: str, preset: Any) -> dict[str, Any]:
    """The notebook parameters a preset sets (`TaskPreset.report_parameters`); none for an empty name.

    Raises:
        ReportError: for an unknown preset, naming the notebook and listing the known presets.
    """
    from workbench.presets import get_preset

    if preset is None or not str(preset).strip():
        return {}
    try:
        return get_preset(preset).report_parameters()
    except ConfigError as error:
        raise ReportError(f"Notebook {notebook}: parameter preset={preset!r} is not usable: {error}") from None


def check_output_dir(path: Path) -> None:
    """Refuse an output folder that is a file or sits below a file, before anything runs.

    Raises:
        ReportError: naming the path, what it has to be and the fix.
    """
    blocking = next((folder for folder in (path, *path.parents) if folder.exists()), None)
    if blocking is not None and not blocking.is_dir():
        where = "is a file" if blocking == path else f"lies inside {str(blocking)!r}, which is a file"
        raise ReportError(
            f"Output folder {str(path)!r} {where}. --output-dir must be a folder (it is created if missing). "
            "Pass another path, e.g. --output-dir reports-out."
        )


def _check_timeout(value: Any) -> int:
    try:
        seconds = int(value)
    except (TypeError, ValueError):
        seconds = 0
    if seconds < 1:
        raise ReportError(f"timeout={value!r} is not a positive number of seconds. Pass --timeout 600, for example.")
    return seconds


def _check_parameter_names(config: Mapping[str, Any], user_values: Mapping[str, Any],
                           declared: Mapping[str, Mapping[str, str]], config_path: Path) -> None:
    """Reject names no notebook declares (a typo would otherwise be ignored silently)."""
    known = sorted({name for names in declared.values() for name in names} - set(MANAGED_PARAMETERS))
    sources: list[tuple[str, Mapping[str, Any]]] = [
        (f"`parameters` in {config_path}", config.get("parameters") or {}),
        (f"`quick` in {config_path}", config.get("quick") or {}),
        ("-f/-p", user_values),
    ]
    sources += [(f"the entry for {entry['path']} in {config_path}", merge_parameters(entry.get("parameters"), entry.get("quick")))
                for entry in config["notebooks"]]
    for where, values in sources:
        for name in values:
            if name in REPORT_LEVEL_PARAMETERS:
                continue
            if name in MANAGED_PARAMETERS:
                raise ReportError(
                    f"Parameter {name!r} (from {where}) is set by `workbench report` for each notebook. "
                    "Pass --output-dir DIR to move the whole report set instead."
                )
            if name not in known:
                raise ReportError(
                    f"Parameter {name!r} (from {where}) is not declared by any notebook's `parameters` cell. "
                    f"Known parameters: {', '.join(known)}. Check the spelling (e.g. -p epochs 2)."
                )


def validate_parameters(notebook: str, values: Mapping[str, Any]) -> None:
    """Check the values the workbench knows how to check (tasks, counts, rates, seeds).

    Raises:
        ReportError: naming the notebook, the parameter and the fix.
    """
    # TensorFlow-free imports: the report command starts its first kernel sooner without it.
    from workbench.config import check_cluster, resolve_seeds
    from workbench.data import parse_task
    from workbench.data.local_copies import check_data_root
    from workbench.presets import get_preset

    for name, value in values.items():
        try:
            if name.endswith("_task"):
                parse_task(str(value))
            elif name == "seeds":
                resolve_seeds(value)
            elif name == "sample_count" and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ConfigError(f"sample_count={value!r} must be a whole number of at least 1. Pass -p sample_count 16.")
            elif name in _RUN_CONFIG_FIELDS and not (value is None and name.endswith("per_class")):
                RunConfig(**{_RUN_CONFIG_FIELDS[name]: value})
            elif name == "preset" and value not in (None, ""):
                get_preset(value)
            elif name == "data_root" and value is not None:
                for task in (values.get("source_task"), values.get("target_task")):
                    check_data_root(value, task)
            elif name in SWEEP_LIST_EXAMPLES and value is not None:
                check_sweep_list(name, value)
            elif name == "cluster":
                check_cluster(value)
        except WorkbenchError as error:
            raise ReportError(f"Notebook {notebook}: parameter {name}={value!r} is not usable: {error}") from None


def check_sweep_list(name: str, value: Any) -> None:
    """Check a sweep notebook's list parameter: `depths` (n >= 0), `budgets` (n >= 1 or "all"), `modes`.

    Raises:
        ConfigError: for a value that is not a list, or an item outside what the sweep accepts.
    """
    from workbench.config import MODES

    fix = f'Pass a YAML list, e.g. -p {name} "{SWEEP_LIST_EXAMPLES[name]}".'
    # A list, not comma text: the notebook receives the value exactly as given.
    if not isinstance(value, (list, tuple)) or not value:
        raise ConfigError(f"{name}={value!r} is not a non-empty list. {fix}")
    if name != "modes":
        parse_int_list(value, name, allow_all=name == "budgets", minimum=0 if name == "depths" else 1, fix=fix)
        return
    bad = [item for item in value if item not in MODES]
    if bad:
        raise ConfigError(f"{name}={value!r} holds {', '.join(repr(item) for item in bad)}; "
                          f"allowed: {', '.join(MODES)}. {fix}")


def order_notebooks(plans: Sequence[NotebookPlan]) -> list[NotebookPlan]:
    """Config order, moved only as far as needed so that every notebook comes after its `after` list.

    Raises:
        ReportError: for an unknown name in `after`, or a cycle.
    """
    by_name = {plan.name: plan for plan in plans}
    for plan in plans:
        missing = [name for name in plan.after if name not in by_name]
        if missing:
            raise ReportError(
                f"Notebook {plan.name} runs after {', '.join(missing)}, which the report config does not list. "
                f"Listed notebooks: {', '.join(by_name)}."
            )
    ordered: list[NotebookPlan] = []
    placed: set[str] = set()
    while len(ordered) < len(plans):
        ready = [plan for plan in plans if plan.name not in placed and set(plan.after) <= placed]
        if not ready:
            cycle = [plan.name for plan in plans if plan.name not in placed]
            raise ReportError(f"Notebooks {', '.join(cycle)} wait for each other (`after` forms a cycle). Break the cycle.")
        ordered.append(ready[0])
        placed.add(ready[0].name)
    return ordered


def notebook_title(path: Path) -> str:
    """The text of the notebook's first Markdown heading, or its file name."""
    import nbformat

    for cell in nbformat.read(path, as_version=4).cells:
        if cell.cell_type == "markdown":
            match = re.search(r"^#+\s+(.+)$", cell.source, flags=re.MULTILINE)
            if match:
                return match.group(1).strip()
    return path.stem
