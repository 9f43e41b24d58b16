"""The PNGs of many trials: every trial is drawn (one segment of one collection each), each axis of
the parallel coordinates is scaled as its parameter is (log, categories), the best trial stands
out, and the images keep a size the MLflow UI shows whole."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import pytest
from matplotlib.collections import LineCollection
from PIL import Image

from hpo_flow.adapters.port import Trial, TrialStatus
from hpo_flow.adapters.spec import Objective, ParamRange
from hpo_flow.tasks import plot_png
from hpo_flow.tasks.plots import CURVES, PARALLEL, build_study, write_plots

pytestmark = pytest.mark.unit

START = datetime(2026, 1, 1, tzinfo=UTC)
ACTIVATIONS = ["relu", "tanh", "gelu"]
RANGES = {
    "lr": ParamRange.model_validate({"type": "continuous", "min": 1e-4, "max": 1e-1, "scaling_type": "Logarithmic"}),
    "activation": ParamRange.model_validate({"type": "categorical", "values": ACTIVATIONS}),
    "hidden": ParamRange.model_validate({"type": "integer", "min": 16, "max": 256}),
}
TOTAL, PRUNED, FAILED = 200, {7, 50, 120}, {3}


def _trial(i: int) -> Trial:
    x = (i * 7919 % TOTAL) / TOTAL
    curve = [(s, 0.5 + 0.45 * x * (s + 1) / 20) for s in range(20 if i not in PRUNED else 5)]
    status = TrialStatus.PRUNED if i in PRUNED else TrialStatus.FAILED if i in FAILED else TrialStatus.COMPLETED
    completed = status == TrialStatus.COMPLETED
    return Trial(
        id=f"trial-{i:04d}",
        params={"lr": 10 ** (-4 + 3 * x), "activation": ACTIVATIONS[i % 3], "hidden": 16 + int(240 * x)},
        status=status,
        objective=curve[-1][1] if completed else None,
        metrics={"accuracy": curve[-1][1]} if completed else {},
        curves={"accuracy": curve} if status != TrialStatus.FAILED else {},
        started_at=START + timedelta(minutes=i),
        ended_at=START + timedelta(minutes=i + 1),
    )


@pytest.fixture(scope="module")
def trials() -> list[Trial]:
    return [_trial(i) for i in range(TOTAL)]


@pytest.fixture
def study(trials: list[Trial]) -> Any:
    return build_study(trials, Objective.Maximize, "accuracy", RANGES)


def _collection(figure: Any) -> LineCollection:
    (collection,) = [c for c in figure.axes[0].collections if c.get_gid() == plot_png.TRIALS_GID]
    assert isinstance(collection, LineCollection)
    return collection


def _best_line(figure: Any) -> Any:
    (line,) = [line for line in figure.axes[0].lines if line.get_label().startswith("best:")]
    return line


def test_the_pngs_of_200_trials_exist_at_a_size_the_mlflow_ui_shows_whole(trials: list[Trial], tmp_path: Path) -> None:
    plots = write_plots(trials, Objective.Maximize, "accuracy", tmp_path, RANGES)
    assert not plots.notes
    for name in (CURVES, PARALLEL):
        png = tmp_path / f"{name}.png"
        assert png in plots.files and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        width, height = Image.open(png).size
        assert 700 <= width <= 1000 and 450 <= height <= 620


def test_the_learning_curves_draw_every_trial_with_a_curve_and_the_best_on_top(study: Any) -> None:
    figure = plot_png.learning_curves(study, "accuracy")
    try:
        with_curve = [t for t in study.trials if t.intermediate_values]
        segments = _collection(figure).get_segments()
        assert len(with_curve) == TOTAL - len(FAILED) == len(segments)
        assert sorted(len(s) for s in segments) == sorted(len(t.intermediate_values) for t in with_curve)
        best = _best_line(figure)
        assert study.best_trial.user_attrs["trial_id"] in best.get_label()
        assert list(best.get_ydata()) == [v for _, v in sorted(study.best_trial.intermediate_values.items())]
        assert figure.axes[0].get_xlabel() == "Step" and figure.axes[1].get_ylabel() == "accuracy"  # the colorbar
    finally:
        plt.close(figure)


def test_the_parallel_coordinates_draw_every_completed_trial_on_axes_scaled_as_their_parameter(study: Any) -> None:
    figure = plot_png.parallel_coordinates(study, "accuracy")
    try:
        ax = figure.axes[0]
        completed = TOTAL - len(PRUNED) - len(FAILED)
        segments = _collection(figure).get_segments()
        assert len(segments) == completed and {len(s) for s in segments} == {4}
        assert [t.get_text() for t in ax.get_xticklabels()] == ["accuracy", "activation", "hidden", "lr"]
        texts = {a.get_text() for a in ax.texts}
        assert set(ACTIVATIONS) <= texts  # the categorical axis names its choices
        assert {"0.001", "0.01"} <= texts  # the log axis has decades

        best = study.best_trial
        row = _best_line(figure).get_ydata()
        assert row[0] == pytest.approx(1.0)  # the best objective tops its axis
        assert row[1] == pytest.approx(ACTIVATIONS.index(best.params["activation"]) / 2)
        lrs = [t.params["lr"] for t in study.trials if t.state.name == "COMPLETE"]
        low, high = math.log10(min(lrs)), math.log10(max(lrs))
        assert row[3] == pytest.approx((math.log10(best.params["lr"]) - low) / (high - low))  # log scaled
    finally:
        plt.close(figure)
