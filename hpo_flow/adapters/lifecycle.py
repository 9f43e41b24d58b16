"""A sweep's life: which sweep a flow run drives, decided once, here.

A sweep belongs to the config *and* the training code (`identify`); each new sweep of the same
identity is a generation (`<base>-<hash>`, then `<base>-<hash>-g2`, ...). `decide` is the one rule:
attach to the latest generation while it runs, or when it ended but was never recorded (a crashed
or killed flow, a retry: never pay for a sweep twice); once it is ended *and recorded* (the flow
finished with it: the nightly case), start the next generation, warm-started from the earlier ones.

Neutral code: the history comes from wherever sweeps are recorded (MLflow, `hpo_flow.tasks.lineage`), and
each adapter maps the warm start to what its service offers.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from hpo_flow.adapters.code import code_digest
from hpo_flow.adapters.errors import HpoFlowError
from hpo_flow.adapters.port import Trial, TrialStatus, ranked_trials
from hpo_flow.adapters.spec import HpoConfig, Lineage, ParamRange, RangeType, Scalar

# How many of the earlier generations' best values a new local study tries first: enough to carry
# what was learnt, few enough that most of the budget explores.
MAX_WARM_POINTS = 3
_GENERATION_SUFFIX = re.compile(r"-g(\d+)$")


@dataclass(frozen=True)
class Generation:
    """One sweep of an identity, as the record of sweeps knows it."""

    number: int
    name: str
    recorded: bool  # ended and fully recorded: the flow that drove it finished with it


@dataclass(frozen=True)
class Decision:
    """Which generation to submit, and why; `attach` when it is a sweep that exists already."""

    generation: int
    attach: bool
    reason: str
    parents: list[str] = field(default_factory=list)  # earlier generations' names, newest first


def identify(config: HpoConfig, config_path: str | Path | None = None) -> HpoConfig:
    """The config with its training code's digest in `lineage`: from here on its hash, hence its
    sweep's name, covers the code that would be shipped. The config file itself is left out of the
    digest (its meaning is hashed already; its comments are not part of the sweep)."""
    leave_out: list[str | Path] = []
    if config_path is not None:
        leave_out += [Path(config_path), Path(f"{Path(config_path).resolve()}.lock")]
    uri = config.mlflow.tracking_uri
    if uri.startswith("sqlite:///"):
        # The tracking store may sit in the code folder (the default sqlite:///mlflow.db does), and
        # it changes as runs record: it, and SQLite's journal beside it, are no part of the code.
        store = uri.removeprefix("sqlite:///").split("?")[0]
        leave_out += [Path(store + suffix) for suffix in ("", "-journal", "-wal", "-shm")]
    digest = code_digest(config.training.source_dir, leave_out)
    lineage = (config.lineage or Lineage()).model_copy(update={"code": digest})
    return config.model_copy(update={"lineage": lineage})


def decide(history: list[Generation], *, new_sweep: bool = False, attach: str | None = None) -> Decision:
    """The one rule that picks the sweep a flow run drives (see the module docstring).

    `new_sweep` forces the next generation whatever the latest is doing; `attach` names the sweep
    to attach to (a generation of this identity; the adapter refuses a sweep of another config).
    """
    ordered = sorted(history, key=lambda g: g.number)
    if attach is not None:
        known = next((g for g in ordered if g.name == attach), None)
        if known is not None:
            number = known.number
        else:
            match = _GENERATION_SUFFIX.search(attach)
            number = int(match.group(1)) if match else 1
        return Decision(number, True, f"--attach {attach}", _parents(ordered, number))
    if not ordered:
        return Decision(1, False, "the first sweep of this config and training code")
    latest = ordered[-1]
    if new_sweep:
        number = latest.number + 1
        why = f"--new-sweep: generation {number} after {latest.name}"
        return Decision(number, False, why, _parents(ordered, number))
    if not latest.recorded:
        why = (
            f"{latest.name} is still running, or ended without being recorded (a crashed or retried run): "
            "attaching to it instead of paying for another sweep"
        )
        return Decision(latest.number, True, why, _parents(ordered, latest.number))
    number = latest.number + 1
    why = f"{latest.name} ended and is recorded: generation {number} starts"  # warm or cold: the backend's to say
    return Decision(number, False, why, _parents(ordered, number))


def _parents(ordered: list[Generation], number: int) -> list[str]:
    # Only ended sweeps can seed another (SageMaker refuses a parent still running; a local one
    # has not found its best yet): an unrecorded one is left out, --new-sweep beside it included.
    return [g.name for g in reversed(ordered) if g.number < number and g.recorded]


def for_generation(
    spec: HpoConfig, decision: Decision, warm_points: list[dict[str, Scalar]] | None = None
) -> HpoConfig:
    """The spec the adapter gets: the decided generation, its parents, and the values to try first."""
    lineage = (spec.lineage or Lineage()).model_copy(
        update={
            "generation": decision.generation,
            "parents": list(decision.parents),
            "warm_points": list(warm_points or []) if decision.parents else [],
        }
    )
    return spec.model_copy(update={"lineage": lineage})


def check_attached(name: str, spec: HpoConfig) -> None:
    """`--attach NAME` must name a sweep of this config and code (under any backend's length limit),
    checked before submit: a name of another config would otherwise start a sweep of this one."""
    from hpo_flow.adapters import registry

    names = {info.sweep_name(spec) for info in registry.backends().values()}
    if name not in names:
        raise HpoFlowError(
            f"--attach {name}: not a sweep of this config and training code (its generation "
            f"{spec.generation} is called {spec.sweep_name()!r}); run the config the sweep was started from"
        )


# --------------------------------------------------------------------------- warm start


def warm_points(trials: list[Trial], spec: HpoConfig) -> list[dict[str, Scalar]]:
    """The best distinct tuned values among earlier generations' completed trials, best first."""
    limit = min(MAX_WARM_POINTS, max(1, spec.tuning.max_jobs // 3))
    ranges = spec.tuning.hyperparameter_ranges
    found: list[dict[str, Scalar]] = []
    completed = [t for t in trials if t.status == TrialStatus.COMPLETED and t.objective is not None]
    for trial in ranked_trials(completed, spec.objective):
        if trial.objective is None or not math.isfinite(trial.objective):
            continue
        point: dict[str, Scalar] = {}
        for name, r in ranges.items():
            value = coerce(trial.params.get(name), r)
            if value is None:
                break
            point[name] = value
        else:
            if point not in found:
                found.append(point)
        if len(found) >= limit:
            break
    return found


def coerce(value: object, r: ParamRange) -> Scalar | None:
    """A recorded value (MLflow keeps params as text) back in the range's own type; None when it does
    not fit the range any more (the earlier generation tried what this config no longer allows)."""
    if value is None:
        return None
    if r.type == RangeType.categorical:
        return next((v for v in r.values or [] if v == value or str(v) == str(value)), None)
    try:
        number = float(str(value))
    except ValueError:
        return None
    if not math.isfinite(number):
        return None
    if r.min is not None and r.max is not None and not (r.min <= number <= r.max):
        return None
    return round(number) if r.type == RangeType.integer or r.is_integral else number
