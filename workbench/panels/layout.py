"""Where each part's widgets sit in the panel: one column, from the source down to the diagnosis."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

import ipywidgets as widgets

from workbench.panels.components import figure_box, header

if TYPE_CHECKING:
    from workbench.panels.app import TransferPanel


def arrange(panel: TransferPanel) -> widgets.VBox:
    """The panel's widget: source, target task, transfer (with the architecture view, Rank, techniques
    and sweep settings), the buttons and status, the live chart, the sweep, the results table and the report."""
    source, transfer, techniques = panel.source_part, panel.transfer_part, panel.techniques_part
    sweep, rank, diagnose, results, worker = (panel.sweep_part, panel.rank_part, panel.diagnose_part,
                                              panel.results_part, panel.worker)
    box = widgets.VBox([
        widgets.HTML(f"<h3 style='margin:0'>Transfer Learning Workbench</h3>"
                     f"<span style='color:#6C6C6C'>runs folder: {html.escape(str(panel.runs_dir))}</span>"),
        header("Tasks and data"),
        widgets.HBox([transfer.preset_dropdown, source.data_root_text], layout=widgets.Layout(flex_flow="row wrap")),
        transfer.preset_info,
        header("Source"),
        widgets.HBox([source.source_dropdown, source.refresh_button]),
        source.source_info,
        source.pretrain_section,
        header("Target task"),
        transfer.task_text,
        transfer.task_info,
        widgets.HBox([transfer.per_class, transfer.epochs, transfer.learning_rate]),
        widgets.HBox([transfer.seed, transfer.batch_size]),
        header("Transfer"),
        transfer.mode_buttons,
        transfer.mode_info,
        panel.structure_part.structure_section,
        widgets.HBox([transfer.freeze_slider, rank.rank_button, rank.rank_suggestion, rank.apply_rank_button],
                     layout=widgets.Layout(flex_flow="row wrap", align_items="center")),
        transfer.freeze_info,
        rank.rank_section,
        techniques.techniques_section,
        sweep.sweep_section,
        widgets.HBox([transfer.start_button, sweep.sweep_button, worker.stop_button, results.clear_button]),
        worker.status,
        worker.message,
        figure_box(results.curves, "workbench-curves"),
        header("Sweep"),
        widgets.HBox([sweep.sweep_progress, sweep.sweep_info]),
        figure_box(sweep.sweep_figure, "workbench-sweep-figure"),
        sweep.sweep_table,
        header("Runs in this session"),
        results.results,
        header("Weight-transfer report"),
        widgets.HBox([results.report_dropdown, diagnose.diagnose_button]),
        figure_box(results.report_figure, "workbench-report"),
        results.report_text,
        diagnose.diagnose_section,
    ])
    box.add_class("workbench-panel")
    return box
