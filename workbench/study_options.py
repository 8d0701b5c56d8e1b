"""Settings of a study rather than of one run, validated once at the edge with one readable message:
seeds, worker processes (`jobs`), the cluster address, the difference a study should detect, and
lists of whole numbers typed anywhere (`--depths 0,2,4`, a panel box, `-p budgets "[1, 5, all]"`).

`workbench.config` re-exports every name, so `from workbench.config import resolve_seeds` keeps working.
"""

from __future__ import annotations

import math
import numbers
import os
import re
from collections.abc import Sequence
from typing import Any

from workbench.errors import ConfigError


def resolve_seeds(seeds: int | Sequence[int]) -> list[int]:
    """`3` → [0, 1, 2]; a list is taken as it is.

    Raises:
        ConfigError: for text or items that are not whole numbers, fewer than one seed, a negative
            or repeated seed.
    """
    given = seeds
    try:
        if isinstance(seeds, str):
            text = seeds.strip()
            seeds = int(text) if text.isdigit() else [_whole_number(part) for part in text.split(",") if part.strip()]
        if isinstance(seeds, numbers.Integral) and not isinstance(seeds, bool):
            resolved = None
        else:
            resolved = [_whole_number(seed) for seed in seeds]
    except (TypeError, ValueError):
        raise ConfigError(
            f"seeds={given!r} is neither a count nor a list of whole numbers. Pass --seeds 3 (seeds 0, 1, 2) "
            "or a list like 0,4,7."
        ) from None
    if resolved is None:
        if seeds < 1:
            raise ConfigError(f"seeds={seeds} must be at least 1. Pass --seeds 3 (seeds 0, 1, 2) or a list like 0,4,7.")
        return list(range(int(seeds)))
    if not resolved or min(resolved) < 0 or len(set(resolved)) != len(resolved):
        raise ConfigError(
            f"seeds={list(seeds)!r} must be one or more different non-negative integers. Pass --seeds 3 or 0,4,7."
        )
    return resolved


def _whole_number(value: Any) -> int:
    """`value` as an int when it is one (3, "3", 3.0); TypeError or ValueError otherwise."""
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        raise ValueError(value)
    return int(str(value).strip()) if isinstance(value, str) else int(value)


def check_jobs(jobs: Any, where: str = "") -> int:
    """Processes that work at once (runs of a study, notebooks of a report): a whole number >= 1.

    Args:
        jobs: the value given.
        where: where it came from, for the message (e.g. "`jobs:` in the report config").

    Raises:
        ConfigError: for anything else, naming the fix.
    """
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        source = f" ({where})" if where else ""
        raise ConfigError(f"jobs={jobs!r}{source} must be a whole number of at least 1 (1 works one at a time). "
                          "Pass e.g. -j 2.")
    return jobs


def check_detect(detect: Any, where: str = "--detect") -> float:
    """The difference a study should be able to detect (accuracy units): a number in (0, 1].

    A study states, beside every paired comparison, how many seeds would detect this difference
    with 80% power (`workbench.statistics.seeds_needed`).

    Args:
        detect: the value given (a number, or text from the command line).
        where: the flag or parameter it came from, for the message. Defaults to "--detect".

    Raises:
        ConfigError: for anything but a number above 0 and at most 1, naming the fix.
    """
    try:
        value = float(detect) if not isinstance(detect, bool) else math.nan
    except (TypeError, ValueError):
        value = math.nan
    if not 0 < value <= 1:
        raise ConfigError(f"{where} {detect!r} is not a difference in accuracy: allowed are numbers above 0 and at "
                          "most 1 (0.02 = two percentage points). Pass e.g. --detect 0.02.")
    return value


CLUSTER_VARIABLE = "WORKBENCH_CLUSTER"
LOCAL_CLUSTER = "local"
DEFAULT_SCHEDULER_PORT = 8786
_CLUSTER_ADDRESS = re.compile(r"^(?:(tcp|tls)://)?(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9][A-Za-z0-9.\-_]*)(?::(\d{1,5}))?$")


