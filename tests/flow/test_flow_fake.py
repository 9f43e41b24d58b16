"""The flow on the fake adapter: the flow contract, plus what only a fake can stage cheaply
(a sweep where every trial fails, a dry run, a quiet sweep for the poll backoff)."""

from __future__ import annotations

import io
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml
from prefect import flow

from hpo_flow.adapters.port import SweepState, SweepStatus, Trial
from hpo_flow.cli.run import EXIT_FAILED, EXIT_OK, run_from_cli
from tests.fakes import FakeAdapter, _Sweep
from tests.flow.flow_contract import FlowContract
from tests.flow.trial_script import save_model
from tests.helpers import config_dict

pytestmark = pytest.mark.integration


class FakeWithModels(FakeAdapter):
    """The fake, with an MLflow model (tests/flow/trial_script.py's kind) for every successful trial."""

    def _trial(self, sweep: _Sweep, index: int) -> Trial:
        trial = super()._trial(sweep, index)
        if trial.model_uri and trial.objective is not None:
            save_model(Path(trial.model_uri), trial.objective)
        return trial


class TestFlowOnTheFakeAdapter(FlowContract):
    @pytest.fixture
    def fake(self, tmp_path: Path) -> FakeWithModels:
        return FakeWithModels(per_poll=2, model_dir=tmp_path / "models")

    @pytest.fixture
    def backend(self, register: Any, fake: FakeWithModels) -> str:
        register("fake", fake)
        return "fake"

    @pytest.fixture
    def config_data(self) -> dict[str, Any]:
        return config_dict({"tuning.max_jobs": 4, "tuning.poll_interval_seconds": 0.05})

    def test_one_log_line_per_finished_trial(self, config_path: Path, backend: str) -> None:
        from hpo_flow.flows.hpo_sweep import hpo_sweep

        state = hpo_sweep(config_path=str(config_path), backend=backend, return_state=True)
        assert state.is_completed()
        lines = [m for m in _log_messages(state.state_details.flow_run_id) if m.startswith("trial ")]
        assert sorted(line.split()[1] for line in lines) == ["trial-0", "trial-1", "trial-2", "trial-3"]
        assert all(" COMPLETED: accuracy=" in line for line in lines)

    def test_no_secret_reaches_prefect_logs_or_artifacts(self, config_path: Path, backend: str) -> None:
        from hpo_flow.flows.hpo_sweep import hpo_sweep

        data = yaml.safe_load(config_path.read_text())
        data["training"].setdefault("environment", {})["API_TOKEN"] = "tok-hunter2"
        config_path.write_text(yaml.safe_dump(data))
        storage = "backends.local.storage=postgresql://bob:hunter2@127.0.0.1:1/optuna"
        state = hpo_sweep(config_path=str(config_path), backend=backend, overrides=[storage], return_state=True)
        assert state.is_completed()
        run_id = state.state_details.flow_run_id
        logs = "\n".join(_log_messages(run_id))
        assert "postgresql://bob:***@127.0.0.1:1/optuna" in logs
        shown = logs + "\n".join(str(a.data) for a in _artifacts_of(run_id))
        assert "hunter2" not in shown

    def test_a_secret_set_on_the_command_line_is_not_a_stored_flow_parameter(
        self, config_path: Path, backend: str, fake: FakeWithModels
    ) -> None:
        from hpo_flow.adapters.spec import sealed
        from hpo_flow.flows.hpo_sweep import hpo_sweep

        token, url = "tok-set-5e1f", "postgresql://bob:pw-set-5e1f@127.0.0.1:1/optuna"
        given = [f"training.environment.API_TOKEN={token}", f"backends.local.storage={url}", "tuning.max_jobs=3"]
        state = hpo_sweep(
            config_path=str(config_path), backend=backend, overrides=sealed.seal(given), return_state=True
        )
        assert state.is_completed()
        (sweep,) = fake.sweeps.values()
        assert sweep.spec.training.environment["API_TOKEN"] == token, "the sweep ran with the secret itself"
        assert sweep.spec.backends.local.storage == url and sweep.spec.tuning.max_jobs == 3
        stored = json.dumps(_flow_run(state.state_details.flow_run_id).parameters)
        assert "5e1f" not in stored, stored  # Prefect's database (and its UI) holds handles only
        assert "tuning.max_jobs=3" in stored

    def test_a_tuned_value_the_user_changes_during_the_sweep_is_kept_and_said(
        self, config_path: Path, register: Any, tmp_path: Path
    ) -> None:
        from hpo_flow.flows.hpo_sweep import hpo_sweep

        class EditedDuringTheSweep(FakeWithModels):
            def poll(self, ref: Any) -> SweepState:
                data = yaml.safe_load(config_path.read_text())
                if data["training"]["hyperparameters"].get("lr") != 0.0505:
                    data["training"]["hyperparameters"]["lr"] = 0.0505  # the user's own pick, mid-sweep
                    config_path.write_text(yaml.safe_dump(data, sort_keys=False))
                return super().poll(ref)

        register("edited", EditedDuringTheSweep(per_poll=2, model_dir=tmp_path / "models"))
        outcome = hpo_sweep(config_path=str(config_path), backend="edited")
        hyper = yaml.safe_load(config_path.read_text())["training"]["hyperparameters"]
        assert hyper["lr"] == 0.0505, "write-back overwrote the user's edit"
        assert hyper["batch_size"] == outcome.best_params["batch_size"], "the untouched tuned value went in"
        assert (
            outcome.config_written
            and outcome.config_note is not None
            and "kept your value of lr" in (outcome.config_note)
        )

    def test_a_config_removed_during_the_sweep_still_records_everything_without_a_traceback(
        self, config_path: Path, register: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        from hpo_flow.flows.hpo_sweep import hpo_sweep

        class RemovedDuringTheSweep(FakeWithModels):
            def poll(self, ref: Any) -> SweepState:
                config_path.unlink(missing_ok=True)
                return super().poll(ref)

        register("removed", RemovedDuringTheSweep(per_poll=2, model_dir=tmp_path / "models"))
        outcome = hpo_sweep(config_path=str(config_path), backend="removed")
        assert outcome.best_trial is not None and outcome.model_version is not None  # recorded and registered
        assert not outcome.config_written and "gone" in (outcome.config_note or "")
        assert not config_path.exists()
        assert "Traceback" not in caplog.text and "FileNotFoundError" not in caplog.text

    def test_no_successful_trial_fails_the_run_and_changes_no_config(
        self, config_path: Path, register: Any, tmp_path: Path, mlflow_server: str
    ) -> None:
        register("fake", FakeWithModels(per_poll=2, model_dir=tmp_path / "models", fail_every=1))
        before = config_path.read_text()
        out = io.StringIO()
        assert run_from_cli(str(config_path), backend="fake", out=out) == EXIT_FAILED
        assert config_path.read_text() == before
        text = out.getvalue()
        assert "COMPLETED, 4 trials" in text and "4 failed" in text and "Model " not in text
        assert "Where to look" in text and mlflow_server in text

    def test_a_sweep_found_stopped_is_recorded_and_the_next_generation_tunes_in_the_same_run(
        self, config_path: Path, fake: FakeWithModels, backend: str, mlflow_server: str
    ) -> None:
        """Issue 22: last night's sweep was cancelled (or stopped with its flow) and never recorded.
        Tonight's run records it, registers its best for lineage without moving the alias, and then
        tunes generation 2, which takes the alias and writes its values."""
        from hpo_flow.flows.hpo_sweep import hpo_sweep
        from hpo_flow.tasks.tracking import record_sweep
        from tests.flow.flow_contract import _client, _runs, _versions, first_generation

        first = first_generation(config_path)
        ref = fake.submit(first)
        fake.poll(ref)  # two trials finished
        fake.cancel(ref)
        record_sweep(first, ref, fake.poll(ref))  # as the stopped flow's exit hook records it: not closed
        outcome = hpo_sweep(config_path=str(config_path), backend=backend)

        assert (outcome.generation, outcome.status) == (2, "COMPLETED")
        assert outcome.sweep.endswith("-g2") and fake.sweeps[ref.name].status == SweepStatus.STOPPED
        parents = {
            r.data.tags["hpo.sweep_name"]: r
            for r in _runs(mlflow_server, first.experiment_name)
            if "mlflow.parentRunId" not in r.data.tags
        }
        assert set(parents) == {ref.name, outcome.sweep}
        assert parents[ref.name].data.tags["hpo.recorded"] == "true"
        versions = _versions(mlflow_server, first.registered_model_name)
        assert [v.tags["hpo.sweep_name"] for v in versions] == [ref.name, outcome.sweep]
        assert versions[0].tags["hpo.promotion_basis"] == "stopped"
        held = _client(mlflow_server).get_model_version_by_alias(first.registered_model_name, "challenger")
        assert held.version == versions[1].version and outcome.config_written

    @pytest.mark.parametrize("promote", ["better", "always"])
    def test_a_sweep_cancelled_mid_run_moves_the_alias_and_config_only_with_promote_always(
        self, config_path: Path, fake: FakeWithModels, register: Any, mlflow_server: str, promote: str
    ) -> None:
        """`hpo-flow cancel` mid-sweep: 2 of 6 trials finished. Their best is registered, but it did not
        run the budget: the alias and config.yaml stay, and the run says so, unless promote: always."""
        from hpo_flow.flows.hpo_sweep import hpo_sweep
        from tests.flow.flow_contract import _client, _versions

        data = yaml.safe_load(config_path.read_text())
        data["tuning"]["max_jobs"] = 6
        data["mlflow"]["promote"] = promote
        config_path.write_text(yaml.safe_dump(data, sort_keys=False))
        before = config_path.read_text()

        class CancelledByUser(FakeWithModels):
            backend = "cancelled"

            def poll(self, ref: Any) -> SweepState:
                state = super().poll(ref)
                if len(state.trials) >= 2 and not state.status.is_terminal:
                    self.cancel(ref)  # what `hpo-flow cancel` in another terminal does
                    state = super().poll(ref)
                return state

        register("cancelled", CancelledByUser(per_poll=2, model_dir=fake.model_dir))
        outcome = hpo_sweep(config_path=str(config_path), backend="cancelled")
        assert outcome.status == "STOPPED" and outcome.trials == 2
        (version,) = _versions(mlflow_server, outcome.model_name or "")
        aliases = _client(mlflow_server).get_model_version(version.name, version.version).aliases
        if promote == "always":
            assert aliases == ["challenger"] and outcome.config_written and config_path.read_text() != before
        else:
            assert aliases == [] and version.tags["hpo.promotion_basis"] == "stopped"
            assert not outcome.config_written and config_path.read_text() == before
            assert "stopped before it finished" in (outcome.promotion or "")
            assert "mlflow.promote: always" in (outcome.promotion or "")

    def test_a_dry_run_shows_the_diff_and_writes_nothing(self, config_path: Path, backend: str) -> None:
        before = config_path.read_text()
        out = io.StringIO()
        assert run_from_cli(str(config_path), backend=backend, dry_run=True, out=out) == EXIT_OK
        assert config_path.read_text() == before
        text = out.getvalue()
        assert "not changed (--dry-run); write-back would make this change:" in text
        assert "+    lr: " in text or "+  lr: " in text

    def test_a_disabled_config_runs_no_sweep(self, config_path: Path, fake: FakeWithModels, backend: str) -> None:
        from hpo_flow.flows.hpo_sweep import hpo_sweep

        data = yaml.safe_load(config_path.read_text())
        data["tuning"]["enabled"] = False
        config_path.write_text(yaml.safe_dump(data))
        outcome = hpo_sweep(config_path=str(config_path), backend=backend)
        assert outcome.status == "SKIPPED" and fake.sweeps == {}

    def test_polling_backs_off_while_quiet_and_snaps_back_on_news(
        self, fake: FakeWithModels, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        import hpo_flow.tasks.sweep
        from tests.helpers import make_config

        config = make_config({"tuning.max_jobs": 4, "tuning.poll_interval_seconds": 1})
        ref = fake.submit(config)
        quiet = iter([True, True, True, False, True, False])
        real_poll = fake.poll

        def poll(r: Any) -> Any:
            # a quiet poll returns the state as it was, without letting the fake move on
            if next(quiet, False):
                sweep = fake.sweeps[r.name]
                return SweepState(status=sweep.status, trials=list(sweep.trials))
            return real_poll(r)

        waits: list[float] = []
        monkeypatch.setattr(fake, "poll", poll)
        monkeypatch.setattr(
            hpo_flow.tasks.sweep, "time", SimpleNamespace(sleep=waits.append)
        )  # this module's sleep only

        @flow
        def wait() -> SweepState:
            return hpo_flow.tasks.sweep.wait_for_sweep(fake, ref, config)

        state = wait()
        assert state.status == SweepStatus.COMPLETED
        # the first poll is news (nothing seen before); quiet polls back off; two new trials reset it
        assert waits == [1, 1.5, 2.25, 1, 1.5]


def _log_messages(flow_run_id: Any) -> list[str]:
    import asyncio

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
    from prefect.logging.handlers import APILogWorker

    APILogWorker.drain_all(timeout=10)  # run logs reach the API in batches

    async def read() -> list[str]:
        async with get_client() as client:
            logs = await client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id])))
            return [log.message for log in logs]

    return asyncio.run(read())


def _flow_run(flow_run_id: Any) -> Any:
    import asyncio

    from prefect.client.orchestration import get_client

    async def read() -> Any:
        async with get_client() as client:
            return await client.read_flow_run(flow_run_id)

    return asyncio.run(read())


def _artifacts_of(flow_run_id: Any) -> list[Any]:
    import asyncio

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    async def read() -> list[Any]:
        async with get_client() as client:
            only_this = ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]))
            return await client.read_artifacts(artifact_filter=only_this)

    artifacts = asyncio.run(read())
    assert {a.type for a in artifacts} >= {"progress", "table", "markdown"}
    return artifacts
