"""Record a sweep in MLflow for review: one parent run per sweep, one nested child run per trial.

The parent is found again by its tags and each child by `hpo.trial_id`, so recording twice adds
nothing. The plain functions know nothing of Prefect and can be called and tested alone; the
`*_task` wrappers at the bottom are what the flow uses.

Everything written is redacted first (hpo_flow.adapters.redact): params, tags, notes, the config
snapshot and the trials' log files.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Iterable, Set
from pathlib import Path
from typing import TYPE_CHECKING

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from hpo_flow.adapters.port import SweepRef, SweepState, SweepStatus, Trial, TrialStatus
from hpo_flow.adapters.redact import known_secrets, redact_text
from hpo_flow.adapters.spec import HpoConfig
from hpo_flow.tasks.result import SweepResult
from hpo_flow.tasks.tracking import ledger
from hpo_flow.tasks.tracking.descriptions import config_snapshot, sweep_params, sweep_tags
from hpo_flow.tasks.tracking.ledger import RunLedger, SweepLedger
from hpo_flow.tasks.tracking.schema import (
    ARTIFACTS,
    BEST,
    BEST_TRIAL_ID,
    CONFIG_ARTIFACT,
    CONFIG_DIFF,
    CONFIG_HASH,
    DIFF_ARTIFACT,
    DIFF_UNCHANGED,
    FAILURE_REASON,
    MODEL_URI,
    NOTE,
    OBJECTIVE,
    PARENT,
    PLOTS_FOR,
    PRUNED_REASON,
    RECORDER,
    RUN_KIND,
    SWEEP_KIND,
    SWEEP_NAME,
    TRIAL_ID,
    TRIAL_KIND,
    TRIAL_STATUS,
    TRUE,
    best_metric,
    final_metric,
    flag,
    format_objective,
)
from hpo_flow.tasks.tracking.store import (
    MAX_PARAM,
    MAX_TAG,
    child_runs,
    client_for,
    clip,
    ensure_experiment,
    find_parent,
    finite,
    flat_params,
    log_redacted_file,
    ms,
)
from hpo_flow.tasks.writeback import redact_config_text

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities import Run

log = logging.getLogger(__name__)


# Neutral trial status -> MLflow run status; the exact status is kept in the TRIAL_STATUS tag.
RUN_STATUS = {
    TrialStatus.COMPLETED: "FINISHED",
    TrialStatus.PRUNED: "KILLED",
    TrialStatus.FAILED: "FAILED",
    TrialStatus.STOPPED: "KILLED",
}
SWEEP_RUN_STATUS = {SweepStatus.COMPLETED: "FINISHED", SweepStatus.FAILED: "FAILED", SweepStatus.STOPPED: "KILLED"}

# The tracking URI each parent run was recorded at, for log_config_diff's callers that pass only
# the run id (the flow runs its tasks in one process).
_URI_OF_RUN: dict[str, str] = {}
# The parent run of each sweep recorded in this process: a look-up by id instead of a tag search.
_PARENT_OF_SWEEP: dict[tuple[str | None, str, str, str], str] = {}


def record_sweep(config: HpoConfig, ref: SweepRef, state: SweepState, plots: bool = True) -> str:
    """`record_result` of the state's result (`SweepResult.of`): for a state seen while polling."""
    return record_result(config, SweepResult.of(config, ref, state), plots)


