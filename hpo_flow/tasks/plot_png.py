"""The learning curves and parallel coordinates as PNGs, drawn with one matplotlib artist for all
trials.

Optuna's matplotlib versions draw an artist (and a legend entry) per trial, or a twin axes per
parameter: at 200 trials they cost about a second each after the sweep's last trial, and the lines
blur into one band. Here every trial is one segment of a single `LineCollection`, coloured by its
objective value (a colorbar says which), with the best trial drawn on top in red: one glance shows
where the good trials lie. The titles and axis names are Optuna's, as on the HTML page. Save
them with `bbox_inches=None`: their margins are set here.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import optuna
    from matplotlib.figure import Figure

BEST_COLOR = "#d62728"
NO_VALUE_COLOR = "#666666"  # pruned or failed trials: a curve but no objective value to colour by
TRIALS_GID = "trials"  # the collection holding one segment per trial
MAX_CATEGORY_LABELS = 12  # a categorical axis with more choices labels every n-th


def learning_curves(study: optuna.Study, target_name: str) -> Figure:
    """Every trial's intermediate values against the step, one segment per trial that has any."""
    with _style():
        return _learning_curves(study, target_name)


def parallel_coordinates(study: optuna.Study, target_name: str) -> Figure:
    """The objective and every parameter of the completed trials, each on its own vertical axis.

    Each axis is scaled to its own range (log where the parameter's distribution is log,
    categories evenly spaced and named); a trial without a parameter has a gap there.
    """
    with _style():
        return _parallel_coordinates(study, target_name)


def _style() -> Any:
    """Optuna's other PNGs' look (ggplot), without changing the global style as Optuna does."""
    import matplotlib.pyplot as plt

    return plt.style.context("ggplot")


def _learning_curves(study: optuna.Study, target_name: str) -> Figure:
    import numpy as np
    from matplotlib.collections import LineCollection

    trials = [t for t in study.trials if t.intermediate_values]
    trials.sort(key=lambda t: _rank_key(study, t))  # better trials drawn last, over the others
    segments = [np.array(sorted(t.intermediate_values.items()), dtype=float) for t in trials]
    figure, ax, colors = _canvas(study, trials, target_name)
    ax.set_title("Intermediate Values Plot")
    ax.set_xlabel("Step")
    ax.set_ylabel("Intermediate Value")
    ax.add_collection(LineCollection(segments, colors=colors, linewidths=1.0, alpha=0.8, gid=TRIALS_GID))
    ax.autoscale_view()
    if any(t.value is None for t in trials):  # a legend entry only, no line: the collection drew them
        ax.plot([], [], color=NO_VALUE_COLOR, label="pruned or failed (no final value)")
    best = _best(study)
    if best is not None and best.intermediate_values:
        steps, values = zip(*sorted(best.intermediate_values.items()), strict=True)
        ax.plot(steps, values, color=BEST_COLOR, linewidth=2.5, label=_best_label(best, target_name))
    if ax.lines:
        ax.legend(loc="best", fontsize="small")
    return figure


def _parallel_coordinates(study: optuna.Study, target_name: str) -> Figure:
    import numpy as np
    from matplotlib.collections import LineCollection

    trials = [t for t in study.trials if t.state.name == "COMPLETE" and t.value is not None]
    trials.sort(key=lambda t: _rank_key(study, t))
    names = sorted({n for t in trials for n in t.params})  # Optuna's order, as on the HTML page
    axes = [_Axis.numeric(target_name, [t.value for t in trials], log=False)]
    axes += [_Axis.of_param(name, trials) for name in names]
    rows = np.array(
        [[a.position(v) for a, v in zip(axes, row, strict=True)] for row in _rows(trials, names)], dtype=float
    )
    xs = np.arange(len(axes), dtype=float)
    segments = [np.column_stack([xs, row]) for row in rows]
    figure, ax, colors = _canvas(study, trials, target_name)
    ax.set_title("Parallel Coordinate Plot")
    ax.add_collection(LineCollection(segments, colors=colors, linewidths=1.0, alpha=0.8, gid=TRIALS_GID))
    best = _best(study)
    numbers = [t.number for t in trials]
    if best is not None and best.number in numbers:
        row = rows[numbers.index(best.number)]
        ax.plot(xs, row, color=BEST_COLOR, linewidth=2.5, label=_best_label(best, target_name))
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.08), fontsize="small", frameon=False)
    ax.vlines(xs, 0.0, 1.0, colors="#444444", linewidth=1.0)
    for x, axis in zip(xs, axes, strict=True):
        for position, text in axis.ticks():
            ax.annotate(
                text,
                (x, position),
                xytext=(-4, 0),
                textcoords="offset points",
                ha="right",
                va="center",
                fontsize=8,
                bbox={"boxstyle": "round,pad=0.1", "facecolor": "white", "edgecolor": "none", "alpha": 0.7},
            )
    ax.set_xlim(-0.35, len(axes) - 0.75)
    ax.set_ylim(-0.03, 1.03)
    ax.set_xticks(xs, [a.name for a in axes], rotation=0 if len(axes) <= 6 else 30)
    ax.set_yticks([])
    ax.grid(False)
    for side in ("top", "right", "left", "bottom"):
        ax.spines[side].set_visible(False)
    return figure


