"""The flow's contract: the same end-to-end tests for every backend, driven only through the flow.

That the flow passes them with the fake adapter and with the local backend alike is what shows it
knows nothing of the backend it drives. A subclass provides two fixtures:
- `backend`: the backend name to give the flow (a test adapter is registered by `register`);
- `config_data`: a config (YAML tree) that the backend runs to completion in seconds, with the
  tests' trial script (tests/flow/trial_script.py) as the training script where one runs.
MLflow is a real tracking server (`mlflow_server`), Prefect its test harness (`prefect_harness`).
"""

from __future__ import annotations

import contextlib
import copy
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

import hpo_flow.adapters
from hpo_flow.adapters.port import SweepRef, SweepState, SweepStatus, TrialStatus, best_trial
from hpo_flow.adapters.registry import registered
from hpo_flow.adapters.spec import HpoConfig, load_config
from tests.helpers import in_process_backend

HEADER = "# a config with comments: write-back keeps them\n"


class FlowKilled(BaseException):
    """What a killed flow process looks like to Prefect: not an Exception, so the run is Crashed."""


def crash(state: SweepState) -> None:
    raise FlowKilled("the flow's process died")


class Interrupting:
    """Delegates to a real adapter; once the sweep is under way (a trial started, the sweep not over),
    calls `interrupt(state)` after a poll, which may block or raise as a dying process would."""

    def __init__(self, inner: Any, interrupt: Callable[[SweepState], None]) -> None:
        self.inner = inner
        self.backend = inner.backend
        self.interrupt = interrupt
        self.started_trials = 0
        self.refs: list[SweepRef] = []
        self.flow_run_id: str | None = None
        self.died = False  # a process dies once: the exit hooks' own polls must reach the real adapter

    def plan(self, spec: HpoConfig) -> dict[str, Any]:
        return self.inner.plan(spec)

    def submit(self, spec: HpoConfig) -> SweepRef:
        ref = self.inner.submit(spec)
        self.refs.append(ref)
        return ref

    def poll(self, ref: SweepRef) -> SweepState:
        from prefect.runtime import flow_run

        self.flow_run_id = str(flow_run.id)
        state = self.inner.poll(ref)
        if state.trials and not state.status.is_terminal and not self.died:
            self.started_trials = len(state.trials)
            try:
                self.interrupt(state)
            except BaseException:
                self.died = True
                raise
        return state

    def cancel(self, ref: SweepRef) -> None:
        self.inner.cancel(ref)


class ReadingMlflowMidSweep:
    """Delegates to a real adapter; before each poll after the first that saw finished trials, and
    while the sweep still runs, reads MLflow until those trials are there (or a minute passes).

    Reading before the poll holds a fake sweep where it is, so that its last trials cannot end
    first; a real backend's trials run on meanwhile, which is what a reviewer's read looks like.
    """

    def __init__(self, inner: Any, tracking_uri: str, experiment: str) -> None:
        self.inner = inner
        self.backend = inner.backend
        self.tracking_uri = tracking_uri
        self.experiment = experiment
        self.finished_before: list[str] = []  # finished trials the previous poll saw, while the sweep ran
        self.in_mlflow_mid_sweep: dict[str, str] = {}  # trial id -> MLflow run status, read mid-sweep
        self.read = False

    def plan(self, spec: HpoConfig) -> dict[str, Any]:
        return self.inner.plan(spec)

    def submit(self, spec: HpoConfig) -> SweepRef:
        return self.inner.submit(spec)

    def poll(self, ref: SweepRef) -> SweepState:
        if self.finished_before and not self.read:
            self.read = True  # once: a flow that never records must fail in a minute, not hang
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                found = {
                    r.data.tags.get("hpo.trial_id"): r.info.status
                    for r in _runs_if_any(self.tracking_uri, self.experiment)
                    if r.info.status != "RUNNING"
                }
                if set(self.finished_before) <= set(found):
                    self.in_mlflow_mid_sweep = {k: v for k, v in found.items() if k in self.finished_before}
                    break
                time.sleep(0.1)
        state = self.inner.poll(ref)
        if not state.status.is_terminal and not self.read:
            self.finished_before = [t.id for t in state.finished_trials]
        return state

    def cancel(self, ref: SweepRef) -> None:
        self.inner.cancel(ref)


