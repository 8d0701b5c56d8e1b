"""The bad-input catalogue (tests/README.md lists every entry) and the safety checks.

Every bad input a user can give the command line, the Python API, the papermill parameters of
`workbench report` or the panel gets one readable message that names the value and the fix: exit
code 2 and no traceback on the command line, the message in the panel's message area, and nothing
written or lost. User-supplied strings reach HTML escaped; models load in Keras safe mode;
`make lab` binds to 127.0.0.1 behind a token.

Nothing here trains a model except the panel's two refused runs (which fail before training) and
the one end-to-end report, which pretrains for one epoch on sixteen 8x8 images.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
import yaml
from PIL import Image

import workbench
from workbench import figures, notebook_support, reports
from workbench.cli import main
from workbench.data import adaptable_input_shape, load_dataset, prepare_task
from workbench.errors import ConfigError, DataError

REPOSITORY = Path(__file__).resolve().parents[1]
REPORT_CONFIG = REPOSITORY / "reports" / "config.yaml"
# A POSIX file name cannot hold "/", so the exact `<script>alert(1)</script>` is a folder path
# (`<script>alert(1)<` holding `script>`), and the class folders are names without a slash.
SCRIPT_TAG = "<script>alert(1)</script>"
CLASS_NAMES = ("<script>alert(1)", "<img src=x onerror=alert(1)>")


def write_images(folder: Path, count: int = 3, size: int = 8, shade: int = 0, mode: str = "RGB",
                 suffix: str = ".png") -> None:
    """`count` small images of one shade (plus noise), saved in `mode`."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(shade)
    for number in range(count):
        pixels = np.clip(shade + rng.integers(0, 40, (size, size, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(pixels).convert(mode).save(folder / f"{number}{suffix}")


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """Every file under `root` with its size and modification time: equal snapshots, nothing touched."""
    return {str(path.relative_to(root)): (path.stat().st_size, path.stat().st_mtime_ns)
            for path in sorted(root.rglob("*")) if path.is_file()}


def save_fake_source(runs: Path, source: Path, name: str, model: keras.Model) -> None:
    """A copy of a real source run whose model.keras is replaced by `model`."""
    shutil.copytree(source, runs / name)
    model.save(runs / name / "model.keras")


@pytest.fixture(scope="module")
def workspace(source_run, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding a good source run, broken source runs, broken image folders and bad parameter files."""
    root = tmp_path_factory.mktemp("bad-inputs")
    runs = root / "runs"
    shutil.copytree(source_run.path, runs / "source")
    shutil.copytree(source_run.path, runs / "truncated")
    model_bytes = (runs / "truncated" / "model.keras").read_bytes()
    (runs / "truncated" / "model.keras").write_bytes(model_bytes[: len(model_bytes) // 3])
    inputs = keras.Input((4,))
    save_fake_source(runs, source_run.path, "lambda", keras.Model(inputs, keras.layers.Lambda(lambda x: x * 2)(inputs)))
    save_fake_source(runs, source_run.path, "flat",
                     keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="head")]))

    data = root / "data"
    write_images(data / "empty-class" / "a")
    (data / "empty-class" / "b").mkdir()
    (data / "empty-class" / "b" / "notes.txt").write_text("not an image")
    for name in ("foreign", "bmp1", "truncated"):
        write_images(data / name / "a")
        write_images(data / name / "b", shade=120)
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(data / "foreign" / "b" / "x.png", format="TIFF")
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).convert("1").save(data / "bmp1" / "b" / "x.bmp")
    png = io.BytesIO()
    Image.fromarray(np.random.default_rng(1).integers(0, 255, (16, 16, 3), dtype=np.uint8)).save(png, format="PNG")
    (data / "truncated" / "b" / "cut.png").write_bytes(png.getvalue()[: len(png.getvalue()) // 2])

    params = root / "params"
    params.mkdir()
    (params / "broken.yaml").write_text("epochs: [1\n")
    (params / "list.yaml").write_text("- 1\n- 2\n")
    (params / "unknown.yaml").write_text("epoch: 3\n")
    return root


def call_cli(arguments: list[str], cwd: Path, monkeypatch: pytest.MonkeyPatch,
             capsys: pytest.CaptureFixture) -> tuple[int, str, str]:
    """`workbench ARGUMENTS` in this process, in `cwd`: (exit code, stdout, stderr)."""
    monkeypatch.chdir(cwd)
    capsys.readouterr()
    try:
        code = main(arguments)
    except SystemExit as exit_:  # argparse's own errors (a flag of the wrong type, an unknown command)
        code = exit_.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def error_paragraph(stderr: str) -> str:
    """The one `workbench ...: error: ...` line of stderr (progress bars may precede it)."""
    errors = [line for line in stderr.splitlines() if re.match(r"workbench( [\w-]+)?: error: ", line)]
    assert len(errors) == 1, stderr
    assert "Traceback" not in stderr, stderr
    return errors[0]


# ------------------------------------------------------------------------------------------------
# The command line: exit code 2, one paragraph, nothing written, nothing lost
# ------------------------------------------------------------------------------------------------

CLI_CASES = [
    ("flag-of-the-wrong-type", ["pretrain", "--epochs", "abc"],
     "invalid int value: 'abc'. Run `workbench pretrain --help`"),
    ("unknown-command", ["pretrian"], "invalid choice: 'pretrian'"),
    ("p-value-of-the-wrong-type", ["pretrain", "-p", "epochs", "many"], "epochs='many' is not a whole number"),
    ("learning-rate-out-of-range", ["pretrain", "-p", "learning_rate", "0"], "learning_rate=0 is outside (0.0, 10.0]"),
    ("validation-split-out-of-range", ["pretrain", "--validation-split", "1.5"], "validation_split=1.5 is outside"),
    ("unknown-architecture", ["pretrain", "--model", "vgg"], "model='vgg' is not known. Allowed values: seed-cnn"),
    ("input-shape-with-4-channels", ["pretrain", "--input-shape", "32x32x4"],
     "input_shape='32x32x4' is not HEIGHTxWIDTH"),
    ("missing-weights-file", ["pretrain", "--model", "mobilenet_v2", "--weights", "missing.weights.h5"],
     "weights='missing.weights.h5' is neither 'none', 'imagenet' nor an existing weights file"),
    ("parameters-file-invalid-yaml", ["pretrain", "-f", "params/broken.yaml"],
     "'params/broken.yaml' is not valid YAML (line 2, column 1: expected ',' or ']'"),
    ("parameters-file-not-a-mapping", ["pretrain", "-f", "params/list.yaml"], "holds a list, not a mapping"),
    ("parameters-file-unknown-name", ["pretrain", "-f", "params/unknown.yaml"], "Unknown parameter 'epoch'"),
    ("existing-run-without-overwrite", ["pretrain", "--name", "source", "--epochs", "1"],
     "Run 'runs/source' already exists. Pass another --name, or --overwrite to replace it."),
    ("hidden-run-name", ["pretrain", "--name", ".hidden"], "name='.hidden' is not a usable run directory name"),
    ("truncated-keras-file", ["transfer", "--source", "runs/truncated"], "cannot be loaded"),
    ("lambda-layer-in-source", ["transfer", "--source", "runs/lambda"], "holds a Lambda layer"),
    ("source-input-not-adaptable", ["transfer", "--source", "runs/flat"],
     "takes inputs of shape (4,) (batch axis left out), which images cannot be adapted to"),
    ("empty-class-folder", ["pretrain", "--task", "folder:data/empty-class"],
     "holds no images (.jpg, .jpeg, .png, .bmp, .gif) (it holds only notes.txt)"),
    ("image-suffix-but-another-format", ["pretrain", "--task", "folder:data/foreign"],
     "x.png (a TIFF file, which TensorFlow cannot decode)"),
    ("one-bit-bmp", ["pretrain", "--task", "folder:data/bmp1"], "x.bmp (a 1-bit BMP, which TensorFlow cannot decode)"),
    ("truncated-image", ["pretrain", "--task", "folder:data/truncated"], "cut.png (not an image, or truncated)"),
    ("seeds-not-numbers", ["compare", "--source", "runs/source", "--seeds", "abc"],
     "seeds='abc' is neither a count nor a list of whole numbers"),
    ("unknown-mode-in-a-list", ["compare", "--source", "runs/source", "--modes", "structure,foo"],
     "modes=['structure', 'foo']: allowed modes are parameter, feature, structure"),
    ("unknown-augmentation", ["transfer", "--source", "runs/source", "--augment", "blur"],
     "augment='blur' has unknown"),
    ("lr-find-without-steps", ["lr-find", "--steps", "0"], "steps=0 must be a whole number of at least 2"),
    ("lr-find-range-reversed", ["lr-find", "--min-lr", "1", "--max-lr", "0.1"],
     "min_lr=1.0, max_lr=0.1 is not a range"),
    ("resume-unknown-run", ["resume", "ghost"], "No interrupted run named 'ghost'"),
    ("rank-missing-source", ["rank", "--sources", "runs/nope"], "Source run 'runs/nope' does not exist"),
    ("reversed-class-range", ["pretrain", "--task", "mnist-5k:4-0"],
     "Class range '4-0' in task 'mnist-5k:4-0' is reversed: a range runs from the lower index to the higher one. "
     "Write 0-4"),
    ("keras-dataset-class-typo", ["pretrain", "--task", "cifar10:kat"],
     "Class 'kat' in task 'cifar10:kat' is not a class of this dataset. Did you mean cat? Known classes: airplane"),
    ("budget-below-one", ["sweep-budget", "--source", "runs/source", "--budgets", "0,5"],
     "budgets='0,5' holds '0'; allowed: whole numbers from 1, or all. Pass e.g. --budgets 1,5,25,all."),
    ("depth-repeated", ["sweep-depth", "--source", "runs/source", "--depths", "0,2,2"],
     "depths='0,2,2' repeats a value; give each of the depths once. Pass e.g. --depths 0,2,4."),
    # Paths: a file where a folder is needed, a folder where a file is, a folder that cannot be created.
    ("runs-dir-is-a-file", ["pretrain", "--runs-dir", "params/list.yaml"],
     "--runs-dir 'params/list.yaml' is a file, not a folder. Pass a folder you can write to (it is created if "
     "missing), e.g. --runs-dir runs."),
    ("runs-dir-cannot-be-created", ["compare", "--source", "runs/source", "--runs-dir", "params/list.yaml/runs"],
     "--runs-dir 'params/list.yaml/runs' cannot be created: 'params/list.yaml' is a file, not a folder."),
    ("runs-dir-from-p-is-a-file", ["lr-find", "-p", "runs_dir", "params/list.yaml"],
     "--runs-dir 'params/list.yaml' is a file, not a folder"),
    ("runs-listing-of-a-file", ["runs", "--runs-dir", "params/list.yaml"],
     "--runs-dir 'params/list.yaml' is a file, not a folder. Pass the folder that holds the run directories"),
    ("resume-in-a-file", ["resume", "source", "--runs-dir", "params/list.yaml"], "is a file, not a folder"),
    ("source-is-a-file", ["transfer", "--source", "params/list.yaml"],
     "--source 'params/list.yaml' is a file, not a run directory. Pass a run directory made by `workbench pretrain`"),
    ("rank-source-is-a-file", ["rank", "--sources", "runs/source,params/list.yaml"],
     "--sources 'params/list.yaml' is a file, not a run directory"),
    ("parameters-file-is-a-folder", ["pretrain", "-f", "params"],
     "-f 'params' is a folder, not a file. Pass a YAML file of `name: value` lines, e.g. -f params.yaml."),
    ("report-config-is-a-folder", ["report", "--config", "params"],
     "--config 'params' is a folder, not a file. Pass the report set's YAML file"),
    ("report-parameters-file-is-a-folder", ["report", "-f", "params"], "-f 'params' is a folder, not a file"),
    ("sweep-figure-is-a-folder", ["sweep-depth", "--source", "runs/source", "--figure", "params"],
     "--figure 'params' is a folder, not a file. Pass a file in a folder you can write to"),
    ("lr-find-figure-cannot-be-written", ["lr-find", "--figure", "params/list.yaml/lr.html"],
     "--figure 'params/list.yaml/lr.html' cannot be written: 'params/list.yaml' is a file, not a folder."),
]


@pytest.mark.parametrize(("arguments", "fragment"), [case[1:] for case in CLI_CASES],
                         ids=[case[0] for case in CLI_CASES])
def test_cli_bad_input_exits_2_with_one_paragraph_and_writes_or_loses_nothing(
        workspace: Path, monkeypatch, capsys, arguments: list[str], fragment: str) -> None:
    before = snapshot(workspace)
    code, _, stderr = call_cli(arguments, workspace, monkeypatch, capsys)
    assert code == 2, stderr
    assert fragment in error_paragraph(stderr)
    assert snapshot(workspace) == before  # nothing new, the source runs and data untouched


REPORT_CASES = [
    ("unknown-preset", ["-p", "preset", "nowhere"],
     "parameter preset='nowhere' is not usable: Unknown task-distance preset"),
    ("budget-not-a-number", ["-p", "budgets", "[1, lots]"],
     "budgets=[1, 'lots'] holds 'lots'; allowed: whole numbers from 1"),
    ("unknown-mode", ["-p", "modes", "[structure, foo]"], "modes=['structure', 'foo'] holds 'foo'; allowed: parameter"),
    ("depths-not-a-list", ["-p", "depths", "1,2"], "depths='1,2' is not a non-empty list. Pass a YAML list"),
    ("learning-rate-not-a-number", ["-p", "learning_rate", "abc"], "learning_rate='abc' is not a number"),
    ("seeds-list-with-a-word", ["-p", "seeds", "[0, x]"], "seeds=[0, 'x'] is neither a count nor a list"),
    ("parameters-file-invalid-yaml", ["-f", "params/broken.yaml"], "is not valid YAML (line 2, column 1"),
]


@pytest.mark.parametrize(("arguments", "fragment"), [case[1:] for case in REPORT_CASES],
                         ids=[case[0] for case in REPORT_CASES])
def test_report_parameters_are_refused_before_any_kernel_starts(
        workspace: Path, monkeypatch, capsys, arguments: list[str], fragment: str) -> None:
    output = workspace / "reports-out"
    code, _, stderr = call_cli(["report", "--config", str(REPORT_CONFIG), "-o", str(output), *arguments],
                               workspace, monkeypatch, capsys)
    assert code == 2, stderr
    assert fragment in error_paragraph(stderr)
    assert not output.exists()


def test_the_installed_command_prints_a_flag_error_as_one_paragraph(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "workbench.cli", "pretrain", "--epochs", "abc"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "workbench pretrain: error: argument --epochs: invalid int value: 'abc'. Run `workbench pretrain --help` "
        "for the options and examples."]
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------------------------------
# The Python API and the data folder
# ------------------------------------------------------------------------------------------------


def test_api_bad_inputs_raise_workbench_errors_before_anything_is_written(workspace: Path, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    source = str(workspace / "runs" / "source")
    with pytest.raises(ConfigError, match=r"seeds=\[0, 'x'\] is neither a count nor a list of whole numbers"):
        workbench.compare(source=source, seeds=[0, "x"], runs_dir=str(runs))
    with pytest.raises(ConfigError, match="steps=1 must be a whole number of at least 2"):
        workbench.lr_find(steps=1, runs_dir=str(runs))
    with pytest.raises(ConfigError, match="min_lr=0, max_lr=1.0 is not a range 0 < min_lr < max_lr"):
        workbench.lr_find(min_lr=0, runs_dir=str(runs))
    with pytest.raises(DataError, match=r"'.*flat'.* takes inputs of shape \(4,\).*Pick a source run trained by"):
        workbench.transfer(source=str(workspace / "runs" / "flat"), runs_dir=str(runs))
    with pytest.raises(ConfigError, match="Unknown parameter 'freez_depth'"):
        workbench.transfer(source=source, freez_depth=2, runs_dir=str(runs))
    assert not runs.exists()


@pytest.mark.parametrize(("shape", "ok"), [
    ((28, 28, 1), True), ((224, 224, 3), True),
    ((None, None, 3), False), ((32, 32, 2), False), ((32, 32, 4), False), ((4,), False), ((8, 8), False),
])
def test_only_fixed_size_grayscale_or_rgb_inputs_can_be_adapted(shape: tuple, ok: bool) -> None:
    if ok:
        assert adaptable_input_shape(shape, "The model") == shape
    else:
        with pytest.raises(DataError, match=re.escape(f"The model takes inputs of shape {shape}")):
            adaptable_input_shape(shape, "The model")


def test_stray_non_image_files_are_skipped_and_noted(tmp_path: Path) -> None:
    write_images(tmp_path / "pets" / "cat")
    write_images(tmp_path / "pets" / "dog", shade=120)
    (tmp_path / "pets" / "cat" / "README.txt").write_text("about the cats")
    (tmp_path / "pets" / "dog" / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    (tmp_path / "pets" / "notes.csv").write_text("not a class folder")
    dataset = load_dataset("folder", str(tmp_path / "pets"))
    assert dataset.class_names == ("cat", "dog")
    assert len(dataset.train_labels) + len(dataset.test_labels) == 6
    assert "2 file(s) without an image suffix skipped: cat/README.txt, dog/.DS_Store" in dataset.notes


def test_images_of_other_modes_are_converted_and_a_colour_set_stays_colour(tmp_path: Path) -> None:
    root = tmp_path / "modes"
    # The first image read (a/0.png) is grayscale: the folder must still be read as RGB.
    write_images(root / "a", mode="L")
    write_images(root / "b", shade=120)
    for name, mode in (("palette", "P"), ("alpha", "RGBA"), ("gray-alpha", "LA"), ("bilevel", "1")):
        Image.fromarray(np.full((8, 8, 3), 200, np.uint8)).convert(mode).save(root / "b" / f"{name}.png")
    Image.fromarray(np.full((8, 8, 3), 200, np.uint8)).convert("CMYK").save(root / "b" / "cmyk.jpg")
    Image.fromarray(np.full((8, 8), 40_000, np.uint16)).save(root / "a" / "deep.png")  # 16-bit grayscale
    Image.fromarray(np.full((8, 8, 3), 90, np.uint8)).save(root / "a" / "anim.gif")
    task = prepare_task(f"folder:{root}", seed=0)
    assert task.image_shape == (8, 8, 3)
    note = next(note for note in task.notes if "converted to rgb" in note)
    assert "10 image(s) in mode(s) 1, CMYK, I;16, L, LA, P, RGBA converted to rgb" == note
    deep = np.concatenate([task.train[0], task.validation[0], task.test[0]])
    assert (deep == 156).all(axis=(1, 2, 3)).any()  # 40000 / 65535 of full scale, not clipped to 255


def test_a_folder_of_grayscale_images_is_read_as_one_channel(tmp_path: Path) -> None:
    write_images(tmp_path / "digits" / "zero", mode="L")
    write_images(tmp_path / "digits" / "one", shade=120, mode="L", suffix=".jpg")
    assert load_dataset("folder", str(tmp_path / "digits")).image_shape == (8, 8, 1)


def test_images_in_sub_folders_are_checked_like_keras_reads_them(tmp_path: Path) -> None:
    write_images(tmp_path / "nested" / "a")
    write_images(tmp_path / "nested" / "b" / "more", shade=120)
    (tmp_path / "nested" / "b" / "more" / "bad.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(DataError, match=r"b/more/bad\.jpg \(not an image, or truncated\)"):
        load_dataset("folder", str(tmp_path / "nested"))


def test_report_plan_refuses_bad_sweep_values_naming_the_notebook() -> None:
    with pytest.raises(reports.ReportError, match=r"Notebook 03_freeze_depth: parameter depths=\[0, -1\]"):
        reports.plan_reports(REPORT_CONFIG, parameters={"depths": [0, -1]})
    with pytest.raises(reports.ReportError, match="Notebook 04_label_budget: parameter budgets=\\[0\\]"):
        reports.plan_reports(REPORT_CONFIG, parameters={"budgets": [0]})
    plan = reports.plan_reports(REPORT_CONFIG, parameters={"preset": "far", "budgets": [1, "all"], "depths": [0, 4]})
    assert {notebook.name for notebook in plan.notebooks} >= {"03_freeze_depth", "04_label_budget"}


# ------------------------------------------------------------------------------------------------
# The panel: the message area, no traceback, the panel stays usable
# ------------------------------------------------------------------------------------------------

PANEL_TIMEOUT = 90


@pytest.fixture
def panel_runs(workspace: Path, tmp_path: Path) -> Path:
    runs = tmp_path / "runs"
    shutil.copytree(workspace / "runs" / "source", runs / "source")
    return runs


def test_panel_shows_an_empty_class_folder_in_its_message_area(panel_runs: Path, workspace: Path) -> None:
    panel = workbench.panel(runs_dir=panel_runs, epochs=1, per_class=2, task="mnist-5k:5-9")
    panel.task_text.value = f"folder:{workspace / 'data' / 'empty-class'}"
    panel.start_button.click()
    assert panel.wait(timeout=PANEL_TIMEOUT)
    assert "holds no images" in panel.message.value and "empty-class/b" in panel.message.value
    assert "traceback" not in panel.message.value.lower() and not panel.running
    assert sorted(path.name for path in panel_runs.iterdir()) == ["source"]


def test_panel_refuses_a_pretrain_name_that_exists_and_keeps_the_run(panel_runs: Path) -> None:
    before = snapshot(panel_runs)
    panel = workbench.panel(runs_dir=panel_runs, epochs=1, per_class=2, pretrain_epochs=1, pretrain_per_class=2)
    panel.pretrain_name.value = "source"
    panel.pretrain_button.click()
    assert panel.wait(timeout=PANEL_TIMEOUT)
    assert "already exists. Pass another --name, or --overwrite" in panel.message.value
    assert "traceback" not in panel.message.value.lower()
    panel.pretrain_name.value = "../elsewhere"
    panel.pretrain_button.click()
    assert "name=&#x27;../elsewhere&#x27; is not a usable run directory name" in panel.message.value
    assert snapshot(panel_runs) == before


def test_panel_explains_a_source_with_a_lambda_layer(workspace: Path, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    shutil.copytree(workspace / "runs" / "lambda", runs / "lambda")
    panel = workbench.panel(runs_dir=runs, epochs=1)
    assert "holds a Lambda layer (or other arbitrary code), which Keras&#x27; safe mode refuses" in panel.message.value
    assert "traceback" not in panel.message.value.lower()
    assert panel.freeze_slider.disabled and not panel.start_button.disabled


# ------------------------------------------------------------------------------------------------
# HTML: user strings are escaped in the index, report headers, tables, figures and Markdown
# ------------------------------------------------------------------------------------------------


def assert_escaped(page: str, *raw: str) -> None:
    """No raw tag from `raw` is in `page`; each one's escaped form is."""
    import html

    for text in raw:
        assert html.escape(text) in page or html.escape(text, quote=False) in page, text
    assert "<script>alert" not in page and "<img" not in page and "onerror=alert(1)>" not in page


def test_index_and_report_header_escape_every_user_string() -> None:
    failed = reports.NotebookResult(
        "02_x", SCRIPT_TAG, "failed", 2.0,
        {"target_task": f"folder:/data/{SCRIPT_TAG}", "source_run": CLASS_NAMES[1], "output_dir": "/out"},
        metrics={CLASS_NAMES[0]: {"mean": 0.5, "sd": 0.1, "n": 3}},
        error={"ename": "DataError", "evalue": f"Class {CLASS_NAMES[1]!r} is not a class", "cell": 4,
               "source": f'workbench.transfer(task="{SCRIPT_TAG}")'})
    info = {"generated": SCRIPT_TAG, "seconds": 2.0, "kernel": CLASS_NAMES[1], "versions": {"plotly": SCRIPT_TAG},
            "config": SCRIPT_TAG, "command": f"workbench report -p target_task '{SCRIPT_TAG}'",
            "notes": [f"kernel {CLASS_NAMES[1]} was provided"]}
    page = reports.format_index_html([failed], info)
    assert_escaped(page, SCRIPT_TAG, CLASS_NAMES[1])
    assert "<script" not in page  # the index is static HTML: no script at all
    header = reports.report_header(failed)
    assert_escaped(header, f"folder:/data/{SCRIPT_TAG}", CLASS_NAMES[1])


def test_figures_show_class_and_run_names_literally_instead_of_as_html() -> None:
    import plotly.io as pio

    confusion = figures.plot_confusion_matrix([[2, 0], [1, 1]], CLASS_NAMES)
    samples = figures.plot_sample_predictions(np.zeros((2, 8, 8, 3), np.uint8), [0, 1], [1, 1], CLASS_NAMES)
    curves = figures.plot_learning_curves({SCRIPT_TAG: [{"epoch": 1, "accuracy": 0.5, "val_accuracy": 0.4}]})
    comparison = figures.plot_comparison(
        [{"label": CLASS_NAMES[1], "mean": 0.5, "sd": 0.1, "n": 2, "values": [0.4, 0.6]}])
    assert list(confusion.data[0].x) == ["&lt;script&gt;alert(1)", "&lt;img src=x onerror=alert(1)&gt;"]
    assert samples.layout.annotations[0].text == "&lt;script&gt;alert(1) → &lt;img src=x onerror=alert(1)&gt;"
    assert samples.layout.annotations[1].font.color == figures.CORRECT_COLOR  # compared on the raw names
    assert curves.data[0].name.startswith("&lt;script&gt;alert(1)&lt;/script&gt;")
    assert comparison.layout.xaxis.ticktext == ("&lt;img src=x onerror=alert(1)&gt;",)
    for figure in (confusion, samples, curves, comparison):
        page = pio.to_html(figure, include_plotlyjs=False, full_html=False)
        assert "alert(1)" in page and "<script>alert" not in page and "<img" not in page


def test_markdown_prose_escapes_html_outside_code_and_code_spans_cannot_be_broken() -> None:
    task = "folder:/d/a`" + SCRIPT_TAG
    prose = notebook_support.markdown(f"Target folder:/d/{CLASS_NAMES[1]}, task {notebook_support.code_span(task)}")
    assert prose.data == ("Target folder:/d/&lt;img src=x onerror=alert(1)&gt;, "
                          "task ``folder:/d/a`<script>alert(1)</script>``")
    from nbconvert.filters.markdown import markdown2html

    rendered = markdown2html(prose.data)
    assert "<img" not in rendered and "<script>" not in rendered and "&lt;script&gt;alert(1)" in rendered


def test_a_class_named_like_a_tag_appears_escaped_in_the_tasks_table(tmp_path: Path) -> None:
    root = tmp_path / "<script>alert(1)<" / "script>"
    for shade, name in enumerate(CLASS_NAMES):
        write_images(root / name, count=10, shade=100 * shade)
    rows = notebook_support.describe_tasks(f"folder:{root}", f"folder:{root}", per_class=2)
    assert rows[0]["classes"] == f"{CLASS_NAMES[1]}, {CLASS_NAMES[0]}" and SCRIPT_TAG in rows[0]["task"]
    table = reports.format_table_html(rows, caption="Tasks")
    assert_escaped(table, SCRIPT_TAG, CLASS_NAMES[1])


# ------------------------------------------------------------------------------------------------
# End to end: a real report over class folders named like tags, opened in headless Chromium
# ------------------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.browser
def test_a_report_over_tag_named_classes_runs_no_script_in_chromium(
        tmp_path: Path, monkeypatch, capsys, chromium_executable: str, chromium_arguments: list[str]) -> None:
    from playwright.sync_api import sync_playwright

    root = tmp_path / "<script>alert(1)<" / "script>"  # the task text holds the exact `<script>alert(1)</script>`
    for shade, name in enumerate(CLASS_NAMES):
        write_images(root / name, count=8, shade=150 * shade)
    task = f"folder:{root}"
    assert SCRIPT_TAG in task
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({
        "timeout": 300, "output_dir": "out",
        "parameters": {"source_task": task, "target_task": task, "per_class": 2, "source_epochs": 1,
                       "sample_count": 4, "batch_size": 8},
        "notebooks": [{"path": str(REPOSITORY / "notebooks" / "01_pretrain_source.ipynb")}],
    }))
    code, _, stderr = call_cli(["report", "--config", str(config), "--no-log-output"], tmp_path, monkeypatch, capsys)
    assert code == 0, stderr
    report = tmp_path / "out" / "01_pretrain_source" / "01_pretrain_source.html"
    index = tmp_path / "out" / "index.html"
    assert "<img src=x" not in report.read_text() and "<script>alert" not in report.read_text()
    assert "<script" not in index.read_text() and "<img" not in index.read_text()

    dialogs: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_executable, args=chromium_arguments,
                                             headless=True)
        try:
            page = browser.new_page()
            page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
            page.goto(report.as_uri())
            page.wait_for_function("document.querySelectorAll('.js-plotly-plot svg.main-svg').length >= 3",
                                   timeout=30_000)
            found = page.evaluate("""() => ({
                injected: document.querySelectorAll('img[src="x"], [onerror]').length,
                text: document.body.innerText,
                ticks: Array.from(document.querySelectorAll('.xtick text')).map(tick => tick.textContent),
            })""")
            assert found["injected"] == 0
            assert f"{CLASS_NAMES[1]}, {CLASS_NAMES[0]}" in found["text"]  # the tasks table, shown as typed
            assert set(CLASS_NAMES) <= set(found["ticks"])  # the confusion matrix axis, shown as typed
            page.goto(index.as_uri())
            text = page.evaluate("() => document.body.textContent")
            assert page.evaluate("() => document.querySelectorAll('script, img, [onerror]').length") == 0
            assert f"source_task{task}" in text.replace("\n", "")
        finally:
            browser.close()
    assert dialogs == []


# ------------------------------------------------------------------------------------------------
# make lab: 127.0.0.1 and a token
# ------------------------------------------------------------------------------------------------


def test_make_lab_binds_to_localhost_behind_a_random_token(tmp_path: Path) -> None:
    """Runs the real `lab` recipe with a stand-in `jupyter` that prints its arguments."""
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python").symlink_to(sys.executable)
    (bin_dir / "jupyter").write_text("#!/bin/sh\nfor argument in \"$@\"; do echo \"arg: $argument\"; done\n")
    (bin_dir / "jupyter").chmod(0o755)
    stamp = tmp_path / "installed"
    stamp.touch()  # newer than pyproject.toml: `setup` has nothing to do
    environment = {key: value for key, value in os.environ.items() if key not in ("LAB_TOKEN", "LAB_PORT")}

    def lab(**extra: str) -> str:
        result = subprocess.run(["make", "--no-print-directory", "lab", f"BIN={bin_dir}", f"STAMP={stamp}"],
                                cwd=REPOSITORY, env={**environment, **extra}, capture_output=True, text=True,
                                timeout=60)
        assert result.returncode == 0, result.stderr
        return result.stdout

    output = lab()
    arguments = [line[len("arg: "):] for line in output.splitlines() if line.startswith("arg: ")]
    assert "--ServerApp.ip=127.0.0.1" in arguments
    token = next(argument.split("=", 1)[1] for argument in arguments
                 if argument.startswith("--IdentityProvider.token="))
    assert re.fullmatch(r"[0-9a-f]{48}", token)
    assert f"http://127.0.0.1:8888/lab/tree/notebooks/00_workbench.ipynb?token={token}" in output
    assert not any("0.0.0.0" in argument or argument in ("--ip=*", "--ServerApp.token=") for argument in arguments)
    assert token not in lab()  # a fresh token each time
    assert "--IdentityProvider.token=chosen" in lab(LAB_TOKEN="chosen")
    assert re.search(r"--IdentityProvider\.token=[0-9a-f]{48}", lab(LAB_TOKEN=""))  # empty is not a token
