"""One way to turn numbers into text and JSON: every table, report, figure label and CLI line uses it.

Pure Python (no TensorFlow, no numpy import at module level), so reports and the CLI's light paths
can use it without loading the engine.

    >>> format_mean_sd({"mean": 0.8123, "sd": 0.0201, "n": 3})
    '0.812 ± 0.020 (n=3)'
    >>> format_mean_sd({"mean": 0.8123, "sd": 0.0, "n": 1})
    '0.812 (n=1)'
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from pathlib import Path
from typing import Any

NOT_AVAILABLE = "n/a"
EMPTY_CELL = "—"


def to_float(value: Any, finite: bool = False) -> float:
    """A value as a float; None and values that do not convert become NaN.

    Args:
        value: anything: a number, a numpy scalar, a numeric string, None.
        finite: also turn ±inf into NaN (for scores where infinity means "not measured").
            Defaults to False.
    """
    if value is None or isinstance(value, bool):
        return math.nan if value is None else float(value)
    try:
        number = float(value)
    except (TypeError, ValueError):
        return math.nan
    if finite and not math.isfinite(number):
        return math.nan
    return number


def format_number(value: Any, digits: int = 3, signed: bool = False) -> str:
    """A number as text with fixed decimals ("0.812", "+0.012"); "n/a" when it is missing or not finite.

    Args:
        value: the number (None, NaN and non-numbers give "n/a").
        digits: decimals. Defaults to 3.
        signed: write a leading "+" for positive values (differences, gains). Defaults to False.
    """
    number = to_float(value)
    if not math.isfinite(number):
        return NOT_AVAILABLE
    return f"{number:+.{digits}f}" if signed else f"{number:.{digits}f}"


def format_scientific(value: Any, digits: int = 1) -> str:
    """A number that may be tiny in scientific notation ("2.4e-06", "0" for exactly zero); "n/a"
    when it is missing or not finite. For float round-off, e.g. a logit difference.

    Args:
        value: the number.
        digits: decimals of the mantissa. Defaults to 1.
    """
    number = to_float(value)
    if not math.isfinite(number):
        return NOT_AVAILABLE
    return "0" if number == 0 else f"{number:.{digits}e}"


def format_mean_sd(summary: Mapping[str, Any], signed: bool = False, with_n: bool = True, digits: int = 3) -> str:
    """`{"mean", "sd", "n"}` as text: "0.812 ± 0.020 (n=3)"; "n/a (n=0)" when nothing was measured.

    A single value has no spread, so below n=2 the sd is left out ("0.812 (n=1)") rather than
    shown as a misleading ± 0.000.

    Args:
        summary: a dict with mean, sd and n (as `workbench.statistics.summarize` returns).
        signed: write the mean with its sign (for differences and gains). Defaults to False.
        with_n: append "(n=k)". Defaults to True.
        digits: decimals of mean and sd. Defaults to 3.
    """
    mean, sd, n = to_float(summary.get("mean")), to_float(summary.get("sd")), int(summary.get("n") or 0)
    suffix = f" (n={n})" if with_n else ""
    if not math.isfinite(mean):
        return f"{NOT_AVAILABLE}{suffix}"
    text = format_number(mean, digits, signed)
    if math.isfinite(sd) and n > 1:
        text += f" ± {sd:.{digits}f}"
    return text + suffix


def format_interval(difference: Mapping[str, Any]) -> str:
    """A paired difference's confidence interval: "[+0.010, +0.090]", or why there is none."""
    low, high = to_float(difference.get("low")), to_float(difference.get("high"))
    if math.isfinite(low) and math.isfinite(high):
        return f"[{low:+.3f}, {high:+.3f}]"
    return "none: needs n ≥ 2 seeds" if int(difference.get("n") or 0) < 2 else NOT_AVAILABLE


def format_cell(value: Any) -> str:
    """A table cell as text: floats to 3 decimals ("n/a" when NaN), None as "—", booleans as yes/no,
    lists comma-joined, anything else as `str`."""
    if value is None:
        return EMPTY_CELL
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, numbers.Real) and not isinstance(value, numbers.Integral):
        return format_number(value)
    if isinstance(value, (list, tuple)):
        return ", ".join(format_cell(item) for item in value)
    return str(value)


def json_safe(value: Any) -> Any:
    """A value every JSON reader accepts: NaN and ±inf become null, numpy scalars and arrays plain
    Python, paths strings, tuples lists, mapping keys strings."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(item) for item in value]
    if isinstance(value, Path):
        return str(value)
    # numpy without importing it: arrays have tolist(), scalars item() (both give plain Python).
    if hasattr(value, "tolist") and hasattr(value, "dtype"):
        return json_safe(value.tolist())
    return value
