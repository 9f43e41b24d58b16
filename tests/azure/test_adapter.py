"""The Azure ML adapter against a served workspace: a whole sweep, cancel, attach, credentials."""

from __future__ import annotations

from typing import Any

import pytest

from hpo_flow.adapters.azure.trials import SWEEP_STATUS, sweep_status, trial_status, typed_value
from hpo_flow.adapters.errors import BackendError, CredentialsError
from hpo_flow.adapters.port import SweepRef, SweepStatus, TrialStatus, best_trial
from hpo_flow.adapters.spec import HpoConfig
from tests.azure.conftest import azure_backend, job_name
from tests.azure.served import ChildPlan, ServedWorkspace, StaticCredential
from tests.helpers import make_config

# azure-ai-ml 1.23 passes marshmallow's deprecated `context` on every schema it builds: its noise, not ours
pytestmark = [pytest.mark.filterwarnings("ignore::marshmallow.warnings.RemovedInMarshmallow4Warning")]


@pytest.mark.unit
def test_a_sweep_runs_to_completed_with_failed_and_pruned_trials(
    adapter: Any, workspace: ServedWorkspace, spec: HpoConfig
) -> None:
    ref = adapter.submit(spec)
    assert adapter.poll(ref).status == SweepStatus.PENDING  # NotStarted: queued, nothing ran yet
    name = job_name(ref)
    plans = [
        ChildPlan("Completed", epochs=5),
        ChildPlan("Failed", epochs=2, save_model=False),
        ChildPlan("Canceled", epochs=3),  # cancelled by the Bandit policy after three epochs
        ChildPlan("Running", epochs=4),
    ]
    workspace.start(name, plans, seed=3)

    running = adapter.poll(ref)
    assert running.status == SweepStatus.RUNNING
    by_status = {t.status: t for t in running.trials}
    assert set(by_status) == {TrialStatus.COMPLETED, TrialStatus.FAILED, TrialStatus.PRUNED, TrialStatus.RUNNING}
    assert len(by_status[TrialStatus.RUNNING].curves["accuracy"]) == 4  # live curve while it runs
    assert by_status[TrialStatus.RUNNING].model_uri is None

    workspace.finish(name)
    done = adapter.poll(ref)
    assert done.status == SweepStatus.COMPLETED and done.message is None
    statuses = sorted(t.status.value for t in done.trials)
    assert statuses == ["COMPLETED", "COMPLETED", "FAILED", "PRUNED"]
    for trial in done.trials:
        # values as sampled, in their own types: lr from loguniform(ln 1e-4, ln 0.1), batch_size a choice
        assert 1e-4 <= trial.params["lr"] <= 0.1 and isinstance(trial.params["lr"], float)
        assert trial.params["batch_size"] in (16, 32, 64) and isinstance(trial.params["batch_size"], int)
        assert trial.started_at is not None and trial.ended_at is not None
        steps = [step for step, _ in trial.curves["accuracy"]]
        assert steps == list(range(len(steps))) and trial.objective == trial.curves["accuracy"][-1][1]
    failed = next(t for t in done.trials if t.status == TrialStatus.FAILED)
    assert failed.model_uri is None and "Failed" in (failed.failure_reason or "")
    pruned = next(t for t in done.trials if t.status == TrialStatus.PRUNED)
    assert pruned.objective is not None and "early-termination" in (pruned.failure_reason or "")
    best = best_trial(done.trials, spec.objective)
    assert best is not None and best.status in (TrialStatus.COMPLETED, TrialStatus.PRUNED)
    assert best.objective == max(
        t.objective for t in done.trials if t.objective is not None and t.status != TrialStatus.FAILED
    )
    assert best.model_uri == f"azureml://jobs/{best.id}/outputs/artifacts/paths/outputs/model"

    # finished trials are read once: polling again asks MLflow nothing new and answers the same
    again = adapter.poll(ref)
    assert [(t.id, t.status, t.objective) for t in again.trials] == [(t.id, t.status, t.objective) for t in done.trials]
    adapter.cancel(ref)
    assert workspace.cancels == 0  # a finished sweep has nothing to cancel


@pytest.mark.unit
def test_cancel_stops_a_running_sweep_and_is_safe_twice(
    adapter: Any, workspace: ServedWorkspace, spec: HpoConfig
) -> None:
    ref = adapter.submit(spec)
    workspace.start(job_name(ref), [ChildPlan("Completed"), ChildPlan("Running")])
    adapter.cancel(ref)
    adapter.cancel(ref)
    assert workspace.cancels == 1  # the second found CancelRequested and sent nothing
    stopping = adapter.poll(ref)
    assert stopping.status == SweepStatus.STOPPING
    workspace.finish(job_name(ref))
    stopped = adapter.poll(ref)
    assert stopped.status == SweepStatus.STOPPED and "Canceled" in (stopped.message or "")
    assert sorted(t.status.value for t in stopped.trials) == ["COMPLETED", "STOPPED"]
    adapter.cancel(ref)
    assert workspace.cancels == 1


