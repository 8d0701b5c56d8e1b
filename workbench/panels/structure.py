"""The architecture view ("Architecture" section of the panel): the source's blocks with controls
that write structure edits (cut here, widen to, deepen after, append, head hidden width, input
shape), the Edits box that holds them as text (two-way: typing a spec updates the controls), and a
live preview of the edited network before Start. The logic is in `structure_preview`'s plain
functions; the widgets only call them.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import ipywidgets as widgets

from workbench.config import RunConfig, config_from_mapping
from workbench.errors import ConfigError
from workbench.models import Block
from workbench.panels.components import LABEL_STYLE, accordion, short_layout, wide_layout
from workbench.panels.source import SourcePart
from workbench.panels.structure_preview import (
    APPEND_SIZES,
    apply_edit,
    block_rows,
    canonical_edits,
    edit_setting,
    edited_blocks,
    format_block_row,
    format_structure_preview,
    preview_edited_transfer,
    refreeze_report,
)
from workbench.panels.summaries import format_problem, muted
from workbench.panels.worker import Worker
from workbench.runs import load_run
from workbench.structure import EDIT_FORMS

SECTION_TITLE = "Architecture: cut, append, widen, deepen"
CACHED_MODELS = 3  # edited models kept per panel (a backbone takes seconds to build; a ResNet50 ~100 MB)


@dataclass(frozen=True)
class BlockControls:
    """The widgets of one block's row in the architecture view."""

    label: widgets.HTML
    cut: widgets.Button
    widen_to: widgets.IntText
    widen: widgets.Button
    deepen: widgets.Button

    def make_row(self) -> widgets.HBox:
        """The row as it is shown (controls that do not apply to the block stay hidden)."""
        return widgets.HBox([self.label, self.cut, self.widen, self.widen_to, self.deepen],
                            layout=widgets.Layout(align_items="center"))


