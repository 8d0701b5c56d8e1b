"""`workbench export tensorboard|mlflow RUNS_DIR`: finished runs into a tracker; and `--tensorboard DIR`,
the same TensorBoard logs written live by the commands that train."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from workbench.cli.paths import check_writable_folder

TENSORBOARD_LOGDIR_EXAMPLE = "tensorboard-logs"


def export_command(arguments: argparse.Namespace) -> int:
    """`workbench export`: one line per exported run on stderr; where the export went on stdout.

    Returns:
        0 (a bad folder, a missing MLflow or an unusable store is a `WorkbenchError`: exit code 2).
    """
    if arguments.tracker == "tensorboard":
        from workbench.export import export_tensorboard

        check_writable_folder(arguments.logdir, "--logdir", TENSORBOARD_LOGDIR_EXAMPLE)
        names = export_tensorboard(arguments.runs_dir, arguments.logdir)
        for name in names:
            print(f"exported  {name}", file=sys.stderr)
        print(f"{len(names)} run(s) in {arguments.logdir}; view them with: tensorboard --logdir "
              f"{arguments.logdir} --host 127.0.0.1 (or make tensorboard)", file=sys.stderr)
        print(arguments.logdir)
        return 0
    from workbench.export import export_mlflow

    result = export_mlflow(arguments.runs_dir, arguments.tracking_uri, arguments.experiment)
    for name in result.exported:
        print(f"exported  {name}", file=sys.stderr)
    for name in result.skipped:
        print(f"unchanged {name} (exported before)", file=sys.stderr)
    print(f"{len(result.exported)} run(s) exported, {len(result.skipped)} already there, in experiment "
          f"{arguments.experiment!r}; view them with: mlflow ui --backend-store-uri {result.tracking_uri}",
          file=sys.stderr)
    print(result.tracking_uri)
    return 0


def tensorboard_logging(arguments: argparse.Namespace) -> Any:
    """The live TensorBoard logging `--tensorboard DIR` asks for (a `TensorBoardLogging`), or None.

    Raises:
        ConfigError: when DIR is a file or cannot be created (checked before anything trains).
    """
    logdir = getattr(arguments, "tensorboard", None)
    if not logdir:
        return None
    from workbench.export import TensorBoardLogging

    check_writable_folder(logdir, "--tensorboard", TENSORBOARD_LOGDIR_EXAMPLE)
    return TensorBoardLogging(logdir)
