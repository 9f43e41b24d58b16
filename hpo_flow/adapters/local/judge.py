"""How a finished trial is judged: one pure function from what the runner saw to the study's verdict.

The order matters and is the rule: a trial the runner stopped (cancel, deadline, a leaving worker)
is a stop whatever it printed; then a pruned trial; then its own faults (timeout, exit code, no or
a non-finite objective); only a clean exit with a finite objective completes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from optuna.trial import TrialState

from hpo_flow.adapters.local.state import TrialRecord
from hpo_flow.adapters.redact import redact_text


@dataclass(frozen=True)
class TrialExit:
    """What the runner saw of one trial by the time it exited."""

    exit_code: int
    objective: float | None  # the objective metric's last value
    metrics: dict[str, float] = field(default_factory=dict)
    curves: dict[str, list[list[float]]] = field(default_factory=dict)
    duration_s: float = 0.0
    model_files: int = 0
    worker: str | None = None
    stop_reason: str | None = None  # the runner stopped it, and why
    lost: str | None = None  # its place went (a node died) and it was already a retry: a failure that counts
    retry: bool = False  # ... because its worker is leaving: it runs again elsewhere
    pruned: bool = False
    timed_out: bool = False
    last_stderr: str = ""


@dataclass(frozen=True)
class Judgement:
    state: TrialState
    value: float | None
    record: TrialRecord


def judge(
    seen: TrialExit,
    *,
    objective: str,
    objective_regex: str | None,
    trial_timeout_s: float | None,
    describe_exit: str,
) -> Judgement:
    """`describe_exit` is the exit code in words ("exit code 1", "killed by SIGSEGV")."""
    record = TrialRecord(
        objective=seen.objective,
        metrics=dict(seen.metrics),
        curves=dict(seen.curves),
        exit_code=seen.exit_code,
        duration_s=round(seen.duration_s, 3),
        model_files=seen.model_files,
        worker=seen.worker,
        counts=True,
    )
    state, value = TrialState.FAIL, None
    if seen.lost is not None:
        record.reason = f"failed: {seen.lost}"
    elif seen.stop_reason is not None:
        retried = " (it will be retried)" if seen.retry else ""
        record.reason = f"stopped: {seen.stop_reason}{retried}"
        record.stopped, record.counts = not seen.retry, False
    elif seen.pruned:
        state = TrialState.PRUNED
        steps = len(seen.curves.get(objective) or [])
        record.reason = "stopped early by the early-stopping policy" + (f" after step {steps}" if steps else "")
    elif seen.timed_out:
        record.reason = f"timeout after {trial_timeout_s}s"
    elif seen.exit_code != 0:
        tail = f": {seen.last_stderr[-300:]}" if seen.last_stderr else ""
        record.reason = redact_text(describe_exit + tail)
    elif seen.objective is None and objective_regex is None:
        record.reason = (
            f"exited 0 without logging the objective metric {objective!r} to its MLflow run (mlflow.log_metric or "
            "autolog; no regex in training.metric_definitions reads it from the output)"
        )
    elif seen.objective is None:
        record.reason = f"exited 0 without printing the objective metric {objective!r} (regex {objective_regex!r})"
    elif not math.isfinite(seen.objective):
        record.reason = f"objective {objective} is {seen.objective}"
    else:
        state, value = TrialState.COMPLETE, seen.objective
    return Judgement(state, value, record)
