"""The `workbench` command line: parse arguments, call the API, print results. Nothing else.

Parameters come from four places, later ones winning: the defaults, `-f params.yaml`, the
explicit flags (`--epochs 10`), and papermill-style `-p name value` pairs.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
from collections.abc import Sequence
from typing import Any

from workbench.errors import WorkbenchError
from workbench.fast_start import skip_slow_optional_imports

EXIT_BAD_INPUT = 2

MAIN_EXAMPLES = """\
examples:
  workbench pretrain --task mnist-5k:0-4 --epochs 5 --name source
  workbench transfer --source runs/source --task mnist-5k:5-9 --mode parameter --freeze-depth 2 --per-class 5 --epochs 10
  workbench compare --source runs/source --task mnist-5k:5-9 --per-class 5 --seeds 3 --epochs 10
  workbench sweep-depth --source runs/source --task mnist-5k:5-9 --per-class 5 --seeds 3 --epochs 10
  workbench sweep-budget --source runs/source --task mnist-5k:5-9 --budgets 1,5,25,all --seeds 3
  workbench lr-find --source runs/source --task mnist-5k:5-9 --per-class 20
  workbench rank --sources runs/source --task mnist-5k:5-9 --per-class 5 --verify
  workbench resume NAME
  workbench runs
  workbench report

Tasks are DATASET[:CLASSES]: mnist-5k:0-4, digits, cifar10:cat,dog,horse,
folder:../shared/data/cifar10-mini:cat,dog. mnist-5k and digits are embedded and work offline.
"""

COMMAND_EXAMPLES = {
    "pretrain": """\
examples:
  workbench pretrain --task mnist-5k:0-4 --epochs 5 --name source
  workbench pretrain --task folder:../shared/data/cifar10-mini:airplane,automobile,ship,truck --epochs 10 --name vehicles
  workbench pretrain -f params.yaml -p epochs 3
""",
    "transfer": """\
examples:
  workbench transfer --source runs/source --task mnist-5k:5-9 --mode parameter --freeze-depth 2 --per-class 5 --epochs 10
  workbench transfer --source runs/source --task mnist-5k:5-9 --mode feature --per-class 5
  workbench transfer --source runs/source --task digits:5-9 -p mode structure -p seed 3
""",
    "compare": """\
examples:
  workbench compare --source runs/source --task mnist-5k:5-9 --per-class 5 --seeds 3 --epochs 10
  workbench compare --source runs/source --task mnist-5k:5-9 --seeds 0,4,7 --modes structure,parameter --freeze-depth 2
  workbench compare --source runs/source --task mnist-5k:5-9 --per-class 5 --seeds 5 -j 2
""",
    "sweep-depth": """\
examples:
  workbench sweep-depth --source runs/source --task mnist-5k:5-9 --per-class 5 --seeds 3 --epochs 10
  workbench sweep-depth --source runs/source --task mnist-5k:5-9 --depths 0,2,4 --seeds 2 --no-fine-tuned
  workbench sweep-depth --source runs/source --task mnist-5k:5-9 --per-class 5 --seeds 3 -j 2

For each n: copy the first n blocks and freeze them (AnB), or copy them and fine-tune everything
(AnB+), against the structure baseline. Prints the table; writes the figure as offline HTML.
""",
    "sweep-budget": """\
examples:
  workbench sweep-budget --source runs/source --task mnist-5k:5-9 --budgets 1,2,5,10,25,50,all --seeds 3
  workbench sweep-budget --source runs/source --task mnist-5k:5-9 --budgets 1,5 --modes feature,parameter -j 2

Every mode at every labels-per-class budget; the figure (log x) is written as offline HTML.
""",
    "lr-find": """\
examples:
  workbench lr-find --source runs/source --task mnist-5k:5-9 --per-class 20
  workbench lr-find --task mnist-5k:0-4 --min-lr 1e-5 --max-lr 1 --steps 100

