"""JUnit XML for CI: one test case per notebook (`workbench report --junit FILE`).

CI systems (GitHub Actions test reporters, GitLab, Jenkins) read this format to show which
notebook failed. Each notebook is a `<testcase>` of the suite "workbench report":

| notebook                          | element       | type           | message                                 |
|-----------------------------------|---------------|----------------|-----------------------------------------|
| ran to the end                    | (none)        |                |                                         |
| raised, or its kernel died        | `<error>`     | `failed`       | the exception and the cell              |
| a cell ran past the timeout       | `<error>`     | `timed out`    | the same                                |
| a key figure regressed (baseline) | `<failure>`   | `regressed`    | each regressed figure with its interval |

An error outranks a regression. With `--baseline`, a regressed notebook is marked whether or not
`--fail-on-regression` makes the command fail; every test case's `<system-out>` lists its key
figures' changes.
"""

from __future__ import annotations

import datetime
import os
import xml.etree.ElementTree as ElementTree
from collections.abc import Sequence
from pathlib import Path

from workbench.reports.baseline import REGRESSED, describe_figure_change
from workbench.reports.execute import STATUS_TIMED_OUT, NotebookResult

SUITE_NAME = "workbench report"


def junit_xml(results: Sequence[NotebookResult], timestamp: str = "") -> str:
    """The JUnit XML document for a report run.

    Args:
        results: one result per notebook (with `baseline` set where a baseline was compared).
        timestamp: when the run started (ISO 8601), for the suite; "" takes the current time.
            Defaults to "".

    Returns:
        The XML text, UTF-8 declared.
    """
    timestamp = timestamp or datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    errors = sum(1 for result in results if not result.ok)
    failures = sum(1 for result in results if result.ok and result.regressed)
    suites = ElementTree.Element("testsuites", name=SUITE_NAME, tests=str(len(results)), failures=str(failures),
                                 errors=str(errors))
    suite = ElementTree.SubElement(suites, "testsuite", name=SUITE_NAME, tests=str(len(results)),
                                   failures=str(failures), errors=str(errors), skipped="0",
                                   time=f"{sum(result.seconds for result in results):.1f}", timestamp=timestamp)
    for result in results:
        case = ElementTree.SubElement(suite, "testcase", classname="reports", name=result.name,
                                      time=f"{result.seconds:.1f}")
        if not result.ok:
            error = result.error or {}
            message = f"{result.status}: {error.get('ename', '')}: {error.get('evalue', '')}".rstrip(": ")
            cell = f"in cell In [{error['cell']}]\n" if error.get("cell") else ""
            kind = STATUS_TIMED_OUT if result.status == STATUS_TIMED_OUT else "failed"
            element = ElementTree.SubElement(case, "error", type=kind, message=message)
            element.text = cell + str(error.get("source") or "")
        elif result.regressed:
            rows = [row for row in result.baseline["figures"] if row["verdict"] == REGRESSED]
            lines = [f"{row['name']}: {describe_figure_change(row)}" for row in rows]
            element = ElementTree.SubElement(case, "failure", type=REGRESSED,
                                             message=f"regressed against the baseline: {'; '.join(lines)}")
            element.text = "\n".join(lines)
        if result.baseline:
            out = ElementTree.SubElement(case, "system-out")
            out.text = "\n".join(f"{row['name']}: {describe_figure_change(row)} [{row['verdict']}]"
                                 for row in result.baseline["figures"])
    ElementTree.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ElementTree.tostring(suites, encoding="unicode") + "\n"


def write_junit(results: Sequence[NotebookResult], path: str | Path, timestamp: str = "") -> Path:
    """Write `junit_xml` to `path` (its folder is created), atomically.

    Returns:
        The path written.
    """
    target = Path(path).expanduser()
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial")
    partial.write_text(junit_xml(results, timestamp), encoding="utf-8")
    os.replace(partial, target)
    return target
