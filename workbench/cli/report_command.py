"""`workbench report`: run the report notebooks and render them to offline HTML."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from workbench.cli.paths import check_file_argument, check_writable_file
from workbench.errors import ConfigError

EXIT_REGRESSED = 3  # --fail-on-regression: a key figure got worse than the baseline's beyond noise


def report_command(arguments: argparse.Namespace) -> int:
    """Build the report set; one status line per notebook on stderr, the index path on stdout.

    With --baseline, every key figure's change is printed too (`reports.baseline`); --junit writes
    one JUnit test case per notebook.

    Returns:
        0 when every notebook ran, 1 when one failed or timed out (the others still ran), 3 with
        --fail-on-regression when none failed but a key figure regressed against the baseline.
    """
    from workbench import api
    from workbench.reports import format_baseline_summary, format_command, parse_parameter_pairs, write_junit

    _check_report_files(arguments)
    plan, results = api.report(
        config_path=arguments.config, output_dir=arguments.output_dir, parameters_file=arguments.parameters_file,
        parameters=with_cluster(parse_parameter_pairs(arguments.parameter), arguments.cluster), quick=arguments.quick,
        kernel=arguments.kernel,
        timeout=arguments.timeout, jobs=arguments.jobs, log_output=arguments.log_output,
        command=format_command(arguments), baseline=arguments.baseline, cache=arguments.cache,
    )
    for result in results:
        error = f": {result.error['ename']}: {result.error['evalue']}" if result.error else ""
        regressed = f"; regressed: {', '.join(result.baseline['regressed'])}" if result.regressed else ""
        seconds = f"{result.seconds:.0f} s"
        seconds = f"kept, inputs unchanged; it ran {seconds}" if result.reused else seconds
        print(f"{result.status:>9}  {result.name} ({seconds}){error}{regressed}", file=sys.stderr)
    for note in plan.notes:
        if note.startswith(("Runs: ", "Notebooks: ")):
            print(note, file=sys.stderr)
    if plan.baseline is not None:
        print(format_baseline_summary(plan.baseline, results), file=sys.stderr)
    if arguments.junit:
        print(f"JUnit: {write_junit(results, arguments.junit)}", file=sys.stderr)
    if arguments.bundle:
        _write_bundle(plan.output_dir, arguments.bundle)
    print(plan.index_path)
    if not all(result.ok for result in results):
        return 1
    return EXIT_REGRESSED if arguments.fail_on_regression and any(result.regressed for result in results) else 0


def with_cluster(parameters: dict, cluster: str | None) -> dict:
    """`--cluster ADDRESS` is `-p cluster ADDRESS` for every notebook that declares `cluster` (an explicit -p wins)."""
    if cluster is not None:
        parameters.setdefault("cluster", cluster)
    return parameters


def _check_report_files(arguments: argparse.Namespace) -> None:
    """Refuse a folder given for --config or -f (a missing file is the report planner's to explain)."""
    config = Path(arguments.config).expanduser()
    inside = config / "config.yaml"
    example = str(inside) if inside.is_file() else "reports/config.yaml"
    check_file_argument(arguments.config, "--config",
                        f"the report set's YAML file (notebooks, parameters), e.g. --config {example}")
    if arguments.parameters_file:
        check_file_argument(arguments.parameters_file, "-f", "a YAML file of `name: value` lines, e.g. -f study.yaml")
    if arguments.fail_on_regression and not arguments.baseline:
        raise ConfigError("--fail-on-regression compares key figures with a baseline, and none was given. Add "
                          "--baseline DIR (an earlier report's output folder or its index.json), e.g. "
                          "--baseline .ci/baseline-quick.")
    if arguments.junit:
        check_writable_file(arguments.junit, "--junit", "reports/junit.xml")
    if arguments.bundle:
        check_writable_file(arguments.bundle, "--bundle", "reports.zip")
        if Path(arguments.bundle).suffix.lower() != ".zip":
            raise ConfigError(f"--bundle {arguments.bundle!r} is not a .zip file name: the bundle is one zip "
                              "archive. Pass a name ending in .zip, e.g. --bundle reports.zip.")


def _write_bundle(output_dir: Path, bundle_path: str) -> None:
    """`--bundle`: the report set as one zip (whatever the notebooks' status: failures are worth sharing too)."""
    from workbench.formatting import format_number
    from workbench.reports.bundle import write_bundle

    bundle = write_bundle(output_dir, bundle_path)
    print(f"bundle: {bundle.path} ({format_number(bundle.size / 1e6, digits=1)} MB, {len(bundle.files)} files, "
          f"plotly.js once for {bundle.plotly_copies} page(s))", file=sys.stderr)
