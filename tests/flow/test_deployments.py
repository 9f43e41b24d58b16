"""deployments/prefect.yaml against a real Prefect server: `prefect deploy` creates the nightly and the
event-triggered deployments, and a `dataset.updated` event from the data pipeline starts a run."""

from __future__ import annotations

import asyncio
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.flow.prefect_servers import VENV_BIN, PrefectServer

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
FLOW = "hpo-sweep"


async def _create_process_pool(name: str) -> None:
    """What `prefect work-pool create hpo-local --type process` does (docs/pipeline.md), minus a CLI start."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.workers.process import ProcessWorker

    async with get_client() as client:
        await client.create_work_pool(
            WorkPoolCreate(name=name, type="process", base_job_template=ProcessWorker.get_default_base_job_template())
        )


async def _emit(payload: dict[str, Any] | None) -> None:
    """The upstream pipeline's side: one dataset.updated event about dataset.digits."""
    from prefect.events.clients import get_events_client
    from prefect.events.schemas.events import Event, Resource

    event = Event(
        event="dataset.updated",
        resource=Resource({"prefect.resource.id": "dataset.digits"}),
        payload=payload or {},
    )
    async with get_events_client() as events:
        await events.emit(event)


async def _deployment(name: str) -> Any:
    from prefect.client.orchestration import get_client

    async with get_client() as client:
        return await client.read_deployment_by_name(f"{FLOW}/{name}")


async def _runs_of(deployment_id: Any) -> list[Any]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId

    async with get_client() as client:
        only_this = DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id]))
        return await client.read_flow_runs(deployment_filter=only_this)