def record_result(config: HpoConfig, result: SweepResult, plots: bool = True) -> str:
    """Record the sweep and its trials; returns the parent run id. Safe to call again and again.

    The best trial is the result's (`SweepResult.of`: the one rule, none for a failed sweep); this
    records it and chooses nothing. A best tag an earlier record set is taken back when it moves or
    when there is no best any more.

    A second call with the same state changes nothing. A later call with more trials, or with
    trials that have finished since, adds what is new: child runs of new trials, the rest of a
    running trial's curve, final statuses, the current best, and (with `plots`) fresh plots.
    What this process wrote before is not read back (`ledger`): a call costs what is new.
    """
    ref, state, best = result.ref, result.state, result.best
    uri = config.mlflow.tracking_uri
    with ledger.one_record_at_a_time(uri, ref.name, config.config_hash()):
        client = client_for(uri)
        experiment_id = ensure_experiment(client, config.experiment_name, config.project)
        parent = _parent(client, experiment_id, config, ref, state)
        parent_id = parent.info.run_id
        _URI_OF_RUN[parent_id] = uri
        # What a trial prints is the user's text: it may echo any secret the config or the
        # environment holds, and is masked with all of them before it is uploaded.
        secrets = known_secrets(config.model_dump(mode="json"), os.environ)
        try:
            book = ledger.current(uri, parent)
            if book is None:
                book = SweepLedger(
                    {k: RunLedger.of(r) for k, r in child_runs(client, experiment_id, parent_id).items()}
                )
            for trial in state.trials:
                if trial.status == TrialStatus.PENDING:
                    continue  # nothing to show until it starts
                is_best = best is not None and trial.id == best.id
                known = book.children.get(trial.id)
                run = _record_trial(client, experiment_id, parent_id, ref.name, config, trial, known, is_best, secrets)
                book.children[trial.id] = run
                _mark_best(client, run, is_best)
            stamp = book.next_stamp()
            _record_parent(client, parent, config, ref, state, best, plots, stamp)
            book.stamp = stamp
            ledger.keep(uri, parent_id, book)
        except BaseException:
            ledger.forget(uri, parent_id)  # what the store holds now is unknown: read it back next time
            raise
    return parent_id


def _parent(client: MlflowClient, experiment_id: str, config: HpoConfig, ref: SweepRef, state: SweepState) -> Run:
    """The sweep's parent run: the one this process used before when it is still there, else the
    one its tags find, else a new one."""
    from mlflow.exceptions import MlflowException

    key = (config.mlflow.tracking_uri, experiment_id, ref.name, config.config_hash())
    known = _PARENT_OF_SWEEP.get(key)
    if known is not None:
        try:
            run = client.get_run(known)
        except MlflowException:
            run = None
        if run is not None and run.info.lifecycle_stage == "active":
            return run
    parent = find_parent(client, experiment_id, ref.name, config.config_hash())
    if parent is None:
        parent = client.create_run(
            experiment_id,
            start_time=ms(min((t.started_at for t in state.trials if t.started_at), default=None)),
            tags={RUN_KIND: SWEEP_KIND, SWEEP_NAME: ref.name, CONFIG_HASH: config.config_hash()},
            run_name=ref.name,
        )
    _PARENT_OF_SWEEP[key] = parent.info.run_id
    return parent


def _record_trial(
    client: MlflowClient,
    experiment_id: str,
    parent_id: str,
    sweep_name: str,
    config: HpoConfig,
    trial: Trial,
    known: RunLedger | None,
    is_best: bool,
    secrets: Set[str] = frozenset(),
) -> RunLedger:
    """Write what the run lacks; the best trial's tag goes in the same batch when there is one."""
    from mlflow.entities import Metric, Param, RunTag

    if (
        known is not None
        and trial.status.is_terminal
        and known.tags.get(TRIAL_STATUS) == trial.status
        and known.status == RUN_STATUS[trial.status]
    ):
        return known  # recorded in full before
    wanted = {**_trial_tags(trial, config), TRIAL_STATUS: trial.status.value}
    if is_best:
        wanted[BEST] = TRUE
    if known is None and trial.tracking_run_id:
        known = _adopted(client, trial.tracking_run_id)
        if known is not None:
            wanted[PARENT] = parent_id  # the runner opened it before the sweep had a parent run
    if known is None:
        # Its tags in the same request as the run: with MLflow's SQL store each request of a
        # batch's parts is a transaction of its own (on SQLite an fsync), most of a trial's cost.
        known = RunLedger.of(
            client.create_run(
                experiment_id,
                start_time=ms(trial.started_at),
                tags={PARENT: parent_id, RUN_KIND: TRIAL_KIND, SWEEP_NAME: sweep_name, TRIAL_ID: trial.id, **wanted},
                run_name=trial.id,
            )
        )
    run_id = known.run_id

    params = {k: clip(v, MAX_PARAM) for k, v in flat_params(trial.params).items() if k not in known.params}
    points = _new_points(client, known, trial, config.tuning.objective_metric)
    tags = {k: v for k, v in wanted.items() if known.tags.get(k) != v}
    if not (params or points or tags or trial.status.is_terminal):
        return known  # a running trial with nothing new since the last poll
    if trial.log_path and Path(trial.log_path).is_file():
        log_redacted_file(client, run_id, Path(trial.log_path), "logs", known.artifact_uri, secrets)
    # One batch of everything, then status and end time in one call: a run that MLflow shows as
    # ended has everything, so a later call may skip it.
    client.log_batch(  # the client chunks to MLflow's limits
        run_id,
        metrics=[Metric(key, value, timestamp, step) for key, value, timestamp, step in points],
        params=[Param(k, v) for k, v in params.items()],
        tags=[RunTag(k, v) for k, v in tags.items()],
    )
    known.params.update(params)
    known.tags.update(tags)
    for key, value, _, step in sorted(points, key=lambda p: p[3]):
        if step >= known.last_step.get(key, -1):
            known.last_step[key] = step
            known.latest[key] = value
    if trial.status.is_terminal:
        client.set_terminated(run_id, RUN_STATUS[trial.status], end_time=ms(trial.ended_at))
        known.status = RUN_STATUS[trial.status]
    return known


