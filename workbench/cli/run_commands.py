"""The commands that make or list single runs: pretrain, transfer, resume, runs."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from workbench.cli.export_command import tensorboard_logging
from workbench.cli.parser import collect_parameters
from workbench.cli.paths import check_readable_folder, check_source_argument, check_writable_folder

RUNS_DIR_EXAMPLE = "runs"


def pretrain_command(arguments: argparse.Namespace) -> int:
    """`workbench pretrain`: train a source model, print its summary and path."""
    return _train_one("pretrain", arguments)


def transfer_command(arguments: argparse.Namespace) -> int:
    """`workbench transfer`: carry a source run to a target task, print its summary and path."""
    return _train_one("transfer", arguments)


def _train_one(kind: str, arguments: argparse.Namespace) -> int:
    from workbench import api
    from workbench.config import config_from_mapping

    parameters = collect_parameters(arguments, skip=("tensorboard",))
    # Validated here too: the progress bar's label needs the mode and task with their defaults.
    config = config_from_mapping(parameters, kind=kind)
    check_run_paths(config)
    tensorboard = tensorboard_logging(arguments)
    # Only now: the progress bar is a Keras callback, and importing Keras (TensorFlow) takes 4-5 s
    # that a mistyped path or value need not wait for.
    from workbench.callbacks import progress_bar

    label = config.mode if kind == "transfer" else "pretrain"
    train = api.transfer if kind == "transfer" else api.pretrain
    callbacks = [progress_bar(f"{label} {config.task}"), *(tensorboard.callbacks(config) if tensorboard else [])]
    run = train(callbacks=callbacks, **parameters)
    if tensorboard:
        tensorboard.run_done(run)
    print_run(run)
    return 0


def check_run_paths(config: Any) -> None:
    """Refuse a runs folder that cannot be written and a source that is a file or no run, before
    anything runs (and before TensorFlow loads: a mistyped path is answered at once)."""
    check_writable_folder(config.runs_dir, "--runs-dir", RUNS_DIR_EXAMPLE)
    if config.kind == "transfer" and config.source:
        check_source_argument(config.source, config.runs_dir, "--source")


def resume_command(arguments: argparse.Namespace) -> int:
    """`workbench resume NAME`: continue an interrupted run, print its summary and path."""
    from workbench import api
    from workbench.callbacks import progress_bar

    check_writable_folder(arguments.runs_dir, "--runs-dir", RUNS_DIR_EXAMPLE)
    print_run(api.resume(arguments.name, arguments.runs_dir, callbacks=[progress_bar(f"resume {arguments.name}")]))
    return 0


def print_run(run: Any) -> None:
    """The run's outcome on stderr (one line, then warnings and input notes); its path on stdout.
    A run the cache served says so, and where it came from (`workbench.run_cache.reuse_note`)."""
    from workbench.run_cache import reuse_note

    summary = run.summary()
    print(
        f"{summary['status']}{reuse_note(run)}: {summary['mode']} on {summary['task']}, {summary['epochs']} epochs, "
        f"test accuracy {summary['test_accuracy']:.3f} (best validation {summary['best_val_accuracy']:.3f}), "
        f"{summary['seconds']:.1f} s",
        file=sys.stderr,
    )
    if run.metrics.get("failure"):
        print(f"warning: {run.metrics['failure']}.", file=sys.stderr)
    for note in run.manifest.get("input_adaptation", []):
        print(f"input adapted: {note}", file=sys.stderr)
    report = run.transfer_report or {}
    if report.get("edits"):  # what the structure edits did, layer by layer, is in transfer.txt
        from workbench.transfer_modes import structure_summary

        print(f"edits: {report['edits']}; {structure_summary(report['structure'])} (see transfer.txt)", file=sys.stderr)
    print(run.path)


def runs_command(arguments: argparse.Namespace) -> int:
    """`workbench runs`: list runs as a table or JSON lines, and say which can be resumed."""
    from workbench import api
    from workbench.formatting import json_safe
    from workbench.runs import list_runs

    check_readable_folder(arguments.runs_dir, "--runs-dir", RUNS_DIR_EXAMPLE)
    runs = list_runs(arguments.runs_dir)
    for name in api.interrupted_runs(arguments.runs_dir):
        print(f"interrupted: {name} (continue with `workbench resume {name}`)", file=sys.stderr)
    if arguments.json:
        for run in runs:
            print(json.dumps(json_safe(run.summary())))
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
