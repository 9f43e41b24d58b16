"""Review plots of a sweep (optimisation history, parallel coordinates, parameter importances,
learning curves), rendered by optuna.visualization from the neutral trials of any backend.

Every backend reports the same `Trial` records, so we rebuild an in-memory Optuna study from
them (`optuna.trial.create_trial`, with distributions derived from the values the trials saw)
and let Optuna's own plotting draw it: the plots look the same whether the sweep ran locally,
on SageMaker or on Azure ML. The PNGs of the two plots with a line per trial (learning curves,
parallel coordinates) are drawn by `hpo_flow.tasks.plot_png` instead, one artist for all trials: Optuna's
take a second each at 200 trials, after the sweep's last trial.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import math
import numbers
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hpo_flow.adapters.port import Trial, TrialStatus
from hpo_flow.adapters.spec import Objective, ParamRange, RangeType
from hpo_flow.tasks import plot_png

if TYPE_CHECKING:
    import optuna

# One file per plot; the names are what a reviewer sees in the MLflow artifact tree.
HISTORY = "optimization_history"
PARALLEL = "parallel_coordinates"
IMPORTANCES = "param_importances"
CURVES = "learning_curves"
PAGE = "sweep_plots"  # the one HTML page holding every plot, interactive
# Optuna's default is 64; the importances of a review plot settle well before, and fANOVA's cost
# (after the last trial, with every trial in) grows with the trees: 8 is a third of 16's.
FANOVA_TREES = 8


@dataclass
class PlotSet:
    """The files written, and why a plot is missing when one is."""

    files: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def build_study(
    trials: list[Trial],
    objective: Objective,
    objective_metric: str,
    ranges: dict[str, ParamRange] | None = None,
) -> optuna.Study:
    """An in-memory Optuna study holding the finished trials.

    Pruned trials keep their curve (Optuna's PRUNED state has no final value); failed and
    stopped trials are FAIL; trials still running are left out.
    """
    import optuna
    from optuna.trial import TrialState

    ranges = ranges or {}
    finished = [t for t in trials if t.status.is_terminal]
    distributions = _distributions(finished, ranges)
    with quiet_optuna():
        study = optuna.create_study(direction="maximize" if objective is Objective.Maximize else "minimize")
    frozen = []
    for trial in finished:
        params = {k: _value(v, ranges.get(k)) for k, v in trial.params.items() if k in distributions}
        curve = {
            int(step): float(value)
            for step, value in trial.curves.get(objective_metric, [])
            if isinstance(value, int | float) and math.isfinite(value)
        }
        has_value = trial.objective is not None and math.isfinite(trial.objective)
        if trial.status == TrialStatus.COMPLETED and has_value:
            state, value = TrialState.COMPLETE, trial.objective
        elif trial.status == TrialStatus.PRUNED:
            state, value = TrialState.PRUNED, None
        else:
            state, value = TrialState.FAIL, None
        frozen.append(
            optuna.trial.create_trial(
                state=state,
                value=value,
                params=params,
                distributions={k: distributions[k] for k in params},
                intermediate_values=curve,
                user_attrs={"trial_id": trial.id},
            )
        )
    study.add_trials(frozen)
    return study


def write_plots(
    trials: list[Trial],
    objective: Objective,
    objective_metric: str,
    out_dir: str | Path,
    ranges: dict[str, ParamRange] | None = None,
) -> PlotSet:
    """Render every plot the trials allow into `out_dir`: a PNG per plot, and one HTML page with
    all of them interactive.

    Both render with no network: the PNGs are plain images (the MLflow UI shows them inline), and
    the page carries plotly.js inside it, once for all its plots, instead of loading it from a
    CDN, which is blank offline or behind a proxy. A plot the data cannot support (importances
    from one trial, say) is skipped with a note, never an error: plots are for review and must
    not fail a sweep that otherwise succeeded.
    """
    import optuna.visualization as vis
    import optuna.visualization.matplotlib as mpl
    from optuna.importance import FanovaImportanceEvaluator, get_param_importances

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    result = PlotSet()
    figures: list[tuple[str, Any]] = []
    study = build_study(trials, objective, objective_metric, ranges)
    complete = [t for t in study.trials if t.state.name == "COMPLETE"]
    target_name = objective_metric

    def draw(
        name: str, plotly: Callable[..., Any], matplotlib: Callable[..., Any], *, ours: bool = False, **kwargs: Any
    ) -> None:
        with quiet_optuna():
            figures.append((name, plotly(study, **kwargs)))
            _save_png(matplotlib(study, **kwargs), out / f"{name}.png", result, tight=not ours)

    if not complete:
        result.notes.append("no completed trial with an objective yet: no optimisation history or parallel coordinates")
    else:
        draw(HISTORY, vis.plot_optimization_history, mpl.plot_optimization_history, target_name=target_name)
        if any(t.params for t in complete):
            draw(
                PARALLEL,
                vis.plot_parallel_coordinate,
                plot_png.parallel_coordinates,
                ours=True,
                target_name=target_name,
            )
        else:
            result.notes.append("trials have no parameters: no parallel coordinates")

    varying = [name for name in _param_names(complete) if len({repr(t.params.get(name)) for t in complete}) > 1]
    if len(complete) < 2:
        result.notes.append(f"parameter importances need at least 2 completed trials; {len(complete)} so far")
    elif not varying:
        result.notes.append("parameter importances need parameters whose values differ between trials")
    else:
        try:
            with quiet_optuna():
                importances = get_param_importances(
                    study, evaluator=FanovaImportanceEvaluator(n_trees=FANOVA_TREES, seed=0), params=varying
                )
            draw(
                IMPORTANCES,
                vis.plot_param_importances,
                mpl.plot_param_importances,
                evaluator=_known_evaluator(importances),  # fANOVA is the slow part: fitted once for both renderings
                params=varying,
                target_name=target_name,
            )
        except (ValueError, RuntimeError) as exc:  # Optuna refuses degenerate studies this way
            result.notes.append(f"parameter importances skipped: {exc}")

    if any(t.intermediate_values for t in study.trials):
        draw(
            CURVES,
            vis.plot_intermediate_values,
            functools.partial(plot_png.learning_curves, target_name=target_name),
            ours=True,
        )
    if figures:
        result.files.append(_save_page(figures, out / f"{PAGE}.html", objective_metric))
    return result


def _known_evaluator(importances: dict[str, float]) -> Any:
    """An importance evaluator that hands the plots importances computed before."""
    from optuna.importance import BaseImportanceEvaluator

    class Known(BaseImportanceEvaluator):
        def evaluate(self, study: Any, params: Any = None, *, target: Any = None) -> dict[str, float]:
            return dict(importances)

    return Known()


def _save_png(axes: Any, path: Path, result: PlotSet, tight: bool = True) -> None:
    """Optuna's figures are cropped to what they drew; ours (`tight=False`) have their margins set."""
    import matplotlib.pyplot as plt

    # One Axes, a Figure (a figure's `figure` is itself), or a grid of Axes.
    figure = axes.figure if hasattr(axes, "figure") else axes.flat[0].figure
    figure.set_size_inches(9, 5.5)
    figure.savefig(path, dpi=110, bbox_inches="tight" if tight else None)
    plt.close(figure)
    result.files.append(path)


def _save_page(figures: list[tuple[str, Any]], path: Path, objective_metric: str) -> Path:
    """One self-contained HTML page: plotly.js inline once, then every figure."""
    import plotly.io as pio

    # Fixed heights: a percentage height is zero inside the MLflow UI's artifact frame.
    parts = [
        pio.to_html(figure, include_plotlyjs=index == 0, full_html=False, div_id=name, default_height="520px")
        for index, (name, figure) in enumerate(figures)
    ]
    title = f"Sweep plots: {objective_metric}"
    path.write_text(
        f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>{title}</title></head>\n'
        f"<body>\n{chr(10).join(parts)}\n</body></html>\n",
        encoding="utf-8",
    )
    return path


def _param_names(trials: list[Any]) -> list[str]:
    names: list[str] = []
    for t in trials:
        names.extend(n for n in t.params if n not in names)
    return names


def _distributions(trials: list[Trial], ranges: dict[str, ParamRange]) -> dict[str, Any]:
    """One Optuna distribution per parameter, spanning the values the trials actually used.

    The config's range type decides categorical vs numeric and log scaling where it is known; the
    bounds come from the observed values so that every trial's value lies inside, whatever the
    backend did (rounding, q-steps, warm-started parents).
    """
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    observed: dict[str, list[Any]] = {}
    for trial in trials:
        for name, value in trial.params.items():
            if value is not None:
                observed.setdefault(name, []).append(_value(value, ranges.get(name)))
    result: dict[str, Any] = {}
    for name, values in observed.items():
        spec = ranges.get(name)
        numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
        finite = numeric and all(math.isfinite(v) for v in values)
        if (spec is not None and spec.type == RangeType.categorical) or not finite:
            choices: list[Any] = []
            for v in [*(spec.values or [] if spec else []), *values]:
                if not any(type(c) is type(v) and c == v for c in choices):
                    choices.append(v)
            result[name] = CategoricalDistribution(choices)
            continue
        low, high = min(values), max(values)
        log = bool(spec is not None and spec.is_log and low > 0)
        if all(isinstance(v, int) for v in values):
            result[name] = IntDistribution(int(low), int(high), log=log)
        else:
            result[name] = FloatDistribution(float(low), float(high), log=log)
    return result


def _value(value: Any, spec: ParamRange | None) -> Any:
    """The parameter as Optuna can hold it: a scalar, numbers as numbers where the range is numeric.

    Some services hand hyperparameters back as strings ("0.01"); a numeric range reads them as
    numbers so that they are plotted on an axis, not as categories.
    """
    if isinstance(value, str) and spec is not None and spec.type != RangeType.categorical:
        try:
            number = float(value)
        except ValueError:
            return value
        return int(number) if spec.is_integral and number.is_integer() else number
    if isinstance(value, bool | str):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)  # numpy scalars from a backend: plain Python numbers for Optuna
    if isinstance(value, numbers.Real):
        return float(value)
    return str(value)


@contextlib.contextmanager
def quiet_optuna() -> Iterator[None]:
    """Silence Optuna's info lines ("A new study created in memory ...") and its warnings that the
    matplotlib plots are experimental, for the duration only."""
    from optuna.exceptions import ExperimentalWarning

    logger = logging.getLogger("optuna")
    previous = logger.level
    logger.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ExperimentalWarning)
            warnings.simplefilter("ignore", UserWarning)  # matplotlib on degenerate axes (one trial)
            yield
    finally:
        logger.setLevel(previous)