Trains one batch per step at exponentially growing learning rates on exactly the model a run
with these parameters would train, restores the weights, and suggests a rate.
""",
    "rank": """\
examples:
  workbench rank --sources runs/source --task mnist-5k:5-9 --per-class 5
  workbench rank --sources runs/source --task mnist-5k:5-9 --per-class 5 --verify --epochs 3 -j 2
  workbench rank --sources runs/digits04,runs/fashion --task mnist-5k:5-9 --verify

One source: LogME, LEEP and a linear probe at every cut point, in seconds, and a suggested freeze
depth. Several sources: a ranking by LogME at the penultimate layer. --verify then runs the real
fine-tunes and prints Kendall tau and Spearman rho between each score and the accuracies.
""",
    "resume": """\
examples:
  workbench resume source
  workbench resume parameter-fd2-s0-20261127-181500-a1b2 --runs-dir /tmp/study/runs

Continues a run that was killed (or interrupted with Ctrl-C) after at least one finished epoch,
from its last checkpoint, to its configured epoch count, with one continuous history.
""",
    "runs": """\
examples:
  workbench runs
  workbench runs --runs-dir /tmp/study/runs --json
""",
}
COMMAND_EXAMPLES["report"] = """\
examples:
  workbench report                          # every notebook in reports/config.yaml -> reports/index.html
  workbench report --quick                  # tiny parameters (CI): a minute or two
  workbench report -p epochs 20 -p seeds 5  # papermill-style overrides, for every notebook that declares them
  workbench report -f study.yaml -j 2 --output-dir /tmp/study-reports
  workbench report --config other/config.yaml --timeout 600 --kernel workbench

