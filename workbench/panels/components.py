"""Widget pieces every part of the panel uses: section headers, figure boxes, accordions, the
live-curves figure, and replacing a FigureWidget's figure in place."""

from __future__ import annotations

import html
from collections.abc import Sequence

import ipywidgets as widgets
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from workbench import figures

LABEL_STYLE = {"description_width": "9em"}


def wide_layout() -> widgets.Layout:
    """The layout of a long text box or slider."""
    return widgets.Layout(width="34em")


def short_layout() -> widgets.Layout:
    """The layout of a number box."""
    return widgets.Layout(width="15em")


def header(text: str) -> widgets.HTML:
    """A section title inside the panel."""
    return widgets.HTML(f"<h4 style='margin:10px 0 2px 0'>{html.escape(text)}</h4>")


def figure_box(figure: go.FigureWidget, css_class: str) -> widgets.Box:
    """A FigureWidget in a block box with a CSS hook (for browser tests and custom styling)."""
    return widgets.Box([figure], layout=widgets.Layout(display="block")).add_class(css_class)


def accordion(children: Sequence[widgets.Widget], title: str) -> widgets.Accordion:
    """A collapsed section holding `children` one under the other."""
    section = widgets.Accordion(children=[widgets.VBox(list(children))])
    section.set_title(0, title)
    return section


def placeholder_figure(text: str, title: str, height: int) -> go.FigureWidget:
    """A FigureWidget that says what will appear in it (e.g. "No sweep yet")."""
    figure = go.FigureWidget(figures.empty_figure(text, title=title))
    figure.update_layout(height=height)
    return figure


CURVES_TITLE = "Accuracy and loss per epoch (dashed = train, solid = validation)"


def make_curve_figure(title: str = CURVES_TITLE) -> go.FigureWidget:
    """An empty accuracy | loss FigureWidget that `LiveCurves` draws runs into."""
    figure = make_subplots(rows=1, cols=2, subplot_titles=("Accuracy", "Loss"), horizontal_spacing=0.08)
    figure.update_xaxes(title={"text": "Epoch"}, rangemode="tozero")
    figure.update_yaxes(title={"text": "Accuracy"}, range=[0, 1.02], row=1, col=1)
    figure.update_yaxes(title={"text": "Loss"}, rangemode="tozero", row=1, col=2)
    figure.update_layout(template=figures.TEMPLATE, title={"text": title, "font": {"size": 14}}, height=380,
                         margin={"l": 50, "r": 20, "t": 60, "b": 40},
                         legend={"orientation": "h", "y": -0.2, "groupclick": "togglegroup"})
    return go.FigureWidget(figure)


def replace_figure(widget: go.FigureWidget, figure: go.Figure) -> None:
    """Show another figure in a FigureWidget, in place (the widget stays where it is displayed)."""
    widget.data = ()
    # Assigning a layout only sends the keys it sets, and the browser merges them into the old
    # layout; clear the old keys first so that e.g. a "no data yet" annotation does not linger.
    stale = {key: None for key in widget.layout.to_plotly_json() if key != "template"}
    if stale:
        widget.plotly_relayout(stale)
    widget.add_traces(figure.data)
    widget.layout = figure.layout
