"""The shared adapter contract, run against moto's server and the served tuning service."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from adapters.port import SweepRef
from adapters.sagemaker import SageMakerAdapter
from adapters.spec import HpoConfig
from tests.contract import AdapterContract
from tests.sagemaker.conftest import SDK_NOISE, sm_config
from tests.sagemaker.served import ServedSageMaker

pytestmark = [pytest.mark.integration, *SDK_NOISE]


class TestSageMakerContract(AdapterContract):
    @pytest.fixture
    def adapter(self, factory: Any) -> SageMakerAdapter:
        return SageMakerAdapter(factory)

    @pytest.fixture
    def spec(self, code_dir: Path) -> HpoConfig:
        return sm_config(code_dir, {"tuning.max_jobs": 4, "tuning.max_parallel_jobs": 2})

    @pytest.fixture
    def finish(self, served: ServedSageMaker) -> Callable[[SweepRef], None]:
        return lambda ref: served.finish(ref.name)
