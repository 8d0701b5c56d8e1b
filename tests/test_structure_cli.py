"""Structure edits on the command line: --edit (repeatable), -p edits, --grow-noise, help, and exit code 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from workbench.cli import build_parser, collect_parameters, main
from workbench.config import config_from_mapping


def _call(capsys: pytest.CaptureFixture, *arguments: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(arguments))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("command", ["transfer", "compare", "sweep-depth", "sweep-budget"])
def test_edit_repeats_and_joins_and_grow_noise_reaches_the_config(command: str) -> None:
    arguments = build_parser().parse_args([command, "--source", "runs/source", "--edit", "cut conv2",
                                           "--edit", "add dense 128; add dropout 0.2", "--grow-noise", "0.01"])
    values = collect_parameters(arguments)
    assert values["edits"] == ["cut conv2", "add dense 128; add dropout 0.2"] and values["grow_noise"] == 0.01
    config = config_from_mapping({key: values[key] for key in ("source", "edits", "grow_noise")}, kind="transfer")
    assert config.edits == "cut conv2; add dense 128; add dropout 0.2" and config.grow_noise == 0.01


def test_p_edits_takes_the_whole_spec_as_one_string() -> None:
    arguments = build_parser().parse_args(["transfer", "--source", "s", "-p", "edits", "widen conv2 to 96; deepen after conv2"])
    config = config_from_mapping(collect_parameters(arguments), kind="transfer")
    assert config.edits == "widen conv2 to 96; deepen after conv2"


@pytest.mark.parametrize("command, example", [
    (["transfer"], '--edit "widen dense1 to 128" --edit "deepen after conv2"'),
    (["compare"], '--edit "widen dense1 to 128"'),
    ([], '--edit "cut conv2" --edit "add dense 128"'),
])
def test_help_shows_real_edit_examples(capsys: pytest.CaptureFixture, command: list[str], example: str) -> None:
    with pytest.raises(SystemExit):
        main([*command, "--help"])
    assert example in capsys.readouterr().out


def test_an_edited_transfer_runs_from_the_command_line(capsys, source_run, runs_dir: Path) -> None:
    code, out, err = _call(capsys, "transfer", "--source", str(source_run.path), "--runs-dir", str(runs_dir),
                           "--per-class", "2", "--epochs", "1", "--name", "cut", "--edit", "cut conv2",
                           "--edit", "add dense 16", "--no-cache")
    assert code == 0, err
    assert "edits: cut conv2; add dense 16; structure: cut 3 layers, added 2" in err
    text = (runs_dir / "cut" / "transfer.txt").read_text()
    assert "edits: cut conv2; add dense 16" in text and "structure: cut 3 layers, added 2" in text


@pytest.mark.parametrize("arguments, words", [
    (["--edit", "chop conv2"], "Structure edit 'chop conv2' is not a known edit"),
    (["--edit", "cut conv9"], "names block 'conv9', which the source model does not have"),
    (["--edit", "cut head"], "names the head"),
    (["--edit", "widen dense1 to 8"], "would not widen dense1"),
    (["--edit", "input 8x8x1"], "too small for the network"),
    (["--edit", "add conv 8"], "the network's top is flat"),
    (["--grow-noise", "2"], "grow_noise=2.0 is outside"),
])
def test_a_bad_edit_exits_2_with_one_paragraph_and_writes_no_run(capsys, source_run, runs_dir: Path,
                                                                   arguments: list[str], words: str) -> None:
    code, out, err = _call(capsys, "transfer", "--source", str(source_run.path), "--runs-dir", str(runs_dir),
                           "--per-class", "2", "--epochs", "1", "--name", "bad", *arguments)
    assert code == 2 and words in err, err
    assert err.startswith("workbench transfer: error: ") and err.count("\n") == 1 and "Traceback" not in err
    assert list(runs_dir.iterdir()) == []


def test_pretrain_refuses_edits(capsys, runs_dir: Path) -> None:
    code, _, err = _call(capsys, "pretrain", "--runs-dir", str(runs_dir), "-p", "edits", "cut conv2")
    assert code == 2 and "only a transfer run takes it" in err
    assert list(runs_dir.iterdir()) == []