Parameters, later ones winning: the config's `parameters`, its `quick` (with --quick), -f FILE, -p NAME VALUE.
A notebook that fails or times out is marked failed in the index; the others still run; the exit code is 1.
"""


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad flag gives one paragraph (the error and where the options are), like
    every other bad input, instead of the whole usage block above it. The exit code stays 2."""

    def error(self, message: str) -> Any:
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message}. Run `{self.prog} --help` for the options "
                                  "and examples.\n")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for `workbench` and its subcommands."""
    parser = _Parser(
        prog="workbench",
        description="Transfer Learning Workbench: pretrain a Keras CNN, carry it to a new task by "
                    "parameter, feature or structure transfer, and compare the modes over seeds.",
        epilog=MAIN_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    from workbench import __version__

    parser.add_argument("--version", action="version", version=f"workbench {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    pretrain = _subparser(commands, "pretrain", "train a source model on a source task")
    _add_run_arguments(pretrain, default_task="mnist-5k:0-4")
    pretrain.add_argument("--model", help="seed-cnn (default), mobilenet_v2 or resnet50")
    pretrain.add_argument("--weights", help="backbone weights: none (default), imagenet, or a weights file")
    pretrain.add_argument("--input-shape", help="model input HEIGHTxWIDTHxCHANNELS (default 32x32x3)")

    transfer = _subparser(commands, "transfer", "carry a source run to a target task (one run)")
    _add_run_arguments(transfer, default_task="mnist-5k:5-9")
    _add_transfer_arguments(transfer)
    transfer.add_argument("--mode", help="parameter (default), feature or structure")

    compare = _subparser(commands, "compare", "run structure, feature and parameter transfer over seeds")
    _add_run_arguments(compare, default_task="mnist-5k:5-9", seed=False)
    _add_transfer_arguments(compare)
    compare.add_argument("--seeds", default="3", help="a count (3 = seeds 0,1,2) or a list like 0,4,7 (default 3)")
    compare.add_argument("--modes", default="structure,feature,parameter",
                         help="comma list of modes to compare (default structure,feature,parameter)")
    _add_jobs_argument(compare)

    sweep_depth = _subparser(commands, "sweep-depth", "freeze-depth sweep: AnB and AnB+ against the baseline, over seeds")
    _add_run_arguments(sweep_depth, default_task="mnist-5k:5-9", seed=False)
    _add_transfer_arguments(sweep_depth)
    _add_sweep_arguments(sweep_depth)
    sweep_depth.add_argument("--depths", help="comma list of copied-block counts (default: 0..every block below the head)")
    sweep_depth.add_argument("--no-fine-tuned", dest="fine_tuned", action="store_false",
                             help="skip AnB+ (copy n blocks, then fine-tune everything)")

    sweep_budget = _subparser(commands, "sweep-budget", "label-budget sweep: every mode at every labels-per-class budget")
    _add_run_arguments(sweep_budget, default_task="mnist-5k:5-9", seed=False)
    _add_transfer_arguments(sweep_budget)
    _add_sweep_arguments(sweep_budget)
    sweep_budget.add_argument("--budgets", default="1,2,5,10,25,50,all",
                              help="comma list of labels per class, 'all' for every example (default 1,2,5,10,25,50,all)")
    sweep_budget.add_argument("--modes", default="structure,feature,parameter",
                              help="comma list of modes (default structure,feature,parameter)")

    lr_find = _subparser(commands, "lr-find", "learning-rate finder: loss against an exponential LR sweep")
    _add_run_arguments(lr_find, default_task="mnist-5k:5-9")
    _add_transfer_arguments(lr_find)
    lr_find.add_argument("--mode", help="parameter (default), feature or structure (with --source)")
    lr_find.add_argument("--model", help="architecture when there is no --source (default seed-cnn)")
    lr_find.add_argument("--min-lr", type=float, default=1e-6, help="lowest learning rate (default 1e-6)")
    lr_find.add_argument("--max-lr", type=float, default=1.0, help="highest learning rate (default 1)")
    lr_find.add_argument("--steps", type=int, default=100, help="batches to try (default 100)")
    lr_find.add_argument("--figure", help="HTML file for the loss-vs-LR figure (default lr-find.html in --runs-dir)")

    rank = _subparser(commands, "rank", "transferability scores before training (LogME, LEEP, probes), optionally verified")
    rank.add_argument("--sources", required=True, help="comma list of source runs (one: score its cut points)")
    rank.add_argument("--task", default="mnist-5k:5-9", help="target task DATASET[:CLASSES] (default mnist-5k:5-9)")
    rank.add_argument("--per-class", type=int, help="target labels per class (default: all)")
    rank.add_argument("--seed", type=int, default=0, help="seed of the label-budget draw (default 0)")
    rank.add_argument("--runs-dir", default="runs", help="folder of run directories (default runs)")
    rank.add_argument("--verify", action="store_true", help="also fine-tune for real and report rank correlations")
    rank.add_argument("--epochs", type=int, default=3, help="--verify: epochs per fine-tune (default 3)")
    rank.add_argument("--seeds", default="1", help="--verify: a count or a list of seeds (default 1)")
    _add_jobs_argument(rank)

    resume = _subparser(commands, "resume", "continue a killed or interrupted run from its last finished epoch")
    resume.add_argument("name", help="the run's name (its --name, or the name it was given)")
    resume.add_argument("--runs-dir", default="runs", help="folder holding run directories (default runs)")

    runs = _subparser(commands, "runs", "list runs with their key figures")
    runs.add_argument("--runs-dir", default="runs", help="folder holding run directories (default runs)")
    runs.add_argument("--json", action="store_true", help="print JSON lines instead of a table")
    _add_report_parser(commands)
    return parser


def _subparser(commands: Any, name: str, summary: str) -> argparse.ArgumentParser:
    return commands.add_parser(name, help=summary, description=summary[0].upper() + summary[1:] + ".",
                               epilog=COMMAND_EXAMPLES[name], formatter_class=argparse.RawDescriptionHelpFormatter)


def _add_run_arguments(parser: argparse.ArgumentParser, default_task: str, seed: bool = True) -> None:
    parser.add_argument("--task", help=f"DATASET[:CLASSES] (default {default_task})")
    parser.add_argument("--epochs", type=int, help="training epochs (default 5)")
    parser.add_argument("--per-class", type=int, help="training examples per class (default: all)")
    parser.add_argument("--batch-size", type=int, help="mini-batch size (default 32)")
    parser.add_argument("--learning-rate", type=float, help="Adam learning rate (default 0.001)")
    parser.add_argument("--validation-split", type=float, help="fraction held out for validation (default 0.1)")
    if seed:
        parser.add_argument("--seed", type=int, help="seed for splits, budget and weights (default 0)")
    parser.add_argument("--name", help="run directory name (default: made from mode, seed and time)")
    parser.add_argument("--runs-dir", help="folder holding run directories (default runs)")
    parser.add_argument("--overwrite", action="store_true", default=None, help="replace a run of the same name")
    parser.add_argument("--strategy", help="where training runs: default (one device; the default), mirrored (every "
                                           "local GPU) or multiworker (the machines in TF_CONFIG; the chief writes "
                                           "the run). --batch-size is the global batch, split across replicas")
    parser.add_argument("--precision", help="float32 (default), mixed_float16 (GPUs with tensor cores; slower on "
                                            "CPU) or mixed_bfloat16; logits stay float32")
    parser.add_argument("-p", "--parameter", nargs=2, action="append", metavar=("NAME", "VALUE"), default=[],
                        help="papermill-style parameter, e.g. -p freeze_depth 2 (repeatable; wins over flags)")
    parser.add_argument("-f", "--parameters-file", help="YAML file of parameters (flags and -p override it)")


def _add_transfer_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--source", help="source run directory, e.g. runs/source (required)")
    parser.add_argument("--freeze-depth", type=int, help="parameter mode: blocks frozen from the input (default 0)")
    techniques = parser.add_argument_group("fine-tuning techniques")
    techniques.add_argument("--copy-depth", type=int, help="parameter mode: copy only the first n blocks (default: all)")
    techniques.add_argument("--block-lr", help="per-block learning rates: uniform (default), geometric or decay")
    techniques.add_argument("--lr-low", type=float, help="geometric: the first block's rate (default learning rate / 100)")
    techniques.add_argument("--layer-decay", type=float, help="decay: factor per block below the head (default 0.75)")
    techniques.add_argument("--unfreeze", help="none (default), gradual (one block per step, top-down) or two-stage "
                                               "(fastai fine_tune)")
    techniques.add_argument("--unfreeze-every", type=int, help="gradual: epochs between unfreezing steps (default 1)")
    techniques.add_argument("--batchnorm", help="BatchNorm in frozen blocks: frozen (default) or train")
    techniques.add_argument("--cache-features", help="feature mode: auto (default), on or off")
    techniques.add_argument("--augment", help="none (default) or a comma list of flip, rotate, translate")


def _add_sweep_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seeds", default="3", help="a count (3 = seeds 0,1,2) or a list like 0,4,7 (default 3)")
    parser.add_argument("--figure", help="HTML file for the sweep figure (default <runs-dir>/<name>.html)")
    _add_jobs_argument(parser)


def _add_jobs_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-j", "--jobs", type=int, default=1,
                        help="runs trained at once, in worker processes (default 1; on a CPU, 2 keeps two cores busy)")


def collect_parameters(arguments: argparse.Namespace, skip: Sequence[str] = ()) -> dict[str, Any]:
    """Merge `-f` file, explicit flags and `-p` pairs into one parameter dict (later wins)."""
    from workbench.config import load_parameter_file, parse_parameter_value

    values: dict[str, Any] = {}
    if arguments.parameters_file:
        values.update(load_parameter_file(arguments.parameters_file))
    ignored = {"command", "parameter", "parameters_file", *skip}
    for key, value in vars(arguments).items():
        if key not in ignored and value is not None:
            values[key] = value
    for name, text in arguments.parameter:
        values[name.replace("-", "_")] = parse_parameter_value(text)
    return values


# What an interrupted command leaves behind, and how to go on.
INTERRUPTED = {
    "": "Nothing was added to the runs; a run that had finished an epoch continues with `workbench resume NAME`.",
    "report": "Notebooks that had finished keep their reports; the index was not rewritten. Run the same "
              "command again to regenerate the set.",
    "runs": "Nothing was changed.",
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `workbench` command. Returns the exit code."""
    # Quiet TensorFlow's C++ start-up logging unless the user asked for it.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    # Runs in one process retrace Keras' predict function once per model; that is expected here,
    # so TensorFlow's retracing warnings would only bury the progress bars.
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    skip_slow_optional_imports()  # seconds of start-up that this process does not need
    parser = build_parser()
    arguments = parser.parse_args(argv)
    try:
        return {"pretrain": _pretrain, "transfer": _transfer, "compare": _compare, "runs": _runs, "report": _report,
                "sweep-depth": _sweep_depth, "sweep-budget": _sweep_budget, "lr-find": _lr_find,
                "resume": _resume, "rank": _rank}[
            arguments.command](arguments)
    except WorkbenchError as error:
        print(f"workbench {arguments.command}: error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print(f"workbench {arguments.command}: interrupted. {INTERRUPTED.get(arguments.command, INTERRUPTED[''])}",
              file=sys.stderr)
        return 130


