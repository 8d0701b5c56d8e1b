"""The quick report set, built once per test session and shared by the report and browser tests.

`workbench report --quick` over the real `reports/config.yaml` takes about two minutes on two cores
(-j 2: 01 first, then 02, 03 and 04 two at a time), so it runs once: the first test that asks for
it builds it; the others (in either file) reuse it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPOSITORY = Path(__file__).resolve().parents[1]
REPORT_CONFIG = REPOSITORY / "reports" / "config.yaml"
REPORT_NOTEBOOKS = (
    "01_pretrain_source", "02_transfer_modes", "03_freeze_depth", "04_label_budget", "05_transferability")
# Figures each report shows: 01 curves, confusion matrix, samples; 02 curves, bars, paired differences,
# two weight reports; 03 and 04 the sweep curve and its difference from structure; 05 the scores per
# block, two verification scatters, the drift heatmap and the CKA curves.
EXPECTED_FIGURES = {"01_pretrain_source": 3, "02_transfer_modes": 5, "03_freeze_depth": 2, "04_label_budget": 2,
                    "05_transferability": 5}
# The config's `quick` values for the sweeps (one seed), which the tests check the figures against.
QUICK_DEPTHS = [1, 4]
QUICK_BUDGETS = [1, 2]
# -f sets sample_count 4 and learning_rate 0.002; -p sets sample_count 6 (and so wins over -f).
PARAMETERS_FILE_TEXT = "sample_count: 4\nlearning_rate: 0.002\n"
CLI_SAMPLE_COUNT = 6


@dataclass
class QuickReports:
    """Where the quick report set went, and what `workbench report` returned."""

    output_dir: Path
    exit_code: int

    def html_path(self, name: str) -> Path:
        return self.output_dir / name / f"{name}.html"

    def html(self, name: str) -> str:
        return self.html_path(name).read_text(encoding="utf-8")

    def index(self) -> dict[str, Any]:
        return json.loads((self.output_dir / "index.json").read_text())


_built: dict[str, QuickReports] = {}


def build_quick_reports(tmp_path_factory: pytest.TempPathFactory) -> QuickReports:
    """Run `workbench report --quick -j 2 -f FILE -p sample_count 6` once per session."""
    if "quick" not in _built:
        from workbench.cli import main

        parameters_file = tmp_path_factory.mktemp("report-parameters") / "parameters.yaml"
        parameters_file.write_text(PARAMETERS_FILE_TEXT)
        output_dir = tmp_path_factory.mktemp("quick-reports") / "reports"
        exit_code = main([
            "report", "--config", str(REPORT_CONFIG), "--quick", "--output-dir", str(output_dir), "-j", "2",
            "-f", str(parameters_file), "-p", "sample_count", str(CLI_SAMPLE_COUNT),
        ])
        _built["quick"] = QuickReports(output_dir, exit_code)
    return _built["quick"]
