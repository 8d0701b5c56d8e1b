"""What a transfer moved: frozen and trainable parameters per block, from the weight-transfer report.

The engine's weight-transfer report is `{"layers": [{"layer", "block", "action", "reason",
"trainable", "params"}], "trainable_params", "frozen_params"}`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import plotly.graph_objects as go

from workbench.figures.style import FROZEN_COLOR, TEMPLATE, TRAINABLE_COLOR, empty_figure, plain_text


def summarize_blocks(layers: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Sums frozen and trainable parameters per block, in order of first appearance.

    Args:
        layers: The "layers" list of a weight-transfer report; each has "layer", "block",
            "action", "reason", "trainable" and "params". Rows of layers a structure edit cut
            (action "cut") are left out.

    Returns:
        One dict per block: {"block", "frozen_params", "trainable_params", "layers"}, where
        "layers" holds that block's layer dicts in report order.
    """
    blocks: dict[str, dict[str, Any]] = {}
    for layer in layers:
        if layer.get("action") == "cut":
            continue  # a structure edit removed it: its parameters are in neither network part that trains
        block_name = str(layer.get("block", "(no block)"))
        block = blocks.setdefault(
            block_name,
            {"block": block_name, "frozen_params": 0, "trainable_params": 0, "layers": []},
        )
        params = int(layer.get("params", 0) or 0)
        block["trainable_params" if layer.get("trainable", True) else "frozen_params"] += params
        block["layers"].append(dict(layer))
    return list(blocks.values())


def _describe_block(block: Mapping[str, Any]) -> str:
    """Hover text for one block: one line per layer with its transfer action."""
    lines = [f"<b>{plain_text(block['block'])}</b>"]
    for layer in block["layers"]:
        state = "trainable" if layer.get("trainable", True) else "frozen"
        line = (
            f"{plain_text(layer.get('layer', '?'))}: {plain_text(layer.get('action', '?'))}, {state}, "
            f"{int(layer.get('params', 0) or 0):,} params"
        )
        if layer.get("reason"):
            line += f" ({plain_text(layer['reason'])})"
        lines.append(line)
    return "<br>".join(lines)


def plot_transfer_report(report: Mapping[str, Any], heading: str = "Weight transfer") -> go.Figure:
    """Plots frozen vs trainable parameters per block as horizontal stacked bars.

    Args:
        report: The engine's weight-transfer report: {"layers": [{"layer", "block", "action",
            "reason", "trainable", "params"}], "trainable_params", "frozen_params"}.
        heading: What the title says before the parameter counts, e.g. "Parameter (freeze 2)
            transfer, seed 0". Defaults to "Weight transfer".

    Returns:
        A figure with a "frozen" and a "trainable" bar trace, one bar per block (first block on
        top); hovering a bar lists each layer's action (copied, re-initialised, ...).
    """
    blocks = summarize_blocks(report.get("layers", []))
    trainable_total = int(report.get("trainable_params", sum(b["trainable_params"] for b in blocks)))
    frozen_total = int(report.get("frozen_params", sum(b["frozen_params"] for b in blocks)))
    title = f"{heading}: {trainable_total:,} trainable, {frozen_total:,} frozen parameters"
    if not blocks:
        return empty_figure("No weight-transfer report yet", title=heading)
    block_names = [plain_text(block["block"]) for block in blocks]
    hover_texts = [_describe_block(block) for block in blocks]
    figure = go.Figure()
    for state, key, color in (
        ("frozen", "frozen_params", FROZEN_COLOR),
        ("trainable", "trainable_params", TRAINABLE_COLOR),
    ):
        figure.add_trace(
            go.Bar(
                x=[block[key] for block in blocks],
                y=block_names,
                orientation="h",
                name=state,
                marker={"color": color},
                hovertext=hover_texts,
                hovertemplate=f"%{{hovertext}}<br><b>{state}: %{{x:,}} params</b><extra></extra>",
            )
        )
    figure.update_layout(
        template=TEMPLATE,
        title={"text": title},
        barmode="stack",
        xaxis={"title": {"text": "Parameters"}, "rangemode": "tozero"},
        # Reversed so the input block is on top, reading down the network like a summary().
        yaxis={"title": {"text": "Block"}, "type": "category", "autorange": "reversed"},
        legend={"traceorder": "normal"},
        height=max(300, 140 + 32 * len(blocks)),
    )
    return figure
