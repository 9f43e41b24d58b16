"""SageMaker's tuning and training job states, translated into the port's neutral ones.

Pure Python: reads the dicts boto3 returns (DescribeHyperParameterTuningJob and the summaries of
ListTrainingJobsForHyperParameterTuningJob) and builds `SweepStatus` and `Trial` values.
"""

from __future__ import annotations

import contextlib
import json
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from hpo_flow.adapters.port import SweepStatus, Trial, TrialStatus
from hpo_flow.adapters.spec import Objective

log = logging.getLogger(__name__)

# Every HyperParameterTuningJobStatus the API documents.
TUNING_STATUS: dict[str, SweepStatus] = {
    "InProgress": SweepStatus.RUNNING,
    "Completed": SweepStatus.COMPLETED,
    "Failed": SweepStatus.FAILED,
    "Stopping": SweepStatus.STOPPING,
    "Stopped": SweepStatus.STOPPED,
    "Deleting": SweepStatus.STOPPING,  # on its way out; polling once more shows it gone
    "DeleteFailed": SweepStatus.FAILED,
}


@dataclass(frozen=True)
class JobContext:
    """What a training job's summary means depends on its tuning job: these facts, read once per poll."""

    objective_metric: str
    objective: Objective
    param_kinds: dict[str, str] = field(default_factory=dict)  # name -> Continuous | Integer | Categorical
    stops_early: bool = False  # Auto early stopping or Hyperband: SageMaker itself may stop jobs
    being_stopped: bool = False  # the tuning job is stopping or stopped: jobs stop because of that
    output_path: str | None = None  # S3OutputPath of the training job definition: where each job's model lands


def context(describe: dict[str, Any]) -> JobContext:
    config = describe.get("HyperParameterTuningJobConfig", {})
    objective = config.get("HyperParameterTuningJobObjective", {})
    kinds: dict[str, str] = {}
    for kind in ("Continuous", "Integer", "Categorical"):
        for r in config.get("ParameterRanges", {}).get(f"{kind}ParameterRanges", []):
            kinds[r["Name"]] = kind
    return JobContext(
        objective_metric=objective.get("MetricName", ""),
        objective=Objective(objective.get("Type", "Maximize")),
        param_kinds=kinds,
        stops_early=config.get("TrainingJobEarlyStoppingType") == "Auto" or config.get("Strategy") == "Hyperband",
        being_stopped=describe.get("HyperParameterTuningJobStatus") in ("Stopping", "Stopped"),
        output_path=(describe.get("TrainingJobDefinition") or {}).get("OutputDataConfig", {}).get("S3OutputPath"),
    )


def sweep_status(describe: dict[str, Any]) -> SweepStatus:
    status = describe["HyperParameterTuningJobStatus"]
    if status not in TUNING_STATUS:  # a status newer than this code: keep polling rather than fail the flow
        log.warning("unknown SageMaker tuning job status %r; treating the sweep as running", status)
    return TUNING_STATUS.get(status, SweepStatus.RUNNING)


def sweep_message(describe: dict[str, Any]) -> str | None:
    status = describe["HyperParameterTuningJobStatus"]
    if describe.get("FailureReason"):
        return str(describe["FailureReason"])
    details = describe.get("TuningJobCompletionDetails") or {}
    if status == "Completed" and details.get("ConvergenceDetectedTime"):
        return "completed early: SageMaker detected that the objective converged"
    if status in ("Stopping", "Stopped"):
        return f"tuning job {status.lower()} on request"
    return None


def fingerprint(describe: dict[str, Any]) -> tuple[Any, ...]:
    """What changes whenever any training job changes state: equal fingerprints need no new listing."""
    best = describe.get("BestTrainingJob") or {}
    return (
        describe.get("HyperParameterTuningJobStatus"),
        tuple(sorted((describe.get("TrainingJobStatusCounters") or {}).items())),
        tuple(sorted((describe.get("ObjectiveStatusCounters") or {}).items())),
        best.get("TrainingJobName"),
        best.get("TrainingJobStatus"),
    )


def trial_status(summary: dict[str, Any], ctx: JobContext) -> TrialStatus:
    status = summary["TrainingJobStatus"]
    if status == "InProgress":
        return TrialStatus.RUNNING if summary.get("TrainingStartTime") else TrialStatus.PENDING
    if status == "Stopping":
        return TrialStatus.RUNNING  # still winding down; terminal once Stopped
    if status == "Completed":
        # A finished job whose objective SageMaker could not read produced nothing to compare.
        return TrialStatus.FAILED if summary.get("ObjectiveStatus") == "Failed" else TrialStatus.COMPLETED
    if status == "Failed":
        return TrialStatus.FAILED
    if status == "Stopped":
        # Stopped while the tuning job ran on, under a policy that stops jobs: SageMaker's early stopping.
        if ctx.stops_early and not ctx.being_stopped:
            return TrialStatus.PRUNED
        return TrialStatus.STOPPED
    if status == "Deleting":
        return TrialStatus.STOPPED
    log.warning(
        "unknown SageMaker training job status %r of %s; treating it as running", status, summary.get("TrainingJobName")
    )
    return TrialStatus.RUNNING


def trial_from_summary(summary: dict[str, Any], ctx: JobContext) -> Trial:
    status = trial_status(summary, ctx)
    final = summary.get("FinalHyperParameterTuningJobObjectiveMetric") or {}
    objective = float(final["Value"]) if "Value" in final else None
    metrics = {str(final.get("MetricName") or ctx.objective_metric): objective} if objective is not None else {}
    reason = summary.get("FailureReason")
    if not reason and summary["TrainingJobStatus"] == "Completed" and summary.get("ObjectiveStatus") == "Failed":
        reason = (
            f"the job finished but SageMaker found no {ctx.objective_metric!r} value in its log; check that "
            "the script prints a line its metric definition's Regex matches"
        )
    if not reason and status == TrialStatus.PRUNED:
        reason = "stopped early by SageMaker's early stopping (its objective trailed the other training jobs')"
    return Trial(
        id=summary["TrainingJobName"],
        params={k: coerce(v, ctx.param_kinds.get(k)) for k, v in summary.get("TunedHyperParameters", {}).items()},
        status=status,
        objective=objective,
        metrics=metrics,
        model_uri=model_artifact(ctx.output_path, summary["TrainingJobName"]) if status in SCORED else None,
        started_at=_time(summary.get("TrainingStartTime")),
        ended_at=_time(summary.get("TrainingEndTime")),
        failure_reason=str(reason) if reason else None,
    )


SCORED = (TrialStatus.COMPLETED, TrialStatus.PRUNED)


def model_artifact(output_path: str | None, job: str) -> str | None:
    """Where SageMaker puts a training job's model: <S3OutputPath>/<job name>/output/model.tar.gz."""
    return f"{output_path.rstrip('/')}/{job}/output/model.tar.gz" if output_path else None


def coerce(value: str, kind: str | None) -> Any:
    """A tuned value as SageMaker reports it (a string) back as the number or word it stands for."""
    text = value
    if len(text) >= 2 and text[0] == text[-1] == '"':  # framework images JSON-encode some values
        with contextlib.suppress(ValueError):
            text = json.loads(text)
    if kind == "Integer":
        return int(float(text))
    if kind == "Continuous":
        return float(text)
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            continue
    return {"True": True, "False": False, "true": True, "false": False}.get(text, text)


def _time(value: Any) -> datetime | None:
    return value if isinstance(value, datetime) else None
