"""LiveCurves, driven with hand-written logs and a dummy figure (no training), plus one plain fit."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import textwrap
import types

import plotly.graph_objects as go
import pytest
from plotly.subplots import make_subplots

from workbench import callbacks
from workbench.callbacks import LiveCurves
from workbench.figures import MODE_COLORS


class FakeClock:
    """Stands in for `time` inside workbench.callbacks; advances only when told to."""

    def __init__(self) -> None:
        self.now = 1000.0

    def perf_counter(self) -> float:
        return self.now


class DummyFigure:
    """The trace API LiveCurves uses (add_trace, data, batch_update), counting redraws.

    `redraw_cost` seconds pass on the fake clock for every redraw, to play a slow frontend.
    """

    def __init__(self, clock: FakeClock | None = None, redraw_cost: float = 0.0) -> None:
        self.data: list[types.SimpleNamespace] = []
        self.batch_updates = 0
        self.clock = clock
        self.redraw_cost = redraw_cost

    def add_trace(self, trace: dict) -> None:
        self.data.append(types.SimpleNamespace(**trace))

    @contextlib.contextmanager
    def batch_update(self):
        self.batch_updates += 1
        yield
        if self.clock is not None:
            self.clock.now += self.redraw_cost


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(callbacks, "time", fake)
    return fake


def start(curves: LiveCurves, epochs: int = 3, steps: int = 10) -> LiveCurves:
    curves.set_params({"epochs": epochs, "steps": steps, "verbose": 0})
    curves.on_train_begin()
    return curves


def epoch_logs(epoch: int) -> dict[str, float]:
    return {"accuracy": 0.5 + epoch / 10, "loss": 1.0 - epoch / 10,
            "val_accuracy": 0.4 + epoch / 10, "val_loss": 1.2 - epoch / 10}


def test_epoch_ends_fill_four_labelled_traces_with_loss_on_the_second_subplot(clock: FakeClock) -> None:
    figure = go.Figure(make_subplots(rows=1, cols=2))
    curves = start(LiveCurves(figure, label="parameter (freeze 2)"), epochs=3)
    for epoch in range(3):
        curves.on_epoch_begin(epoch)
        clock.now += 1.0
        curves.on_epoch_end(epoch, epoch_logs(epoch))
    curves.on_train_end()

    assert [trace.name for trace in figure.data] == [
        "parameter (freeze 2) (train)", "parameter (freeze 2) (validation)",
        "parameter (freeze 2) (train)", "parameter (freeze 2) (validation)",
    ]
    train_accuracy, validation_accuracy, train_loss, validation_loss = figure.data
    assert train_accuracy.x == (1, 2, 3)
    assert train_accuracy.y == pytest.approx((0.5, 0.6, 0.7))
    assert validation_accuracy.y == pytest.approx((0.4, 0.5, 0.6))
    assert validation_loss.y == pytest.approx((1.2, 1.1, 1.0))
    assert (train_loss.xaxis, train_loss.yaxis) == ("x2", "y2")
    assert train_accuracy.xaxis in (None, "x")
    assert {trace.line.color for trace in figure.data} == {MODE_COLORS["parameter"]}
    assert train_accuracy.line.dash == "dash" and validation_accuracy.line.dash == "solid"
    # One legend entry per split: the loss traces follow their accuracy twins' legend group.
    assert [trace.showlegend for trace in figure.data] == [True, True, False, False]
    assert curves.redraws == 3


def test_a_second_fit_adds_a_second_set_of_traces(clock: FakeClock) -> None:
    figure = DummyFigure()
    curves = LiveCurves(figure, label="feature")
    for _ in range(2):
        start(curves, epochs=1)
        curves.on_epoch_begin(0)
        curves.on_epoch_end(0, epoch_logs(0))
        curves.on_train_end()
    assert len(figure.data) == 8
    assert all(trace.x == (1.0,) for trace in figure.data)


def test_batch_points_redraw_at_most_once_per_interval_and_none_are_lost(clock: FakeClock) -> None:
    figure = DummyFigure()
    curves = start(LiveCurves(figure, label="structure", every_n_batches=1, min_interval=0.5), epochs=1, steps=100)
    curves.on_epoch_begin(0)
    for batch in range(100):
        clock.now += 0.01  # a 1-second epoch of 100 batches
        curves.on_train_batch_end(batch, {"accuracy": batch / 100, "loss": 1 - batch / 100})
    in_epoch_redraws = curves.redraws
    curves.on_epoch_end(0, epoch_logs(0))
    curves.on_train_end()

    # 100 batch points in one second: throttled to one redraw per 0.5 s, not one per batch.
    assert in_epoch_redraws == 2
    assert curves.redraws == 3
    train_accuracy = curves.traces["accuracy"]
    assert len(train_accuracy.x) == 100
    assert train_accuracy.x[0] == pytest.approx(0.01) and train_accuracy.x[-1] == pytest.approx(1.0)
    # The epoch end replaces the last batch's running value rather than adding a second point at 1.0.
    assert train_accuracy.y[-1] == pytest.approx(0.5)
    assert curves.traces["val_accuracy"].x == (1.0,)


def test_epoch_end_redraws_are_throttled_once_redraws_cost_too_much(clock: FakeClock) -> None:
    # A slow frontend: each redraw costs 0.1 s, each epoch only 0.01 s.
    figure = DummyFigure(clock, redraw_cost=0.1)
    curves = start(LiveCurves(figure, label="parameter", min_interval=0.5, max_overhead=0.02), epochs=200, steps=4)
    for epoch in range(200):
        curves.on_epoch_begin(epoch)
        clock.now += 0.01
        curves.on_epoch_end(epoch, epoch_logs(epoch % 5))
    curves.on_train_end()

    assert curves.redraws < 20, curves.redraws
    # The final redraw at train end still delivers every epoch.
    assert len(curves.traces["accuracy"].x) == 200


def test_cheap_redraws_happen_at_every_epoch_end(clock: FakeClock) -> None:
    figure = DummyFigure()
    curves = start(LiveCurves(figure, label="feature", min_interval=0.5), epochs=10)
    for epoch in range(10):
        curves.on_epoch_begin(epoch)
        clock.now += 0.05  # faster than min_interval, but redraws cost nothing
        curves.on_epoch_end(epoch, epoch_logs(epoch % 5))
        assert len(curves.traces["accuracy"].x) == epoch + 1
    assert figure.batch_updates == 10


def test_a_run_stopped_mid_epoch_ends_where_it_stopped(clock: FakeClock) -> None:
    figure = DummyFigure()
    curves = start(LiveCurves(figure, label="parameter"), epochs=5, steps=10)
    curves.on_epoch_begin(0)
    curves.on_epoch_end(0, epoch_logs(0))
    curves.on_epoch_begin(1)
    for batch in range(4):
        curves.on_train_batch_end(batch, {"accuracy": 0.7, "loss": 0.4})
    curves.on_epoch_end(1, epoch_logs(1))  # Keras still ends the epoch after a stop
    curves.on_train_end()
    assert curves.traces["accuracy"].x == pytest.approx((1.0, 1.4))


def test_missing_and_nan_values_leave_gaps_instead_of_failing(clock: FakeClock) -> None:
    figure = DummyFigure()
    curves = start(LiveCurves(figure, label="run"), epochs=2)
    curves.on_epoch_begin(0)
    curves.on_epoch_end(0, {"accuracy": 0.5, "loss": float("nan")})  # no validation set
    curves.on_train_end()
    train_accuracy, validation_accuracy, train_loss, validation_loss = figure.data
    assert train_accuracy.x == (1.0,)
    assert validation_accuracy.x == [] and train_loss.x == [] and validation_loss.x == []


def test_without_a_figure_points_are_recorded_and_nothing_is_drawn(clock: FakeClock) -> None:
    curves = start(LiveCurves(None, label="parameter", every_n_batches=2), epochs=2, steps=4)
    for epoch in range(2):
        curves.on_epoch_begin(epoch)
        for batch in range(4):
            clock.now += 1
            curves.on_train_batch_end(batch, {"accuracy": 0.5, "loss": 0.5})
        curves.on_epoch_end(epoch, epoch_logs(epoch))
    curves.on_train_end()
    assert curves.points["accuracy"][0] == pytest.approx([0.5, 1.0, 1.5, 2.0])
    assert curves.points["val_accuracy"][0] == [1, 2]
    assert curves.redraws == 0 and curves.traces == {}


def test_a_plain_figure_without_subplots_gets_loss_on_a_right_hand_axis(clock: FakeClock) -> None:
    figure = go.Figure()
    curves = start(LiveCurves(figure, label="feature"), epochs=1)
    curves.on_epoch_end(0, epoch_logs(0))
    loss_traces = [trace for trace in figure.data if trace.yaxis == "y2"]
    assert len(loss_traces) == 2
    assert figure.layout.yaxis2.overlaying == "y" and figure.layout.yaxis2.side == "right"
    assert {trace.line.color for trace in figure.data} == {MODE_COLORS["feature"]}


def test_every_n_batches_must_be_positive() -> None:
    with pytest.raises(ValueError, match="every_n_batches=0"):
        LiveCurves(None, every_n_batches=0)


def test_works_in_a_plain_model_fit() -> None:
    import keras
    import numpy as np

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    images, labels = np.random.rand(64, 4).astype("float32"), np.random.randint(0, 3, 64)
    figure = go.Figure(make_subplots(rows=1, cols=2))
    curves = LiveCurves(figure, label="plain fit", every_n_batches=1, min_interval=0.0)
    model.fit(images, labels, validation_split=0.25, epochs=3, batch_size=8, verbose=0, callbacks=[curves])
    train_accuracy, validation_accuracy, train_loss, validation_loss = figure.data
    # 48 training examples in batches of 8: 6 batch points per epoch, the 6th replaced by the epoch end.
    assert len(train_accuracy.x) == 18 and train_accuracy.x[-1] == pytest.approx(3.0)
    assert validation_accuracy.x == (1, 2, 3)
    assert all(0.0 <= value <= 1.0 for value in train_accuracy.y)
    assert all(value > 0 for value in validation_loss.y)


def test_importing_and_using_it_without_a_frontend_never_loads_ipywidgets() -> None:
    script = textwrap.dedent(
        """
        import sys
        import plotly.graph_objects as go
        import workbench.training
        from workbench.callbacks import LiveCurves
        for figure in (None, go.Figure()):
            curves = LiveCurves(figure, label="parameter", every_n_batches=1)
            curves.set_params({"epochs": 1, "steps": 2})
            curves.on_train_begin()
            curves.on_epoch_begin(0)
            curves.on_train_batch_end(0, {"accuracy": 0.5, "loss": 1.0})
            curves.on_train_batch_end(1, {"accuracy": 0.55, "loss": 0.95})
            curves.on_epoch_end(0, {"accuracy": 0.6, "loss": 0.9, "val_accuracy": 0.5, "val_loss": 1.0})
            curves.on_train_end()
        assert len(figure.data) == 4 and figure.data[0].x == (0.5, 1.0), figure.data[0].x
        loaded = sorted(name for name in ("ipywidgets", "anywidget", "workbench.panels") if name in sys.modules)
        print("loaded:", loaded)
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                            env={**__import__("os").environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert result.returncode == 0, result.stderr[-2000:]
    assert "loaded: []" in result.stdout
