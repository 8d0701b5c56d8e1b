"""Checks of the paths a user passes on the command line, before anything runs.

A file where a folder is needed (or a folder where a file is), or a folder that cannot be
created, ends in the one-paragraph error and exit code 2 instead of an OSError traceback after
minutes of training.
"""

from __future__ import annotations

import os
from pathlib import Path

from workbench.errors import ConfigError


def check_writable_folder(path: str | os.PathLike[str], flag: str, example: str) -> None:
    """A folder the command writes into: an existing folder, or one that can be created.

    Args:
        path: the folder given.
        flag: the option it came from, e.g. "--runs-dir".
        example: a good value for the message, e.g. "runs".

    Raises:
        ConfigError: when it is a file, a file stands where one of its parent folders must be, or
            the nearest existing folder cannot be written to.
    """
    folder = Path(path).expanduser()
    fix = f"Pass a folder you can write to (it is created if missing), e.g. {flag} {example}."
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"{flag} {str(path)!r} is a file, not a folder. {fix}")
    problem = _creation_problem(folder)
    if problem:
        raise ConfigError(f"{flag} {str(path)!r} cannot be created: {problem}. {fix}")


def check_readable_folder(path: str | os.PathLike[str], flag: str, example: str) -> None:
    """A folder the command only reads (it may be missing: then it holds nothing yet).

    Raises:
        ConfigError: when it is a file.
    """
    if Path(path).expanduser().is_file():
        raise ConfigError(f"{flag} {str(path)!r} is a file, not a folder. Pass the folder that holds the run "
                          f"directories, e.g. {flag} {example}.")


def check_writable_file(path: str | os.PathLike[str], flag: str, example: str) -> None:
    """A file the command writes: not an existing folder, and its folder exists or can be created.

    Raises:
        ConfigError: when it is a folder, or its folder cannot be created.
    """
    target = Path(path).expanduser()
    fix = f"Pass a file in a folder you can write to, e.g. {flag} {example}."
    if target.is_dir():
        raise ConfigError(f"{flag} {str(path)!r} is a folder, not a file. {fix}")
    problem = _creation_problem(target.parent)
    if problem:
        raise ConfigError(f"{flag} {str(path)!r} cannot be written: {problem}. {fix}")


def check_file_argument(path: str | os.PathLike[str], flag: str, wanted: str) -> None:
    """A file the command reads: a folder there is refused (a missing file is the reader's to report).

    Args:
        path: the file given.
        flag: the option it came from, e.g. "-f".
        wanted: what is needed there, with an example, e.g. "a YAML file of `name: value` lines, e.g. -f p.yaml".

    Raises:
        ConfigError: when it is a folder.
    """
    if Path(path).expanduser().is_dir():
        raise ConfigError(f"{flag} {str(path)!r} is a folder, not a file. Pass {wanted}.")


def check_source_argument(reference: str | os.PathLike[str], runs_dir: str | os.PathLike[str], flag: str) -> None:
    """A source run: refuse a file given where a run directory is needed, and a run that is not
    there, before TensorFlow loads (a mistyped path is answered at once).

    The run is looked up as the engine does (the path itself, then under the runs folder); a run
    that is missing altogether gets the engine's own message, with the runs that do exist
    (`runs.resolve_run_path`).

    Raises:
        ConfigError: when no run directory matches and the path names a file.
        SourceRunError: when no run directory matches.
    """
    from workbench.runs import resolve_run_path

    given = Path(reference).expanduser()
    candidates = [given] if given.is_absolute() else [given, Path(runs_dir).expanduser() / given]
    if not any(candidate.is_dir() for candidate in candidates):
        files = [candidate for candidate in candidates if candidate.exists()]
        if files:
            where = "" if files[0] == given else f" ({str(files[0])!r})"
            raise ConfigError(
                f"{flag} {str(reference)!r} is a file{where}, not a run directory. Pass a run directory "
                f"made by `workbench pretrain` or `workbench transfer` (`workbench runs` lists them), e.g. "
                f"{flag} runs/source."
            )
    resolve_run_path(reference, runs_dir)


def _creation_problem(folder: Path) -> str | None:
    """Why `folder` (existing or not) cannot be written into, or None when it can.

    Walks up to the nearest path that exists: the folder itself, or the one it would be made in.
    A file met on the way is the problem.
    """
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        return f"{str(existing)!r} is a file, not a folder"
    if not os.access(existing, os.W_OK | os.X_OK):
        return f"no permission to write in {str(existing)!r}"
    return None
