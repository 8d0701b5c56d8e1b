"""What the architecture view's controls do, before anything trains: plain values in, plain values out.

No widgets here (`panels/structure.py` holds them and only calls these): a control action becomes
edit text (`apply_edit`), the source's blocks become the view's rows (`block_rows`), and the edited
network's weight-transfer report becomes the preview's rows (`structure_rows`). The spec itself (its
forms, parsing and canonical text) is `workbench.structure`'s; the preview is `transfer_model`'s
own report, so it shows exactly what Start will build.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from typing import Any

from workbench.config import RunConfig
from workbench.models import HEAD_BLOCK, Block, count_parameters
from workbench.panels.previews import LayerPlan
from workbench.panels.summaries import html_table
from workbench.structure import format_edits, parse_edits
from workbench.transfer_modes import freeze_blocks, resolve_freeze_depth, structure_summary, transfer_model_for

APPEND_SIZES = {"dense": 64, "dropout": 0.5, "conv": 32}  # what the size box starts at for each kind
STRUCTURE_COLUMNS = ("layer", "block", "edit", "weights", "state", "params")
OPEN_TABLE_ROWS = 40  # a preview table this long or shorter starts unfolded
GROWABLE_ARCHITECTURES = ("seed-cnn",)  # Net2Net growth (widen, deepen) is built for the seed CNN only


# -- control actions → edit text -----------------------------------------------------------------


def canonical_edits(text: str | Sequence[str] | None) -> str:
    """An edits spec in its canonical text ("cut conv2; add dense 128"); "" for no edits.

    Raises:
        ConfigError: an item that does not parse (named, with the allowed forms).
    """
    return format_edits(parse_edits(text or ""))


def _size_text(size: float) -> str:
    """128.0 → "128", 0.5 → "0.5": how a size typed in a number box reads in the spec."""
    return f"{float(size):g}"


def apply_edit(text: str, action: str, block: str | None = None, value: Any = None,
               block_names: Sequence[str] = ()) -> str:
    """The edits spec after one control action of the architecture view, in canonical text.

    Args:
        text: the current spec (canonical or typed).
        action: "cut" (keep the blocks up to `block`), "widen" (`block` to `value` units),
            "deepen" (after `block`), "add" (`value` = (kind, size)), "hidden" (head hidden
            width `value`; 0 or None removes it) or "input" (`value` = "HxWxC"; empty removes
            it). A cut, widen or deepen replaces the spec's own of that kind (for that block);
            "cut" or "deepen" on a block that already has it undoes it.
        block: the block the action names (cut, widen, deepen).
        value: the action's number or text, as above.
        block_names: the source's blocks in order; a cut drops the widen and deepen edits of
            the blocks it removes. Defaults to none.

    Returns:
        The new spec's canonical text.

    Raises:
        ConfigError: the spec or the new item does not parse (e.g. a dropout rate of 2).
    """
    edits = list(parse_edits(text or ""))
    same_block = [edit for edit in edits if edit.kind == action and edit.block == block]
    if action in ("cut", "widen", "hidden", "input"):
        edits = [edit for edit in edits if edit.kind != action or (action == "widen" and edit.block != block)]
    items = [edit.text() for edit in edits]
    if action == "cut" and not same_block:
        names = list(block_names)
        removed = set(names[names.index(block) + 1:]) if block in names else set()
        items = [f"cut {block}"] + [edit.text() for edit in edits if edit.block not in removed]
    elif action == "widen":
        items.append(f"widen {block} to {int(value)}")
    elif action == "deepen":
        items = [item for item in items if item != f"deepen after {block}"] if same_block else \
            items + [f"deepen after {block}"]
    elif action == "add":
        kind, size = value
        items.append(f"add {kind} {_size_text(size)}")
    elif action == "hidden" and value:
        items.append(f"hidden {int(value)}")
    elif action == "input" and str(value or "").strip():
        items.append(f"input {str(value).strip()}")
    elif action not in ("cut", "hidden", "input"):
        raise ValueError(f"Unknown architecture action {action!r}: cut, widen, deepen, add, hidden or input.")
    return canonical_edits(items)


def edit_setting(text: str, kind: str) -> str:
    """The value of a one-per-spec edit as the view's box shows it ("hidden 32" → "32",
    "input 28x28x1" → "28x28x1"); "" where the spec has none."""
    edit = next((edit for edit in parse_edits(text or "") if edit.kind == kind), None)
    return edit.text().split(maxsplit=1)[1] if edit is not None else ""


# -- the source's blocks, as the view lists them -------------------------------------------------


def _block_kind(layers: Sequence[Mapping[str, Any]]) -> tuple[str, int]:
    """("conv" | "dense" | "", width) of a block: its first layer with a kernel decides."""
    for layer in layers:
        if layer["weights"]:
            shape = layer["weights"][0][0]
            return {4: "conv", 2: "dense"}.get(len(shape), ""), int(shape[-1])
    return "", 0


def _shape_text(shape: Sequence[int | None]) -> str:
    return "×".join("?" if size is None else str(size) for size in shape) or "?"


def block_rows(plan: LayerPlan, text: str = "") -> list[dict[str, Any]]:
    """One row per source block for the architecture view, with what the edits do to it.

    Args:
        plan: the source's `LayerPlan`.
        text: the current edits spec (valid). Defaults to no edits.

    Returns:
        Dicts with block, layers (names), output_shape ("13×13×64"), params, kind ("conv",
        "dense" or ""), width (units or filters), growable (widen and deepen apply), head,
        cut (the block is dropped), cut_here (the last kept block), changes (the spec's items
        that name the block), status (the words the view shows), widened_to (the width a widen
        edit asks for, or None) and deepened (a deepen edit follows the block).
    """
    edits = parse_edits(text or "")
    names = plan.block_names
    cut_at = next((edit.block for edit in edits if edit.kind == "cut"), None)
    cut_index = names.index(cut_at) if cut_at in names else None
    rows = []
    for index, block in enumerate(plan.blocks):
        layers = [layer for layer in plan.layers if layer["block"] == block.name]
        kind, width = _block_kind(layers)
        head = block.name == HEAD_BLOCK
        cut = cut_index is not None and index > cut_index and not head
        changes = [edit.text() for edit in edits if edit.block == block.name]
        words = [f"widened to {edit.size}" if edit.kind == "widen" else "layer added after"
                 for edit in edits if edit.block == block.name and edit.kind in ("widen", "deepen")]
        if head:
            status = "new head" if cut_index is not None else "head"
        elif cut:
            status = "cut"
        else:
            status = ", ".join((["top (cut here)"] if block.name == cut_at else []) + words) or "kept"
        output = next((layer["output_shape"] for layer in reversed(layers) if layer.get("output_shape")), ())
        rows.append({
            "block": block.name, "layers": [layer["layer"] for layer in layers], "output_shape": _shape_text(output),
            "params": sum(math.prod(shape) for layer in layers for shape, _ in layer["weights"]),
            "kind": kind, "width": width, "head": head, "cut": cut, "cut_here": block.name == cut_at,
            "growable": plan.architecture in GROWABLE_ARCHITECTURES and kind in ("conv", "dense") and not head,
            "changes": changes, "status": status,
            "widened_to": next((edit.size for edit in edits if edit.kind == "widen" and edit.block == block.name), None),
            "deepened": any(edit.kind == "deepen" and edit.block == block.name for edit in edits),
        })
    return rows


def format_block_row(row: Mapping[str, Any]) -> str:
    """One block of the view as HTML, in fixed-width columns so the rows line up: name (struck
    through when cut), layers, output shape, parameters and what the edits do; the hover text
    holds everything, in case a column is too narrow for it."""
    color = "#CF222E" if row["cut"] else "#9A6700" if row["changes"] else "#24292F"
    decoration = "line-through" if row["cut"] else "none"
    layers = ", ".join(row["layers"])
    cells = ((f"<b style='text-decoration:{decoration}'>{html.escape(row['block'])}</b>", 4.5),
             (html.escape(layers), 9), (f"→ {html.escape(row['output_shape'])}", 7),
             (f"{row['params']:,} params", 8), (f"<i class='workbench-arch-status'>{html.escape(row['status'])}</i>", 8))
    spans = "".join(f"<span style='display:inline-block;width:{width}em;overflow:hidden;text-overflow:ellipsis;"
                    f"vertical-align:bottom'>{cell}</span>" for cell, width in cells)
    hover = f"{row['block']}: {layers}; {', '.join(row['changes']) or row['status']}"
    return (f"<div class='workbench-arch-block' title='{html.escape(hover)}' style='white-space:nowrap;"
            f"color:{color}'>{spans}</div>")


# -- the edited network: transfer_model's own report, as rows ------------------------------------


def preview_edited_transfer(source_model: Any, config: RunConfig, num_classes: int) -> tuple[Any, dict[str, Any]]:
    """The model and weight-transfer report Start would build for `config`.

    The same call as `training.prepare_run` makes (`transfer_model_for`), so the preview cannot drift
    from the run. Freeze depth aside: a parameter-mode preview builds once at depth 0 and
    `refreeze_report` moves the depth on the built model, as a backbone takes seconds to build.

    Raises:
        ConfigError: a model-level bad spec (unknown block, cut at the head, widen to fewer units,
            an input shape the cut network cannot take) or a freeze depth out of range.
    """
    return transfer_model_for(source_model, config, num_classes)


def refreeze_report(model: Any, report: Mapping[str, Any], depth: int) -> dict[str, Any]:
    """`transfer_model`'s report for parameter transfer at freeze depth `depth`, from the model and
    report it built at another depth: the same `freeze_blocks` and `count_parameters` calls.

    Raises:
        ConfigError: a depth outside the edited model's blocks.
    """
    blocks = list(edited_blocks(report))
    depth = resolve_freeze_depth("parameter", depth, blocks)
    freeze_blocks(model, depth, blocks, report.get("batchnorm", "frozen"))
    trainable = {layer.name: bool(layer.trainable) for layer in model.layers}
    # Cut rows describe source layers that are not in the model: never trainable.
    layers = [{**row, "trainable": trainable.get(row["layer"], False) and row.get("edit") != "cut"}
              for row in report["layers"]]
    return {**report, "freeze_depth": depth, "layers": layers, **count_parameters(model),
            "blocks": [{**block, "frozen": index < depth} for index, block in enumerate(report["blocks"])]}


def _weights_word(row: Mapping[str, Any]) -> str:
    """Where a layer's starting weights come from: copied, grown from the source, fresh, or none."""
    action, edit = row.get("action", ""), str(row.get("edit", "kept"))
    if edit == "cut" or action in ("cut", "no weights"):
        return "—"
    if action == "copied" or row.get("init") == "copied":
        return "grown from the source" if edit.startswith("grown") else "copied"
    if edit.startswith("grown") and action != "re-initialised":
        return "grown from the source"
    return "fresh (zero)" if row.get("init") == "zero" else "fresh"


