"""HTML: code hidden, plotly.js inline once, nothing loaded from the network.

`render_html` turns an executed notebook into one self-contained page; `report_header` is the
block at its top; `format_table_html` draws the small tables reports and the index share.
"""

from __future__ import annotations

import datetime
import html
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.formatting import format_cell
from workbench.reports.plan import MANAGED_PARAMETERS, notebook_title

if TYPE_CHECKING:
    from workbench.reports.execute import NotebookResult

# Extends JupyterLab's template. The blocks emptied here are the ones that load scripts from a CDN
# (require.js, MathJax, mermaid, the widget manager); plotly.js goes inline into <head> instead,
# once, before every figure's `Plotly.newPlot` call.
REPORT_TEMPLATE = """\
{%- extends 'index.html.j2' -%}
{%- block html_head_js -%}
<script type="text/javascript">{{ resources.plotly_js }}</script>
{%- endblock html_head_js -%}
{% block jupyter_widgets %}{% endblock jupyter_widgets %}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{% block extra_css %}
<style type="text/css">
.workbench-header { margin: 1em 2em 0 2em; font-family: var(--jp-ui-font-family); font-size: 14px; }
.workbench-header .status-ok { color: #1a7f37; font-weight: bold; }
.workbench-header .status-failed { color: #cf222e; font-weight: bold; }
.workbench-table { border-collapse: collapse; margin: 0.5em 0; font-size: 13px; }
.workbench-table th, .workbench-table td { border: 1px solid #d0d7de; padding: 3px 8px; text-align: left; }
.workbench-table caption { text-align: left; font-weight: bold; padding: 4px 0; }
</style>
{% endblock extra_css %}
{%- block body_header -%}
{{ super() }}
{{ resources.workbench_header }}
{%- endblock body_header -%}
"""


def local_timestamp() -> str:
    """Now, in the local time zone, to the second: the "generated" date of reports and the index."""
    return datetime.datetime.now().astimezone().isoformat(timespec="seconds")


def report_header(result: NotebookResult) -> str:
    """The block at the top of a report: status, date, links and the parameters it ran with."""
    status_class = "status-ok" if result.ok else "status-failed"
    error = ""
    if result.error:
        where = f" in cell In [{result.error['cell']}]" if result.error.get("cell") else ""
        error = f"<p class=\"status-failed\">{html.escape(result.error['ename'])}{where}: {html.escape(result.error['evalue'])}</p>"
    rows = [{"parameter": name, "value": value} for name, value in result.parameters.items()
            if name not in MANAGED_PARAMETERS]
    return (
        '<div class="workbench-header">'
        f'<p><a href="../index.html">← all reports</a> · status <span class="{status_class}">{html.escape(result.status)}</span>'
        f" · generated {html.escape(local_timestamp())} · {result.seconds:.0f} s"
        f' · <a href="{html.escape(result.name)}.ipynb">executed notebook</a></p>{error}'
        f"<details><summary>Parameters</summary>{format_table_html(rows)}</details></div>"
    )


def render_html(executed_path: Path, html_path: Path, header: str = "") -> Path:
    """Render an executed notebook to one self-contained HTML file that works offline.

    Code cells, prompts and stderr streams are left out (the reader wants results; the executed
    notebook keeps everything). plotly.js is embedded once, in `<head>`; require.js, MathJax and
    mermaid, which the stock template loads from a CDN, are not referenced at all.
    """
    import jinja2
    import nbformat
    from nbconvert import HTMLExporter
    from plotly.offline import get_plotlyjs

    notebook = nbformat.read(executed_path, as_version=4)
    kept = []
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs = [output for output in cell.get("outputs", [])
                            if not (output.get("output_type") == "stream" and output.get("name") == "stderr")]
            if not cell.outputs:
                continue  # a code cell without output would leave an empty box
        kept.append(cell)
    notebook.cells = kept
    exporter = HTMLExporter(
        template_name="lab",
        extra_loaders=[jinja2.DictLoader({"workbench_report.html.j2": REPORT_TEMPLATE})],
        template_file="workbench_report.html.j2",
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
    )
    resources = {"metadata": {"name": notebook_title(executed_path)},
                 "plotly_js": get_plotlyjs(), "workbench_header": header}
    body, _ = exporter.from_notebook_node(notebook, resources=resources)
    html_path.write_text(body, encoding="utf-8")
    return html_path


def format_table_html(rows: Sequence[Mapping[str, Any]], caption: str | None = None) -> str:
    """Rows of dicts as an HTML table (columns in the first row's order), values escaped.

    Args:
        rows: one dict per table row; every row should have the same keys.
        caption: optional caption above the table. Defaults to none.

    Returns:
        A `<table>` element as a string ("" for no rows).
    """
    if not rows:
        return ""
    columns = list(rows[0])
    parts = ['<table class="workbench-table">']
    if caption:
        parts.append(f"<caption>{html.escape(caption)}</caption>")
    parts.append("<thead><tr>" + "".join(f"<th>{html.escape(str(column))}</th>" for column in columns) + "</tr></thead>")
    parts.append("<tbody>")
    for row in rows:
        cells = "".join(f"<td>{html.escape(format_cell(row.get(column)))}</td>" for column in columns)
        parts.append(f"<tr>{cells}</tr>")
    parts.append("</tbody></table>")
    return "".join(parts)