def _adopted(client: MlflowClient, run_id: str) -> RunLedger | None:
    """The trial's own run (opened by the backend before the trial started), where it is still there."""
    from mlflow.exceptions import MlflowException

    try:
        run = client.get_run(run_id)
    except MlflowException:
        return None  # deleted by hand: the trial gets a run of the flow's own
    return RunLedger.of(run) if run.info.lifecycle_stage == "active" else None


def _new_points(
    client: MlflowClient, known: RunLedger, trial: Trial, objective_metric: str
) -> list[tuple[str, float, int, int]]:
    """(key, value, timestamp, step) of every metric point not yet recorded on the run.

    Curves are step metrics; a point is new when its step is past the last recorded one, so a
    trial recorded while running gets only the rest of its curve later. Final values of metrics
    without a curve are logged at step 0.
    """
    recorded = known.latest
    base = ms(trial.started_at)
    points: list[tuple[str, float, int, int]] = []
    for key, curve in trial.curves.items():
        last = known.last_step.get(key)
        if last is None:  # a run read back from the store: its history says
            last = -1
            if key in recorded:
                last = max((m.step for m in client.get_metric_history(known.run_id, key)), default=-1)
            known.last_step[key] = last
        points.extend((key, float(v), base, int(s)) for s, v in curve if int(s) > last and finite(v))
    finals = dict(trial.metrics)
    if trial.objective is not None and objective_metric not in finals and objective_metric not in trial.curves:
        finals[objective_metric] = trial.objective
    for key, value in finals.items():
        if not finite(value):
            continue
        series = trial.curves.get(key)
        if series:
            # The curve's last point is the final value; a backend that judged otherwise
            # (best-of-curve, say) gets its own figure next to the curve.
            if float(series[-1][1]) != float(value):
                key = final_metric(key)
            else:
                continue
        if recorded.get(key) != float(value):
            points.append((key, float(value), base, 0))
    return points


def _trial_tags(trial: Trial, config: HpoConfig) -> dict[str, str]:
    tags: dict[str, str] = {}
    if trial.status == TrialStatus.PRUNED:
        last = max((s for c in trial.curves.values() for s, _ in c), default=None)
        where = f" at step {last}" if last is not None else ""
        reason = trial.failure_reason or (
            f"stopped early by the {config.tuning.early_stopping.policy.value} early-stopping policy{where}"
        )
        tags[PRUNED_REASON] = clip(redact_text(reason), MAX_TAG)
    elif trial.status in (TrialStatus.FAILED, TrialStatus.STOPPED) and trial.failure_reason:
        tags[FAILURE_REASON] = clip(redact_text(trial.failure_reason), MAX_TAG)
        tags[NOTE] = clip(f"**{trial.status.value}**: {redact_text(trial.failure_reason)}", MAX_TAG)
    if trial.objective is not None and finite(trial.objective):
        tags[OBJECTIVE] = format_objective(trial.objective)
    if trial.model_uri:
        tags[MODEL_URI] = clip(redact_text(trial.model_uri), MAX_TAG)
    return tags


def _mark_best(client: MlflowClient, known: RunLedger, is_best: bool) -> None:
    had = flag(known.tags, BEST)
    if is_best and not had:
        client.set_tag(known.run_id, BEST, TRUE)
        known.tags[BEST] = TRUE
    elif had and not is_best:
        client.delete_tag(known.run_id, BEST)  # the best has moved on to a later trial
        known.tags.pop(BEST, None)