def check_cluster(value: Any, where: str = "") -> str | None:
    """A Dask scheduler address for a study's runs, normalised; None (or "local") trains on this machine.

    Args:
        value: `tcp://HOST:PORT`, `tls://HOST:PORT`, `HOST:PORT` or `HOST` (tcp, port 8786), or
            "local" / empty / None for this machine (`-j` decides how many runs at once).
        where: where it came from, for the message (e.g. "WORKBENCH_CLUSTER").

    Returns:
        "tcp://HOST:PORT" (or tls://…), or None for this machine.

    Raises:
        ConfigError: for anything else, naming the forms allowed.
    """
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", LOCAL_CLUSTER)):
        return None
    match = _CLUSTER_ADDRESS.match(value.strip()) if isinstance(value, str) else None
    port = int(match.group(3)) if match and match.group(3) else DEFAULT_SCHEDULER_PORT
    if match is None or not 0 < port < 65536:
        source = f" ({where})" if where else ""
        raise ConfigError(f"cluster={value!r}{source} is not a Dask scheduler address. Pass the address `dask "
                          "scheduler` prints, e.g. --cluster tcp://10.0.0.5:8786 (HOST:PORT and tls:// work too), "
                          "or --cluster local to train on this machine.")
    return f"{match.group(1) or 'tcp'}://{match.group(2)}:{port}"


def resolve_cluster(value: Any = None) -> str | None:
    """The cluster a study uses: `value` when given, else the WORKBENCH_CLUSTER environment variable.

    "local" (in either) trains on this machine, so `--cluster local` overrides the variable.

    Raises:
        ConfigError: for an address `check_cluster` refuses, naming where it came from.
    """
    if value is not None:
        return check_cluster(value)
    return check_cluster(os.environ.get(CLUSTER_VARIABLE), f"the {CLUSTER_VARIABLE} environment variable")


def parse_int_list(
    value: Any,
    name: str,
    *,
    allow_all: bool = False,
    minimum: int = 0,
    fix: str | None = None,
) -> list[int | None]:
    """A list of whole numbers typed or passed anywhere (CLI, panel box, papermill `-p`): one set of rules.

    Accepts comma (or semicolon) separated text like "0,2,4" or "1,5,all", or a list such as
    `[0, 2, 4]`. With `allow_all`, "all" (or None in a list) stands for every training example and
    comes back as None.

    Args:
        value: the text or list.
        name: what the numbers are ("depths", "budgets"), for the message.
        allow_all: whether "all" may appear. Defaults to False.
        minimum: the smallest allowed number. Defaults to 0.
        fix: how to pass the value on this front end; None gives a comma-text example.
            Defaults to None.

    Returns:
        The numbers in the order given.

    Raises:
        ConfigError: for an empty list, an item that is not a whole number ≥ `minimum` (or an allowed
            "all"), or a repeated item; the message names the item, what is allowed and the fix.
    """
    example = "1,5,25,all" if allow_all else "0,2,4"
    fix = fix or f"Give the {name} separated by commas, for example {example}."
    allowed = f"whole numbers from {minimum}" + (", or all" if allow_all else "")
    if isinstance(value, str):
        items: list[Any] = [token.strip() for token in value.replace(";", ",").split(",") if token.strip()]
    elif isinstance(value, (list, tuple)):
        items = list(value)
    else:
        raise ConfigError(f"{name}={value!r} is not a list; allowed: {allowed}. {fix}")
    if not items:
        raise ConfigError(f"{name}={value!r} is empty; allowed: {allowed}. {fix}")
    parsed: list[int | None] = []
    for item in items:
        if allow_all and (item is None or (isinstance(item, str) and item.lower() == "all")):
            parsed.append(None)
            continue
        try:
            number = _whole_number(item)
        except (TypeError, ValueError):
            number = None
        if number is None or number < minimum:
            raise ConfigError(f"{name}={value!r} holds {item!r}; allowed: {allowed}. {fix}")
        parsed.append(number)
    if len(set(parsed)) != len(parsed):
        raise ConfigError(f"{name}={value!r} repeats a value; give each of the {name} once. {fix}")
    return parsed
