"""The flow end to end on the local backend: real trial processes (tests/flow/trial_script.py),
a real MLflow server, Prefect's harness - the same contract the fake adapter passes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.flow.flow_contract import FlowContract
from tests.helpers import config_dict

pytestmark = pytest.mark.e2e

TRIAL_SCRIPT = Path(__file__).with_name("trial_script.py")


class TestFlowOnTheLocalBackend(FlowContract):
    @pytest.fixture
    def backend(self) -> str:
        return "local"

    @pytest.fixture
    def config_data(self, tmp_path: Path) -> dict[str, Any]:
        return config_dict(
            {
                "training.entry_point": TRIAL_SCRIPT.name,
                "training.source_dir": str(TRIAL_SCRIPT.parent),
                "training.hyperparameters.epochs": 3,
                "training.hyperparameters.step_seconds": 0.3,  # a sweep lasts seconds: a crash lands mid-way
                "tuning.max_jobs": 4,
                "tuning.max_parallel_jobs": 2,
                "tuning.poll_interval_seconds": 0.2,
                "tuning.trial_timeout_seconds": 60,
                "backends.local.gpus": None,  # CPU slots, whatever this machine has
                "backends.local.workdir": str(tmp_path / "sweeps"),
            }
        )
