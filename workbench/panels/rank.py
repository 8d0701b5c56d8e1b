"""Rank, next to the freeze-depth slider: score every cut point of the selected source on the target
task, budget and seed before any training (`diagnostics.score_blocks`: linear probe and LogME per
block, LEEP), draw the scores (`figures.plot_block_scores`) and put "suggested freeze depth: k
(rule)" beside the slider, with a button that moves the slider there."""

from __future__ import annotations

import html
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ipywidgets as widgets

from workbench import figures
from workbench.config import config_from_mapping
from workbench.diagnostics import score_blocks
from workbench.errors import WorkbenchError
from workbench.formatting import format_number
from workbench.panels.components import accordion, figure_box, placeholder_figure, replace_figure
from workbench.panels.previews import target_class_names
from workbench.panels.source import SourcePart
from workbench.panels.summaries import (
    MUTED,
    RANK_SETTING_NAMES,
    format_rank_details,
    format_rank_suggestion,
    rank_key,
)
from workbench.panels.transfer import TransferPart
from workbench.panels.worker import Worker


class RankPart:
    """The Rank button, the suggestion beside the slider, "Use it", and the scores section.

    Args:
        runs_dir: the folder the source run is read from.
        source, transfer, worker: the panel's other parts this one reads and drives.

    Attributes:
        last_rank: the latest `score_blocks` result, or None before the first Rank.
    """

    EXPOSED = ("rank_button", "rank_suggestion", "apply_rank_button", "rank_figure", "rank_details", "rank_section")

    def __init__(self, runs_dir: Path, source: SourcePart, transfer: TransferPart, worker: Worker) -> None:
        self.runs_dir = runs_dir
        self.source = source
        self.transfer = transfer
        self.worker = worker
        self.last_rank: dict[str, Any] | None = None
        self._ranked_settings: dict[str, Any] | None = None
        self.rank_button = widgets.Button(
            description="Rank", icon="sort-amount-desc", layout=widgets.Layout(width="7em"),
            tooltip="Score every freeze depth of the source on this target task, budget and seed (linear probe, "
                    "LogME, LEEP) in seconds, before training, and suggest a freeze depth")
        self.rank_suggestion = widgets.HTML(format_rank_suggestion(None))
        self.apply_rank_button = widgets.Button(description="Use it", icon="check", disabled=True,
                                                layout=widgets.Layout(width="9em"),
                                                tooltip="Set the freeze-depth slider to the suggested depth "
                                                        "(switches to parameter transfer)")
        self.rank_figure = placeholder_figure("Press Rank beside the freeze-depth slider",
                                              "Transferability per freeze depth", 380)
        self.rank_details = widgets.HTML()
        self.rank_section = accordion([figure_box(self.rank_figure, "workbench-rank-figure"), self.rank_details],
                                      "Rank: scores per freeze depth, before training")
        for control, name in ((self.rank_button, "rank"), (self.apply_rank_button, "apply-suggestion"),
                              (self.rank_suggestion, "rank-line")):
            control.add_class(f"workbench-{name}")

    def connect(self, wrap: Callable[[Callable], Callable]) -> None:
        """Wire the widgets to their handlers, each wrapped by `wrap` (which shows errors)."""
        self.rank_button.on_click(wrap(lambda _: self.rank()))
        self.apply_rank_button.on_click(wrap(lambda _: self.apply_suggestion()))
        for control in (self.source.source_dropdown, self.transfer.task_text, self.transfer.per_class,
                        self.transfer.seed):
            control.observe(wrap(lambda _: self.show_suggestion()), names="value")

    def settings(self) -> dict[str, Any]:
        """What Rank scores: the selected source on the target task, label budget and seed, checked.

        Returns:
            {"source", "task", "per_class", "seed", "validation_split", "data_root"}: the values a transfer run
            with these settings would use (the probe is scored on its validation split).

        Raises:
            WorkbenchError: no source picked, or a bad task, budget or seed (named, with the fix).
        """
        self.source.require_selected()
        transfer = self.transfer
        config = config_from_mapping({
            "source": self.source.selected, "task": transfer.task_text.value.strip(),
            "per_class": transfer.per_class.value or None, "seed": transfer.seed.value, "runs_dir": str(self.runs_dir),
            "data_root": self.source.data_root,
        }, kind="transfer")
        target_class_names(config.task)
        return {"source": config.source, "task": config.task, "per_class": config.per_class, "seed": config.seed,
                "validation_split": config.validation_split, "data_root": config.data_root}

    def rank(self) -> None:
        """Score every freeze depth of the source on the target task in the worker thread (Rank button).

        `diagnostics.score_blocks` fits a linear probe and computes LogME on the features at each
        cut point (and LEEP from the source head) on the target's training images, in seconds and
        without training. The scores are drawn under "Rank", and the suggested freeze depth is
        shown beside the slider, where "Use it" moves the slider there.

        Raises:
            WorkbenchError: a bad setting, a missing source or a job already in progress.
        """
        self.worker.refuse_if_running()
        settings = self.settings()
        name = Path(settings["source"]).name
        self.rank_suggestion.value = (f"<span class='workbench-rank-suggestion' style='{MUTED}'>"
                                      f"ranking {html.escape(name)}'s blocks…</span>")
        self.apply_rank_button.disabled = True
        try:
            self.worker.start(lambda stop_event: self._run(settings, stop_event),
                              f"ranking the blocks of {name} on {settings['task']}", kind="rank")
        except BaseException:
            self.show_suggestion()
            raise

    def apply_suggestion(self) -> None:
        """Move the freeze-depth slider to Rank's suggested depth ("Use it" button).

        The slider belongs to parameter transfer, so another mode is switched to parameter first.

        Raises:
            WorkbenchError: nothing ranked yet, or the suggestion was made for other settings.
        """
        if self.last_rank is None:
            raise WorkbenchError("There is no suggested freeze depth yet: press Rank beside the slider first.")
        changed = self.changes()
        if changed:
            raise WorkbenchError(
                f"The suggested freeze depth was computed for another "
                f"{', '.join(RANK_SETTING_NAMES[name] for name in changed)}: press Rank again for these settings.")
        depth = int(self.last_rank["suggested_freeze_depth"])
        if self.transfer.mode_buttons.value != "parameter":
            self.transfer.mode_buttons.value = "parameter"
        slider = self.transfer.freeze_slider
        if not slider.min <= depth <= slider.max:
            raise WorkbenchError(f"The suggested freeze depth {depth} is outside the slider's range "
                                 f"{slider.min}..{slider.max}: press Rank again.")
        slider.value = depth

    def changes(self) -> list[str]:
        """The settings that changed since the last Rank (empty when it still applies)."""
        if self._ranked_settings is None:
            return []
        transfer = self.transfer
        now = rank_key(self.source.selected, transfer.task_text.value, transfer.per_class.value, transfer.seed.value)
        return [name for name in RANK_SETTING_NAMES if now[name] != self._ranked_settings[name]]

    def show_suggestion(self) -> None:
        """The line beside the slider, and "Use it" enabled only while the suggestion fits the settings."""
        changed = self.changes()
        self.rank_suggestion.value = format_rank_suggestion(self.last_rank, changed)
        fresh = self.last_rank is not None and not changed
        self.apply_rank_button.disabled = not fresh
        self.apply_rank_button.description = (f"Use {self.last_rank['suggested_freeze_depth']}" if fresh
                                              else "Use it")

    def _run(self, settings: dict[str, Any], stop_event: threading.Event) -> None:
        """Rank's body in the worker thread: score the cut points, then draw and suggest."""
        self.worker.status.value = html.escape(f"Ranking the blocks of {Path(settings['source']).name} on "
                                               f"{settings['task']} (no training)…")
        try:
            result = score_blocks(settings["source"], settings["task"], per_class=settings["per_class"],
                                  seed=settings["seed"], validation_split=settings["validation_split"],
                                  runs_dir=self.runs_dir, data_root=settings.get("data_root"))
        finally:
            self.show_suggestion()  # the previous suggestion comes back if scoring failed
        if stop_event.is_set():
            self.worker.status.value = "Rank stopped: its scores were dropped."
            return
        self.last_rank = result
        self._ranked_settings = rank_key(settings["source"], settings["task"], settings["per_class"], settings["seed"])
        figure = figures.plot_block_scores(result)
        figure.update_layout(height=380)
        replace_figure(self.rank_figure, figure)
        self.rank_details.value = format_rank_details(result)
        self.rank_section.selected_index = 0
        self.show_suggestion()
        self.worker.status.value = (f"<span class='workbench-outcome'>Ranked {len(result['cut_points'])} freeze "
                                    f"depths in {format_number(result['seconds'], 1)} s: suggested freeze depth "
                                    f"{result['suggested_freeze_depth']}.</span>")