def _prefect(server: PrefectServer, *args: str) -> None:
    """`prefect ARGS` from the repository root, as docs/pipeline.md has a user run it, against `server`."""
    done = subprocess.run(
        [str(VENV_BIN / "prefect"), *args], cwd=REPO, env=server.env(), capture_output=True, text=True, timeout=240
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


def _wait_for_runs(deployment_id: Any, count: int, timeout: float = 90) -> list[Any]:
    deadline = time.monotonic() + timeout
    runs: list[Any] = []
    while time.monotonic() < deadline:
        runs = asyncio.run(_runs_of(deployment_id))
        if len(runs) >= count:
            return runs
        time.sleep(0.5)
    return runs


def test_deploy_then_a_dataset_event_starts_a_flow_run(prefect_server: PrefectServer) -> None:
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings({PREFECT_API_URL: prefect_server.api_url}):
        asyncio.run(_create_process_pool("hpo-local"))
        _prefect(prefect_server, "--no-prompt", "deploy", "--all", "--prefect-file", "deployments/prefect.yaml")

        nightly = asyncio.run(_deployment("nightly"))
        assert nightly.entrypoint == "hpo_flow/flows/hpo_sweep.py:hpo_sweep"
        assert nightly.work_pool_name == "hpo-local"
        assert [s.schedule.cron for s in nightly.schedules] == ["0 2 * * *"]
        assert nightly.parameters == {"config_path": "config.yaml"}

        triggered = asyncio.run(_deployment("on-dataset-update"))
        assert triggered.work_pool_name == "hpo-local"
        assert asyncio.run(_runs_of(triggered.id)) == []

        # The pipeline says which config and what to override; the trigger passes both on.
        asyncio.run(_emit({"config_path": "configs/digits.yaml", "overrides": {"tuning.max_jobs": 4}}))
        runs = _wait_for_runs(triggered.id, 1)
        assert len(runs) == 1, "the dataset.updated event did not start a run of the deployment"
        assert runs[0].parameters == {"config_path": "configs/digits.yaml", "overrides": {"tuning.max_jobs": 4}}

        # An event with no payload runs the deployment's defaults.
        asyncio.run(_emit(None))
        runs = _wait_for_runs(triggered.id, 2)
        assert len(runs) == 2
        assert {"config_path": "config.yaml", "overrides": {}} in [r.parameters for r in runs]

        # No worker runs here: the runs wait for one, which is all the trigger owes.
        assert {r.state.type.value for r in runs} <= {"SCHEDULED", "PENDING"}
        # The nightly deployment was not started by the event: its only runs are the scheduler's.
        assert all(r.auto_scheduled for r in asyncio.run(_runs_of(nightly.id)))


async def _silent_run_after_one_heartbeat(flow_name: str) -> Any:
    """A flow run that started, sent one heartbeat, and went silent: its worker was killed with
    its process group (no hook ran, nothing told Prefect), which leaves it RUNNING."""
    from prefect.client.orchestration import get_client
    from prefect.events.clients import get_events_client
    from prefect.events.schemas.events import Event, Resource
    from prefect.states import Running

    async with get_client() as client:
        run = await client.create_flow_run(_named_flow(flow_name), name="silent", state=Running())
    resource = Resource({"prefect.resource.id": f"prefect.flow-run.{run.id}"})
    beat = Event(event="prefect.flow-run.heartbeat", resource=resource)
    async with get_events_client() as events:
        await events.emit(beat)
    return run.id


def _named_flow(name: str) -> Any:
    from prefect import flow

    @flow(name=name)
    def silent() -> None:  # never run: only its name is registered
        return None

    return silent


async def _state_of(run_id: Any) -> Any:
    from prefect.client.orchestration import get_client

    async with get_client() as client:
        return (await client.read_flow_run(run_id)).state


def test_the_shipped_automation_marks_a_run_whose_heartbeats_stopped_crashed(prefect_server: PrefectServer) -> None:
    """deployments/automations.yaml as `prefect automation create --from-file` reads it, with its
    window cut from 300 s to 10 s (Prefect's least): a run gone silent after a heartbeat ends CRASHED (which frees
    the nightly deployment's concurrency slot), and the pool's heartbeats come often enough for it."""
    import yaml
    from prefect.client.orchestration import get_client
    from prefect.events.schemas.automations import AutomationCore
    from prefect.settings import PREFECT_API_URL, temporary_settings

    shipped = yaml.safe_load((REPO / "deployments" / "automations.yaml").read_text())["automations"]
    (zombies,) = shipped
    pool_env = yaml.safe_load((REPO / "deployments" / "prefect.yaml").read_text())["definitions"]["work_pools"]
    beat = int(pool_env["hpo_local"]["job_variables"]["env"]["PREFECT_FLOWS_HEARTBEAT_FREQUENCY"])
    assert zombies["trigger"]["within"] >= 4 * beat, "a run is declared dead only after several missed heartbeats"

    _prefect(prefect_server, "automation", "create", "--from-file", "deployments/automations.yaml")

    quick = AutomationCore.model_validate({**zombies, "name": "quick", "trigger": {**zombies["trigger"], "within": 10}})
    with temporary_settings({PREFECT_API_URL: prefect_server.api_url}):

        async def create_quick() -> None:
            async with get_client() as client:
                await client.create_automation(quick)

        async def delete_both() -> None:
            async with get_client() as client:
                for automation in await client.read_automations():
                    if automation.name in (quick.name, zombies["name"]):
                        await client.delete_automation(automation.id)

        asyncio.run(create_quick())
        try:
            run_id = asyncio.run(_silent_run_after_one_heartbeat("zombie-check"))
            deadline = time.monotonic() + 90
            state = asyncio.run(_state_of(run_id))
            while state.type.value != "CRASHED" and time.monotonic() < deadline:
                time.sleep(1)
                state = asyncio.run(_state_of(run_id))
            assert state.type.value == "CRASHED", f"still {state.type.value}: the silent run holds its slot"
        finally:
            # The server is the session's: a 10 s window left behind would crash a later test's
            # flow run between two of its heartbeats.
            asyncio.run(delete_both())
