"""Polling against the served tuning service alone (no moto): big sweeps page, throttling is retried,
and a quiet sweep costs one call per poll."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from hpo_flow.adapters.port import SweepRef, SweepStatus, TrialStatus
from hpo_flow.adapters.sagemaker import SageMakerAdapter
from tests.sagemaker.conftest import SDK_NOISE, new_session, sm_config
from tests.sagemaker.served import ServedSageMaker

pytestmark = [pytest.mark.unit, *SDK_NOISE]


def started(
    code_dir: Path, overrides: dict[str, Any], outcomes: list[str] | None = None
) -> tuple[ServedSageMaker, SageMakerAdapter, SweepRef]:
    """A tuning job created from the adapter's own plan, and an adapter that polls it."""
    served = ServedSageMaker(outcomes=outcomes)
    request = SageMakerAdapter().plan(sm_config(code_dir, overrides))
    arn = served.create(request)

    def factory(region: str | None, credentials_block: str | None) -> Any:
        session = new_session(region)
        served.attach(session)
        return session

    ref = SweepRef(backend="sagemaker", name=request["HyperParameterTuningJobName"], cloud_id=arn)
    return served, SageMakerAdapter(factory), ref


def test_a_big_sweep_is_paged_once_then_only_its_newest_page(code_dir: Path) -> None:
    ranges = {"lr": {"type": "continuous", "min": 0.001, "max": 0.1}}
    overrides = {"tuning.max_jobs": 240, "tuning.max_parallel_jobs": 60, "tuning.hyperparameter_ranges": ranges}
    served, adapter, ref = started(code_dir, overrides)
    served.advance(2100)  # three waves of 60 jobs have run or are running
    state = adapter.poll(ref)
    pages = served.calls["ListTrainingJobsForHyperParameterTuningJob"]
    assert 100 < len(state.trials) < 240 and pages == math.ceil(len(state.trials) / 100)
    served.advance(600)  # some running jobs end, new ones start
    adapter.poll(ref)
    assert served.calls["ListTrainingJobsForHyperParameterTuningJob"] == pages + 1  # the newest 100 held every change
    served.finish(ref.name)
    done = adapter.poll(ref)
    assert done.status == SweepStatus.COMPLETED and len(done.trials) == 240
    assert len({t.id for t in done.trials}) == 240
    fresh = SageMakerAdapter(adapter._session_factory, cache_trials=False).poll(ref)  # reads every page anew
    assert fresh == done


def test_a_throttled_poll_is_retried_by_botocore(code_dir: Path) -> None:
    served, adapter, ref = started(code_dir, {})
    served.advance(120)
    served.throttle_next["ListTrainingJobsForHyperParameterTuningJob"] = 1
    state = adapter.poll(ref)
    assert state.status == SweepStatus.RUNNING and [t.status for t in state.trials] == [TrialStatus.RUNNING] * 2
    assert served.calls["ListTrainingJobsForHyperParameterTuningJob"] == 2  # the throttled request and its retry


def test_provisioning_jobs_are_pending_and_a_grid_runs_every_combination(code_dir: Path) -> None:
    ranges = {"opt": {"type": "choice", "values": ["sgd", "adam"]}, "bs": {"type": "categorical", "values": [8, 16]}}
    served, adapter, ref = started(
        code_dir, {"tuning.strategy": "Grid", "tuning.max_jobs": 4, "tuning.hyperparameter_ranges": ranges}
    )
    served.advance(30)
    assert [t.status for t in adapter.poll(ref).trials] == [TrialStatus.PENDING] * 2
    served.finish(ref.name)
    done = adapter.poll(ref)
    assert done.status == SweepStatus.COMPLETED and len(done.trials) == 4
    assert all(t.params["bs"] in (8, 16) and t.params["opt"] in ("sgd", "adam") for t in done.trials)


def test_a_sweep_whose_every_job_fails_ends_failed_with_the_reason(code_dir: Path) -> None:
    served, adapter, ref = started(code_dir, {"tuning.max_jobs": 1}, outcomes=["Failed"])
    served.finish(ref.name)
    state = adapter.poll(ref)
    assert state.status == SweepStatus.FAILED
    assert state.message and state.message.startswith("No training job succeeded after 1 attempts")
    assert state.trials[0].status == TrialStatus.FAILED and state.trials[0].model_uri is None
