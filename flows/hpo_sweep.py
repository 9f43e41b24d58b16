"""The hpo-sweep flow: one config.yaml in, a registered model and an updated config out.

It composes thin tasks and decides nothing about backends: the adapter is chosen by name
(`adapters.get_adapter`) and driven only through the port.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from prefect import flow

from adapters.errors import HpoFlowError
from adapters.port import SweepRef, SweepState, SweepStatus, best_trial
from adapters.redact import redact, redact_text
from adapters.spec import HpoConfig
from tasks.artifacts import count_statuses, publish_results
from tasks.config import load_config_task
from tasks.runlog import hook_logger, run_logger
from tasks.sweep import choose_adapter, forget_sweep, stop_driven_sweep, submit_sweep, wait_for_sweep
from tasks.tracking import log_config_diff_task, record_sweep_task, register_best_task
from tasks.writeback import write_back_task


@dataclass(frozen=True)
class SweepOutcome:
    """What a run of the flow produced; the CLI prints it, a deployment's run returns it."""

    config_path: str
    status: str  # a SweepStatus value, or "SKIPPED" when tuning.enabled is false
    sweep: str | None = None
    backend: str | None = None
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
    diff: str = ""
    config_written: bool = False
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
        if re.search(r"\b[1-9]\d* completed\b", outcome.trial_counts):
            # Trials completed, but the sweep itself failed (its runner was killed, say): not "no success".
            super().__init__(
                f"sweep {outcome.sweep} ended {outcome.status}{why} ({counts}); the completed trials are in "
                "MLflow, but no model is registered from a sweep that did not finish: run the same command "
                "again to resume it"
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
) -> SweepOutcome:
    """Tune hyperparameters from one config.yaml and register the best model.

    Load and validate the config, choose the adapter, submit the sweep (or re-attach to it), poll
    until it ends, record every trial in MLflow, register the best model, and write the winning
    values back into the config.

    Args:
        config_path: the config.yaml to run; written back when tuning.update_config is true.
        backend: local, sagemaker or azure; default: tuning.backend.
        overrides: dotted keys applied before validation, {"tuning.max_jobs": 4} or ["tuning.max_jobs=4"].
        dry_run: compute the config diff write-back would make, without writing the config.
    """
    config = load_config_task(config_path, overrides)
    if not config.tuning.enabled:
        run_logger().info("tuning.enabled is false in %s: no sweep to run", config_path)
        return SweepOutcome(config_path=config_path, status="SKIPPED", message="tuning.enabled is false")

    adapter = choose_adapter(config, backend)
    ref = submit_sweep(adapter, config)
    state = wait_for_sweep(adapter, ref, config)
    forget_sweep()  # the sweep has ended: nothing left for the exit hooks to stop

    parent_run_id = record_sweep_task(config, ref, state)
    # A sweep the backend calls failed is recorded for review but not promoted.
    best = best_trial(state.trials, config.objective) if state.status != SweepStatus.FAILED else None
    model = register_best_task(config, ref, state, parent_run_id) if best else None

    diff, written = "", False
    if best is not None:
        winners = {k: v for k, v in best.params.items() if k in config.tuning.hyperparameter_ranges}
        write = config.tuning.update_config and not dry_run
        diff = write_back_task(config_path, winners, dry_run=not write)
        written = write and bool(diff)
        if written:  # the parent run keeps what was applied; a re-run's empty diff must not replace it
            log_config_diff_task(parent_run_id, diff, config.mlflow.tracking_uri)

    publish_results(config, ref, state, model, diff, config_path, written)
    outcome = _outcome(config_path, config, ref, state, best, parent_run_id, model, diff, written)
    if not outcome.succeeded:
        raise SweepFailedError(outcome)
    return outcome


def _outcome(
    config_path: str,
    config: HpoConfig,
    ref: SweepRef,
    state: SweepState,
    best: Any,
    parent_run_id: str,
    model: Any,
    diff: str,
    written: bool,
) -> SweepOutcome:
    return SweepOutcome(
        config_path=config_path,
        status=state.status.value,
        sweep=ref.name,
        backend=ref.backend,
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
        model_version=str(model.version) if model else None,
        model_alias=model.alias if model else None,
        diff=diff,
        config_written=written,
        message=redact_text(state.message) if state.message else None,
    )
