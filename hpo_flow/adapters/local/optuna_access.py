"""Every use of Optuna internals, in one place.

The runner asks and tells by itself (it is its own `optimize`), so it needs a few things Optuna
keeps private: a trial's storage id, the study's storage, the stale-trial query behind heartbeats
and the journal backend. An Optuna upgrade that moves them breaks this module only, and its
test (`test_the_optuna_internals_we_use_still_exist` in tests/local/test_judge_recovery.py)
says so first.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import optuna
    from optuna.trial import FrozenTrial, Trial


def storage_of(study: optuna.Study) -> optuna.storages.BaseStorage:
    return study._storage


def storage_id(trial: Trial | FrozenTrial) -> int:
    return trial._trial_id


def all_trials(study: optuna.Study) -> list[FrozenTrial]:
    """The study's trials straight from its storage, without the study's per-call copies."""
    return study._storage.get_all_trials(study._study_id, deepcopy=False)


def fresh(study: optuna.Study, trial: FrozenTrial) -> FrozenTrial:
    """The trial as its storage holds it now (another process may have finished it meanwhile)."""
    return study._storage.get_trial(trial._trial_id)


def set_trial_attr(study: optuna.Study, trial: Trial | FrozenTrial, key: str, value: Any) -> bool:
    """Set a user attribute of any trial of the study; False when the trial has finished meanwhile."""
    import optuna

    try:
        study._storage.set_trial_user_attr(trial._trial_id, key, value)
    except optuna.exceptions.UpdateFinishedTrialError:
        return False
    return True


def fail_if_running(study: optuna.Study, trial: FrozenTrial) -> bool:
    """Fail a running trial; True for exactly one caller, however many processes try at once."""
    import optuna
    from optuna.trial import TrialState

    try:
        return bool(study._storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL))
    except optuna.exceptions.UpdateFinishedTrialError:
        return False


def record_heartbeat(study: optuna.Study, trial: Trial | FrozenTrial) -> None:
    study._storage.record_heartbeat(trial._trial_id)  # type: ignore[attr-defined]


def heartbeats(study: optuna.Study) -> bool:
    """Whether the study's storage keeps heartbeats (a database opened with a heartbeat interval)."""
    from optuna.storages._heartbeat import is_heartbeat_enabled

    return is_heartbeat_enabled(study._storage)


def stale_trial_ids(study: optuna.Study) -> set[int]:
    """Storage ids of running trials whose heartbeat is older than the storage's grace period.

    Optuna's own `fail_stale_trials` fails them first and calls back after, when a failed trial can
    no longer take the reason or be told apart from a trial failed by someone else; the runner
    recovers them itself, under its claim lock (hpo_flow.adapters.local.recovery).
    """
    if not heartbeats(study):
        return set()
    return set(study._storage._get_stale_trial_ids(study._study_id))  # type: ignore[attr-defined]


def journal_backend(storage: Any) -> Any:
    """The file backend of a journal storage (None for a database)."""
    return getattr(storage, "_backend", None)
