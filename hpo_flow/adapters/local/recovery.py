"""Recovery: a trial whose runner or worker died is failed and run again as a new trial.

Two ways to notice the death, one way to recover:
- on this machine, the trial's owner lock is free (the kernel dropped it with the process), or the
  trial has no launch record (its claimer died between `ask` and launch): noticed at once;
- on another machine, its worker stopped sending heartbeats for longer than the storage's grace
  period (a database storage only).
Both run under the claim lock, and the failing itself is a compare-and-set in the storage, so one
process recovers a trial and its retry is enqueued once. We never let Optuna fail stale trials by
itself: it fails the trial first and calls back after, when the trial can no longer take the reason
(UpdateFinishedTrialError) and the callback cannot tell whether the retry is still owed.
"""

from __future__ import annotations

import logging
from collections.abc import Container
from dataclasses import dataclass

import optuna
from optuna.trial import FrozenTrial, TrialState

from hpo_flow.adapters.local import optuna_access
from hpo_flow.adapters.local.process import kill_leftovers
from hpo_flow.adapters.local.state import (
    END_ATTR,
    PARAMS_ATTR,
    RESULT_ATTR,
    RETRY_ATTR,
    RUN_ATTR,
    STOP_ATTR,
    TrialRecord,
    lock_held,
)

log = logging.getLogger("hpo_flow.local")


@dataclass(frozen=True)
class DeadTrial:
    trial: FrozenTrial
    why: str


def find_dead(
    study: optuna.Study, trials: list[FrozenTrial], *, host: str, worker_id: str, running_here: Container[int]
) -> list[DeadTrial]:
    """Running trials whose runner is gone; call with the claim lock held."""
    stale: set[int] | None = None
    dead: list[DeadTrial] = []
    for frozen in trials:
        if frozen.state != TrialState.RUNNING or frozen.number in running_here:
            continue
        run = frozen.user_attrs.get(RUN_ATTR)
        if run is None:  # ask and launch happen under the claim lock we hold: its claimer died between
            dead.append(DeadTrial(frozen, "runner died before the trial started"))
        elif run.get("worker") == worker_id:
            continue
        elif run.get("host") == host:
            if not lock_held(run.get("owner_lock", "")):
                kill_leftovers([run["model_dir"]], [int(run.get("pgid") or 0)], grace=0)
                dead.append(DeadTrial(frozen, "runner died"))
        else:
            if stale is None:
                stale = optuna_access.stale_trial_ids(study)
            if optuna_access.storage_id(frozen) in stale:
                worker = f"{run.get('worker', '?')} on {run.get('host', '?')}"
                dead.append(DeadTrial(frozen, f"worker {worker} stopped sending heartbeats"))
    return dead


def sweep_over(study: optuna.Study) -> bool:
    attrs = study.user_attrs
    return END_ATTR in attrs or STOP_ATTR in attrs


def fail_and_retry(study: optuna.Study, dead: DeadTrial, *, ending: bool = False) -> bool:
    """Fail a dead trial with its reason and enqueue its retry unless the sweep is over.

    False when another process finished or recovered the trial first (then it owes nothing here).
    """
    frozen = optuna_access.fresh(study, dead.trial)
    if frozen.state != TrialState.RUNNING:
        return False
    over = ending or sweep_over(study)
    reason = f"{dead.why}; " + ("not retried: the sweep is over" if over else "retried as a new trial")
    if not optuna_access.set_trial_attr(study, frozen, RESULT_ATTR, TrialRecord(reason=reason).to_attr()):
        return False
    if not optuna_access.fail_if_running(study, frozen):
        return False
    if not over:
        enqueue_retry(study, frozen, (frozen.user_attrs.get(RUN_ATTR) or {}).get("params"))
    log.warning("trial %d: %s", frozen.number, reason)
    return True


def enqueue_retry(study: optuna.Study, frozen: FrozenTrial | optuna.trial.Trial, params: dict | None) -> None:
    """Run the same configuration again as a new trial (`hpo.retry_of` names the one it replaces)."""
    sampled = dict(frozen.params)
    study.enqueue_trial(sampled, user_attrs={RETRY_ATTR: frozen.number, PARAMS_ATTR: params or sampled})
