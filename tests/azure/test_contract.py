"""The shared adapter contract, run against the served Azure ML workspace."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from hpo_flow.adapters.azure.workspace import Workspace
from hpo_flow.adapters.port import SweepRef
from hpo_flow.adapters.spec import HpoConfig
from tests.azure.conftest import job_name
from tests.azure.served import RG, SUB, WS, ChildPlan, ServedWorkspace
from tests.contract import AdapterContract, with_overrides

# azure-ai-ml 1.23 passes marshmallow's deprecated `context` on every schema it builds: its noise, not ours
pytestmark = [pytest.mark.unit, pytest.mark.filterwarnings("ignore::marshmallow.warnings.RemovedInMarshmallow4Warning")]


class TestAzureContract(AdapterContract):
    @pytest.fixture
    def advance(self, workspace: ServedWorkspace) -> Callable[[SweepRef], None]:
        return lambda ref: workspace.advance(job_name(ref))

    @pytest.fixture
    def faulty(self, adapter: Any, spec: HpoConfig, workspace: ServedWorkspace) -> Callable[[], SweepRef]:
        def run() -> SweepRef:
            # A trial the Bandit policy cancels while the sweep runs is Canceled: PRUNED.
            plans = [ChildPlan(), ChildPlan(status="Failed", epochs=1), ChildPlan(status="Canceled", epochs=2)]
            ref = adapter.submit(spec)
            workspace.finish(job_name(ref), [*plans, ChildPlan()])
            return ref

        return run

    @pytest.fixture
    def unknown_ref(self) -> SweepRef:
        workspace = Workspace(SUB, RG, WS)
        return SweepRef(backend="azure", name="no-such-sweep", cloud_id=workspace.job_id("no-such-sweep"))

    @pytest.fixture
    def unsupported(self, spec: HpoConfig) -> tuple[HpoConfig, list[str]]:
        config = with_overrides(
            spec,
            {
                "tuning.warm_start": {"parents": ["old-sweep"]},
                "tuning.max_failed_trials": 2,
                "tuning.early_stopping": {"policy": "asha"},
            },
        )
        return config, ["tuning.warm_start", "tuning.max_failed_trials", "tuning.early_stopping.policy"]