@pytest.mark.unit
def test_a_new_adapter_attaches_to_the_running_sweep_from_the_config_or_the_ref(
    workspace: ServedWorkspace, spec: HpoConfig, credential: StaticCredential
) -> None:
    from hpo_flow.adapters.azure import AzureMLAdapter

    first = AzureMLAdapter(credential=credential, client_kwargs={"transport": workspace})
    ref = first.submit(spec)
    workspace.start(job_name(ref))
    restarted = AzureMLAdapter(credential=credential, client_kwargs={"transport": workspace})
    assert restarted.submit(spec) == ref
    assert workspace.creates == 1
    state = restarted.poll(SweepRef.from_json(ref.to_json()))
    assert state.status == SweepStatus.RUNNING and len(state.trials) == spec.tuning.max_jobs
    assert ref.url and ref.url.startswith("https://ml.azure.com/runs/" + job_name(ref))

    other = make_config(
        {
            "training.source_dir": spec.training.source_dir,
            "tuning.sweep_name": spec.sweep_name(),
            "tuning.max_jobs": 9,
            "backends.azure": azure_backend(),
        }
    )
    with pytest.raises(BackendError, match="sweep of a different config"):
        restarted.submit(other)


@pytest.mark.unit
def test_missing_workspace_or_credential_is_one_clear_error(
    workspace: ServedWorkspace, spec: HpoConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    from azure.core.exceptions import ClientAuthenticationError

    from hpo_flow.adapters.azure import AzureMLAdapter

    bare = make_config({"backends.azure": {"environment": "azureml:e:1", "workspace": "ws"}})
    with pytest.raises(CredentialsError) as missing:
        AzureMLAdapter(credential=StaticCredential()).submit(bare)
    assert str(missing.value) == (
        "the Azure ML workspace is not fully named: set backends.azure.subscription_id, "
        "backends.azure.resource_group in config.yaml"
    )

    class NoLogin:
        def get_token(self, *scopes: str, **kwargs: Any) -> Any:
            raise ClientAuthenticationError("DefaultAzureCredential failed: client secret hunter2 rejected")

    with pytest.raises(CredentialsError) as denied:
        AzureMLAdapter(credential=NoLogin(), client_kwargs={"transport": workspace}).submit(spec)
    assert "az login" in str(denied.value) and "hunter2" not in str(denied.value)
    assert denied.value.__cause__ is None and workspace.requests == []

    block = make_config({"backends.azure": azure_backend(credentials_block="azure-ml-credentials/prod")})
    monkeypatch.setitem(__import__("sys").modules, "prefect_azure", None)  # as where it is not installed
    with pytest.raises(CredentialsError, match="pip install prefect-azure"):
        AzureMLAdapter(client_kwargs={"transport": workspace}).submit(block)


@pytest.mark.unit
def test_a_forbidden_workspace_says_which_role_is_needed(workspace: ServedWorkspace, spec: HpoConfig) -> None:
    from hpo_flow.adapters.azure import AzureMLAdapter
    from tests.azure.served import _error

    class Forbidden(ServedWorkspace):
        def send(self, request: Any, **kwargs: Any) -> Any:
            return _error(request, 403, "AuthorizationFailed", "The client does not have authorization")

    adapter = AzureMLAdapter(credential=StaticCredential(), client_kwargs={"transport": Forbidden("")})
    with pytest.raises(CredentialsError, match="AzureML Data Scientist"):
        adapter.submit(spec)


@pytest.mark.unit
def test_every_azure_status_has_a_neutral_one() -> None:
    documented = {
        "NotStarted", "Starting", "Provisioning", "Preparing", "Queued", "Running", "Finalizing",
        "CancelRequested", "Completed", "Failed", "Canceled", "NotResponding", "Paused", "Unknown",
    }  # fmt: skip
    assert documented <= set(SWEEP_STATUS)
    assert sweep_status("Completed") == (SweepStatus.COMPLETED, None)
    assert sweep_status("Failed")[0] == SweepStatus.FAILED and sweep_status("Canceled")[0] == SweepStatus.STOPPED
    assert sweep_status("CancelRequested")[0] == SweepStatus.STOPPING
    assert sweep_status("NotResponding") == (SweepStatus.RUNNING, "Azure ML reports the sweep NotResponding")
    assert sweep_status("Bogus") == (SweepStatus.PENDING, "Azure ML reports an unknown status 'Bogus'")
    assert trial_status("Canceled", sweep_canceled=False, has_policy=True) == TrialStatus.PRUNED
    assert trial_status("Canceled", sweep_canceled=True, has_policy=True) == TrialStatus.STOPPED
    assert trial_status("Canceled", sweep_canceled=False, has_policy=False) == TrialStatus.STOPPED
    assert trial_status("Queued", False, False) == TrialStatus.PENDING
    assert trial_status("NotResponding", False, False) == TrialStatus.RUNNING
    for status in documented:
        assert isinstance(trial_status(status, False, True), TrialStatus)


@pytest.mark.unit
def test_logged_strings_are_typed_back_with_the_search_space() -> None:
    from azure.ai.ml.sweep import Choice, LogUniform, QLogUniform, QUniform, Randint

    assert typed_value("3", Randint(upper=10)) == 3
    assert typed_value("64.0", QUniform(16, 256, 1)) == 64 and isinstance(
        typed_value("64.0", QUniform(16, 256, 1)), int
    )
    assert typed_value("0.4", QUniform(0.2, 1.0, 0.2)) == 0.4
    assert typed_value("100.0", QLogUniform(2.3, 6.9, 10)) == 100
    assert typed_value("0.0012", LogUniform(-9.2, -2.3)) == 0.0012
    assert typed_value("32", Choice([16, 32, 64])) == 32
    assert typed_value("adam", Choice(["adam", "sgd"])) == "adam"
    assert typed_value("0.50", Choice([0.5, 1.0])) == 0.5


@pytest.mark.unit
def test_a_poll_fetches_the_sweep_job_once(adapter: Any, workspace: ServedWorkspace, spec: HpoConfig) -> None:
    ref = adapter.submit(spec)
    name = job_name(ref)
    workspace.start(name, [ChildPlan("Completed", epochs=2), ChildPlan("Running", epochs=1)])
    adapter.poll(ref)  # the first poll also reads the workspace's MLflow URI, once
    before = len(workspace.requests)
    adapter.poll(ref)
    made = workspace.requests[before:]
    job_gets = [path for method, path in made if method == "GET" and path.endswith(f"/jobs/{name}")]
    assert len(job_gets) == 1, made
    assert sum(path.endswith(f"/runs/{name}/children") for _, path in made) == 1


@pytest.mark.unit
def test_trials_come_in_the_order_the_sweep_started_them() -> None:
    from hpo_flow.adapters.azure.trials import child_order

    names = [f"sweep-1_{n}" for n in (10, 2, 0, 11, 1)]
    assert sorted(names, key=child_order) == ["sweep-1_0", "sweep-1_1", "sweep-1_2", "sweep-1_10", "sweep-1_11"]
    assert sorted(["b_x", "a", "b_1"], key=child_order) == ["a", "b_1", "b_x"]  # names without a number too


@pytest.mark.unit
def test_sampled_values_come_from_the_child_job_even_when_nothing_logged_params() -> None:
    from types import SimpleNamespace

    from azure.ai.ml.sweep import Choice, QUniform, Uniform

    from hpo_flow.adapters.azure.trials import TrialReader

    class NoRuns:  # a workspace MLflow that has no run for the trial yet (it has not logged anything)
        def get_run(self, run_id: str) -> Any:
            from mlflow.exceptions import MlflowException

            raise MlflowException(f"run {run_id} not found")

        def list_artifacts(self, run_id: str, path: str) -> list[Any]:
            return []

    child = SimpleNamespace(
        name="sweep-1_3",
        status="Completed",
        creation_context=None,
        tags={"hyperparameters": '{"learning_rate": 0.0031, "batch_size": 32, "opt": "adam w", "C": 4.0}'},
    )
    space = {
        "learning_rate": Uniform(0.001, 0.01),
        "batch_size": Choice([16, 32]),
        "opt": Choice(["sgd", "adam w"]),
        "C": QUniform(1, 9, 1),
    }
    trial = TrialReader(NoRuns()).trial(child, TrialStatus.COMPLETED, space, {"learning_rate": "learning-rate"}, "acc")
    assert trial.params == {"learning-rate": 0.0031, "batch_size": 32, "opt": "adam w", "C": 4}


@pytest.mark.unit
def test_the_workspace_mlflow_uri_is_read_by_the_azureml_plugin() -> None:
    """azureml-mlflow (the azure extra) registers the tracking store for azureml:// URIs, so poll can
    read a real workspace's trials instead of raising."""
    from importlib.metadata import entry_points

    stores = {e.name: e.value for e in entry_points(group="mlflow.tracking_store")}
    assert stores.get("azureml", "").startswith("azureml.mlflow")
    from azureml.mlflow._store.tracking.store import AzureMLRestStore
    from mlflow.store.tracking.rest_store import RestStore

    assert issubclass(AzureMLRestStore, RestStore)


@pytest.mark.integration
def test_a_saved_prefect_azure_block_names_the_workspace_and_signs_in() -> None:
    """prefect-azure is in the azure extra: an AzureMlCredentials block saved in Prefect gives the
    service principal's credential and the workspace fields the config leaves out."""
    from azure.identity import ClientSecretCredential
    from prefect.testing.utilities import prefect_test_harness
    from prefect_azure import AzureMlCredentials

    from hpo_flow.adapters.azure.workspace import Workspace, resolve

    spec = make_config({"backends.azure": {"environment": "azureml:e:1", "credentials_block": "azure-prod"}})
    with prefect_test_harness(server_startup_timeout=180):  # its 30 s default fails on a loaded machine
        AzureMlCredentials(
            tenant_id="t-1",
            service_principal_id="sp-1",
            service_principal_password="s3cret",
            subscription_id="sub-1",
            resource_group="rg-1",
            workspace_name="ws-1",
        ).save("azure-prod")
        workspace, credential = resolve(spec, None)
    assert workspace == Workspace("sub-1", "rg-1", "ws-1")
    assert isinstance(credential, ClientSecretCredential)
