"""The hpo-sweep flow: one config.yaml in, a registered model and an updated config out.

It composes thin tasks and decides nothing about backends: the adapter is chosen by name
(`hpo_flow.adapters.get_adapter`) and driven only through the port.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any

from prefect import flow

from hpo_flow.adapters.errors import HpoFlowError
from hpo_flow.adapters.lifecycle import Decision, check_attached, coerce
from hpo_flow.adapters.port import SweepAdapter, SweepRef, SweepStatus
from hpo_flow.adapters.redact import redact, redact_text
from hpo_flow.adapters.spec import HpoConfig
from hpo_flow.tasks.artifacts import count_statuses, publish_results
from hpo_flow.tasks.config import load_config_task
from hpo_flow.tasks.lineage import choose_sweep_task, mark_recorded_task
from hpo_flow.tasks.result import SweepResult
from hpo_flow.tasks.runlog import hook_logger, run_logger
from hpo_flow.tasks.sweep import choose_adapter, forget_sweep, stop_driven_sweep, submit_sweep, wait_for_sweep
from hpo_flow.tasks.tracking import log_config_diff_task, record_sweep_task, register_best_task
from hpo_flow.tasks.writeback import tuned_values, write_back_task


@dataclass(frozen=True)
class SweepOutcome:
    """What a run of the flow produced; the CLI prints it, a deployment's run returns it."""

    config_path: str
    status: str  # a SweepStatus value, or "SKIPPED" when tuning.enabled is false
    sweep: str | None = None
    backend: str | None = None
    generation: int = 1
    sweep_choice: str | None = None  # why this sweep: attached, or a new generation
    trials: int = 0
    trial_counts: str = ""
    objective_metric: str | None = None
    best_trial: str | None = None
    best_objective: float | None = None
    best_params: dict[str, Any] = field(default_factory=dict)
    tracking_uri: str | None = None
    experiment: str | None = None
    parent_run_id: str | None = None
    model_name: str | None = None
    model_version: str | None = None
    model_alias: str | None = None
    promoted: bool | None = None  # whether the alias moved to this sweep's model (None: nothing registered)
    promotion: str | None = None  # which happened and why
    alias_version: str | None = None  # the version the alias points to after this run
    model_hint: str | None = None  # the line that loads the model the alias points to
    diff: str = ""
    config_written: bool = False
    config_note: str | None = None  # what write-back left alone and why (the user's edits, a read-only file)
    resumable: bool = False  # interrupted by a fault outside it: the next run of the config resumes it
    message: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.status == "SKIPPED" or self.best_trial is not None


class SweepFailedError(HpoFlowError):
    """The sweep ended without a usable winner; everything it produced is still recorded in MLflow."""

    def __init__(self, outcome: SweepOutcome) -> None:
        self.outcome = outcome
        why = f": {outcome.message}" if outcome.message else ""
        counts = f"{outcome.trials} trials: {outcome.trial_counts}"
        if outcome.resumable:
            super().__init__(
                f"sweep {outcome.sweep} was interrupted{why} ({counts}); its finished trials are in MLflow, and "
                "the next run of this config resumes it where it stopped, with the budget it has left"
            )
            return
        if re.search(r"\b[1-9]\d* completed\b", outcome.trial_counts):
            # Trials completed, but the sweep itself failed (too many failed trials, say): not "no success".
            super().__init__(
                f"sweep {outcome.sweep} ended {outcome.status}{why} ({counts}); the completed trials are in "
                "MLflow, but no model is registered from a failed sweep; the next run starts a new generation"
            )
            return
        super().__init__(f"sweep {outcome.sweep} ended {outcome.status} with no successful trial ({counts}){why}")


def _stop_sweep(flow: Any, flow_run: Any, state: Any) -> None:
    """on_cancellation / on_crashed: stop the sweep this run drove (may run in a worker's process)."""
    stop_driven_sweep(str(flow_run.id), hook_logger(flow, flow_run), why=f"entered {state.name}")


def _release_sweep(flow: Any, flow_run: Any, state: Any) -> None:
    """on_failure: a failed run leaves its sweep alone; re-running the flow re-attaches to it."""
    forget_sweep(str(flow_run.id))


