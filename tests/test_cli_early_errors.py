"""A mistyped source run is refused before TensorFlow loads: the answer comes at once (0.3 s, not
the 5 s of importing TensorFlow), with the engine's own message and exit code 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

PROBE = """
import json, sys
from workbench.cli import main
code = main(sys.argv[1:])
print(json.dumps({"code": code, "tensorflow": "tensorflow" in sys.modules, "keras": "keras" in sys.modules}))
"""


@pytest.mark.parametrize("command", [
    ["transfer", "--source", "runs/nope"],
    ["compare", "--source", "nope", "--seeds", "1"],
    ["sweep-depth", "--source", "runs/nope", "--depths", "0,2"],
])
def test_a_missing_source_run_is_refused_before_tensorflow_loads(tmp_path: Path, command: list[str]) -> None:
    result = subprocess.run([sys.executable, "-c", PROBE, *command], cwd=tmp_path, capture_output=True, text=True,
                            timeout=120)
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert outcome == {"code": 2, "tensorflow": False, "keras": False}, result.stderr
    assert "does not exist (no config.json there). 'runs' holds no runs yet." in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "runs").exists()  # nothing written