class StructurePart:
    """The "Architecture" section: the source's blocks with their edit controls, the Edits box,
    and the preview of the edited network.

    Args:
        source: the panel's source part (its `plan` lists the blocks; its run holds the model).
        worker: the panel's worker: no preview is built while a job runs (building a model
            reseeds Keras' global generators, which a run being built in the thread also uses).

    Attributes:
        edits: the last valid spec, canonical ("" = no edits).
        spec_error: the message of a typed spec that does not parse, else None.
        problem: the message the view shows instead of a preview (a spec or model error) or None;
            Start stays disabled while there is one.
        blocks: the edited model's blocks from the last preview, or None without edits.
        report: the last preview's weight-transfer report, or None without edits.
        on_change: called after every change of the edits or the grow noise (the panel redraws
            the freeze preview, which asks this part for the edited report).
    """

    EXPOSED = ("structure_section", "edits_text", "blocks_box", "append_kind", "append_size", "append_button",
               "hidden_width", "input_shape_text", "grow_noise", "clear_edits_button", "structure_info",
               "structure_preview")

    def __init__(self, source: SourcePart, worker: Worker) -> None:
        self.source = source
        self.worker = worker
        self.edits = ""
        self.spec_error: str | None = None
        self.problem: str | None = None
        self.blocks: tuple[Block, ...] | None = None
        self.report: dict[str, Any] | None = None
        self.on_change: Callable[[], None] = lambda: None
        self.controls: dict[str, BlockControls] = {}
        self._wrap: Callable[[Callable], Callable] = lambda function: function
        self._syncing = False
        self._model: tuple[str | None, Any] = (None, None)
        self._built_models: OrderedDict[str, tuple[Any, dict[str, Any]]] = OrderedDict()
        self._build()

    def _build(self) -> None:
        style, short = LABEL_STYLE, short_layout()
        self.edits_text = widgets.Text(value="", description="Edits", placeholder="e.g. cut conv2; add dense 128",
                                       layout=widgets.Layout(width="52em"), style=style, continuous_update=False,
                                       tooltip=EDIT_FORMS)
        self.blocks_box = widgets.VBox()
        self.append_kind = widgets.Dropdown(options=list(APPEND_SIZES), value="dense", description="Append",
                                            style=style, layout=widgets.Layout(width="16em"))
        self.append_size = widgets.FloatText(value=APPEND_SIZES["dense"], description="size", layout=short,
                                             tooltip="units (dense), filters (conv) or rate in (0, 1) (dropout)")
        self.append_button = widgets.Button(description="Add", icon="plus", tooltip="Append this block below the head")
        self.hidden_width = widgets.IntText(value=0, description="Hidden width", layout=short, style=style,
                                            tooltip="units of the dense layer directly below the head; 0 = as built")
        self.input_shape_text = widgets.Text(value="", description="Input shape", placeholder="HxWxC, empty = source's",
                                             layout=wide_layout(), style=style, continuous_update=False)
        self.grow_noise = widgets.FloatText(value=0.0, description="Grow noise", layout=short, style=style,
                                            tooltip="std of the noise added to Net2Net-grown weights, relative to "
                                                    "their std; 0 keeps the function exactly")
        self.clear_edits_button = widgets.Button(description="Clear edits", icon="eraser",
                                                 tooltip="Back to the source's architecture")
        self.structure_info = widgets.HTML()
        self.structure_preview = widgets.HTML()
        self.structure_section = accordion([
            widgets.HTML(muted("The source's blocks: cut, widen or deepen one, append blocks, or type a spec. "
                               "The preview below shows the network Start will train.")),
            self.blocks_box,
            widgets.HBox([self.append_kind, self.append_size, self.append_button]),
            widgets.HBox([self.hidden_width, self.grow_noise]),
            self.input_shape_text,
            widgets.HBox([self.edits_text, self.clear_edits_button]),
            self.structure_info,
            self.structure_preview,
        ], SECTION_TITLE)
        for control, name in ((self.structure_section, "structure-section"), (self.edits_text, "edits"),
                              (self.structure_info, "structure-info"), (self.structure_preview, "structure-preview")):
            control.add_class(f"workbench-{name}")

    def connect(self, wrap: Callable[[Callable], Callable]) -> None:
        """Wire the widgets to their handlers, each wrapped by `wrap` (which shows errors)."""
        self._wrap = wrap

        def unless_syncing(function: Callable[[Any], None]) -> Callable[[Any], None]:
            # The boxes that mirror the spec change when `set_edits` writes the canonical text: no echo.
            return wrap(lambda change: None if self._syncing else function(change))

        self.edits_text.observe(unless_syncing(lambda change: self.set_edits(change["new"])), names="value")
        self.hidden_width.observe(unless_syncing(lambda change: self.act("hidden", value=change["new"])),
                                  names="value")
        self.input_shape_text.observe(unless_syncing(lambda change: self.act("input", value=change["new"])),
                                      names="value")
        self.grow_noise.observe(unless_syncing(lambda _: self.on_change()), names="value")
        self.append_kind.observe(wrap(lambda change: setattr(self.append_size, "value", APPEND_SIZES[change["new"]])),
                                 names="value")
        self.append_button.on_click(wrap(lambda _: self.act("add", value=(self.append_kind.value,
                                                                          self.append_size.value))))
        self.clear_edits_button.on_click(wrap(lambda _: self.set_edits("")))

    # -- edits ----------------------------------------------------------------------------------

    @property
    def active(self) -> bool:
        """Whether the edits change the network (or a typed spec waits to be fixed)."""
        return bool(self.edits) or self.spec_error is not None

    def values(self) -> dict[str, Any]:
        """The edits as `RunConfig` fields; a spec that does not parse is passed as typed, so the
        config names the bad item."""
        edits = self.edits_text.value.strip() if self.spec_error else self.edits
        return {"edits": edits, "grow_noise": self.grow_noise.value}

    def act(self, action: str, block: str | None = None, value: Any = None) -> None:
        """Apply one control action (see `apply_edit`) and redraw.

        Raises:
            ConfigError: the Edits box holds a spec that does not parse, or the action's item does not.
        """
        if self.spec_error:
            raise ConfigError(f"The Edits box holds a spec that does not parse: {self.spec_error} Fix it there, "
                              "or press Clear edits, before using the block controls.")
        names = self.source.plan.block_names if self.source.plan is not None else ()
        self.set_edits(apply_edit(self.edits, action, block, value, names))

    def set_edits(self, text: str) -> None:
        """Take a spec (typed or from a control): a valid one becomes the canonical text shown in every
        control; one that does not parse stays as typed, its error shown and Start disabled."""
        try:
            canonical = canonical_edits(text)
        except ConfigError as error:
            self.spec_error = str(error)
            self._enable_controls()
            self.on_change()
            return
        self.spec_error = None
        self.edits = canonical
        # The folded section's title says what the edits are, so they are never hidden from view.
        self.structure_section.set_title(0, f"Architecture, edited: {canonical}" if canonical else SECTION_TITLE)
        self._syncing = True
        try:
            self.edits_text.value = canonical
            hidden = edit_setting(canonical, "hidden")
            self.hidden_width.value = int(hidden) if hidden.isdigit() else 0
            self.input_shape_text.value = edit_setting(canonical, "input")
        finally:
            self._syncing = False
        self._show_blocks()
        self.on_change()

    # -- the blocks -----------------------------------------------------------------------------

    def show_source(self) -> None:
        """Rebuild the block rows for the selected source (the edits stay: a source without a named
        block shows that as the preview's error)."""
        self._built_models.clear()
        if self._model[0] != self.source.selected:
            self._model = (None, None)
        plan = self.source.plan
        self.controls = {}
        if plan is None:
            self.blocks_box.children = [widgets.HTML(muted("Pick or pretrain a source run to see its blocks."))]
            self._enable_controls()
            return
        rows = []
        for row in block_rows(plan):
            controls = self._block_controls(row)
            self.controls[row["block"]] = controls
            rows.append(controls.make_row())
        self.blocks_box.children = rows
        self._show_blocks()

    def _block_controls(self, row: Mapping[str, Any]) -> BlockControls:
        name, wrap = row["block"], self._wrap
        small = widgets.Layout(width="auto", flex="0 0 auto")  # buttons keep their words; the label column gives
        controls = BlockControls(
            label=widgets.HTML(layout=widgets.Layout(width="37em", flex="0 0 auto")),
            cut=widgets.Button(description="cut here", layout=widgets.Layout(width="6.5em", flex="0 0 auto"),
                               tooltip=f"keep the blocks up to {name}"),
            widen_to=widgets.IntText(value=row["width"], layout=widgets.Layout(width="5em", flex="0 0 auto"),
                                     tooltip=f"new width of {name} (more than {row['width']})"),
            widen=widgets.Button(description="widen to", layout=small, tooltip=f"Net2WiderNet on {name}"),
            deepen=widgets.Button(description="deepen after", layout=widgets.Layout(width="8em", flex="0 0 auto"),
                                  tooltip=f"Net2DeeperNet: an identity-initialised layer after {name}"),
        )
        controls.cut.on_click(wrap(lambda _: self.act("cut", name)))
        controls.widen.on_click(wrap(lambda _: self.act("widen", name, controls.widen_to.value)))
        controls.deepen.on_click(wrap(lambda _: self.act("deepen", name)))
        hidden = widgets.Layout(display="none")
        if row["head"]:
            controls.cut.layout = hidden
        if not row["growable"]:
            controls.widen_to.layout = controls.widen.layout = controls.deepen.layout = hidden
        controls.cut.add_class("workbench-arch-cut")
        return controls

    def _show_blocks(self) -> None:
        """Write what the edits do into each block's row."""
        plan = self.source.plan
        if plan is None or not self.controls:
            return
        for row in block_rows(plan, self.edits):
            controls = self.controls[row["block"]]
            controls.label.value = format_block_row(row)
            controls.cut.description = "undo cut" if row["cut_here"] else "cut here"
            controls.deepen.description = "undo deepen" if row["deepened"] else "deepen after"
            controls.widen_to.value = row["widened_to"] or controls.widen_to.value
            controls.cut.disabled = row["cut"]
            controls.widen.disabled = controls.deepen.disabled = controls.widen_to.disabled = row["cut"]
        self._enable_controls()

    def _enable_controls(self) -> None:
        """Every control but Clear and the Edits box waits while the typed spec does not parse."""
        blocked = self.spec_error is not None or self.source.plan is None
        for control in (self.append_button, self.hidden_width, self.input_shape_text):
            control.disabled = blocked
        if blocked:
            for controls in self.controls.values():
                controls.cut.disabled = controls.widen.disabled = controls.deepen.disabled = True

    # -- the preview ----------------------------------------------------------------------------

    def preview(self, values: Mapping[str, Any], num_classes: int) -> dict[str, Any]:
        """The edited network's weight-transfer report for the panel's settings.

        A parameter-mode depth beyond the edited network's blocks is brought down to its deepest,
        as the slider will show it. The built model is kept per setting, so a slider move or a
        return to an earlier setting builds nothing.

        Args:
            values: the transfer settings as `RunConfig` fields (`TransferPart.values`), with the
                user's wanted freeze depth.
            num_classes: target classes.

        Raises:
            WorkbenchError: the spec, a setting, or the edited model is refused (the message says why).
        """
        if self.spec_error:
            raise ConfigError(self.spec_error)
        parameter = values["mode"] == "parameter"
        config = config_from_mapping({**values, "source": values.get("source") or "preview",
                                      "freeze_depth": 0 if parameter else None}, kind="transfer")
        model, report = self._built(config, num_classes)
        wanted = int(values.get("freeze_depth") or 0) if parameter else 0
        return refreeze_report(model, report, min(wanted, len(report["blocks"]) - 1)) if wanted else report

    def _built(self, config: RunConfig, num_classes: int) -> tuple[Any, dict[str, Any]]:
        """The edited model and its report for what `transfer_model` reads of `config`, built once."""
        key = repr((self.source.selected, num_classes, config.mode, config.seed, config.copy_depth,
                    config.batchnorm, config.head_init, config.edits, config.grow_noise))
        if key not in self._built_models:
            self._built_models[key] = preview_edited_transfer(self._source_model(), config, num_classes)
            while len(self._built_models) > CACHED_MODELS:
                self._built_models.popitem(last=False)
        self._built_models.move_to_end(key)
        return self._built_models[key]

    def _source_model(self) -> Any:
        """The selected source's model, loaded once while it stays selected."""
        path = self.source.selected
        if self._model[0] != path or self._model[1] is None:
            self.source.require_selected()
            self._model = (path, load_run(path).load_model())
        return self._model[1]

    def show_report(self, report: dict[str, Any] | None) -> None:
        """Show the edited network (or, with None, that there are no edits) and clear any problem."""
        self.problem = None
        self.report = report
        self.structure_info.value = ""
        if report is None:
            self.blocks = None
            self.structure_preview.value = muted("No edits: Start trains the source's architecture, as the freeze "
                                                 "preview shows.")
            return
        self.blocks = edited_blocks(report)
        self.structure_preview.value = format_structure_preview(report)

    def show_problem(self, error: BaseException) -> None:
        """Show why there is no preview, in place (one paragraph, no traceback); Start waits for a fix."""
        self.problem = str(error)
        self.blocks = self.report = None
        self.structure_info.value = format_problem("workbench-structure-error", str(error))
        self.structure_preview.value = ""

    def show_paused(self) -> None:
        """Say that the preview waits for the running job (no model is built meanwhile)."""
        self.structure_info.value = muted("A job is running: the preview of the edits updates when it ends.")
