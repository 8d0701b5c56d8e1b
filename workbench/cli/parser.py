"""The argument parser of `workbench` and its subcommands, and the merge of parameters.

Parameters come from four places, later ones winning: the defaults, `-f params.yaml`, the
explicit flags (`--epochs 10`), and papermill-style `-p name value` pairs.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from workbench.cli.examples import COMMAND_EXAMPLES, MAIN_EXAMPLES
from workbench.cli.paths import check_file_argument

EXIT_BAD_INPUT = 2


class OneParagraphParser(argparse.ArgumentParser):
    """argparse, but a bad flag gives one paragraph (the error and where the options are), like
    every other bad input, instead of the whole usage block above it. The exit code stays 2."""

    def error(self, message: str) -> Any:
        """Print `prog: error: MESSAGE. Run `prog --help` ...` and exit with code 2."""
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message}. Run `{self.prog} --help` for the options "
                                  "and examples.\n")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for `workbench` and its subcommands."""
    parser = OneParagraphParser(
        prog="workbench",
        description="Transfer Learning Workbench: pretrain a Keras CNN, carry it to a new task by "
                    "parameter, feature or structure transfer, and compare the modes over seeds.",
        epilog=MAIN_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    from workbench import __version__

    parser.add_argument("--version", action="version", version=f"workbench {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _add_training_commands(commands)
    _add_study_commands(commands)
    _add_rank_command(commands)
    _add_run_listing_commands(commands)
    _add_report_command(commands)
    _add_export_command(commands)
    return parser


def _add_training_commands(commands: Any) -> None:
    pretrain = _subparser(commands, "pretrain", "train a source model on a source task")
    _add_run_arguments(pretrain, default_task="mnist-5k:0-4")
    pretrain.add_argument("--model", help="seed-cnn (default), mobilenet_v2 or resnet50")
    pretrain.add_argument("--weights", help="backbone weights: none (default), imagenet, or a weights file")
    pretrain.add_argument("--input-shape", help="model input HEIGHTxWIDTHxCHANNELS (default 32x32x3)")

    transfer = _subparser(commands, "transfer", "carry a source run to a target task (one run)")
    _add_run_arguments(transfer, default_task="mnist-5k:5-9")
    _add_transfer_arguments(transfer)
    transfer.add_argument("--mode", help="parameter (default), feature or structure")
    for command in (pretrain, transfer):
        _add_tensorboard_argument(command)


def _add_study_commands(commands: Any) -> None:
    compare = _subparser(commands, "compare", "run structure, feature and parameter transfer over seeds")
    _add_run_arguments(compare, default_task="mnist-5k:5-9", seed=False)
    _add_transfer_arguments(compare)
    compare.add_argument("--seeds", default="3", help="a count (3 = seeds 0,1,2) or a list like 0,4,7 (default 3)")
    compare.add_argument("--modes", default="structure,feature,parameter",
                         help="comma list of modes to compare (default structure,feature,parameter)")
    _add_jobs_argument(compare)
    _add_detect_argument(compare)
    _add_tensorboard_argument(compare)

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
    sweep_budget.add_argument("--budgets",
                              help="comma list of labels per class, 'all' for every example (default: the "
                                   "--preset's, else 1,2,5,10,25,50,all)")
    sweep_budget.add_argument("--modes", default="structure,feature,parameter",
                              help="comma list of modes (default structure,feature,parameter)")

    lr_find = _subparser(commands, "lr-find", "learning-rate finder: loss against an exponential LR sweep")
    _add_run_arguments(lr_find, default_task="mnist-5k:5-9", cache=False)
    _add_transfer_arguments(lr_find)
    lr_find.add_argument("--mode", help="parameter (default), feature or structure (with --source)")
    lr_find.add_argument("--model", help="architecture when there is no --source (default seed-cnn)")
    lr_find.add_argument("--min-lr", type=float, default=1e-6, help="lowest learning rate (default 1e-6)")
    lr_find.add_argument("--max-lr", type=float, default=1.0, help="highest learning rate (default 1)")
    lr_find.add_argument("--steps", type=int, default=100, help="batches to try (default 100)")
    lr_find.add_argument("--figure", help="HTML file for the loss-vs-LR figure (default lr-find.html in --runs-dir)")


def _add_rank_command(commands: Any) -> None:
    rank = _subparser(commands, "rank", "transferability scores before training (LogME, LEEP, probes), optionally verified")
    rank.add_argument("--sources", required=True, help="comma list of source runs (one: score its cut points)")
    rank.add_argument("--task", help="target task DATASET[:CLASSES] (default: the --preset's, else mnist-5k:5-9)")
    rank.add_argument("--per-class", type=int, help="target labels per class (default: the --preset's, else all)")
    _add_data_arguments(rank)
    rank.add_argument("--seed", type=int, default=0, help="seed of the label-budget draw (default 0)")
    rank.add_argument("--runs-dir", default="runs", help="folder of run directories (default runs)")
    rank.add_argument("--verify", action="store_true", help="also fine-tune for real and report rank correlations")
    rank.add_argument("--epochs", type=int, default=3, help="--verify: epochs per fine-tune (default 3)")
    rank.add_argument("--seeds", default="1", help="--verify: a count or a list of seeds (default 1)")
    _add_jobs_argument(rank)


def _add_run_listing_commands(commands: Any) -> None:
    resume = _subparser(commands, "resume", "continue a killed or interrupted run from its last finished epoch")
    resume.add_argument("name", help="the run's name (its --name, or the name it was given)")
    resume.add_argument("--runs-dir", default="runs", help="folder holding run directories (default runs)")

    runs = _subparser(commands, "runs", "list runs with their key figures")
    runs.add_argument("--runs-dir", default="runs", help="folder holding run directories (default runs)")
    runs.add_argument("--json", action="store_true", help="print JSON lines instead of a table")


def _add_report_command(commands: Any) -> None:
    report = _subparser(commands, "report", "run the report notebooks with papermill and render them to offline HTML")
    report.add_argument("--config", default="reports/config.yaml",
                        help="the report set: notebooks, default and quick parameters (default reports/config.yaml)")
    report.add_argument("-o", "--output-dir", help="where reports and index.html go (default: the config file's folder)")
    report.add_argument("--quick", action="store_true", help="tiny parameters from the config's `quick` section (CI)")
    report.add_argument("-j", "--jobs", type=int,
                        help="notebooks run at once, each in its own process; a notebook still waits for its "
                             "`after` list (default: the config's `jobs`, else 1)")
    report.add_argument("--cluster", metavar="ADDRESS",
                        help="the notebooks train their studies' runs on the Dask scheduler at ADDRESS "
                             "(= -p cluster ADDRESS; default: the WORKBENCH_CLUSTER environment variable)")
    report.add_argument("--kernel", help="Jupyter kernel that runs the notebooks (default: the config's, workbench)")
    report.add_argument("--timeout", type=int, help="seconds one cell may run before the notebook fails (default: the config's)")
    report.add_argument("--no-log-output", dest="log_output", action="store_false",
                        help="do not stream each notebook's cell progress and output to stderr")
    report.add_argument("-p", "--parameter", nargs=2, action="append", metavar=("NAME", "VALUE"), default=[],
                        help="papermill-style parameter, e.g. -p epochs 2 (repeatable; wins over -f and the config)")
    report.add_argument("-f", "--parameters-file", help="YAML file of parameters (wins over the config; -p wins over it)")
    report.add_argument("--no-cache", dest="cache", action="store_false", default=None,
                        help="train every run, even where a finished run with the same settings exists (-p cache false)")
    checks = report.add_argument_group("baseline check (CI)")
    checks.add_argument("--baseline", metavar="DIR",
                        help="an earlier report's output folder (or its index.json): show the change of every key figure")
    checks.add_argument("--fail-on-regression", action="store_true",
                        help="with --baseline: exit 3 when an accuracy got worse beyond noise (the paired 95%% interval "
                             "of today - baseline below zero; unpaired, a drop of more than 0.05)")
    checks.add_argument("--junit", metavar="FILE", help="write JUnit XML: one test case per notebook (ok, failed, "
                                                        "timed out or regressed)")
    report.add_argument("--bundle", metavar="FILE.zip",
                        help="also pack the index, the reports and their metrics.json (no runs, no models) into "
                             "one zip that opens offline, with plotly.js once for the whole bundle")


def _add_export_command(commands: Any) -> None:
    from workbench.cli.export_command import TENSORBOARD_LOGDIR_EXAMPLE
    from workbench.export.mlflow import DEFAULT_EXPERIMENT, DEFAULT_TRACKING_URI

    export = _subparser(commands, "export", "export finished runs to TensorBoard or MLflow")
    trackers = export.add_subparsers(dest="tracker", metavar="TRACKER", required=True)
    tensorboard = trackers.add_parser(
        "tensorboard", help="per-epoch scalars and the HParams dashboard (config fields, test accuracy)",
        description="Write per-epoch scalars and the HParams dashboard of every run under RUNS_DIR as TensorBoard "
                    "logs (exporting again rewrites them).", epilog=COMMAND_EXAMPLES["export"],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    tensorboard.add_argument("runs_dir", metavar="RUNS_DIR", help="a folder of run directories (any depth), or one run")
    tensorboard.add_argument("--logdir", default=TENSORBOARD_LOGDIR_EXAMPLE,
                             help=f"TensorBoard log folder (default {TENSORBOARD_LOGDIR_EXAMPLE})")
    mlflow = trackers.add_parser(
        "mlflow", help="parameters, per-epoch metrics, the run directory as artifacts, tags",
        description="Log every run under RUNS_DIR to MLflow (needs pip install -e '.[mlflow]'); runs exported "
                    "before are skipped.", epilog=COMMAND_EXAMPLES["export"],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    mlflow.add_argument("runs_dir", metavar="RUNS_DIR", help="a folder of run directories (any depth), or one run")
    mlflow.add_argument("--tracking-uri", default=DEFAULT_TRACKING_URI,
                        help=f"MLflow tracking store (default {DEFAULT_TRACKING_URI}: a file in the current folder)")
    mlflow.add_argument("--experiment", default=DEFAULT_EXPERIMENT,
                        help=f"MLflow experiment, created if missing (default {DEFAULT_EXPERIMENT})")


def _add_tensorboard_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tensorboard", metavar="DIR",
                        help="also log each epoch to TensorBoard in DIR while training, then each run's "
                             "hyperparameters and test accuracy (as `workbench export tensorboard` writes them)")


def _subparser(commands: Any, name: str, summary: str) -> argparse.ArgumentParser:
    return commands.add_parser(name, help=summary, description=summary[0].upper() + summary[1:] + ".",
                               epilog=COMMAND_EXAMPLES[name], formatter_class=argparse.RawDescriptionHelpFormatter)


def _add_run_arguments(parser: argparse.ArgumentParser, default_task: str, seed: bool = True, cache: bool = True) -> None:
    parser.add_argument("--task", help=f"DATASET[:CLASSES] (default: the --preset's, else {default_task})")
    parser.add_argument("--epochs", type=int, help="training epochs (default: the --preset's, else 5)")
    parser.add_argument("--per-class", type=int, help="training examples per class (default: the --preset's, else all)")
    _add_data_arguments(parser)
    parser.add_argument("--batch-size", type=int, help="mini-batch size (default 32)")
    parser.add_argument("--learning-rate", type=float, help="Adam learning rate (default 0.001)")
    parser.add_argument("--validation-split", type=float, help="fraction held out for validation (default 0.1)")
    if seed:
        parser.add_argument("--seed", type=int, help="seed for splits, budget and weights (default 0)")
    parser.add_argument("--name", help="run directory name (default: made from mode, seed and time)")
    parser.add_argument("--runs-dir", help="folder holding run directories (default runs)")
    parser.add_argument("--overwrite", action="store_true", default=None, help="replace a run of the same name")
    if cache:
        parser.add_argument("--no-cache", dest="cache", action="store_false", default=None,
                            help="train even where a finished run with the same settings, source, data and versions "
                                 "exists (by default it is reused: `workbench.run_cache`)")
    parser.add_argument("--strategy", help="where training runs: default (one device; the default), mirrored (every "
                                           "local GPU) or multiworker (the machines in TF_CONFIG; the chief writes "
                                           "the run). --batch-size is the global batch, split across replicas")
    parser.add_argument("--precision", help="float32 (default), mixed_float16 (GPUs with tensor cores; slower on "
                                            "CPU) or mixed_bfloat16; logits stay float32")
    parser.add_argument("-p", "--parameter", nargs=2, action="append", metavar=("NAME", "VALUE"), default=[],
                        help="papermill-style parameter, e.g. -p freeze_depth 2 (repeatable; wins over flags)")
    parser.add_argument("-f", "--parameters-file", help="YAML file of parameters (flags and -p override it)")


def _add_data_arguments(parser: argparse.ArgumentParser) -> None:
    from workbench.presets import PRESETS

    parser.add_argument("--preset", help=f"a named source → target pair ({', '.join(PRESETS)}; workbench/presets.py): "
                                         "sets the task (the source task for pretrain), and for the cifar presets "
                                         "epochs, labels per class and budgets sized for photos; flags given win")
    parser.add_argument("--data-root", help="read cifar10 (and the other keras.datasets) from this folder copy, with "
                                            "train/ and test/ class sub-folders (e.g. ../shared/data/cifar10-mini), "
                                            "instead of downloading")


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
    techniques.add_argument("--head-init", help="a new head on copied features (feature mode, a copy depth up to "
                                                "the head, a changed class count) starts at zero (default) or keras "
                                                "(Keras' random init); a head above fresh blocks is always keras")
    techniques.add_argument("--cache-features", help="feature mode: auto (default), on or off")
    techniques.add_argument("--augment", help="none (default) or a comma list of flip, rotate, translate")
    structure = parser.add_argument_group("structure edits (carry the architecture over and adapt it)")
    structure.add_argument("--edit", dest="edits", action="append", metavar="EDIT",
                           help="one edit of the source's architecture, repeatable (joined with '; '): cut BLOCK, "
                                "add dense N, add dropout R, add conv N, hidden N, input HxWxC, widen BLOCK to N "
                                "(Net2WiderNet), deepen after BLOCK (Net2DeeperNet); e.g. --edit \"cut conv2\" "
                                "--edit \"add dense 128\" (= -p edits \"cut conv2; add dense 128\")")
    structure.add_argument("--grow-noise", type=float,
                           help="widen/deepen: noise on the grown weights, relative to their std, to break the "
                                "symmetry of copied units (default 0: exactly the source's function)")


def _add_sweep_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seeds", default="3", help="a count (3 = seeds 0,1,2) or a list like 0,4,7 (default 3)")
    parser.add_argument("--figure", help="HTML file for the sweep figure (default <runs-dir>/<name>.html)")
    _add_jobs_argument(parser)
    _add_tensorboard_argument(parser)
    _add_detect_argument(parser)


def _add_detect_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--detect", default="0.02",
                        help="a difference in test accuracy the study should be able to see: beside every paired "
                             "comparison, print how many seeds would detect it with 80%% power (default 0.02)")


def _add_jobs_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-j", "--jobs", type=int, default=1,
                        help="runs trained at once on this machine, by an embedded Dask cluster of N worker "
                             "processes (default 1: one after another here; on a CPU, 2 keeps two cores busy)")
    parser.add_argument("--cluster", metavar="ADDRESS",
                        help="train the runs on the Dask scheduler at ADDRESS, e.g. tcp://10.0.0.5:8786, whose "
                             "workers share --runs-dir (default: the WORKBENCH_CLUSTER environment variable, else "
                             "this machine; `local` = this machine)")


def collect_parameters(arguments: argparse.Namespace, skip: Sequence[str] = ()) -> dict[str, Any]:
    """Merge `-f` file, explicit flags and `-p` pairs into one parameter dict (later wins)."""
    from workbench.config import load_parameter_file, parse_parameter_value

    values: dict[str, Any] = {}
    if arguments.parameters_file:
        check_file_argument(arguments.parameters_file, "-f", "a YAML file of `name: value` lines, e.g. -f params.yaml")
        values.update(load_parameter_file(arguments.parameters_file))
    ignored = {"command", "parameter", "parameters_file", *skip}
    for key, value in vars(arguments).items():
        if key not in ignored and value is not None:
            values[key] = value
    for name, text in arguments.parameter:
        values[name.replace("-", "_")] = parse_parameter_value(text)
    return values


def split_items(value: Any) -> list[str]:
    """A comma list of names (`structure,feature`, from a flag) or a list (from `-f` or `-p`), stripped."""
    items = value if isinstance(value, (list, tuple)) else str(value).split(",")
    return [str(item).strip() for item in items if str(item).strip()]
