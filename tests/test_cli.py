"""The command line: real subcommands end to end, parameters from files and -p, and exit code 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from workbench.cli import build_parser, collect_parameters, main


class Result:
    """What one in-process `workbench` call returned and printed."""

    def __init__(self, returncode: int, stdout: str, stderr: str) -> None:
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


@pytest.fixture
def run_cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture):
    """Call `workbench ...` in this process (TensorFlow is imported once, not per call), in `cwd`."""

    def call(*arguments: str, cwd: Path) -> Result:
        monkeypatch.chdir(cwd)
        capsys.readouterr()
        code = main(list(arguments))
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return call


def test_help_shows_real_examples(capsys: pytest.CaptureFixture) -> None:
    for command in ([], ["pretrain"], ["transfer"], ["compare"], ["runs"]):
        with pytest.raises(SystemExit) as caught:
            main([*command, "--help"])
        assert caught.value.code == 0
        assert "examples:" in capsys.readouterr().out


def test_parameters_merge_file_then_flags_then_p(tmp_path: Path) -> None:
    params = tmp_path / "params.yaml"
    params.write_text("epochs: 3\nper_class: 4\nseed: 1\n")
    arguments = build_parser().parse_args(
        ["transfer", "--source", "s", "-f", str(params), "--epochs", "7", "-p", "seed", "9", "-p", "freeze-depth", "2"])
    values = collect_parameters(arguments)
    assert values["epochs"] == 7 and values["per_class"] == 4 and values["seed"] == 9 and values["freeze_depth"] == 2


def test_pretrain_transfer_compare_and_runs_from_the_command_line(tmp_path: Path, run_cli) -> None:
    _run = run_cli
    pretrain = _run("pretrain", "--task", "mnist-5k:0-4", "--per-class", "60", "--epochs", "1", "--name", "source",
                    cwd=tmp_path)
    assert pretrain.returncode == 0, pretrain.stderr
    assert pretrain.stdout.strip() == "runs/source"
    transfer = _run("transfer", "--source", "runs/source", "--task", "mnist-5k:5-9", "--mode", "parameter",
                    "--freeze-depth", "2", "--per-class", "5", "--epochs", "2", "--name", "fd2", cwd=tmp_path)
    assert transfer.returncode == 0, transfer.stderr
    assert "test accuracy" in transfer.stderr and "Epoch 1/" not in transfer.stdout + transfer.stderr
    assert json.loads((tmp_path / "runs/fd2/transfer.json").read_text())["freeze_depth"] == 2
    compare = _run("compare", "--source", "runs/source", "--task", "mnist-5k:5-9", "--per-class", "5", "--seeds", "2",
                   "--epochs", "1", "--name", "cmp", cwd=tmp_path)
    assert compare.returncode == 0, compare.stderr
    for mode in ("structure", "feature", "parameter"):
        assert any(line.startswith(mode) and "±" in line and line.split()[-3] == "2"
                   for line in compare.stdout.splitlines()), compare.stdout
    listing = _run("runs", "--json", cwd=tmp_path)
    names = {json.loads(line)["name"] for line in listing.stdout.splitlines()}
    assert {"source", "fd2", "cmp-parameter-s1"} <= names


@pytest.mark.parametrize(("arguments", "fragment"), [
    (["transfer", "--source", "runs/nope"], "does not exist"),
    (["pretrain", "--task", "nosuch:0-4"], "Unknown dataset 'nosuch'"),
    (["pretrain", "--task", "mnist-5k:zebra"], "not a class"),
    (["pretrain", "--task", "mnist-5k:3-12"], "out of range"),
    (["pretrain", "--task", "mnist-5k:"], "empty class list"),
    (["pretrain", "--per-class", "5000"], "per_class=5000"),
    (["pretrain", "--epochs", "0"], "epochs=0"),
    (["transfer", "--source", "runs/source", "--mode", "feat"], "mode='feat'"),
    (["transfer", "--source", "runs/source", "--freeze-depth", "6"], "outside 0..4"),
    (["pretrain", "-p", "freez_depth", "1"], "Unknown parameter"),
])
def test_bad_input_is_one_paragraph_and_exit_code_2(tmp_path: Path, source_run, run_cli, arguments: list[str],
                                                   fragment: str) -> None:
    import shutil

    _run = run_cli
    shutil.copytree(source_run.path, tmp_path / "runs" / "source")
    result = _run(*arguments, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    error_lines = [line for line in result.stderr.splitlines() if line.startswith("workbench ")]
    assert len(error_lines) == 1 and fragment in error_lines[0]
    assert "Traceback" not in result.stderr
    assert sorted(path.name for path in (tmp_path / "runs").iterdir()) == ["source"]


def test_folder_errors_exit_2(tmp_path: Path, run_cli) -> None:
    _run = run_cli
    (tmp_path / "flowers" / "roses").mkdir(parents=True)
    (tmp_path / "flowers" / "roses" / "a.jpg").write_bytes(b"garbage")
    result = _run("pretrain", "--task", f"folder:{tmp_path / 'flowers'}", cwd=tmp_path)
    assert result.returncode == 2 and "at least two" in result.stderr
    (tmp_path / "flowers" / "tulips").mkdir()
    (tmp_path / "flowers" / "tulips" / "b.jpg").write_bytes(b"garbage")
    result = _run("pretrain", "--task", f"folder:{tmp_path / 'flowers'}", cwd=tmp_path)
    assert result.returncode == 2 and "cannot be read" in result.stderr and "a.jpg" in result.stderr
    assert not (tmp_path / "runs").exists()


def test_the_installed_command_exits_2_without_a_traceback(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "workbench.cli", "transfer", "--source", "runs/nope"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2
    assert "workbench transfer: error: Source run 'runs/nope' does not exist" in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "runs").exists()


def test_sweeps_and_lr_find_print_tables_and_write_offline_figures(tmp_path: Path, source_run, run_cli) -> None:
    import shutil

    shutil.copytree(source_run.path, tmp_path / "runs" / "source")
    depth = run_cli("sweep-depth", "--source", "runs/source", "--per-class", "3", "--epochs", "1", "--seeds", "1",
                    "--depths", "0,4", "--no-fine-tuned", "--name", "depth", cwd=tmp_path)
    assert depth.returncode == 0, depth.stderr
    assert "frozen (AnB)" in depth.stdout and "structure" in depth.stdout
    html = (tmp_path / "runs" / "depth.html").read_text()
    assert "frozen (AnB)" in html and "<script src=" not in html  # plotly.js inlined, no CDN
    budget = run_cli("sweep-budget", "--source", "runs/source", "--budgets", "1,2", "--modes", "feature",
                     "--epochs", "1", "--seeds", "1", "--name", "budget", cwd=tmp_path)
    assert budget.returncode == 0, budget.stderr
    assert len([line for line in budget.stdout.splitlines() if line.startswith("feature")]) == 2
    lr = run_cli("lr-find", "--source", "runs/source", "--per-class", "10", "--steps", "15", cwd=tmp_path)
    assert lr.returncode == 0, lr.stderr
    assert "suggested learning rate" in lr.stdout and (tmp_path / "runs" / "lr-find.html").is_file()
    bad = run_cli("sweep-budget", "--source", "runs/source", "--budgets", "1,lots", cwd=tmp_path)
    assert bad.returncode == 2 and "'lots'" in bad.stderr


def test_study_commands_parse_their_lists_and_call_the_api_with_them(tmp_path: Path, run_cli, monkeypatch) -> None:
    import workbench.api

    (tmp_path / "runs" / "source").mkdir(parents=True)  # the commands check the source run is there
    (tmp_path / "runs" / "source" / "config.json").write_text("{}")
    calls: dict[str, tuple] = {}

    def record(name: str):
        def called(*arguments, **keywords):
            calls[name] = (arguments, keywords)
            raise KeyboardInterrupt  # stop here: what reached the API is all this test needs

        return called

    for name in ("compare", "sweep_depth", "sweep_budget"):
        monkeypatch.setattr(workbench.api, name, record(name))
    common = ("--source", "runs/source", "--per-class", "3", "--name", "study")
    compare = run_cli("compare", *common, "--seeds", "0,4", "--modes", "structure, feature", cwd=tmp_path)
    assert compare.returncode == 130
    assert run_cli("sweep-depth", *common, "--depths", "0,2", "--no-fine-tuned", cwd=tmp_path).returncode == 130
    assert run_cli("sweep-budget", *common, "--budgets", "1,5,all", "-p", "seeds", "2", "-j", "2",
                   cwd=tmp_path).returncode == 130
    arguments, keywords = calls["compare"]
    assert arguments == ([0, 4], ["structure", "feature"]) and keywords["per_class"] == 3 and keywords["jobs"] == 1
    arguments, keywords = calls["sweep_depth"]
    assert arguments == ([0, 2], [0, 1, 2], False) and keywords["name"] == "study"
    arguments, keywords = calls["sweep_budget"]
    assert arguments == ([1, 5, None], [0, 1], ["structure", "feature", "parameter"]) and keywords["jobs"] == 2
    assert sorted(path.name for path in (tmp_path / "runs").iterdir()) == ["source"]  # nothing written


def test_runs_json_writes_null_for_a_missing_number(tmp_path: Path, source_run, run_cli) -> None:
    import shutil

    shutil.copytree(source_run.path, tmp_path / "runs" / "source")
    metrics_path = tmp_path / "runs" / "source" / "metrics.json"
    metrics = json.loads(metrics_path.read_text())
    metrics["test_accuracy"] = float("nan")
    metrics_path.write_text(json.dumps(metrics))  # json writes NaN, as a run that diverged would hold
    listing = run_cli("runs", "--json", cwd=tmp_path)
    assert listing.returncode == 0, listing.stderr
    row = json.loads(listing.stdout)
    assert row["name"] == "source" and row["test_accuracy"] is None


def test_rank_scores_cut_points_and_verifies_them_against_fine_tunes(tmp_path: Path, source_run, run_cli) -> None:
    import re
    import shutil

    shutil.copytree(source_run.path, tmp_path / "runs" / "source")
    result = run_cli("rank", "--sources", "runs/source", "--task", "mnist-5k:5-9", "--per-class", "3", "--verify",
                     "--epochs", "1", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "suggested freeze depth" in result.stdout
    rows = [line.split() for line in result.stdout.splitlines() if re.match(r"^(logme|probe_accuracy)\s", line)]
    assert {row[0] for row in rows} == {"logme", "probe_accuracy"}
    for _, n, tau, p_value, weighted_tau, rho in rows:  # Kendall τ with its p-value, weighted τ, Spearman ρ
        assert int(n) == 5 and -1.0 <= float(tau) <= 1.0 and -1.0 <= float(rho) <= 1.0
        assert 0.0 <= float(p_value) <= 1.0 and -1.0 <= float(weighted_tau) <= 1.0
    assert re.search(r"^logme: .*(chance|random)", result.stdout, re.MULTILINE)  # the verdict on τ at n = 5


def test_ctrl_c_says_what_is_left_for_the_command_that_was_stopped(monkeypatch, capsys):
    import workbench.reports

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(workbench.reports, "build_reports", interrupted)
    assert main(["report", "--quick"]) == 130
    error = capsys.readouterr().err
    assert "workbench report: interrupted. Notebooks that had finished keep their reports" in error
    assert "resume" not in error and "Traceback" not in error