@flow(
    name="hpo-sweep",
    on_cancellation=[_stop_sweep],
    on_crashed=[_stop_sweep],
    on_failure=[_release_sweep],
)
def hpo_sweep(
    config_path: str = "config.yaml",
    backend: str | None = None,
    overrides: dict[str, Any] | list[str] | None = None,
    dry_run: bool = False,
    new_sweep: bool = False,
    attach: str | None = None,
) -> SweepOutcome:
    """Tune hyperparameters from one config.yaml and register the best model.

    Load and validate the config, choose the adapter, choose the sweep (attach to the one still
    running or not yet recorded, or start the next generation warm-started from the earlier ones),
    poll it until it ends, record every trial in MLflow, register the best model and move the alias
    to it if it is better, and write the values of the model the alias points to into the config.

    Args:
        config_path: the config.yaml to run; written back when tuning.update_config is true.
        backend: local, ray, sagemaker, azure or another installed backend; default: tuning.backend.
        overrides: dotted keys applied before validation, {"tuning.max_jobs": 4} or ["tuning.max_jobs=4"].
        dry_run: compute the config diff write-back would make, without writing the config.
        new_sweep: start a new generation even if the latest sweep is still running or unrecorded.
        attach: the name of a sweep of this config to attach to, instead of the one the rule picks.
    """
    config = load_config_task(config_path, overrides)
    started_from = tuned_values(config_path)  # write-back keeps whatever the user changes from here on
    if not config.tuning.enabled:
        run_logger().info("tuning.enabled is false in %s: no sweep to run", config_path)
        return SweepOutcome(config_path=config_path, status="SKIPPED", message="tuning.enabled is false")

    adapter = choose_adapter(config, backend)
    spec, decision = choose_sweep_task(config, config_path, adapter.backend, new_sweep, attach)
    if attach is not None:
        check_attached(attach, spec)
    ref = submit_sweep(adapter, spec)
    if decision.attach and attach is None and _found_stopped(adapter, ref):
        # Stopped by a cancel or with its flow, and never recorded: recording it is not this night's
        # tuning. Close its record, then tune the next generation in this same run.
        _close_stopped_sweep(adapter, spec, ref)
        spec, decision = choose_sweep_task(config, config_path, adapter.backend, False, None)
        ref = submit_sweep(adapter, spec)
    state = wait_for_sweep(adapter, ref, spec)
    forget_sweep()  # the sweep has ended: nothing left for the exit hooks to stop

    result = SweepResult.of(spec, ref, state)  # the best trial, by the one rule; none for a failed sweep
    parent_run_id = record_sweep_task(spec, result)  # records that result's best, and chooses none
    if state.interrupted:
        # Not a finished generation: its record stays open, so the next run of this config attaches
        # to it and resumes it with the budget it has left, instead of paying for a new one.
        raise SweepFailedError(_outcome(config_path, spec, result, parent_run_id, decision))
    if result.best is not None:
        result = replace(result, model=register_best_task(spec, result, parent_run_id, adapter))
        result = _write_back(spec, config_path, result, dry_run, started_from)
        if result.written:  # the parent run keeps what was applied; a re-run's empty diff must not replace it
            log_config_diff_task(parent_run_id, result.diff, spec.mlflow.tracking_uri)

    publish_results(spec, result, config_path)
    mark_recorded_task(spec.mlflow.tracking_uri, parent_run_id, _promotion_line(result))
    outcome = _outcome(config_path, spec, result, parent_run_id, decision)
    if not outcome.succeeded:
        raise SweepFailedError(outcome)
    return outcome


def _found_stopped(adapter: SweepAdapter, ref: SweepRef) -> bool:
    return adapter.poll(ref).status == SweepStatus.STOPPED


def _close_stopped_sweep(adapter: SweepAdapter, spec: HpoConfig, ref: SweepRef) -> None:
    """Record a sweep found stopped, register its best for lineage (the alias moves to it only with
    mlflow.promote: always) and close its record; its values are not written back."""
    state = wait_for_sweep(adapter, ref, spec)
    result = SweepResult.of(spec, ref, state)
    parent_run_id = record_sweep_task(spec, result)
    if result.best is not None:
        result = replace(result, model=register_best_task(spec, result, parent_run_id, adapter))
    mark_recorded_task(spec.mlflow.tracking_uri, parent_run_id, _promotion_line(result))
    run_logger().info(
        "sweep %s had been stopped (%d trials) and is now recorded; %s",
        ref.name,
        len(state.trials),
        result.model.promotion if result.model else "nothing registered",
    )


def _write_back(
    config: HpoConfig, config_path: str, result: SweepResult, dry_run: bool, started_from: dict[str, Any]
) -> SweepResult:
    """Write-back follows the alias: the config takes the values of the model @alias points to, the
    new best's when it was promoted (or when there was no model to register), else the holder's."""
    assert result.best is not None
    tuned = config.tuning.hyperparameter_ranges
    model = result.model
    if model is None or model.promoted:
        values: dict[str, Any] = {k: v for k, v in result.best.params.items() if k in tuned}
    elif model.alias_version is None:
        note = f"config.yaml left as it is: no version holds @{model.alias} ({model.reason})"
        run_logger().info("%s", note)
        return replace(result, config_note=note)
    else:
        values = {k: coerce(model.alias_params.get(k), r) for k, r in tuned.items()}
        if any(v is None for v in values.values()):
            run_logger().warning("the values of @%s's version are not all recorded: config left as it is", model.alias)
            return result
    write = config.tuning.update_config and not dry_run
    done = write_back_task(config_path, values, dry_run=not write, started_from=started_from)
    return replace(result, diff=done.diff, written=done.written, config_note=done.note)


def _promotion_line(result: SweepResult) -> str | None:
    if result.model is not None:
        return result.model.promotion
    if result.best is not None:
        return "nothing registered: the best trial left no model"
    return f"nothing registered: the sweep ended {result.status.value} without a winner"


def _outcome(
    config_path: str, config: HpoConfig, result: SweepResult, parent_run_id: str, decision: Decision
) -> SweepOutcome:
    ref, state, best, model = result.ref, result.state, result.best, result.model
    return SweepOutcome(
        config_path=config_path,
        status=state.status.value,
        sweep=ref.name,
        backend=ref.backend,
        generation=config.generation,
        sweep_choice=decision.reason,
        trials=len(state.trials),
        trial_counts=count_statuses(state),
        objective_metric=config.tuning.objective_metric,
        best_trial=best.id if best else None,
        best_objective=best.objective if best else None,
        best_params=redact(dict(best.params)) if best else {},
        tracking_uri=redact_text(config.mlflow.tracking_uri),
        experiment=config.experiment_name,
        parent_run_id=parent_run_id,
        model_name=model.name if model else None,
        model_version=model.version if model else None,
        model_alias=model.alias if model else None,
        promoted=model.promoted if model else None,
        promotion=_promotion_line(result),
        alias_version=model.alias_version if model else None,
        model_hint=model.load_hint if model else None,
        diff=result.diff,
        config_written=result.written,
        config_note=result.config_note,
        resumable=state.interrupted,
        message=redact_text(state.message) if state.message else None,
    )
