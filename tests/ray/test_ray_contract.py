"""The Ray adapter passes the contract every adapter passes: the local backend's contract test, its
sweeps placed by Ray on the tests' two-node cluster (real runner, real Ray, real trial processes)."""

from __future__ import annotations

import json
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
    many = with_overrides(spec, {"tuning.max_parallel_jobs": 300, "tuning.max_jobs": 300})
    with pytest.raises(PlanError) as refused:
        RayAdapter().plan(many)
    (problem,) = refused.value.problems
    assert problem.path == "tuning.max_parallel_jobs" and "hpo-flow worker" not in problem.message


@pytest.mark.unit
def test_plan_shows_the_placement_with_secret_env_vars_masked(tmp_path: Path) -> None:
    from tests.ray.sweeps import ray_config

    spec = ray_config(
        tmp_path,
        None,
        {"backends.ray.runtime_env": {"env_vars": {"WANDB_API_KEY": "tok-hunter2-x", "OMP_NUM_THREADS": "2"}}},
    )
    plan = RayAdapter().plan(spec)
    placement = plan["placement"]
    assert plan["backend"] == "ray" and "slots" not in plan
    assert placement["resources_per_trial"] == {"CPU": 1.0}
    assert placement["runtime_env"]["working_dir"] == str(tmp_path)
    assert ".git" in placement["runtime_env"]["excludes"] and ".env" in placement["runtime_env"]["excludes"]
    assert placement["runtime_env"]["env_vars"] == {"WANDB_API_KEY": "***", "OMP_NUM_THREADS": "2"}
    assert "tok-hunter2-x" not in json.dumps(plan)
    assert plan["first_trial"]["environment"]["CUDA_VISIBLE_DEVICES"].startswith("set by Ray")


@pytest.mark.unit
def test_a_worker_is_refused_for_a_ray_sweep_with_the_way_to_add_a_machine(tmp_path: Path) -> None:
    from hpo_flow.adapters.errors import BackendError
    from tests.ray.sweeps import ray_config

    with pytest.raises(BackendError, match=r"add the machine to the cluster \(ray start --address"):
        RayAdapter().run_worker(ray_config(tmp_path, None))
