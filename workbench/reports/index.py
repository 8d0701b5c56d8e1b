"""The index: `index.html` links every report with its key figures, `index.json` holds the same data.

Static HTML without a single script, so it opens anywhere; the run's date, command and package
versions go at the bottom so that a page found later says how it was made.
"""

from __future__ import annotations

import html
import importlib.metadata
import json
import numbers
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from workbench.formatting import format_cell, format_mean_sd, format_number, json_safe
from workbench.reports.baseline import change_rows
from workbench.reports.execute import NotebookResult
from workbench.reports.html import format_table_html
from workbench.reports.plan import INDEX_JSON_FILE, MANAGED_PARAMETERS, ReportPlan

VERSION_PACKAGES = ("workbench", "tensorflow", "keras", "numpy", "plotly", "papermill", "nbconvert",
                    "nbclient", "ipykernel", "jupyter_client")

INDEX_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 2em auto; max-width: 60em;
       padding: 0 1em; color: #1f2328; }
h1 { font-size: 1.6em; } h2 { font-size: 1.25em; margin-bottom: 0.2em; }
section { border: 1px solid #d0d7de; border-radius: 6px; padding: 0.5em 1em 1em 1em; margin: 1em 0; }
.status { display: inline-block; padding: 0 0.5em; border-radius: 1em; font-size: 0.8em; color: white;
          vertical-align: middle; }
.status-ok { background: #1a7f37; } .status-failed, .status-timed-out { background: #cf222e; }
.status-regressed { background: #9a6700; }
.error { background: #ffebe9; border-left: 4px solid #cf222e; padding: 0.4em 0.8em; white-space: pre-wrap;
         font-family: ui-monospace, monospace; font-size: 0.85em; }
table { border-collapse: collapse; margin: 0.4em 0; font-size: 0.9em; }
th, td { border: 1px solid #d0d7de; padding: 2px 8px; text-align: left; }
.meta { color: #59636e; font-size: 0.9em; }
"""


def package_versions(packages: Sequence[str] = VERSION_PACKAGES) -> dict[str, str]:
    """Python and the installed versions of `packages` (by default those a report depends on),
    read from their metadata without importing them; "not installed" where one is missing."""
    versions = {"python": sys.version.split()[0]}
    for package in packages:
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return versions


def flatten_metrics(metrics: Mapping[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """Key figures as (name, text) rows: `{"mean", "sd", "n"}` becomes "0.812 ± 0.020 (n=3)".

    Nested dicts become "outer · inner" names; per-seed value lists and file paths are left out
    (the report shows them).
    """
    rows: list[tuple[str, str]] = []
    for key, value in metrics.items():
        name = f"{prefix} · {key}" if prefix else str(key).replace("_", " ")
        if isinstance(value, Mapping) and "mean" in value:
            rows.append((name, format_mean_sd(value, with_n=value.get("n") is not None)))
        elif isinstance(value, Mapping):
            rows += flatten_metrics(value, name)
        elif isinstance(value, (list, tuple)) or key in ("run", "path"):
            continue
        elif "gain" in name and isinstance(value, numbers.Real) and not isinstance(value, bool):
            rows.append((name, format_number(value, signed=True)))
        else:
            rows.append((name, format_cell(value)))
    return rows


def format_index_html(results: Sequence[NotebookResult], info: Mapping[str, Any]) -> str:
    """The index page: one section per report (link, status, error, key figures, parameters),
    then the run's details and package versions. Static HTML: no scripts at all."""
    failed = [result for result in results if not result.ok]
    summary = (f"all {len(results)} reports ok" if not failed else
               f"{len(failed)} of {len(results)} reports failed: {', '.join(result.name for result in failed)}")
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1.0">',
        "<title>Transfer Learning Workbench — reports</title>", f"<style>{INDEX_STYLE}</style></head><body>",
        "<h1>Transfer Learning Workbench — reports</h1>",
        f'<p class="meta">Generated {html.escape(str(info["generated"]))} in {info["seconds"]:.0f} s'
        f'{" with --quick parameters" if info.get("quick") else ""} · kernel {html.escape(str(info["kernel"]))}'
        f" · {html.escape(summary)}</p>",
    ]
    for note in info.get("notes", []):
        parts.append(f'<p class="meta">Note: {html.escape(note)}</p>')
    if info.get("baseline"):
        parts.append(_baseline_paragraph(info["baseline"]))
    for result in results:
        parts += _report_section(result)
    versions = [{"package": name, "version": version} for name, version in info["versions"].items()]
    parts.append("<h2>Package versions</h2>" + format_table_html(versions))
    parts.append(f'<p class="meta">Report set {html.escape(str(info["config"]))}; regenerate with '
                 f'<code>{html.escape(str(info["command"]))}</code>.</p>')
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _report_section(result: NotebookResult) -> list[str]:
    """One report's part of the index: link and status, files, error, key figures, parameters."""
    status_class = "status-" + result.status.replace(" ", "-")
    link = html.escape(result.title)
    if "html" in result.files:
        link = f'<a href="{html.escape(result.name)}/{html.escape(result.files["html"])}">{link}</a>'
    files = " · ".join(f'<a href="{html.escape(result.name)}/{html.escape(name)}">{label}</a>'
                       for label, name in (("executed notebook", result.files.get("notebook")),
                                           ("metrics.json", result.files.get("metrics"))) if name)
    regressed = ' <span class="status status-regressed">regressed</span>' if result.regressed else ""
    parts = [f'<section id="{html.escape(result.name)}">',
             f'<h2>{link} <span class="status {status_class}">{html.escape(result.status)}</span>{regressed}</h2>',
             f'<p class="meta">{html.escape(result.name)}.ipynb · {result.seconds:.0f} s'
             f'{" · " + files if files else ""}{_kept_note(result)}</p>']
    if result.error:
        where = f"Failed in cell In [{result.error['cell']}]" if result.error.get("cell") else "Failed"
        code = f"\n\n{result.error['source']}" if result.error.get("source") else ""
        parts.append(f'<div class="error">{html.escape(where)}: {html.escape(result.error["ename"])}: '
                     f'{html.escape(result.error["evalue"])}{html.escape(code)}</div>')
    figures = [{"key figure": name, "value": text} for name, text in flatten_metrics(result.metrics)]
    if figures:
        parts.append(format_table_html(figures))
    if result.baseline:
        changed = result.baseline.get("parameter_changes") or []
        summary = "Change from the baseline" + (f" (parameters changed: {'; '.join(changed)})" if changed else "")
        parts.append(f"<details{' open' if result.regressed else ''}><summary>{html.escape(summary)}</summary>"
                     f"{format_table_html(change_rows(result.baseline))}</details>")
    parameters = [{"parameter": name, "value": value} for name, value in result.parameters.items()
                  if name not in MANAGED_PARAMETERS]
    parts.append(f"<details><summary>Parameters</summary>{format_table_html(parameters)}</details>")
    parts.append("</section>")
    return parts


def _kept_note(result: NotebookResult) -> str:
    """" · kept from the report of DATE (inputs unchanged)" for a notebook that did not run again."""
    if not result.reused:
        return ""
    return f" · kept from the report of {html.escape(str(result.reused.get('generated') or '?'))} (inputs unchanged)"


def _baseline_paragraph(check: Mapping[str, Any]) -> str:
    """The index's line about the baseline: where it came from, what regressed, and the rule."""
    regressed = check.get("regressed") or {}
    verdict = ("regressions in " + "; ".join(f"{name} ({', '.join(figures)})" for name, figures in regressed.items())
               if regressed else "no key figure regressed")
    missing = f" Not in this set: {', '.join(check['missing'])}." if check.get("missing") else ""
    return (f'<p class="meta">Compared with baseline {html.escape(str(check.get("index")))} (generated '
            f'{html.escape(str(check.get("generated") or "?"))}): {html.escape(verdict)}.{html.escape(missing)} '
            f'Rule: {html.escape(str(check.get("rule")))}.</p>')


def write_index(plan: ReportPlan, results: Sequence[NotebookResult], info: Mapping[str, Any]) -> Path:
    """Write `index.html` and its machine-readable twin `index.json` into the output folder."""
    plan.output_dir.mkdir(parents=True, exist_ok=True)
    plan.index_path.write_text(format_index_html(results, info), encoding="utf-8")
    record = {**info, "reports": [
        {"name": result.name, "title": result.title, "status": result.status, "seconds": result.seconds,
         "error": result.error, "files": {key: f"{result.name}/{name}" for key, name in result.files.items()},
         "metrics": result.metrics, "parameters": result.parameters, "baseline": result.baseline,
         "reused": result.reused, "key": (info.get("notebook_keys") or {}).get(result.name)}
        for result in results]}
    (plan.output_dir / INDEX_JSON_FILE).write_text(json.dumps(json_safe(record), indent=2) + "\n")
    return plan.index_path