def _train_one(kind: str, arguments: argparse.Namespace) -> int:
    from workbench.callbacks import EpochProgressBar
    from workbench.config import config_from_mapping
    from workbench.training import train_run

    config = config_from_mapping(collect_parameters(arguments), kind=kind)
    label = config.mode if kind == "transfer" else "pretrain"
    run = train_run(config, callbacks=[EpochProgressBar(f"{label} {config.task}")])
    _print_run(run)
    return 0


def _start_distribution(strategy: str, jobs: Any = 1) -> None:
    """Set up a multi-worker strategy before anything else in this process runs TensorFlow.

    Only multiworker needs that; the other strategies are created by each run, in the process
    that trains it (creating one here would take the GPUs for a process that, with -j N, only
    hands runs to its workers).
    """
    if strategy != "multiworker":
        return
    if isinstance(jobs, int) and jobs > 1:
        raise WorkbenchError(
            f"strategy='multiworker' trains each run on every worker of the cluster together, so the runs cannot "
            f"also be shared among -j {jobs} local processes. Pass -j 1 (the default) with --strategy multiworker."
        )
    from workbench.devices import distribution_strategy

    distribution_strategy(strategy)


def _pretrain(arguments: argparse.Namespace) -> int:
    return _train_one("pretrain", arguments)


