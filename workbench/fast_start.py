"""Start-up time of the processes the workbench owns: the CLI, report workers and report kernels.

jsonschema imports `rfc3987_syntax` when it is installed (jupyter-events' `format-nongpl` extra
installs it) only to check the "iri" string formats, and that package builds about 40 lark
parsers when it is imported: 3 s on a quiet 2-core machine, 7 s on a busy one. jsonschema comes in
through nbformat, which papermill and nbconvert import, and which plotly imports as soon as its
renderers are touched, so every report notebook's kernel paid it too. No schema here uses those
formats. `skip_slow_optional_imports` is called where the process is ours (`workbench` commands,
report worker processes, `notebook_support.prepare_notebook` in report kernels), never on import,
so a Python session that merely imports the workbench keeps its jsonschema as it is.
"""

from __future__ import annotations

import sys

SKIPPED_MODULES = ("rfc3987_syntax",)


def skip_slow_optional_imports() -> None:
    """Make the optional imports above fail fast (jsonschema then skips the formats they check).

    Has no effect on a module that this process has already imported.
    """
    for name in SKIPPED_MODULES:
        sys.modules.setdefault(name, None)  # None in sys.modules: `import` raises ImportError
