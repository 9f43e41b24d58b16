"""The shared adapter contract, run against moto's server and the served tuning service."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hpo_flow.adapters.port import SweepRef
from hpo_flow.adapters.sagemaker import SageMakerAdapter
from hpo_flow.adapters.spec import HpoConfig
from tests.contract import AdapterContract
from tests.sagemaker.conftest import SDK_NOISE, sm_config
from tests.sagemaker.served import ACCOUNT, REGION, ServedSageMaker

pytestmark = [pytest.mark.integration, *SDK_NOISE]


class TestSageMakerContract(AdapterContract):
    # The tuning API reports each training job's final objective only; the per-step values are in
    # CloudWatch (/aws/sagemaker/TrainingJobs), which the adapter does not read yet.
    reports_curves = False

    @pytest.fixture
    def adapter(self, factory: Any) -> SageMakerAdapter:
        return SageMakerAdapter(factory)

    @pytest.fixture
    def spec(self, code_dir: Path) -> HpoConfig:
        return sm_config(code_dir, {"tuning.max_jobs": 4, "tuning.max_parallel_jobs": 2})

    @pytest.fixture
    def finish(self, served: ServedSageMaker) -> Callable[[SweepRef], None]:
        return lambda ref: served.finish(ref.name)

    @pytest.fixture
    def advance(self, served: ServedSageMaker) -> Callable[[SweepRef], None]:
        return lambda ref: served.advance(30)  # simulated seconds: a stop takes 20

    @pytest.fixture
    def faulty(self, adapter: SageMakerAdapter, code_dir: Path, served: ServedSageMaker) -> Callable[[], SweepRef]:
        def run() -> SweepRef:
            # The served outcomes of jobs 1-4: completed, completed, stopped early (Auto), failed.
            spec = sm_config(
                code_dir, {"tuning.max_jobs": 4, "tuning.max_parallel_jobs": 2, "tuning.early_stopping": "auto"}
            )
            ref = adapter.submit(spec)
            served.finish(ref.name)
            return ref

        return run

    @pytest.fixture
    def unknown_ref(self, adapter: SageMakerAdapter) -> SweepRef:
        arn = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:hyper-parameter-tuning-job/no-such-sweep"
        return SweepRef(backend="sagemaker", name="no-such-sweep", cloud_id=arn)

    @pytest.fixture
    def unsupported(self, code_dir: Path) -> tuple[HpoConfig, list[str]]:
        config = sm_config(
            code_dir,
            {
                "tuning.hyperparameter_ranges.noise": {"type": "normal", "mu": 0, "sigma": 1},
                "tuning.early_stopping": {"policy": "bandit", "slack_factor": 0.1},
            },
        )
        return config, ["tuning.hyperparameter_ranges.noise", "tuning.early_stopping.policy"]