def wait_until_ended(adapter: Any, ref: SweepRef, timeout: float = 60) -> SweepState:
    deadline = time.monotonic() + timeout
    state = adapter.poll(ref)
    while not state.status.is_terminal and time.monotonic() < deadline:
        time.sleep(0.2)
        state = adapter.poll(ref)
    return state


class FlowContract:
    # ------------------------------------------------------------------ fixtures

    @pytest.fixture
    def register(self) -> Iterator[Callable[[str, Any], None]]:
        """Make `adapter` the backend `name` of this process: the flow and its hooks reach this very instance."""
        with contextlib.ExitStack() as stack:

            def register(name: str, adapter: Any) -> None:
                stack.enter_context(registered(in_process_backend(name, adapter)))

            yield register

    @pytest.fixture
    def config_path(
        self, tmp_path: Path, config_data: dict[str, Any], mlflow_server: str, request: pytest.FixtureRequest
    ) -> Path:
        """The subclass's config with update_config on, in its own MLflow experiment and model name."""
        data = copy.deepcopy(config_data)
        unique = f"{request.node.name.removeprefix('test_')[:40]}-{time.time_ns() % 10**8}".replace("_", "-")
        data["project"] = f"{data['project']}-{unique}"[:63]
        data["tuning"]["update_config"] = True
        data["mlflow"] = {"tracking_uri": mlflow_server}
        if data["training"].get("source_dir", ".") == ".":
            # The training code is part of the sweep's identity: give it code of its own, not the repository.
            code = tmp_path / "code"
            code.mkdir(exist_ok=True)
            (code / data["training"]["entry_point"]).write_text("print('accuracy: 0.5')\n")
            data["training"]["source_dir"] = str(code)
        path = tmp_path / "config.yaml"
        path.write_text(HEADER + yaml.safe_dump(data, sort_keys=False))
        return path

    @pytest.fixture
    def adapter(self, backend: str) -> Any:
        return hpo_flow.adapters.get_adapter(backend)

    @pytest.fixture(autouse=True)
    def _prefect(self, prefect_harness: None) -> None:
        """Every flow test runs against Prefect's test harness."""

    # ------------------------------------------------------------------ tests

    def test_the_sweep_ends_in_a_registered_model_and_an_updated_config(
        self, config_path: Path, backend: str, adapter: Any, mlflow_server: str
    ) -> None:
        from hpo_flow.flows.hpo_sweep import hpo_sweep

        config = first_generation(config_path)
        outcome = hpo_sweep(config_path=str(config_path), backend=backend)

        ref = adapter.submit(config)  # re-attaches to the finished sweep: how the contract reads it
        state = adapter.poll(ref)
        assert state.status == SweepStatus.COMPLETED
        assert len(state.trials) == config.tuning.max_jobs
        best = best_trial(state.trials, config.objective)
        assert best is not None
        assert outcome.status == "COMPLETED" and outcome.sweep == ref.name and outcome.trials == len(state.trials)
        assert outcome.best_trial == best.id and outcome.best_objective == best.objective

        # MLflow: a parent run with one child per trial, and the winner's model registered under the alias
        runs = _runs(mlflow_server, config.experiment_name)
        parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
        assert len(parents) == 1
        children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parents[0].info.run_id]
        assert len(children) == len(state.trials)
        versions = _versions(mlflow_server, config.registered_model_name)
        assert [v.version for v in versions] == ["1"]
        assert (outcome.model_name, outcome.model_version, outcome.model_alias) == (
            config.registered_model_name,
            "1",
            "challenger",
        )
        assert _predict(mlflow_server, f"models:/{config.registered_model_name}@challenger") == pytest.approx(
            best.objective, abs=1e-6
        )

        # the config: winners written in, everything else (comments included) kept
        written = yaml.safe_load(config_path.read_text())
        tuned = config.tuning.hyperparameter_ranges
        for name in tuned:  # floats are written to 6 significant digits
            assert written["training"]["hyperparameters"][name] == pytest.approx(best.params[name], rel=1e-5)
        assert config_path.read_text().startswith(HEADER)
        assert outcome.config_written and outcome.diff

        # Prefect artifacts: progress at 100 %, every trial in the table best first, the winner's summary
        artifacts = _artifacts(ref.name)
        assert artifacts["progress"].data == 100.0
        table = _table(artifacts["trials"])
        assert table[0]["trial"] == best.id and len(table) == len(state.trials)
        summary = artifacts["summary"].data
        assert f"Winner: trial `{best.id}`" in summary and "```diff" in summary

    def test_a_second_run_after_a_recorded_sweep_tunes_again_warm_started(
        self, config_path: Path, backend: str, adapter: Any, mlflow_server: str
    ) -> None:
        """Issue 9, check 1: the nightly case. The first sweep ended and is recorded, so the same
        config run again is the next generation: a second sweep and parent run, `max_jobs` new trials,
        warm-started from the first generation's best."""
        from hpo_flow.flows.hpo_sweep import hpo_sweep

        config = first_generation(config_path)
        first = hpo_sweep(config_path=str(config_path), backend=backend)
        second = hpo_sweep(config_path=str(config_path), backend=backend)

        assert (first.generation, second.generation) == (1, 2)
        assert second.sweep != first.sweep and second.sweep.endswith("-g2")
        assert "ended and is recorded" in (second.sweep_choice or "")
        first_state = adapter.poll(adapter.submit(config))
        second_spec = later_generation(config, 2, [first.sweep])
        second_state = adapter.poll(adapter.submit(second_spec))  # re-attaches to the finished second sweep
        assert len(first_state.trials) == len(second_state.trials) == config.tuning.max_jobs
        runs = _runs(mlflow_server, config.experiment_name)
        parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
        assert sorted(r.data.tags["hpo.sweep_name"] for r in parents) == sorted([first.sweep, second.sweep])
        assert all(r.data.tags["hpo.recorded"] == "true" for r in parents)
        assert len(runs) == 2 * (1 + config.tuning.max_jobs)
        assert [v.version for v in _versions(mlflow_server, config.registered_model_name)] == ["1", "2"]
        best = best_trial(first_state.trials, config.objective)
        assert best is not None
        self.check_warm_start(adapter, second_spec, second_state, best.params)

    def check_warm_start(self, adapter: Any, spec: HpoConfig, state: SweepState, best_params: dict[str, Any]) -> None:
        """The second generation's first trial tried the first generation's best values."""
        tuned = list(spec.tuning.hyperparameter_ranges)
        first_trial = min(state.trials, key=lambda t: t.id)
        for name in tuned:
            assert first_trial.params[name] == pytest.approx(best_params[name], rel=1e-9), (name, first_trial)

    def test_a_crashed_flow_stops_its_sweep(self, config_path: Path, backend: str, adapter: Any, register: Any) -> None:
        from hpo_flow.flows.hpo_sweep import hpo_sweep

        crashing = Interrupting(adapter, crash)
        register("crashing", crashing)
        with pytest.raises(FlowKilled):
            hpo_sweep(config_path=str(config_path), backend="crashing")
        assert crashing.started_trials >= 1, "the crash was meant to land while trials ran"
        state = wait_until_ended(adapter, crashing.refs[-1])
        assert state.status == SweepStatus.STOPPED
        assert not [t for t in state.trials if t.status in (TrialStatus.RUNNING, TrialStatus.PENDING)]

    def test_mlflow_shows_finished_trials_while_the_sweep_runs(
        self, config_path: Path, backend: str, adapter: Any, register: Any, mlflow_server: str
    ) -> None:
        from hpo_flow.flows.hpo_sweep import hpo_sweep

        config = load_config(config_path)
        reading = ReadingMlflowMidSweep(adapter, mlflow_server, config.experiment_name)
        register("reading", reading)
        outcome = hpo_sweep(config_path=str(config_path), backend="reading")
        assert outcome.status == "COMPLETED"
        assert reading.finished_before, "no poll saw a finished trial while the sweep ran"
        assert sorted(reading.in_mlflow_mid_sweep) == sorted(reading.finished_before), (
            "trials that had finished were not in MLflow before the sweep ended"
        )
        assert set(reading.in_mlflow_mid_sweep.values()) <= {"FINISHED", "KILLED", "FAILED"}
        assert len(reading.finished_before) < config.tuning.max_jobs

    def test_a_sweep_stopped_mid_way_keeps_its_finished_trials_in_mlflow(
        self, config_path: Path, backend: str, adapter: Any, register: Any, mlflow_server: str
    ) -> None:
        from hpo_flow.flows.hpo_sweep import hpo_sweep

        # Twice the trials: the crash comes when the first trial has finished, and Prefect takes
        # about a second to run the crash hook that stops the sweep. With 4 trials 2 at a time,
        # the last two (a second each locally) sometimes finished first, and the sweep ended
        # COMPLETED with nothing left to stop (2 runs in 6).
        raw = yaml.safe_load(config_path.read_text())
        raw["tuning"]["max_jobs"] *= 2
        config_path.write_text(HEADER + yaml.safe_dump(raw, sort_keys=False))
        config = load_config(config_path)
        finished_at_crash: list[SweepState] = []

        def crash_once_a_trial_finished(state: SweepState) -> None:
            if any(t.status == TrialStatus.COMPLETED for t in state.finished_trials):
                finished_at_crash.append(state)
                crash(state)

        crashing = Interrupting(adapter, crash_once_a_trial_finished)
        register("crashing", crashing)
        with pytest.raises(FlowKilled):
            hpo_sweep(config_path=str(config_path), backend="crashing")
        assert finished_at_crash, "the sweep ended before a trial finished: nothing was stopped mid-way"
        state = wait_until_ended(adapter, crashing.refs[-1])
        assert state.status == SweepStatus.STOPPED
        done = [t for t in finished_at_crash[-1].finished_trials if t.status == TrialStatus.COMPLETED]
        assert len(done) < config.tuning.max_jobs

        runs = _runs(mlflow_server, config.experiment_name)
        parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
        assert len(parents) == 1 and parents[0].info.status == "KILLED"
        children = {r.data.tags["hpo.trial_id"]: r for r in runs if "mlflow.parentRunId" in r.data.tags}
        metric = config.tuning.objective_metric
        for trial in done:
            run = children[trial.id]
            assert run.info.status == "FINISHED" and run.data.tags["hpo.trial_status"] == "COMPLETED"
            assert run.data.metrics[metric] == pytest.approx(trial.objective)
        assert all(r.info.status != "RUNNING" for r in children.values()), "a stopped trial still shows as running"

    def test_cancel_on_flow_exit_false_leaves_the_sweep_running(
        self, config_path: Path, backend: str, adapter: Any, register: Any
    ) -> None:
        from hpo_flow.flows.hpo_sweep import hpo_sweep

        data = yaml.safe_load(config_path.read_text())
        data["tuning"]["cancel_on_flow_exit"] = False
        config_path.write_text(yaml.safe_dump(data, sort_keys=False))

        crashing = Interrupting(adapter, crash)
        register("crashing", crashing)
        with pytest.raises(FlowKilled):
            hpo_sweep(config_path=str(config_path), backend="crashing")
        ref = crashing.refs[-1]
        try:
            state = wait_until_ended(adapter, ref)
            assert state.status == SweepStatus.COMPLETED, "the sweep should have been left to finish"
        finally:
            adapter.cancel(ref)

    def test_a_worker_cancelling_the_flow_run_stops_its_sweep(
        self, config_path: Path, backend: str, adapter: Any, register: Any, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A worker that cancels a run kills its process, then runs on_cancellation hooks in its own
        process: the hook must find the sweep from what the flow run stored, not from memory."""
        from prefect.client.orchestration import get_client
        from prefect.states import Cancelling

        import hpo_flow.tasks.sweep
        from hpo_flow.flows.hpo_sweep import hpo_sweep

        polling, killed = threading.Event(), threading.Event()

        def block_then_die(state: SweepState) -> None:
            polling.set()
            killed.wait(120)
            raise FlowKilled("the worker killed the flow's process")

        blocking = Interrupting(adapter, block_then_die)
        register("blocking", blocking)
        crashed: list[BaseException] = []

        def run() -> None:
            try:
                hpo_sweep(config_path=str(config_path), backend="blocking")
            except FlowKilled as exc:
                crashed.append(exc)

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        try:
            assert polling.wait(120), "the flow never started polling"
            monkeypatch.setattr(hpo_flow.tasks.sweep, "_IN_PROCESS", {})  # the worker's process knows nothing
            assert blocking.flow_run_id is not None
            import asyncio

            async def cancel_and_read() -> Any:
                async with get_client() as client:
                    await client.set_flow_run_state(blocking.flow_run_id, Cancelling(), force=True)
                    return await client.read_flow_run(blocking.flow_run_id)

            flow_run = asyncio.run(cancel_and_read())
            assert flow_run.state.is_cancelling()
            for hook in hpo_sweep.on_cancellation_hooks:
                hook(hpo_sweep, flow_run, flow_run.state)
            state = wait_until_ended(adapter, blocking.refs[-1])
            assert state.status == SweepStatus.STOPPED
        finally:
            killed.set()
            thread.join(120)
        assert crashed and not thread.is_alive()


# ---------------------------------------------------------------------- the sweeps a flow run drove


def first_generation(config_path: Path) -> HpoConfig:
    """The spec of the config's first sweep, as the flow submits it (its identity covers the code)."""
    from hpo_flow.adapters.lifecycle import identify

    return identify(load_config(config_path), config_path)


def later_generation(first: HpoConfig, number: int, parents: list[str]) -> HpoConfig:
    """The spec of a later generation, enough to attach to it (its warm start is in its study already)."""
    from hpo_flow.adapters.lifecycle import Decision, for_generation

    return for_generation(first, Decision(number, True, "test", parents))


# ---------------------------------------------------------------------- reading MLflow and Prefect


def _client(uri: str) -> Any:
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def _runs(uri: str, experiment: str) -> list[Any]:
    client = _client(uri)
    exp = client.get_experiment_by_name(experiment)
    assert exp is not None, f"no MLflow experiment {experiment!r}"
    return list(client.search_runs([exp.experiment_id], max_results=1000))


def _runs_if_any(uri: str, experiment: str) -> list[Any]:
    client = _client(uri)
    exp = client.get_experiment_by_name(experiment)
    return [] if exp is None else list(client.search_runs([exp.experiment_id], max_results=1000))


def _versions(uri: str, name: str) -> list[Any]:
    return sorted(_client(uri).search_model_versions(f"name='{name}'"), key=lambda v: int(v.version))


def _predict(uri: str, model_uri: str) -> float:
    import mlflow
    import pandas as pd

    # Resolve the alias with a client of this server instead of set_tracking_uri/set_registry_uri:
    # those leak into the process (and MLFLOW_TRACKING_URI) and send later tests' runs here.
    name, _, alias = model_uri.removeprefix("models:/").partition("@")
    client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
    version = client.get_model_version_by_alias(name, alias)
    source = client.get_model_version_download_uri(name, version.version)
    local_path = mlflow.artifacts.download_artifacts(artifact_uri=source, tracking_uri=uri)
    model = mlflow.pyfunc.load_model(local_path)
    return float(model.predict(pd.DataFrame({"x": [1.0]}))[0])


def _artifacts(sweep_name: str) -> dict[str, Any]:
    """The latest progress, trials and summary artifacts of a sweep, by their keys."""
    import asyncio

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    from hpo_flow.tasks.artifacts import artifact_key

    async def read() -> dict[str, Any]:
        found: dict[str, Any] = {}
        async with get_client() as client:
            for what in ("progress", "trials", "summary"):
                key = artifact_key(sweep_name, what)
                latest = await client.read_latest_artifacts(
                    artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key]))
                )
                assert latest, f"no artifact {key}"
                found[what] = latest[0]
        return found

    return asyncio.run(read())


def _table(artifact: Any) -> list[dict[str, Any]]:
    import json

    data = artifact.data
    return json.loads(data) if isinstance(data, str) else data
