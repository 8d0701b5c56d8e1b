"""A report set against a baseline: the change of every key figure, and what counts as a regression.

`workbench report --baseline DIR` reads a previous report's `index.json` (DIR is that report's
output folder, or the file itself) before anything runs, and after the run compares the key
figures of each notebook (its `metrics.json`, as the index holds them) with the baseline's.

What counts as a regression (`REGRESSION_RULE`, printed with the summary):

- Only accuracies are checked: a key figure with "accuracy" in its name that is not a difference,
  a gain or a correlation (those compare two things that can move together). Higher is better.
- Paired, where the seeds pair: the figure has per-seed `values` in both reports, matched by their
  `seeds` (or by position where both reports ran the same `seeds` parameter), and at least 2 seeds
  are in both. It regressed when the 95% paired t-interval of today − baseline
  (`workbench.statistics`) lies wholly below zero; improved when wholly above.
- Unpaired otherwise (a single value, one seed, seeds that do not pair): it regressed when today's
  value is more than `UNPAIRED_TOLERANCE` (0.05, five accuracy points) below the baseline's.
- Every other key figure (losses, differences between modes, gains, correlations, scores, times,
  counts) is shown with its change and never fails the check.
"""

from __future__ import annotations

import json
import math
import numbers
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workbench.errors import ReportError
from workbench.formatting import format_interval, format_number, to_float
from workbench.reports.execute import NotebookResult
from workbench.reports.plan import INDEX_JSON_FILE

CONFIDENCE = 0.95
UNPAIRED_TOLERANCE = 0.05
REGRESSION_RULE = (
    "an accuracy regressed when the 95% paired interval of today − baseline lies wholly below zero "
    f"(seeds in both, n ≥ 2), or, unpaired, when it fell by more than {UNPAIRED_TOLERANCE:.2f}; "
    "other key figures are shown, not checked"
)
# Words that make a figure a comparison between two things rather than an accuracy of its own.
NOT_CHECKED_WORDS = frozenset({"difference", "differences", "gain", "jumpstart", "ratio", "tau", "rho",
                               "correlation", "threshold"})
# Parameters that say where things were written, not what was computed.
PATH_PARAMETERS = ("output_dir", "runs_dir")
REGRESSED, IMPROVED, WITHIN_NOISE, NOT_CHECKED, NEW, MISSING = (
    "regressed", "improved", "within noise", "not checked", "new", "missing today")


@dataclass
class Baseline:
    """A previous report set's index, read before the run."""

    index_path: Path
    generated: str
    reports: dict[str, dict[str, Any]]

    def describe(self) -> str:
        """"DIR/index.json (generated DATE)" for the summary and the index."""
        return f"{self.index_path} (generated {self.generated or 'at an unknown time'})"


