"""The workbench's exception hierarchy.

Every error a user can cause (a typo in a task, a missing source run, an impossible budget) is a
`WorkbenchError` whose message is one readable paragraph: the bad value, what is allowed, and the
fix. The command line prints that paragraph and exits with code 2; the panels show it in place.
"""

from __future__ import annotations


class WorkbenchError(ValueError):
    """Base class for errors caused by user input; the message says how to fix it."""


class ConfigError(WorkbenchError):
    """A configuration value is out of range, of the wrong type, or unknown."""


class DataError(WorkbenchError):
    """A dataset, task or class list cannot be resolved or loaded."""


class ModelError(WorkbenchError):
    """A model architecture or weights source cannot be built or loaded."""


class SourceRunError(WorkbenchError):
    """A source run does not exist, is incomplete, or holds no model."""


class ReportError(WorkbenchError):
    """The report set, a parameter, the kernel or an option is unusable; nothing was run."""


class ExportError(WorkbenchError):
    """Runs cannot be exported to a tracker (no runs there, a tracker that is missing or refuses)."""
