"""Review plots of a sweep (optimisation history, parallel coordinates, parameter importances),
rendered by optuna.visualization from the neutral trials of any backend.

Every backend reports the same `Trial` records, so we rebuild an in-memory Optuna study from
them (`optuna.trial.create_trial`, with distributions derived from the values the trials saw)
and let Optuna's own plotting draw it: the plots look the same whether the sweep ran locally,
on SageMaker or on Azure ML.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import math
import numbers
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from adapters.port import Trial, TrialStatus
from adapters.spec import Objective, ParamRange, RangeType

if TYPE_CHECKING:
    import optuna

# One file per plot; the names are what a reviewer sees in the MLflow artifact tree.
HISTORY = "optimization_history"
PARALLEL = "parallel_coordinates"
IMPORTANCES = "param_importances"
CURVES = "learning_curves"


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
    with _quiet_optuna():
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
    """Render every plot the trials allow into `out_dir` as HTML (and PNG when kaleido is installed).

    A plot the data cannot support (importances from one trial, say) is skipped with a note,
    never an error: plots are for review and must not fail a sweep that otherwise succeeded.
    """
    import optuna.visualization as vis
    from optuna.importance import FanovaImportanceEvaluator

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    result = PlotSet()
    study = build_study(trials, objective, objective_metric, ranges)
    complete = [t for t in study.trials if t.state.name == "COMPLETE"]
    target_name = objective_metric

    if not complete:
        result.notes.append("no completed trial with an objective yet: no optimisation history or parallel coordinates")
    else:
        _save(vis.plot_optimization_history(study, target_name=target_name), out / HISTORY, result)
        if any(t.params for t in complete):
            _save(vis.plot_parallel_coordinate(study, target_name=target_name), out / PARALLEL, result)
        else:
            result.notes.append("trials have no parameters: no parallel coordinates")

    varying = [name for name in _param_names(complete) if len({repr(t.params.get(name)) for t in complete}) > 1]
    if len(complete) < 2:
        result.notes.append(f"parameter importances need at least 2 completed trials; {len(complete)} so far")
    elif not varying:
        result.notes.append("parameter importances need parameters whose values differ between trials")
    else:
        try:
            with _quiet_optuna():
                figure = vis.plot_param_importances(
                    study, evaluator=FanovaImportanceEvaluator(seed=0), params=varying, target_name=target_name
                )
            _save(figure, out / IMPORTANCES, result)
        except (ValueError, RuntimeError) as exc:  # Optuna refuses degenerate studies this way
            result.notes.append(f"parameter importances skipped: {exc}")

    if any(t.intermediate_values for t in study.trials):
        with _quiet_optuna():
            _save(vis.plot_intermediate_values(study), out / CURVES, result)
    if importlib.util.find_spec("kaleido") is None:
        result.notes.append("PNG copies skipped: install kaleido to get them; the HTML plots are complete")
    return result


def _save(figure: Any, stem: Path, result: PlotSet) -> None:
    # plotly.js from its CDN keeps each file ~10 KB instead of ~3.5 MB; the MLflow UI loads it in
    # the browser, which is where the plots are looked at.
    html = stem.with_suffix(".html")
    figure.write_html(html, include_plotlyjs="cdn", full_html=True)
    result.files.append(html)
    if importlib.util.find_spec("kaleido") is not None:
        png = stem.with_suffix(".png")
        try:
            figure.write_image(png)
            result.files.append(png)
        except (ValueError, RuntimeError, OSError) as exc:  # kaleido present but no browser to drive
            result.notes.append(f"PNG of {stem.name} skipped: {exc}")


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
def _quiet_optuna() -> Iterator[None]:
    """Silence Optuna's info lines ("A new study created in memory ...") for the duration only."""
    logger = logging.getLogger("optuna")
    previous = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(previous)