def _transfer(arguments: argparse.Namespace) -> int:
    return _train_one("transfer", arguments)


def _print_run(run: Any) -> None:
    summary = run.summary()
    print(
        f"{summary['status']}: {summary['mode']} on {summary['task']}, {summary['epochs']} epochs, "
        f"test accuracy {summary['test_accuracy']:.3f} (best validation {summary['best_val_accuracy']:.3f}), "
        f"{summary['seconds']:.1f} s",
        file=sys.stderr,
    )
    if run.metrics.get("failure"):
        print(f"warning: {run.metrics['failure']}.", file=sys.stderr)
    for note in run.manifest.get("input_adaptation", []):
        print(f"input adapted: {note}", file=sys.stderr)
    print(run.path)


def _compare(arguments: argparse.Namespace) -> int:
    from tqdm import tqdm

    from workbench.callbacks import EpochProgressBar
    from workbench.config import config_from_mapping
    from workbench.experiments import resolve_seeds, run_comparison

    parameters = collect_parameters(arguments, skip=("seeds", "modes", "jobs"))
    jobs = parameters.pop("jobs", None) or arguments.jobs
    seeds = parameters.pop("seeds", None) or resolve_seeds(arguments.seeds)
    modes = parameters.pop("modes", None) or [mode.strip() for mode in arguments.modes.split(",") if mode.strip()]
    if isinstance(modes, str):
        modes = [mode.strip() for mode in modes.split(",")]
    base = config_from_mapping({**parameters, "mode": "parameter"}, kind="transfer")
    _start_distribution(base.strategy, jobs)
    seed_list = resolve_seeds(seeds)
    # delay: a study refused in its first second (a bad mode, budget or class) prints only its error.
    overall = tqdm(total=len(seed_list) * len(modes), desc="compare", unit="run", position=0, dynamic_ncols=True,
                   delay=1)

    def callbacks_for(config: Any) -> list[Any]:
        return [EpochProgressBar(f"{config.mode} seed {config.seed}")]

    try:
        comparison = run_comparison(base, seed_list, modes, run_callbacks=callbacks_for,
                                    on_run_done=lambda run: overall.update(1), jobs=jobs)
    finally:
        overall.close()
    print(comparison.format_table())
    return 0


