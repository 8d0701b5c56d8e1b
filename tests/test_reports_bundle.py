"""`workbench report --bundle FILE.zip`: the index, every report, its notebook and metrics.json in one zip
that opens offline after unzipping, with plotly.js once for the whole bundle and no runs or models."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
from report_helpers import (
    EXPECTED_FIGURES,
    REPORT_NOTEBOOKS,
    build_quick_reports,
    files_under,
    make_tiny_report_set,
    network_references,
    plotly_figures,
)

from workbench.cli import main
from workbench.errors import ReportError
from workbench.reports.bundle import bundle_members, write_bundle

PLOTLY_BANNER = "* plotly.js v"


def unzip(bundle: Path, folder: Path) -> Path:
    with zipfile.ZipFile(bundle) as archive:
        archive.extractall(folder)
    return folder


def local_script_only(page: str, depth: int = 1) -> list[str]:
    """The page's network references other than the bundle's own plotly.min.js."""
    own = f'src="{"../" * depth}plotly.min.js'
    return [reference for reference in network_references(page) if not reference.endswith(own)]


@pytest.fixture(scope="module")
def quick_reports(tmp_path_factory: pytest.TempPathFactory):
    return build_quick_reports(tmp_path_factory)


@pytest.fixture(scope="module")
def quick_bundle(quick_reports, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The quick report set bundled and unzipped: (the zip, the unzipped top folder)."""
    folder = tmp_path_factory.mktemp("bundle")
    bundle = write_bundle(quick_reports.output_dir, folder / "shared-reports.zip")
    return bundle.path, unzip(bundle.path, folder / "unzipped") / "shared-reports"


@pytest.mark.slow
def test_the_bundle_holds_every_report_and_no_runs_or_models(quick_reports, quick_bundle) -> None:
    _, unzipped = quick_bundle
    files = files_under(unzipped)
    expected = {"index.html", "index.json", "plotly.min.js"}
    for name in REPORT_NOTEBOOKS:
        expected |= {f"{name}/{name}.html", f"{name}/{name}.ipynb", f"{name}/metrics.json"}
    assert set(files) == expected
    assert (quick_reports.output_dir / "runs").is_dir()  # the set has runs and models: they stayed out
    assert not [name for name in files if "runs/" in name or name.endswith((".keras", ".npz", ".log"))]
    for name in REPORT_NOTEBOOKS:
        original = quick_reports.output_dir / name / "metrics.json"
        assert (unzipped / name / "metrics.json").read_bytes() == original.read_bytes()
    assert json.loads((unzipped / "index.json").read_text())["reports"] == quick_reports.index()["reports"]


@pytest.mark.slow
def test_bundled_pages_load_plotly_once_from_the_bundle_and_keep_their_figures(quick_reports, quick_bundle) -> None:
    bundle_path, unzipped = quick_bundle
    copies = 0
    for path in unzipped.rglob("*"):
        if path.is_file() and path.suffix in (".html", ".js"):
            copies += path.read_text(encoding="utf-8").count(PLOTLY_BANNER)
    assert copies == 1 and PLOTLY_BANNER in (unzipped / "plotly.min.js").read_text()
    for name in REPORT_NOTEBOOKS:
        page = (unzipped / name / f"{name}.html").read_text(encoding="utf-8")
        assert '<script type="text/javascript" src="../plotly.min.js"></script>' in page
        assert local_script_only(page) == [], name
        assert len(plotly_figures(page)) == EXPECTED_FIGURES[name] == len(plotly_figures(quick_reports.html(name)))
    assert local_script_only((unzipped / "index.html").read_text(), depth=0) == []
    pages = sum(quick_reports.html_path(name).stat().st_size for name in REPORT_NOTEBOOKS)
    assert bundle_path.stat().st_size < pages / 5  # five copies of plotly.js became one, compressed


