"""The Ray adapter passes the contract every adapter passes: the local backend's contract test, its
sweeps placed by Ray on the tests' two-node cluster (real runner, real Ray, real trial processes)."""

from __future__ import annotations

from pathlib import Path

import pytest

import tests.local.test_local_contract as local_contract
from hpo_flow.adapters.errors import PlanError
from hpo_flow.adapters.port import SweepRef
from hpo_flow.adapters.ray.adapter import RayAdapter
from tests.contract import with_overrides
from tests.ray.cluster import LocalRayCluster

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


class TestRayAdapter(local_contract.TestLocalAdapter):
    @pytest.fixture
    def adapter(self) -> RayAdapter:  # type: ignore[override]
        return RayAdapter()

    @pytest.fixture
    def backend_keys(self, ray_cluster: LocalRayCluster) -> dict[str, object]:
        return {
            "tuning.backend": "ray",
            "backends.ray": {"address": ray_cluster.address, "gpus_per_trial": 0.5, "cpus_per_trial": 0},
        }

    @pytest.fixture
    def unknown_ref(self, tmp_path: Path) -> SweepRef:
        return SweepRef(backend="ray", name="no-such-sweep", workdir=str(tmp_path / ".hpo" / "no-such-sweep"))


@pytest.mark.unit
def test_plan_refuses_what_ray_would_refuse_naming_the_key(tmp_path: Path) -> None:
    from tests.ray.sweeps import ray_config

    spec = ray_config(tmp_path, None)
    nothing = with_overrides(spec, {"backends.ray.gpus_per_trial": 0, "backends.ray.cpus_per_trial": 0})
    with pytest.raises(PlanError) as refused:
        RayAdapter().plan(nothing)
    assert [p.path for p in refused.value.problems] == ["backends.ray.cpus_per_trial"]
    assert "every trial of the sweep would start at once" in str(refused.value)
