"""The flow end to end on the Ray backend: the local runner's sweep with its trials placed by the
tests' two-node Ray cluster, a real MLflow server, Prefect's harness; the same contract as every backend,
and `hpo-flow run` stopped or killed as a user stops or kills it."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

import pytest

from hpo_flow.adapters.port import SweepStatus, TrialStatus
from tests.flow.flow_contract import FlowContract, wait_until_ended
from tests.flow.test_flow_local import (
    _config_file,
    _start_hpo_flow_run,
    _stop_everything,
    _wait_for_a_running_trial,
    killed_then_run_again,
    local_config,
)
from tests.ray.cluster import LocalRayCluster

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]


def on_ray(cluster: LocalRayCluster) -> dict[str, Any]:
    return {
        "tuning.backend": "ray",
        "backends.ray": {"address": cluster.address, "gpus_per_trial": 0.5, "cpus_per_trial": 0},
    }


class TestFlowOnRay(FlowContract):
    @pytest.fixture
    def backend(self) -> str:
        return "ray"

    @pytest.fixture
    def config_data(self, tmp_path: Path, ray_cluster: LocalRayCluster) -> dict[str, Any]:
        from hpo_flow.adapters.spec import apply_overrides

        return apply_overrides(local_config(tmp_path), on_ray(ray_cluster))


def test_stopping_hpo_flow_run_stops_every_ray_trial_of_its_sweep(
    tmp_path: Path, mlflow_server: str, prefect_harness: None, ray_cluster: LocalRayCluster
) -> None:
    """`kill` (SIGTERM) of `hpo-flow run`: the flow's hooks cancel the sweep, and the runner stops
    every trial where Ray runs it and lets every actor of the sweep go."""
    from prefect.settings import PREFECT_API_URL

    from hpo_flow.adapters.ray.adapter import RayAdapter

    config = _config_file(tmp_path, mlflow_server, "ray-stopped", on_ray(ray_cluster))
    proc, lines = _start_hpo_flow_run(config, str(PREFECT_API_URL.value()))
    adapter = RayAdapter()
    try:
        ref = _wait_for_a_running_trial(adapter, lines, proc)
        assert any(f"look at it in {ray_cluster.dashboard}" in line for line in lines), "".join(lines)[-2000:]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 128 + signal.SIGTERM, "".join(lines)[-3000:]
        state = wait_until_ended(adapter, ref)
        assert state.status == SweepStatus.STOPPED, "".join(lines)[-3000:]
        assert not [t for t in state.trials if t.status == TrialStatus.RUNNING]
        deadline = time.monotonic() + 10
        while ray_cluster.state("actors", state="ALIVE", class_name="TrialSlot") and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not ray_cluster.state("actors", state="ALIVE", class_name="TrialSlot")
    finally:
        _stop_everything(proc, lines, adapter)


def test_hpo_flow_run_killed_with_sigkill_then_run_again_finishes_the_same_ray_sweep(
    tmp_path: Path, mlflow_server: str, prefect_harness: None, ray_cluster: LocalRayCluster
) -> None:
    """`kill -9` of `hpo-flow run`: the runner and its Ray trials go on; the next run attaches to that
    sweep: exactly max_jobs trials that count, one parent run in MLflow."""
    from hpo_flow.adapters.ray.adapter import RayAdapter

    config_path = _config_file(tmp_path, mlflow_server, "ray-killed", on_ray(ray_cluster))
    killed_then_run_again(config_path, mlflow_server, RayAdapter())
