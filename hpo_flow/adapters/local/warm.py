"""Warm start of a local sweep: the earlier generations' best values, tried first by the new study.

Each point is enqueued (Optuna `enqueue_trial`) in the study's own terms: a transformed draw
(`<name>:log`, `<name>:1-x`, `<name>:u`) gets the latent value that maps back to the point, so
the trial receives exactly the values the earlier generation found best. A point counts as one
of the sweep's `max_jobs` trials: the new generation re-measures it on today's data and code.
"""

from __future__ import annotations

import math
from statistics import NormalDist
from typing import TYPE_CHECKING, Any

from hpo_flow.adapters.errors import Problem
from hpo_flow.adapters.local import optuna_access
from hpo_flow.adapters.spec import HpoConfig, RangeType, Strategy

if TYPE_CHECKING:
    import optuna

WARM_ATTR = "hpo.warm_start"  # trial user attribute: the point came from an earlier generation


def warm_start_note(spec: HpoConfig) -> str | None:
    """What the plan says about the warm start of this generation; None for a first generation."""
    lineage = spec.lineage
    if lineage is None or not lineage.parents:
        return None
    if spec.tuning.strategy == Strategy.Grid:
        return "none: a Grid sweep tries every point anyway"
    if not lineage.warm_points:
        return f"none: the earlier generations ({', '.join(lineage.parents)}) left no completed trial"
    return f"the first {len(lineage.warm_points)} trial(s) try the best values of {', '.join(lineage.parents)}"


def enqueue_warm_points(study: optuna.Study, spec: HpoConfig) -> int:
    """Enqueue the spec's warm-start points in a new study; returns how many were enqueued."""
    from hpo_flow.adapters.local.search import param_draws

    lineage = spec.lineage
    if lineage is None or not lineage.warm_points or spec.tuning.strategy == Strategy.Grid:
        return 0
    draws = param_draws(spec)
    count = 0
    for point in lineage.warm_points:
        latent: dict[str, Any] = {}
        for draw in draws:
            raw = _latent(draw.optuna_name, point.get(draw.name), spec)
            if raw is None:
                continue  # drawn afresh
            dist = draw.distribution
            try:
                if optuna_access.contains(dist, dist.to_internal_repr(raw)):
                    latent[draw.optuna_name] = raw
            except (ValueError, TypeError):
                continue
        if latent:
            study.enqueue_trial(latent, user_attrs={WARM_ATTR: ", ".join(lineage.parents)})
            count += 1
    return count


def _latent(optuna_name: str, value: Any, spec: HpoConfig) -> Any:
    if value is None:
        return None
    name, _, kind = optuna_name.partition(":")
    if not kind:
        return value
    number = float(value)
    if kind == "log":
        return number
    if kind == "1-x":
        return 1.0 - number
    if kind == "u":
        r = spec.tuning.hyperparameter_ranges[name]
        assert r.mu is not None and r.sigma is not None
        if r.type == RangeType.lognormal:
            if number <= 0:
                return None
            number = math.log(number)
        return min(max(NormalDist(r.mu, r.sigma).cdf(number), 1e-9), 1 - 1e-9)
    return None


def warm_start_problems(spec: HpoConfig) -> list[Problem]:
    """A config's own `tuning.warm_start` names SageMaker tuning jobs; a local study cannot start from those."""
    warm = spec.tuning.warm_start
    if warm is None:
        return []
    return [
        Problem(
            "tuning.warm_start",
            warm.parents,
            "names SageMaker tuning jobs, which a local sweep cannot start from; remove it: a local sweep "
            "warm-starts from the earlier generations of its own config by itself",
        )
    ]
