"""The sweep's limits, judged from the study's trials alone (so every worker judges alike).

Budget (`max_jobs`): a trial uses one unit of the budget when it is running, when it finished
(completed or pruned), or when it failed through its own doing (non-zero exit, crash, timeout,
no objective printed), as on SageMaker, where a failed training job counts towards the limit.
A trial that failed because its runner died, or was stopped by a cancel, the deadline or a leaving
worker, does not count: the first kind is retried, the others end the sweep anyway.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hpo_flow.adapters.local.state import TrialRecord
from hpo_flow.adapters.port import SweepStatus
from hpo_flow.adapters.spec import HpoConfig, Objective

if TYPE_CHECKING:
    from optuna.trial import FrozenTrial


@dataclass(frozen=True)
class Verdict:
    """The sweep must end: with this status and message; running trials are stopped with `stop_reason`."""

    status: SweepStatus
    message: str
    stop_reason: str


def counts_against_budget(trial: FrozenTrial) -> bool:
    from optuna.trial import TrialState

    if trial.state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING):
        return True
    if trial.state == TrialState.FAIL:
        return TrialRecord.of(trial).counts
    return False


def budget_used(trials: Sequence[FrozenTrial]) -> int:
    return sum(1 for t in trials if counts_against_budget(t))


def failed_trials(trials: Sequence[FrozenTrial]) -> list[FrozenTrial]:
    """Trials that failed through their own doing (what max_failed_trials counts)."""
    from optuna.trial import TrialState

    return [t for t in trials if t.state == TrialState.FAIL and counts_against_budget(t)]


def _better(a: float, b: float, objective: Objective) -> bool:
    return a > b if objective == Objective.Maximize else a < b


def verdict(spec: HpoConfig, trials: Sequence[FrozenTrial]) -> Verdict | None:
    """Whether a limit other than the budget ends the sweep now: failures or completion criteria."""
    from optuna.trial import TrialState

    tuning = spec.tuning
    if tuning.max_failed_trials is not None:
        failed = failed_trials(trials)
        if len(failed) >= tuning.max_failed_trials:
            last = TrialRecord.of(failed[-1]).reason or ""
            return Verdict(
                SweepStatus.FAILED,
                f"{len(failed)} trials failed (tuning.max_failed_trials is {tuning.max_failed_trials}); last: {last}",
                "sweep failed: too many failed trials",
            )
    criteria = tuning.completion_criteria
    if criteria is None:
        return None
    objective = spec.objective
    complete = [t for t in trials if t.state == TrialState.COMPLETE and t.value is not None]
    target = criteria.target_objective_value
    if target is not None:
        reached = [t for t in complete if t.value == target or _better(t.value, target, objective)]  # type: ignore[arg-type]
        if reached:
            return Verdict(
                SweepStatus.COMPLETED,
                f"trial {reached[0].number} reached the target objective {target} "
                "(tuning.completion_criteria.target_objective_value)",
                "target objective reached",
            )
    patience = criteria.max_jobs_not_improving
    if patience is not None:
        since = jobs_since_improvement(trials, objective)
        if since >= patience:
            return Verdict(
                SweepStatus.COMPLETED,
                f"no improvement in the last {since} trials (tuning.completion_criteria.max_jobs_not_improving "
                f"is {patience})",
                "no improvement",
            )
    return None


def jobs_since_improvement(trials: Sequence[FrozenTrial], objective: Objective) -> int:
    """Finished trials (completed or pruned, in order of completion) since the best completed one."""
    from optuna.trial import TrialState

    done = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED) and t.datetime_complete]
    done.sort(key=lambda t: (t.datetime_complete, t.number))
    best: float | None = None
    since = 0
    for t in done:
        value = t.value
        improves = (
            t.state == TrialState.COMPLETE
            and value is not None
            and math.isfinite(value)
            and (best is None or _better(value, best, objective))
        )
        if improves:
            best, since = value, 0
        else:
            since += 1
    return since if best is not None else 0


def grid_exhausted(trials: Sequence[FrozenTrial]) -> bool:
    """Every point of Optuna's GridSampler grid has been started (finished or running)."""
    from optuna.trial import TrialState

    size: int | None = None
    seen: set[int] = set()
    for t in trials:
        space = t.system_attrs.get("search_space")
        grid_id = t.system_attrs.get("grid_id")
        if space is None or grid_id is None:
            continue
        size = math.prod(len(values) for values in space.values())
        if t.state.is_finished() or t.state == TrialState.RUNNING:
            seen.add(int(grid_id))
    return size is not None and len(seen) >= size


def end_summary(status: SweepStatus, message: str, trials: Sequence[FrozenTrial]) -> tuple[SweepStatus, str]:
    """The status and message a sweep ends with: the reason it ended, then what its trials did.

    A sweep that "completed" without a single objective value has nothing to register: it failed.
    """
    from optuna.trial import TrialState

    names = {TrialState.COMPLETE: "completed", TrialState.PRUNED: "pruned", TrialState.FAIL: "failed"}
    counts = {label: 0 for label in names.values()}
    for t in trials:
        if t.state in names:
            counts[names[t.state]] += 1
    tally = ", ".join(f"{n} {label}" for label, n in counts.items())
    full = f"{message}; {tally}" if message else tally
    scored = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED) and t.value is not None]
    if status == SweepStatus.COMPLETED and not scored:
        failed = [t for t in trials if t.state == TrialState.FAIL]
        last = TrialRecord.of(failed[-1]).reason if failed else None
        status = SweepStatus.FAILED
        full = f"no trial reported the objective metric ({full})" + (f"; last failure: {last}" if last else "")
    return status, full