class _Axis:
    """One vertical axis: where a value lies on it (0 to 1) and the ticks that name it."""

    def __init__(self, name: str, low: float, high: float, log: bool, categories: list[Any] | None = None):
        self.name, self.low, self.high, self.log, self.categories = name, low, high, log, categories

    @classmethod
    def numeric(cls, name: str, values: list[Any], log: bool) -> _Axis:
        numbers = [float(v) for v in values if v is not None]
        if log:
            numbers = [math.log10(v) for v in numbers if v > 0]
        if not numbers:
            return cls(name, 0.0, 1.0, log)
        return cls(name, min(numbers), max(numbers), log)

    @classmethod
    def of_param(cls, name: str, trials: list[Any]) -> _Axis:
        from optuna.distributions import CategoricalDistribution

        dists = [t.distributions[name] for t in trials if name in t.distributions]
        values = [t.params.get(name) for t in trials]
        if isinstance(dists[0], CategoricalDistribution):
            return cls(name, 0.0, len(dists[0].choices) - 1, False, list(dists[0].choices))
        return cls.numeric(name, values, log=bool(getattr(dists[0], "log", False)))

    def position(self, value: Any) -> float:
        if value is None:
            return math.nan  # a gap in the trial's line
        if self.categories is not None:
            index = next((i for i, c in enumerate(self.categories) if type(c) is type(value) and c == value), None)
            if index is None:
                return math.nan
            number = float(index)
        else:
            number = math.log10(value) if self.log else float(value)
        if self.high == self.low:
            return 0.5  # every trial had the same value (or one category): the middle of the axis
        return (number - self.low) / (self.high - self.low)

    def ticks(self) -> list[tuple[float, str]]:
        from matplotlib.ticker import LogLocator, MaxNLocator

        if self.categories is not None:
            every = max(1, math.ceil(len(self.categories) / MAX_CATEGORY_LABELS))
            return [(self.position(c), str(c)) for i, c in enumerate(self.categories) if i % every == 0]
        if self.high == self.low:
            value = 10**self.low if self.log else self.low
            return [(0.5, f"{value:.4g}")]
        if self.log:
            lo, hi = 10**self.low, 10**self.high
            values = [v for v in LogLocator(base=10).tick_values(lo, hi) if lo <= v <= hi]
            if len(values) < 2:
                values = [lo, hi]
            return [(self.position(v), f"{v:.3g}") for v in values]
        values = [v for v in MaxNLocator(nbins=5).tick_values(self.low, self.high) if self.low <= v <= self.high]
        return [(self.position(v), f"{v:.4g}") for v in values]


def _rows(trials: list[Any], names: list[str]) -> list[list[Any]]:
    return [[t.value, *(t.params.get(n) for n in names)] for t in trials]


def _canvas(study: optuna.Study, trials: list[Any], target_name: str) -> tuple[Figure, Any, list[Any]]:
    """A figure whose lines are coloured by objective value, better trials toward the bright end of
    the map whichever the direction, with the colorbar that reads the colours."""
    import matplotlib.pyplot as plt
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    figure, ax = plt.subplots(figsize=(9, 5.5))
    # Fixed margins, room for the axis names, the colorbar and a legend below: saved as they are,
    # without `bbox_inches="tight"`, whose extra layout pass is a quarter of the rendering time.
    figure.subplots_adjust(left=0.08, right=0.98, top=0.93, bottom=0.14)
    values = [t.value for t in trials if t.value is not None and math.isfinite(t.value)]
    cmap = plt.get_cmap("viridis" if _maximize(study) else "viridis_r")
    norm = Normalize(min(values), max(values)) if values else Normalize(0.0, 1.0)
    colors = [cmap(norm(t.value)) if t.value is not None and math.isfinite(t.value) else NO_VALUE_COLOR for t in trials]
    if values:
        bar = figure.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=ax, pad=0.02)
        bar.set_label(target_name)
    return figure, ax, colors


def _maximize(study: optuna.Study) -> bool:
    return study.direction.name == "MAXIMIZE"


def _rank_key(study: optuna.Study, trial: Any) -> tuple[int, float]:
    """Sorts trials without a value first, then from worst to best."""
    if trial.value is None or not math.isfinite(trial.value):
        return (0, 0.0)
    return (1, trial.value if _maximize(study) else -trial.value)


def _best(study: optuna.Study) -> Any:
    try:
        return study.best_trial
    except ValueError:  # no completed trial yet
        return None


def _best_label(trial: Any, target_name: str) -> str:
    name = trial.user_attrs.get("trial_id", f"#{trial.number}")
    return f"best: {name} ({target_name} {trial.value:.4g})"