def _record_parent(
    client: MlflowClient,
    parent: Run,
    config: HpoConfig,
    ref: SweepRef,
    state: SweepState,
    best: Trial | None,
    plots: bool,
    stamp: str,
) -> None:
    from mlflow.entities import Metric, Param, RunTag

    run_id = parent.info.run_id
    have = parent.data
    params = [Param(k, clip(v, MAX_PARAM)) for k, v in sweep_params(config).items() if k not in have.params]
    tags = {k: clip(v, MAX_TAG) for k, v in sweep_tags(config, ref, state, best).items()}
    changed_tags = [RunTag(k, v) for k, v in tags.items() if have.tags.get(k) != v]
    if best is None and BEST_TRIAL_ID in have.tags:
        client.delete_tag(run_id, BEST_TRIAL_ID)  # an earlier record's best, before the sweep failed
    changed_tags.append(RunTag(RECORDER, stamp))  # the children recorded are current as of this stamp
    metrics = []
    if best is not None and best.objective is not None:
        key = best_metric(config.tuning.objective_metric)
        if have.metrics.get(key) != float(best.objective):
            finished = len(state.finished_trials)
            metrics.append(Metric(key, float(best.objective), ms(best.ended_at), finished))
    client.log_batch(run_id, metrics=metrics, params=params, tags=changed_tags)

    if CONFIG_ARTIFACT not in have.tags.get(ARTIFACTS, ""):
        client.log_text(run_id, json.dumps(config_snapshot(config), indent=2, sort_keys=True), CONFIG_ARTIFACT)
        client.set_tag(run_id, ARTIFACTS, CONFIG_ARTIFACT)

    digest = _trials_digest(state.finished_trials)
    if plots and state.finished_trials and have.tags.get(PLOTS_FOR) != digest:
        _log_plots(client, run_id, config, state.trials)
        client.set_tag(run_id, PLOTS_FOR, digest)

    status = parent.info.status
    if state.status.is_terminal:
        wanted = SWEEP_RUN_STATUS[state.status]
        if status != wanted:
            end = max((t.ended_at for t in state.trials if t.ended_at), default=None)
            client.set_terminated(run_id, wanted, end_time=ms(end))
    elif status != "RUNNING":
        client.update_run(run_id, status="RUNNING")  # a stopped sweep that was resumed


def _log_plots(client: MlflowClient, run_id: str, config: HpoConfig, trials: list[Trial]) -> None:
    from hpo_flow.tasks.plots import write_plots

    with tempfile.TemporaryDirectory(prefix="hpo-plots-") as tmp:
        plots = write_plots(
            trials, config.objective, config.tuning.objective_metric, tmp, config.tuning.hyperparameter_ranges
        )
        if plots.notes:
            (Path(tmp) / "NOTES.md").write_text("".join(f"- {n}\n" for n in plots.notes), encoding="utf-8")
            for note in plots.notes:
                log.info("plots: %s", note)
        client.log_artifacts(run_id, tmp, "plots")


def log_config_diff(parent_run_id: str, diff: str, tracking_uri: str | None = None) -> None:
    """Attach the write-back diff to the sweep's parent run (`config/config.diff`); safe to repeat.

    `tracking_uri` defaults to the one the run was recorded at by `record_sweep` in this process.
    """
    client = client_for(tracking_uri or _URI_OF_RUN.get(parent_run_id))
    text = redact_config_text(diff)
    if text.strip():
        client.log_text(parent_run_id, text, DIFF_ARTIFACT)
        client.set_tag(parent_run_id, CONFIG_DIFF, DIFF_ARTIFACT)
    else:
        client.set_tag(parent_run_id, CONFIG_DIFF, DIFF_UNCHANGED)


def _trials_digest(trials: Iterable[Trial]) -> str:
    blob = json.dumps(sorted((t.id, t.status.value, t.objective) for t in trials), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


# --------------------------------------------------------------------------- Prefect tasks


@task(name="record-sweep-in-mlflow", retries=2, retry_delay_seconds=10, cache_policy=NO_CACHE)
def record_sweep_task(config: HpoConfig, result: SweepResult) -> str:
    run_id = record_result(config, result)
    get_run_logger().info(
        "MLflow: sweep %s is run %s, %d trials recorded", result.ref.name, run_id, len(result.state.trials)
    )
    return run_id


@task(name="log-config-diff", retries=2, retry_delay_seconds=10, cache_policy=NO_CACHE)
def log_config_diff_task(parent_run_id: str, diff: str, tracking_uri: str | None = None) -> None:
    log_config_diff(parent_run_id, diff, tracking_uri)