def load_baseline(path: str | Path) -> Baseline:
    """Read a baseline: a report output folder (its `index.json`) or an `index.json` file.

    Raises:
        ReportError: when the path is missing, holds no index, or the index is not a report index.
    """
    given = Path(path).expanduser()
    fix = ("Pass --baseline with the output folder of an earlier `workbench report` (it holds index.json) or that "
           "index.json itself, e.g. --baseline .ci/baseline-quick.")
    if not given.exists():
        raise ReportError(f"Baseline {str(path)!r} does not exist. {fix}")
    index_path = given / INDEX_JSON_FILE if given.is_dir() else given
    if not index_path.is_file():
        raise ReportError(f"Baseline folder {str(path)!r} holds no {INDEX_JSON_FILE}. {fix}")
    try:
        index = json.loads(index_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise ReportError(f"Baseline {str(index_path)!r} cannot be read as JSON ({error}). {fix}") from None
    reports = index.get("reports") if isinstance(index, dict) else None
    if not isinstance(reports, list) or not all(isinstance(entry, dict) and "name" in entry for entry in reports):
        raise ReportError(f"Baseline {str(index_path)!r} is not a report index (no `reports` list of named "
                          f"entries). {fix}")
    return Baseline(index_path, str(index.get("generated") or ""), {str(entry["name"]): entry for entry in reports})


def key_figures(metrics: Mapping[str, Any], prefix: str = "") -> dict[str, dict[str, Any]]:
    """Every key figure of a `metrics.json`, named as the index names them ("test accuracy · parameter").

    A `{mean, ...}` summary is one figure (with its per-seed `values` and `seeds` where present),
    a number is one figure; text, flags, lists (the `points` of a sweep) and paths are left out.

    Returns:
        name → {"mean", "values" (or None), "seeds" (or None)}.
    """
    figures: dict[str, dict[str, Any]] = {}
    for key, value in metrics.items():
        name = f"{prefix} · {key}" if prefix else str(key).replace("_", " ")
        if isinstance(value, Mapping) and "mean" in value:
            figures[name] = {"mean": to_float(value.get("mean")), "values": _list_or_none(value.get("values")),
                             "seeds": _list_or_none(value.get("seeds"))}
        elif isinstance(value, Mapping):
            figures.update(key_figures(value, name))
        elif isinstance(value, numbers.Real) and not isinstance(value, bool) and key not in ("run", "path"):
            # Counts stay whole numbers (epochs, examples, depths), so they print as such.
            figures[name] = {"mean": int(value) if isinstance(value, numbers.Integral) else to_float(value),
                             "values": None, "seeds": None}
    return figures


def is_checked(name: str) -> bool:
    """Whether a key figure is an accuracy the regression check applies to (see the module's rule)."""
    words = re.findall(r"[a-z]+", name.lower())
    return any(word.endswith("accuracy") for word in words) and not NOT_CHECKED_WORDS.intersection(words)


def compare_figure(name: str, baseline: Mapping[str, Any] | None, today: Mapping[str, Any] | None,
                   same_seed_order: bool = False) -> dict[str, Any]:
    """One key figure today against the baseline, with its verdict.

    Args:
        name: the figure's name.
        baseline: the baseline's figure (`key_figures`), or None when it had none.
        today: today's figure, or None when today has none.
        same_seed_order: both reports ran the same `seeds` parameter, so per-seed values without
            `seeds` pair by position. Defaults to False.

    Returns:
        name, checked, baseline, today, change, paired, n, low, high and verdict (regressed,
        improved, within noise, not checked, new, missing today).
    """
    checked = is_checked(name)
    row: dict[str, Any] = {"name": name, "checked": checked, "baseline": None, "today": None, "change": math.nan,
                           "paired": False, "n": 0, "low": math.nan, "high": math.nan}
    if baseline is None or today is None:
        row.update(baseline=(baseline or {}).get("mean"), today=(today or {}).get("mean"))
        return {**row, "verdict": NEW if baseline is None else MISSING}
    row.update(baseline=baseline["mean"], today=today["mean"], change=today["mean"] - baseline["mean"])
    pairs = _seed_pairs(baseline, today, same_seed_order)
    if pairs is not None:
        from workbench.statistics import paired_difference_by_seed

        difference = paired_difference_by_seed(pairs[1], pairs[0], CONFIDENCE)
        if difference["n"] >= 2:
            row.update(paired=True, n=difference["n"], low=difference["low"], high=difference["high"])
    if not checked:
        return {**row, "verdict": NOT_CHECKED}
    return {**row, "verdict": _verdict(row)}


def _verdict(row: Mapping[str, Any]) -> str:
    if row["paired"]:
        low, high = to_float(row["low"]), to_float(row["high"])
        return REGRESSED if high < 0 else IMPROVED if low > 0 else WITHIN_NOISE
    change = to_float(row["change"])
    if not math.isfinite(change):
        return WITHIN_NOISE
    return REGRESSED if change < -UNPAIRED_TOLERANCE else IMPROVED if change > UNPAIRED_TOLERANCE else WITHIN_NOISE


def _seed_pairs(baseline: Mapping[str, Any], today: Mapping[str, Any],
                same_seed_order: bool) -> tuple[dict[Any, float], dict[Any, float]] | None:
    """seed → value for both, keeping seeds whose value is a number in that report."""
    mappings = []
    for figure in (baseline, today):
        values, seeds = figure.get("values"), figure.get("seeds")
        if not values:
            return None
        if seeds is None or len(seeds) != len(values):
            if not same_seed_order:
                return None
            seeds = list(range(len(values)))
        mappings.append({seed: to_float(value) for seed, value in zip(seeds, values)
                         if math.isfinite(to_float(value))})
    return mappings[0], mappings[1]


def compare_report(name: str, baseline_entry: Mapping[str, Any] | None, result: NotebookResult) -> dict[str, Any]:
    """One notebook against its baseline entry: every key figure, the parameters that changed, a status.

    Returns:
        {"status": "regressed" | "ok" | "new", "figures": [compare_figure rows], "regressed": [names],
        "parameter_changes": ["epochs: 10 → 1", ...]}.
    """
    if baseline_entry is None:
        figures = [compare_figure(figure, None, value) for figure, value in key_figures(result.metrics).items()]
        return {"status": NEW, "figures": figures, "regressed": [], "parameter_changes": []}
    before = dict(baseline_entry.get("parameters") or {})
    after = dict(result.parameters)
    same_seed_order = json.dumps(before.get("seeds")) == json.dumps(after.get("seeds"))
    baseline_figures = key_figures(baseline_entry.get("metrics") or {})
    today_figures = key_figures(result.metrics)
    names = list(dict.fromkeys([*baseline_figures, *today_figures]))
    figures = [compare_figure(figure, baseline_figures.get(figure), today_figures.get(figure), same_seed_order)
               for figure in names]
    regressed = [row["name"] for row in figures if row["verdict"] == REGRESSED]
    changes = [f"{key}: {_short(before, key)} → {_short(after, key)}" for key in dict.fromkeys([*before, *after])
               if key not in PATH_PARAMETERS and _short(before, key) != _short(after, key)]
    return {"status": REGRESSED if regressed else "ok", "figures": figures, "regressed": regressed,
            "parameter_changes": changes}


def compare_with_baseline(baseline: Baseline, results: Sequence[NotebookResult]) -> dict[str, Any]:
    """Compare every notebook with the baseline; each result's `baseline` is set to its comparison.

    Returns:
        The summary for the index: index, generated, rule, regressed (notebook → figure names) and
        missing (notebooks the baseline has and today's set does not).
    """
    for result in results:
        result.baseline = compare_report(result.name, baseline.reports.get(result.name), result)
    names = {result.name for result in results}
    return {"index": str(baseline.index_path), "generated": baseline.generated, "rule": REGRESSION_RULE,
            "regressed": {result.name: result.baseline["regressed"] for result in results if result.regressed},
            "missing": [name for name in baseline.reports if name not in names]}


def describe_figure_change(row: Mapping[str, Any]) -> str:
    """"0.792 → 0.501, −0.291, paired 95% interval [-0.40, -0.18] (n=3)": one figure's change in words."""
    text = f"{_number(row['baseline'])} → {_number(row['today'])}, {_number(row['change'], signed=True)}"
    if row["paired"]:
        return f"{text}, paired 95% interval {format_interval(row)} (n={row['n']})"
    return f"{text}, unpaired" if row["checked"] else text


def format_baseline_summary(baseline: Baseline, results: Sequence[NotebookResult]) -> str:
    """The printed summary: per notebook every key figure's change and verdict, then the regressions."""
    lines = [f"Compared with baseline {baseline.describe()}:", f"Rule: {REGRESSION_RULE}."]
    for result in results:
        comparison = result.baseline or {}
        status = str(comparison.get("status", "not compared"))
        status = status.upper() if result.regressed else status
        changed = comparison.get("parameter_changes") or []
        lines.append(f"{result.name}: {status}" + (f" (parameters changed: {'; '.join(changed)})" if changed else ""))
        for row in comparison.get("figures", []):
            interval = format_interval(row) if row["paired"] else ("unpaired" if row["checked"] else "")
            lines.append(f"  {row['name'][:56]:<56} {_number(row['baseline']):>7} → {_number(row['today']):<7} "
                         f"{_number(row['change'], signed=True):>7}  {interval:<18} {row['verdict']}")
    missing = [name for name in baseline.reports if name not in {result.name for result in results}]
    if missing:
        lines.append(f"Not in today's set (baseline only): {', '.join(missing)}")
    regressions = [f"{result.name}: {row['name']} ({describe_figure_change(row)})"
                   for result in results for row in (result.baseline or {}).get("figures", [])
                   if row["verdict"] == REGRESSED]
    lines.append(f"Regressions: {len(regressions)}" + "".join(f"\n  {line}" for line in regressions))
    return "\n".join(lines)


def change_rows(comparison: Mapping[str, Any]) -> list[dict[str, str]]:
    """One notebook's comparison as table rows for the index: figure, baseline, today, change,
    the paired 95% interval (or "unpaired"), verdict."""
    return [{"key figure": row["name"], "baseline": _number(row["baseline"]), "today": _number(row["today"]),
             "change": _number(row["change"], signed=True),
             "95% interval (paired)": f"{format_interval(row)} (n={row['n']})" if row["paired"] else "unpaired",
             "verdict": row["verdict"]}
            for row in comparison.get("figures", [])]


def _number(value: Any, signed: bool = False) -> str:
    """A figure as text: whole numbers without decimals, the rest with three."""
    return format_number(value, digits=0 if isinstance(value, numbers.Integral) else 3, signed=signed)


def _list_or_none(value: Any) -> list[Any] | None:
    return list(value) if isinstance(value, (list, tuple)) else None


def _short(parameters: Mapping[str, Any], key: str) -> str:
    """A parameter's value as short text; "(default)" where the notebook's own default applied."""
    text = json.dumps(parameters[key]) if key in parameters else "(default)"
    return text if len(text) <= 40 else text[:37] + "..."