SWEEP_OPTIONS = ("seeds", "modes", "depths", "budgets", "fine_tuned", "figure", "jobs")


def _sweep(arguments: argparse.Namespace, kind: str) -> int:
    from tqdm import tqdm

    from workbench.callbacks import EpochProgressBar
    from workbench.config import config_from_mapping
    from workbench.experiments import resolve_seeds, sweep_freeze_depth, sweep_label_budget
    from workbench.figures import plot_sweep

    parameters = collect_parameters(arguments, skip=SWEEP_OPTIONS)
    options = {key: parameters.pop(key) if key in parameters else getattr(arguments, key, None) for key in SWEEP_OPTIONS}
    seeds = resolve_seeds(options["seeds"])
    name = parameters.get("name") or f"sweep-{kind}-{_timestamp()}"
    base = config_from_mapping({**parameters, "name": name, "mode": "parameter"}, kind="transfer")
    _start_distribution(base.strategy, options["jobs"])
    overall = tqdm(desc=f"sweep {kind}", unit="run", position=0, dynamic_ncols=True, delay=1)

    def callbacks_for(config: Any) -> list[Any]:
        return [EpochProgressBar(f"{config.name}")]

    try:
        if kind == "depth":
            depths = _int_list(options["depths"], "depths") if options["depths"] is not None else None
            sweep = sweep_freeze_depth(base, depths, seeds, bool(options["fine_tuned"]), callbacks_for,
                                       lambda run, sweep: overall.update(1), jobs=options["jobs"])
            figure = plot_sweep(sweep.points(), "freeze_depth", "blocks copied (n)",
                                title="Target test accuracy against the number of copied blocks")
        else:
            budgets = _budget_list(options["budgets"])
            modes = _text_list(options["modes"])
            sweep = sweep_label_budget(base, budgets, seeds, modes, callbacks_for, lambda run, sweep: overall.update(1),
                                       jobs=options["jobs"])
            figure = plot_sweep(sweep.points(), "per_class", "labels per class", log_x=True,
                                title="Data efficiency: test accuracy against labels per class")
    finally:
        overall.close()
    print(sweep.format_table())
    figure_path = _figure_path(options["figure"], base.runs_dir, name)
    _write_figure(figure, figure_path, sweep.describe())
    print(f"figure: {figure_path}")
    return 0


def _sweep_depth(arguments: argparse.Namespace) -> int:
    return _sweep(arguments, "depth")


def _sweep_budget(arguments: argparse.Namespace) -> int:
    return _sweep(arguments, "budget")


def _lr_find(arguments: argparse.Namespace) -> int:
    from workbench.api import lr_find
    from workbench.figures import plot_lr_find

    options = ("min_lr", "max_lr", "steps", "figure")
    parameters = collect_parameters(arguments, skip=options)
    result = lr_find(arguments.min_lr, arguments.max_lr, arguments.steps, **parameters)
    print(f"suggested learning rate: {result['suggestion']:.3g} "
          f"({len(result['losses'])} steps from {arguments.min_lr:g} to {result['learning_rates'][-1]:.3g})")
    figure_path = _figure_path(arguments.figure, result["config"]["runs_dir"], "lr-find")
    _write_figure(plot_lr_find(result), figure_path, f"lr-find on {result['config']['task']}")
    print(f"figure: {figure_path}")
    return 0


