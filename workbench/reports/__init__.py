"""Report regeneration: papermill runs the notebooks, nbconvert renders them, an index links them.

`workbench report` (and `make report`) calls `build_reports` (`command`):

1. `plan_reports` (`plan`) reads the report set (`reports/config.yaml`), merges the parameters
   papermill-style and checks them before anything runs;
2. `reusable_results` (`reuse`) keeps, in the same output folder, the previous report of every
   notebook whose inputs did not change (notebook, parameters, code, versions, named files, run
   folders); `run_notebooks` (`scheduler`) runs the others in dependency order, `-j N` at a time, each
   with `execute_report` (`execute`): papermill with an explicit kernel (`kernel`) and a per-cell
   timeout, keeping the executed notebook (also when it fails), rendering it to a self-contained
   HTML page (`html.render_html`) and reading the `metrics.json` the notebook wrote;
3. `write_index` (`index`) writes `index.html` (and `index.json`) linking every report with its key
   figures, its parameters, the date, the package versions and its status;
4. with `--baseline DIR`, `compare_with_baseline` (`baseline`) compares every key figure with an
   earlier report's index (paired intervals where the seeds pair; what counts as a regression is
   `REGRESSION_RULE`), and `write_junit` (`junit`) writes one JUnit test case per notebook for CI.

The output folder holds one folder per notebook:

    reports/index.html, reports/index.json
    reports/01_pretrain_source/01_pretrain_source.html   the report (code hidden, plotly.js inline once)
    reports/01_pretrain_source/01_pretrain_source.ipynb  the executed notebook
    reports/01_pretrain_source/metrics.json              the key numbers the notebook recorded
    reports/01_pretrain_source/kernel.log                the kernel's own stderr (why a kernel died)
    reports/runs/                                        the runs the notebooks trained

Parameters, later layers winning: the config's `parameters`, the notebook entry's `parameters`,
with `--quick` the config's `quick` and the entry's `quick`, then `-f FILE`, then `-p NAME VALUE`.
Each notebook receives only the names its `parameters` cell declares.
"""

from workbench.errors import ReportError
from workbench.formatting import format_cell as format_value  # the name notebooks and older code import
from workbench.reports.baseline import (
    REGRESSION_RULE,
    UNPAIRED_TOLERANCE,
    Baseline,
    compare_figure,
    compare_report,
    compare_with_baseline,
    format_baseline_summary,
    is_checked,
    key_figures,
    load_baseline,
)
from workbench.reports.command import build_reports, create_output_dir, format_command
from workbench.reports.execute import (
    EXECUTED_SUFFIX,
    KERNEL_LOG_FILE,
    STATUS_FAILED,
    STATUS_OK,
    STATUS_TIMED_OUT,
    NotebookResult,
    execute_report,
    mark_timeout,
)
from workbench.reports.html import REPORT_TEMPLATE, format_table_html, local_timestamp, render_html, report_header
from workbench.reports.index import (
    INDEX_STYLE,
    VERSION_PACKAGES,
    flatten_metrics,
    format_index_html,
    package_versions,
    write_index,
)
from workbench.reports.junit import junit_xml, write_junit
from workbench.reports.kernel import (
    GO_POLL_SECONDS,
    KERNEL_START_TIMEOUT,
    KernelChoice,
    KernelLogManager,
    kernel_log_config,
    resolve_kernel,
    start_warm_kernel,
    stop_kernel,
    wait_for_go,
)
from workbench.reports.plan import (
    CONFIG_KEYS,
    DEFAULT_CONFIG,
    DEFAULT_KERNEL,
    DEFAULT_TIMEOUT,
    INDEX_JSON_FILE,
    MANAGED_PARAMETERS,
    METRICS_FILE,
    NOTEBOOK_KEYS,
    REPORT_LEVEL_PARAMETERS,
    RUNS_FOLDER,
    NotebookPlan,
    ReportPlan,
    check_output_dir,
    check_sweep_list,
    declared_parameters,
    load_report_config,
    merge_parameters,
    notebook_title,
    order_notebooks,
    parse_parameter_pairs,
    plan_reports,
    validate_parameters,
)
from workbench.reports.reuse import describe_reuse, notebook_keys, package_fingerprint, reusable_results, runs_state
from workbench.reports.scheduler import longest_first, previous_seconds, run_notebooks

__all__ = [
    # errors
    "ReportError",
    # plan
    "CONFIG_KEYS", "DEFAULT_CONFIG", "DEFAULT_KERNEL", "DEFAULT_TIMEOUT", "INDEX_JSON_FILE", "MANAGED_PARAMETERS",
    "METRICS_FILE", "NOTEBOOK_KEYS", "REPORT_LEVEL_PARAMETERS", "RUNS_FOLDER", "NotebookPlan", "ReportPlan", "check_output_dir",
    "check_sweep_list", "declared_parameters", "load_report_config", "merge_parameters", "notebook_title",
    "order_notebooks", "parse_parameter_pairs", "plan_reports", "validate_parameters",
    # kernel
    "GO_POLL_SECONDS", "KERNEL_START_TIMEOUT", "KernelChoice", "KernelLogManager", "kernel_log_config", "resolve_kernel",
    "start_warm_kernel", "stop_kernel", "wait_for_go",
    # execute
    "EXECUTED_SUFFIX", "KERNEL_LOG_FILE", "STATUS_FAILED", "STATUS_OK", "STATUS_TIMED_OUT", "NotebookResult",
    "execute_report", "mark_timeout",
    # scheduler
    "longest_first", "previous_seconds", "run_notebooks",
    # html
    "REPORT_TEMPLATE", "format_table_html", "format_value", "local_timestamp", "render_html", "report_header",
    # index
    "INDEX_STYLE", "VERSION_PACKAGES", "flatten_metrics", "format_index_html", "package_versions", "write_index",
    # baseline and JUnit
    "REGRESSION_RULE", "UNPAIRED_TOLERANCE", "Baseline", "compare_figure", "compare_report", "compare_with_baseline",
    "format_baseline_summary", "is_checked", "junit_xml", "key_figures", "load_baseline", "write_junit",
    # kept notebooks
    "describe_reuse", "notebook_keys", "package_fingerprint", "reusable_results", "runs_state",
    # command
    "build_reports", "create_output_dir", "format_command",
]
