"""A real browser opens the generated reports offline and the plotly figures draw.

Debian's Chromium runs headless through Playwright; every http(s) request is refused and
recorded, so a report that needed the network would show up here twice: as a request and as a
figure that never draws. Skips with the reason where Chromium is absent (`.ci/run` installs it).
"""

from __future__ import annotations

import pytest
from report_helpers import EXPECTED_FIGURES, REPORT_NOTEBOOKS, build_quick_reports

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# For each plotly graph div: does it hold plotly's SVG, how many traces did plotly lay out, and
# how many drawn trace elements (scatter/bar groups, heatmap, image layers) are in it.
DRAWN_FIGURES_SCRIPT = """() => Array.from(document.querySelectorAll('.js-plotly-plot')).map(plot => ({
    id: plot.id,
    svg: plot.querySelectorAll('svg.main-svg').length,
    traces: (plot._fullData || []).length,
    drawn: plot.querySelectorAll('svg .trace, svg .hm, svg image, svg .imagelayer > *').length,
    height: plot.getBoundingClientRect().height,
}))"""


@pytest.fixture(scope="module")
def quick_reports(tmp_path_factory: pytest.TempPathFactory):
    return build_quick_reports(tmp_path_factory)


@pytest.fixture(scope="module")
def chromium(chromium_executable: str, chromium_arguments: list[str]):
    """One headless Chromium for this module's tests: each test gets a browser context of its own."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_executable, args=chromium_arguments, headless=True)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def browser_page(chromium):
    """A page in a fresh context (no cookies, cache or storage shared with another test) with the
    network cut off; yields (page, refused requests, page errors)."""
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    refused: list[str] = []
    errors: list[str] = []

    def refuse(route) -> None:
        refused.append(route.request.url)
        route.abort()

    context.route("http://**/*", refuse)
    context.route("https://**/*", refuse)
    page = context.new_page()
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        yield page, refused, errors
    finally:
        context.close()


@pytest.mark.parametrize("name", REPORT_NOTEBOOKS)
def test_report_figures_draw_offline_in_headless_chromium(quick_reports, browser_page, tmp_path, name):
    page, refused, errors = browser_page
    page.goto(quick_reports.html_path(name).as_uri())
    expected = EXPECTED_FIGURES[name]
    page.wait_for_function(
        f"document.querySelectorAll('.js-plotly-plot svg.main-svg').length >= {expected}", timeout=30_000)
    drawn = page.evaluate(DRAWN_FIGURES_SCRIPT)
    assert len(drawn) == expected
    for figure in drawn:
        assert figure["svg"] >= 1 and figure["traces"] >= 1 and figure["drawn"] >= 1, figure
        assert figure["height"] > 200, figure  # not collapsed to an empty strip
    screenshot = tmp_path / f"{name}.png"
    page.screenshot(path=str(screenshot), full_page=True)
    assert screenshot.stat().st_size > 20_000
    assert refused == [] and errors == []


def test_index_opens_offline_and_links_to_the_reports(quick_reports, browser_page, tmp_path):
    page, refused, errors = browser_page
    page.goto((quick_reports.output_dir / "index.html").as_uri())
    assert page.locator("section .status-ok").count() == len(REPORT_NOTEBOOKS)
    page.get_by_role("link", name="Transfer modes: parameter, feature and structure transfer").click()
    page.wait_for_function("document.querySelectorAll('.js-plotly-plot svg.main-svg').length >= 1", timeout=30_000)
    assert page.url.endswith("02_transfer_modes/02_transfer_modes.html")
    page.screenshot(path=str(tmp_path / "index-then-report.png"))
    assert refused == [] and errors == []
