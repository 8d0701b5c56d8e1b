"""The `workbench` command line: parse arguments, call the API, print results. Nothing else.

Parameters come from four places, later ones winning: the defaults, `-f params.yaml`, the
explicit flags (`--epochs 10`), and papermill-style `-p name value` pairs.

- `entry`: `main` (the `workbench` entry point), the command table, exit codes;
- `parser`: the argument parser and the parameter merge; `examples`: the help texts' examples;
- `paths`: checks of the paths given (a file where a folder is needed, a folder that cannot be made);
- `run_commands`: pretrain, transfer, resume, runs; `study_commands`: compare, the sweeps, lr-find,
  rank; `report_command`: report (and `--bundle`); `export_command`: export, and `--tensorboard`.

Importing this package does not import TensorFlow: `main` must quiet its logs first.
"""

from __future__ import annotations

from workbench.cli.entry import COMMANDS, EXIT_INTERRUPTED, INTERRUPTED, main
from workbench.cli.examples import COMMAND_EXAMPLES, MAIN_EXAMPLES
from workbench.cli.parser import EXIT_BAD_INPUT, OneParagraphParser, build_parser, collect_parameters
from workbench.cli.run_commands import format_runs_table, print_run
from workbench.cli.study_commands import SWEEP_OPTIONS, start_distribution, write_figure

__all__ = [
    "COMMANDS",
    "COMMAND_EXAMPLES",
    "EXIT_BAD_INPUT",
    "EXIT_INTERRUPTED",
    "INTERRUPTED",
    "MAIN_EXAMPLES",
    "SWEEP_OPTIONS",
    "OneParagraphParser",
    "build_parser",
    "collect_parameters",
    "format_runs_table",
    "main",
    "print_run",
    "start_distribution",
    "write_figure",
]