def structure_rows(report: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The preview's rows: per layer of the edited network (and each source layer cut), its block,
    edit (kept, cut, added, grown), weights (copied, fresh, grown from the source), state
    (trainable, frozen, or cut: not in the new model) and parameters."""
    rows = []
    for layer in report["layers"]:
        edit = str(layer.get("edit", "kept"))
        state = "cut" if edit == "cut" else "trainable" if layer["trainable"] else "frozen"
        rows.append({"layer": layer["layer"], "block": layer["block"], "edit": edit,
                     "weights": _weights_word(layer), "state": state, "params": int(layer["params"])})
    return rows


def without_cut_layers(report: Mapping[str, Any]) -> dict[str, Any]:
    """The report with only the new model's layers (what the freeze preview's block chips count)."""
    return {**report, "layers": [layer for layer in report["layers"] if layer.get("edit") != "cut"]}


def edited_blocks(report: Mapping[str, Any]) -> tuple[Block, ...]:
    """The edited model's blocks, head last (the freeze slider's and the technique plan's blocks)."""
    return tuple(Block(block["name"], tuple(block["layers"])) for block in report["blocks"])


def format_structure_preview(report: Mapping[str, Any]) -> str:
    """The edited network as HTML: a line of counts, then one table row per layer (cut rows struck)."""
    body = []
    for row in structure_rows(report):
        slug = row["edit"].split()[0]
        style = "padding:1px 8px" + (";color:#8C959F;text-decoration:line-through" if slug == "cut" else "")
        cells = "".join(f"<td style='{style}'>{html.escape(str(row[column]) if column != 'params' else f'{row[column]:,}')}"
                        f"</td>" for column in STRUCTURE_COLUMNS)
        body.append(f"<tr class='workbench-structure-row workbench-edit-{slug}'>{cells}</tr>")
    blocks = [block["name"] for block in report["blocks"]]
    counts = (f"<div class='workbench-structure-counts'>{len(blocks)} blocks ({html.escape(', '.join(blocks))}) · "
              f"<b>{report['trainable_params']:,}</b> trainable, <b>{report['frozen_params']:,}</b> frozen "
              f"parameters · {html.escape(structure_summary(report.get('structure', {})))}</div>")
    # A backbone's hundreds of layers start folded; the seed CNN's dozen are shown at once.
    return (f"{counts}<details{' open' if len(body) <= OPEN_TABLE_ROWS else ''}><summary>layer by layer "
            f"({len(body)} rows)</summary>{html_table('workbench-structure-table', STRUCTURE_COLUMNS, body)}</details>")