def _figure_path(explicit: str | None, runs_dir: str, name: str) -> str:
    from pathlib import Path

    return explicit or str(Path(runs_dir) / f"{name}.html")


def _write_figure(figure: Any, path: str, caption: str) -> None:
    """Offline HTML with plotly.js inlined (no CDN), written atomically."""
    from pathlib import Path

    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.tmp")
    figure.update_layout(meta={"caption": caption})
    figure.write_html(temporary, include_plotlyjs=True, full_html=True)
    os.replace(temporary, target)


def _text_list(value: Any) -> list[str]:
    items = value if isinstance(value, (list, tuple)) else str(value).split(",")
    return [str(item).strip() for item in items if str(item).strip()]


def _int_list(value: Any, name: str) -> list[int]:
    try:
        return [int(item) for item in _text_list(value)]
    except ValueError:
        raise WorkbenchError(f"--{name} {value!r} must be a comma list of whole numbers, e.g. 0,2,4.") from None


def _budget_list(value: Any) -> list[int | None]:
    budgets: list[int | None] = []
    for item in _text_list(value):
        if item == "all":
            budgets.append(None)
        elif item.isdigit():
            budgets.append(int(item))
        else:
            raise WorkbenchError(f"--budgets item {item!r} is neither a whole number nor 'all'. Pass e.g. 1,5,25,all.")
    return budgets


def _timestamp() -> str:
    import datetime

    return datetime.datetime.now().strftime("%Y%m%d-%H%M%S")


def _rank(arguments: argparse.Namespace) -> int:
    from tqdm import tqdm

    from workbench import diagnostics
    from workbench.experiments import resolve_seeds

    sources = _text_list(arguments.sources)
    if not sources:
        raise WorkbenchError("--sources is empty. Pass one or more source runs, e.g. --sources runs/source.")
    seeds = resolve_seeds(arguments.seeds)
    common = {"per_class": arguments.per_class, "seed": arguments.seed, "runs_dir": arguments.runs_dir}
    progress = tqdm(desc="verify", unit="run", dynamic_ncols=True, disable=not arguments.verify)
    try:
        if len(sources) == 1:
            scores = diagnostics.score_blocks(sources[0], arguments.task, **common)
            print(diagnostics.format_block_scores(scores))
            if arguments.verify:
                verified = diagnostics.verify_by_training(
                    scores, epochs=arguments.epochs, seeds=seeds, runs_dir=arguments.runs_dir,
                    on_run_done=lambda run, sweep: progress.update(1), jobs=arguments.jobs)
        else:
            ranking = diagnostics.rank_sources(sources, arguments.task, **common)
            print(diagnostics.format_source_ranking(ranking))
            if arguments.verify:
                verified = diagnostics.verify_sources_by_training(
                    ranking, arguments.task, per_class=arguments.per_class, epochs=arguments.epochs, seeds=seeds,
                    runs_dir=arguments.runs_dir, on_run_done=lambda run, *rest: progress.update(1), jobs=arguments.jobs)
    finally:
        progress.close()
    if arguments.verify:
        print()
        print(f"verification ({verified.get('describe', '')}):")
        print(diagnostics.format_verification(verified["correlations"]))
    return 0


def _resume(arguments: argparse.Namespace) -> int:
    from workbench.callbacks import EpochProgressBar
    from workbench.training import resume_run

    run = resume_run(arguments.name, arguments.runs_dir, callbacks=[EpochProgressBar(f"resume {arguments.name}")])
    _print_run(run)
    return 0


