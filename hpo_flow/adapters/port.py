"""The adapter port: what every backend offers, in neutral types.

A backend translates its service's states into `SweepStatus` / `TrialStatus` at the edge; the
best trial is chosen once, here, from neutral trials and the objective.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from hpo_flow.adapters.spec import HpoConfig, Objective


class SweepStatus(StrEnum):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    STOPPING = "STOPPING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    STOPPED = "STOPPED"

    @property
    def is_terminal(self) -> bool:
        return self in (SweepStatus.COMPLETED, SweepStatus.FAILED, SweepStatus.STOPPED)


class TrialStatus(StrEnum):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    PRUNED = "PRUNED"  # stopped early by the early-stopping policy; its metrics still count
    FAILED = "FAILED"
    STOPPED = "STOPPED"  # stopped by a cancel or the sweep's deadline

    @property
    def is_terminal(self) -> bool:
        return self not in (TrialStatus.PENDING, TrialStatus.RUNNING)


@dataclass(frozen=True)
class Trial:
    """One training run of the sweep, as every backend reports it."""

    id: str
    params: dict[str, Any]
    status: TrialStatus
    objective: float | None = None  # the objective metric's final value, as the backend judged it
    metrics: dict[str, float] = field(default_factory=dict)  # final value of every metric
    curves: dict[str, list[tuple[int, float]]] = field(default_factory=dict)  # metric -> [(step, value)]
    model_uri: str | None = None  # local directory or cloud URI of the trial's model
    started_at: datetime | None = None
    ended_at: datetime | None = None
    failure_reason: str | None = None
    log_path: str | None = None
    # The trial's own run in the config's MLflow, where the backend gave it one before it started
    # (MLFLOW_RUN_ID: what autolog and mlflow.log_metric in the script wrote to); recording adopts it.
    tracking_run_id: str | None = None


@dataclass(frozen=True)
class SweepRef:
    """Small, serialisable handle to a sweep: enough for a crashed flow to re-attach."""

    backend: str
    name: str
    cloud_id: str | None = None  # ARN, Azure job name, ...
    workdir: str | None = None  # local sweeps: the sweep's directory
    url: str | None = None  # where a person can look at it
    # The credentials block the sweep was submitted with (its name, never a secret): any process
    # that reaches the sweep by this handle (`hpo-flow status`, a cancellation hook) signs in the same way.
    credentials_block: str | None = None

    def to_json(self) -> str:
        return json.dumps({k: v for k, v in asdict(self).items() if v is not None}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> SweepRef:
        return cls(**json.loads(text))


@dataclass(frozen=True)
class SweepState:
    status: SweepStatus
    trials: list[Trial] = field(default_factory=list)
    message: str | None = None  # the service's own reason for a failure or stop
    # FAILED by a fault outside the sweep (its runner killed, its storage or disk gone a while):
    # `submit` again resumes it with the budget it has left. Not a finished generation.
    interrupted: bool = False

    @property
    def finished_trials(self) -> list[Trial]:
        return [t for t in self.trials if t.status.is_terminal]


@runtime_checkable
class SweepAdapter(Protocol):
    """One per backend. `plan` needs no network and no credentials."""

    backend: str

    def plan(self, spec: HpoConfig) -> dict[str, Any]:
        """The exact request this adapter would send, as plain data."""
        ...

    def submit(self, spec: HpoConfig) -> SweepRef:
        """Start the sweep, or re-attach to the one already running or finished under this name."""
        ...

    def poll(self, ref: SweepRef) -> SweepState:
        """Status and trials so far."""
        ...

    def cancel(self, ref: SweepRef) -> None:
        """Stop the sweep and every trial; safe to call twice or on a finished sweep."""
        ...


# Optional capabilities: a backend offers them by having the method; callers check with isinstance
# and fall back (a blind sleep, the copy of a log in MLflow, "this backend takes no workers").


@runtime_checkable
class WaitsForChange(Protocol):
    def wait_for_change(self, ref: SweepRef, timeout: float) -> None:
        """Return as soon as the sweep has news (a trial ended, a curve grew), or after `timeout`."""
        ...


@runtime_checkable
class ReadsTrialLogs(Protocol):
    def trial_log(self, ref: SweepRef, trial: Trial) -> Path | None:
        """The file holding the trial's own output, where the backend keeps it; None when it keeps none."""
        ...


@runtime_checkable
class TakesWorkers(Protocol):
    def run_worker(self, spec: HpoConfig) -> int:
        """Run trials of the spec's running sweep in this process until it ends (`hpo-flow worker`):
        0 when the sweep completed, 1 when it failed or was stopped, 130 when the worker left."""
        ...


@runtime_checkable
class FetchesModels(Protocol):
    def fetch_model(self, spec: HpoConfig, trial: Trial, into: Path) -> bool:
        """Put the trial's model files (`trial.model_uri`, unpacked) into the empty folder `into`, with
        the config's credentials; False when there is nothing to fetch. Registration uses it to
        give a cloud model a version that `mlflow.pyfunc.load_model` can load."""
        ...


@runtime_checkable
class ExportsJob(Protocol):
    def export_job(self, spec: HpoConfig, folder: Path) -> str:
        """Write the sweep as the service's own job file into `folder`, with everything it refers to
        (the code with the trial helper), for submitting it by hand; returns the command that does."""
        ...


def best_trial(trials: list[Trial], objective: Objective) -> Trial | None:
    """The trial with the best objective among those that produced one.

    Completed trials win over pruned ones with an equal value: a pruned trial never ran its whole
    budget, so its model is not the one to register. Ties go to the earlier trial id order.
    """
    candidates = [
        t
        for t in trials
        if t.status in (TrialStatus.COMPLETED, TrialStatus.PRUNED)
        and t.objective is not None
        and math.isfinite(t.objective)
    ]
    if not candidates:
        return None
    return max(
        candidates,
        key=lambda t: (objective.sign * t.objective, t.status == TrialStatus.COMPLETED),  # type: ignore[operator]
    )


def ranked_trials(trials: list[Trial], objective: Objective) -> list[Trial]:
    """All trials, best objective first; trials without an objective last, in their order."""
    scored = [t for t in trials if t.objective is not None and math.isfinite(t.objective)]
    rest = [t for t in trials if t not in scored]
    scored.sort(key=lambda t: objective.sign * t.objective, reverse=True)  # type: ignore[operator]
    return scored + rest
