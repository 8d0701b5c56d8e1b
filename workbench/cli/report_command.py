"""`workbench report`: run the report notebooks and render them to offline HTML."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from workbench.cli.paths import check_file_argument


def report_command(arguments: argparse.Namespace) -> int:
    """Build the report set; one status line per notebook on stderr, the index path on stdout.

    Returns:
        0 when every notebook ran, 1 when one failed or timed out (the others still ran).
    """
    from workbench import api
    from workbench.reports import format_command, parse_parameter_pairs

    _check_report_files(arguments)
    plan, results = api.report(
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


def _check_report_files(arguments: argparse.Namespace) -> None:
    """Refuse a folder given for --config or -f (a missing file is the report planner's to explain)."""
    config = Path(arguments.config).expanduser()
    inside = config / "config.yaml"
    example = str(inside) if inside.is_file() else "reports/config.yaml"
    check_file_argument(arguments.config, "--config",
                        f"the report set's YAML file (notebooks, parameters), e.g. --config {example}")
    if arguments.parameters_file:
        check_file_argument(arguments.parameters_file, "-f", "a YAML file of `name: value` lines, e.g. -f study.yaml")