def _runs(arguments: argparse.Namespace) -> int:
    from workbench.runs import list_runs

    runs = list_runs(arguments.runs_dir)
    from workbench.training import interrupted_runs

    for name in interrupted_runs(arguments.runs_dir):
        print(f"interrupted: {name} (continue with `workbench resume {name}`)", file=sys.stderr)
    if arguments.json:
        for run in runs:
            print(json.dumps({key: (None if isinstance(value, float) and math.isnan(value) else value)
                              for key, value in run.summary().items()}))
        return 0
    if not runs:
        print(f"No runs in {arguments.runs_dir!r} yet. Start with: workbench pretrain --task mnist-5k:0-4 --name source")
        return 0
    print(format_runs_table([run.summary() for run in runs]))
    return 0


def format_runs_table(rows: list[dict[str, Any]]) -> str:
    """Runs as a fixed-width table: name, mode, task, depth, budget, seed, accuracies, status."""
    header = f"{'name':<42} {'mode':<10} {'task':<22} {'depth':>5} {'per_class':>9} {'seed':>4} " \
             f"{'val_acc':>7} {'test_acc':>8} {'seconds':>7}  status"
    lines = [header]
    for row in rows:
        depth = "" if row["freeze_depth"] is None else str(row["freeze_depth"])
        budget = "all" if row["per_class"] is None else str(row["per_class"])
        lines.append(
            f"{row['name'][:42]:<42} {row['mode']:<10} {str(row['task'])[:22]:<22} {depth:>5} {budget:>9} "
            f"{row['seed']:>4} {row['best_val_accuracy']:>7.3f} {row['test_accuracy']:>8.3f} "
            f"{row['seconds']:>7.1f}  {row['status']}"
        )
    return "\n".join(lines)


def _add_report_parser(commands: Any) -> None:
    report = _subparser(commands, "report", "run the report notebooks with papermill and render them to offline HTML")
    report.add_argument("--config", default="reports/config.yaml",
                        help="the report set: notebooks, default and quick parameters (default reports/config.yaml)")
    report.add_argument("-o", "--output-dir", help="where reports and index.html go (default: the config file's folder)")
    report.add_argument("--quick", action="store_true", help="tiny parameters from the config's `quick` section (CI)")
    report.add_argument("-j", "--jobs", type=int,
                        help="notebooks run at once, each in its own process; a notebook still waits for its "
                             "`after` list (default: the config's `jobs`, else 1)")
    report.add_argument("--kernel", help="Jupyter kernel that runs the notebooks (default: the config's, workbench)")
    report.add_argument("--timeout", type=int, help="seconds one cell may run before the notebook fails (default: the config's)")
    report.add_argument("--no-log-output", dest="log_output", action="store_false",
                        help="do not stream each notebook's cell progress and output to stderr")
    report.add_argument("-p", "--parameter", nargs=2, action="append", metavar=("NAME", "VALUE"), default=[],
                        help="papermill-style parameter, e.g. -p epochs 2 (repeatable; wins over -f and the config)")
    report.add_argument("-f", "--parameters-file", help="YAML file of parameters (wins over the config; -p wins over it)")


def _report(arguments: argparse.Namespace) -> int:
    from workbench.reports import build_reports, format_command, parse_parameter_pairs

    plan, results = build_reports(
        config_path=arguments.config, output_dir=arguments.output_dir, parameters_file=arguments.parameters_file,
        parameters=parse_parameter_pairs(arguments.parameter), quick=arguments.quick, kernel=arguments.kernel,
        timeout=arguments.timeout, jobs=arguments.jobs, log_output=arguments.log_output,
        command=format_command(arguments),
    )
    for result in results:
        error = f": {result.error['ename']}: {result.error['evalue']}" if result.error else ""
        print(f"{result.status:>9}  {result.name} ({result.seconds:.0f} s){error}", file=sys.stderr)
    print(plan.index_path)
    return 0 if all(result.ok for result in results) else 1


if __name__ == "__main__":
    sys.exit(main())