@pytest.mark.slow
@pytest.mark.browser
def test_bundled_reports_draw_offline_in_headless_chromium(quick_bundle, chromium_executable, chromium_arguments):
    from playwright.sync_api import sync_playwright

    _, unzipped = quick_bundle
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_executable, args=chromium_arguments,
                                             headless=True)
        context = browser.new_context()
        refused: list[str] = []
        context.route("http://**/*", lambda route: (refused.append(route.request.url), route.abort()))
        context.route("https://**/*", lambda route: (refused.append(route.request.url), route.abort()))
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        try:
            page.goto((unzipped / "index.html").as_uri())
            page.get_by_role("link", name="Transfer modes: parameter, feature and structure transfer").click()
            for name in REPORT_NOTEBOOKS:
                page.goto((unzipped / name / f"{name}.html").as_uri())
                expected = EXPECTED_FIGURES[name]
                page.wait_for_function(
                    f"document.querySelectorAll('.js-plotly-plot svg.main-svg').length >= {expected}", timeout=30_000)
                drawn = page.evaluate("() => Array.from(document.querySelectorAll('.js-plotly-plot')).map("
                                      "plot => plot.querySelectorAll('svg .trace, svg .hm, svg image').length)")
                assert len(drawn) == expected and min(drawn) >= 1, (name, drawn)
        finally:
            browser.close()
    assert refused == [] and errors == []


def test_report_bundle_option_packs_the_set_even_when_a_notebook_failed(tmp_path: Path, capsys) -> None:
    config = make_tiny_report_set(tmp_path / "set")
    bundle = tmp_path / "shared" / "tiny.zip"
    code = main(["report", "--config", str(config), "--no-log-output", "--bundle", str(bundle)])
    assert code == 1  # `broken` failed; the bundle is still written, failure included
    assert "bundle: " in capsys.readouterr().err
    unzipped = unzip(bundle, tmp_path / "unzipped") / "tiny"
    files = files_under(unzipped)
    assert "broken/broken.ipynb" in files and "first/first.html" in files and "after/after.html" in files
    assert "plotly.min.js" in files and not [name for name in files if name.endswith("kernel.log")]
    index = json.loads((unzipped / "index.json").read_text())
    assert {entry["name"]: entry["status"] for entry in index["reports"]}["broken"] == "failed"
    page = (unzipped / "first" / "first.html").read_text()
    assert local_script_only(page) == [] and len(plotly_figures(page)) == 1
    assert [path.name for path in bundle.parent.iterdir()] == ["tiny.zip"]  # no temporary file left


@pytest.mark.parametrize("given, message", [
    ("a-folder", "--bundle 'a-folder' is a folder, not a file"),
    ("reports.tar", "--bundle 'reports.tar' is not a .zip file name"),
    ("a-file/reports.zip", "--bundle 'a-file/reports.zip' cannot be written: 'a-file' is a file, not a folder"),
])
def test_a_bad_bundle_path_is_refused_before_any_notebook_runs(tmp_path: Path, monkeypatch, capsys, given, message):
    config = make_tiny_report_set(tmp_path / "set")
    (tmp_path / "a-folder").mkdir()
    (tmp_path / "a-file").write_text("x")
    monkeypatch.chdir(tmp_path)
    assert main(["report", "--config", str(config), "--bundle", given]) == 2
    error = capsys.readouterr().err
    assert error.startswith("workbench report: error: ") and message in error and "e.g. --bundle reports.zip" in error
    assert not (config.parent / "out").exists()  # no notebook ran, no index was written


def test_bundling_a_folder_without_an_index_says_what_to_pass(tmp_path: Path) -> None:
    with pytest.raises(ReportError, match="holds no index.json, so there is no report set to bundle"):
        write_bundle(tmp_path, tmp_path / "reports.zip")
    assert not (tmp_path / "reports.zip").exists()


def test_an_index_listing_run_files_is_not_bundled() -> None:
    index = {"reports": [{"name": "02", "files": {"html": "02/02.html", "metrics": "runs/source/model.keras"}}]}
    with pytest.raises(ReportError, match="never holds"):
        bundle_members(index)
    ok = {"reports": [{"name": "02", "files": {"html": "02/02.html", "notebook": "02/02.ipynb"}},
                      {"name": "03", "files": {"notebook": "03/03.ipynb"}}]}  # 03 failed before rendering
    assert bundle_members(ok) == ["index.html", "index.json", "02/02.html", "02/02.ipynb", "03/03.ipynb"]
