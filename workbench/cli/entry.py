"""`main`, the entry point of the `workbench` command: quiet start-up, parse, call one command.

A `WorkbenchError` (any bad input) becomes one paragraph on stderr and exit code 2; Ctrl-C says
what the interrupted command left behind and exits with 130.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence

from workbench.cli.export_command import export_command
from workbench.cli.parser import EXIT_BAD_INPUT, build_parser
from workbench.cli.report_command import report_command
from workbench.cli.run_commands import pretrain_command, resume_command, runs_command, transfer_command
from workbench.cli.study_commands import (
    compare_command,
    lr_find_command,
    rank_command,
    sweep_budget_command,
    sweep_depth_command,
)
from workbench.errors import WorkbenchError
from workbench.fast_start import quiet_tensorflow_logs, skip_slow_optional_imports

EXIT_INTERRUPTED = 130
COMMANDS = {
    "pretrain": pretrain_command,
    "transfer": transfer_command,
    "compare": compare_command,
    "sweep-depth": sweep_depth_command,
    "sweep-budget": sweep_budget_command,
    "lr-find": lr_find_command,
    "rank": rank_command,
    "resume": resume_command,
    "runs": runs_command,
    "report": report_command,
    "export": export_command,
}
# A study on Dask (-j N, --cluster) stops its running runs after a batch and saves them; one run here does not.
STUDY_INTERRUPTED = ("Finished runs are kept. On Dask (-j N or --cluster) the runs that were training stopped after "
                     "their batch and were saved as `stopped`, and no further run started; a run trained here that "
                     "had finished an epoch continues with `workbench resume NAME`.")
# What an interrupted command leaves behind, and how to go on.
INTERRUPTED = {
    "": "Nothing was added to the runs; a run that had finished an epoch continues with `workbench resume NAME`.",
    **dict.fromkeys(("compare", "sweep-depth", "sweep-budget", "rank"), STUDY_INTERRUPTED),
    "report": "Notebooks that had finished keep their reports; the index was not rewritten. Run the same "
              "command again to regenerate the set.",
    "runs": "Nothing was changed.",
    "export": "Runs exported so far stay exported; run the same command again to finish (nothing is duplicated).",
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `workbench` command. Returns the exit code."""
    quiet_tensorflow_logs()  # first: TensorFlow's C++ runtime reads its log level once, when it loads
    # Runs in one process retrace Keras' predict function once per model; that is expected here,
    # so TensorFlow's retracing warnings would only bury the progress bars.
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    skip_slow_optional_imports()  # seconds of start-up that this process does not need
    arguments = build_parser().parse_args(argv)
    try:
        return COMMANDS[arguments.command](arguments)
    except WorkbenchError as error:
        print(f"workbench {arguments.command}: error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print(f"workbench {arguments.command}: interrupted. {INTERRUPTED.get(arguments.command, INTERRUPTED[''])}",
              file=sys.stderr)
        return EXIT_INTERRUPTED
