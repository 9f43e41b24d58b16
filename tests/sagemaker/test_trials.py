"""Every SageMaker tuning and training job state, translated into the port's neutral ones."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from hpo_flow.adapters.port import SweepStatus, TrialStatus
from hpo_flow.adapters.sagemaker import trials
from hpo_flow.adapters.spec import Objective
from tests.sagemaker.conftest import SDK_NOISE

pytestmark = [pytest.mark.unit, *SDK_NOISE]

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def describe(status: str = "InProgress", early: str = "Off", strategy: str = "Bayesian", **extra: Any) -> dict:
    return {
        "HyperParameterTuningJobName": "mnist-1a2b3c4d",
        "HyperParameterTuningJobStatus": status,
        "HyperParameterTuningJobConfig": {
            "Strategy": strategy,
            "TrainingJobEarlyStoppingType": early,
            "HyperParameterTuningJobObjective": {"Type": "Minimize", "MetricName": "loss"},
            "ParameterRanges": {
                "IntegerParameterRanges": [{"Name": "batch", "MinValue": "16", "MaxValue": "256"}],
                "ContinuousParameterRanges": [{"Name": "lr", "MinValue": "0.001", "MaxValue": "0.1"}],
                "CategoricalParameterRanges": [{"Name": "opt", "Values": ["sgd", "adam"]}],
            },
        },
        **extra,
    }


def summary(status: str, objective: str | None = None, value: float | None = None, **extra: Any) -> dict:
    out: dict[str, Any] = {
        "TrainingJobName": "mnist-1a2b3c4d-004-0f0f0f0f",
        "TrainingJobArn": "arn:aws:sagemaker:us-east-1:123456789012:training-job/mnist-1a2b3c4d-004-0f0f0f0f",
        "CreationTime": T0,
        "TrainingJobStatus": status,
        "TunedHyperParameters": {"batch": "64", "lr": "0.0123", "opt": "adam"},
        **extra,
    }
    if objective:
        out["ObjectiveStatus"] = objective
    if value is not None:
        out["FinalHyperParameterTuningJobObjectiveMetric"] = {"Type": "Minimize", "MetricName": "loss", "Value": value}
    return out


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("InProgress", SweepStatus.RUNNING),
        ("Completed", SweepStatus.COMPLETED),
        ("Failed", SweepStatus.FAILED),
        ("Stopping", SweepStatus.STOPPING),
        ("Stopped", SweepStatus.STOPPED),
        ("Deleting", SweepStatus.STOPPING),
        ("DeleteFailed", SweepStatus.FAILED),
    ],
)
def test_every_tuning_job_status(status: str, expected: SweepStatus) -> None:
    assert trials.sweep_status(describe(status)) == expected


def test_every_documented_tuning_status_is_mapped() -> None:
    import botocore.session

    model = botocore.session.get_session().get_service_model("sagemaker")
    assert set(model.shape_for("HyperParameterTuningJobStatus").enum) == set(trials.TUNING_STATUS)
    assert set(model.shape_for("TrainingJobStatus").enum) == {
        "InProgress",
        "Completed",
        "Failed",
        "Stopping",
        "Stopped",
        "Deleting",
    }  # each has its row in test_training_job_states
    # a status newer than this code keeps the poll going instead of failing the flow
    assert trials.sweep_status(describe("Archiving")) == SweepStatus.RUNNING
    assert trials.trial_status(summary("Archiving"), trials.context(describe())) == TrialStatus.RUNNING


@pytest.mark.parametrize(
    ("tuning", "early", "strategy", "job", "objective", "expected"),
    [
        ("InProgress", "Off", "Bayesian", "InProgress", "Pending", TrialStatus.PENDING),
        ("InProgress", "Off", "Bayesian", "Completed", "Succeeded", TrialStatus.COMPLETED),
        ("InProgress", "Off", "Bayesian", "Completed", "Failed", TrialStatus.FAILED),
        ("InProgress", "Off", "Bayesian", "Failed", "Failed", TrialStatus.FAILED),
        ("InProgress", "Off", "Bayesian", "Stopping", "Pending", TrialStatus.RUNNING),
        ("InProgress", "Auto", "Bayesian", "Stopped", "Succeeded", TrialStatus.PRUNED),
        ("Completed", "Off", "Hyperband", "Stopped", "Succeeded", TrialStatus.PRUNED),
        ("InProgress", "Off", "Bayesian", "Stopped", "Succeeded", TrialStatus.STOPPED),
        ("Stopped", "Auto", "Bayesian", "Stopped", "Failed", TrialStatus.STOPPED),
        ("Stopping", "Auto", "Bayesian", "Stopped", "Pending", TrialStatus.STOPPED),
        ("InProgress", "Off", "Bayesian", "Deleting", None, TrialStatus.STOPPED),
    ],
)
def test_training_job_states(
    tuning: str, early: str, strategy: str, job: str, objective: str | None, expected: TrialStatus
) -> None:
    ctx = trials.context(describe(tuning, early, strategy))
    assert trials.trial_status(summary(job, objective), ctx) == expected


def test_a_running_job_is_pending_until_it_starts_training() -> None:
    ctx = trials.context(describe())
    started = summary("InProgress", "Pending", TrainingStartTime=T0)
    assert trials.trial_status(started, ctx) == TrialStatus.RUNNING


def test_a_trial_keeps_params_objective_times_and_failure_reason() -> None:
    ctx = trials.context(describe("InProgress", "Auto"))
    assert ctx.objective == Objective.Minimize and ctx.objective_metric == "loss"
    done = trials.trial_from_summary(
        summary("Stopped", "Succeeded", 0.25, TrainingStartTime=T0, TrainingEndTime=T0), ctx
    )
    assert done.status == TrialStatus.PRUNED
    assert done.params == {"batch": 64, "lr": 0.0123, "opt": "adam"}
    assert done.objective == 0.25 and done.metrics == {"loss": 0.25}
    assert done.started_at == T0 and done.ended_at == T0
    assert "stopped early by SageMaker's early stopping" in (done.failure_reason or "")

    failed = trials.trial_from_summary(summary("Failed", "Failed", FailureReason="AlgorithmError: exit code 1"), ctx)
    assert failed.status == TrialStatus.FAILED and failed.failure_reason == "AlgorithmError: exit code 1"
    assert failed.objective is None and failed.metrics == {}

    silent = trials.trial_from_summary(summary("Completed", "Failed"), ctx)
    assert silent.status == TrialStatus.FAILED and "no 'loss' value in its log" in (silent.failure_reason or "")


@pytest.mark.parametrize(
    ("value", "kind", "expected"),
    [
        ("64", "Integer", 64),
        ("64.0", "Integer", 64),
        ("0.5", "Continuous", 0.5),
        ("1e-05", "Continuous", 1e-05),
        ("32", "Categorical", 32),
        ("0.1", "Categorical", 0.1),
        ("True", "Categorical", True),
        ("adam", "Categorical", "adam"),
        ('"adam"', "Categorical", "adam"),
        ("7", None, 7),
    ],
)
def test_tuned_values_come_back_as_numbers_and_words(value: str, kind: str | None, expected: Any) -> None:
    coerced = trials.coerce(value, kind)
    assert coerced == expected and type(coerced) is type(expected)


def test_messages_and_fingerprint() -> None:
    failed = describe("Failed", FailureReason="No training job succeeded after 5 attempts.")
    assert trials.sweep_message(failed) == "No training job succeeded after 5 attempts."
    converged = describe("Completed", TuningJobCompletionDetails={"ConvergenceDetectedTime": T0})
    assert "converged" in (trials.sweep_message(converged) or "")
    assert trials.sweep_message(describe("Stopped")) == "tuning job stopped on request"
    assert trials.sweep_message(describe("Completed")) is None

    counters = {"Completed": 1, "InProgress": 2}
    base = describe(TrainingJobStatusCounters=counters, ObjectiveStatusCounters={"Succeeded": 1})
    same = describe(TrainingJobStatusCounters=dict(counters), ObjectiveStatusCounters={"Succeeded": 1})
    moved = describe(TrainingJobStatusCounters={"Completed": 2, "InProgress": 1}, ObjectiveStatusCounters={})
    assert trials.fingerprint(base) == trials.fingerprint(same) != trials.fingerprint(moved)
