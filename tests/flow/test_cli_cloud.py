"""Issue 22, check 2: a cloud sweep operated from anywhere with only a credentials block.

Each sweep is submitted with its backend's `credentials_block` (a real prefect-aws AwsCredentials or
prefect-azure AzureMlCredentials block, saved in Prefect's test server) and no AWS or Azure variable
in the environment. Then `hpo-flow status`, `logs` and `cancel` run as a second process would: a
fresh adapter that never saw the submit, reaching the sweep by the handle recorded in MLflow. They
sign in with the block the handle names (Azure: the block's service principal, signed in by the
served workspace's Entra ID endpoint); `logs` reads the trial's own log where the service keeps it
(SageMaker: CloudWatch Logs; Azure ML: the trial job's user_logs/std_log.txt).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from hpo_flow.adapters.lifecycle import identify
from hpo_flow.adapters.registry import registered
from hpo_flow.adapters.spec import load_config
from hpo_flow.cli import main
from hpo_flow.tasks.tracking import record_sweep
from tests.azure import conftest as azure_fixtures
from tests.azure.conftest import job_name
from tests.azure.served import RG, SUB, WS, ChildPlan, ServedWorkspace
from tests.helpers import in_process_backend
from tests.sagemaker import conftest as sagemaker_fixtures
from tests.sagemaker.conftest import SDK_NOISE, new_session
from tests.sagemaker.served import REGION, ServedSageMaker

pytestmark = [
    pytest.mark.integration,
    *SDK_NOISE,
    # azure-ai-ml passes marshmallow's deprecated `context` on every schema it builds
    pytest.mark.filterwarnings("ignore::marshmallow.warnings.RemovedInMarshmallow4Warning"),
    pytest.mark.filterwarnings("ignore::marshmallow.warnings.ChangedInMarshmallow4Warning"),
    pytest.mark.filterwarnings("ignore:'locale.getdefaultlocale' is deprecated:DeprecationWarning"),
]

moto_url, served = sagemaker_fixtures.moto_url, sagemaker_fixtures.served
_no_ambient_aws = sagemaker_fixtures._no_ambient_aws
mlflow_uri, workspace = azure_fixtures.mlflow_uri, azure_fixtures.workspace
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
EXAMPLE = EXAMPLES / "sagemaker-mnist"
BLOCK = "team-aws"


def _operate(capsys: pytest.CaptureFixture[str], sweep: str, trial: str, tracking_uri: str) -> list[str]:
    """What `hpo-flow status`, `logs` and `cancel` print for the sweep, each run as a user types it."""
    printed = []
    for command in (["status", sweep], ["logs", sweep, trial], ["cancel", sweep]):
        code = main([*command, "--tracking-uri", tracking_uri])
        out, err = capsys.readouterr()
        assert code == 0, f"hpo-flow {command[0]}: {err}"
        printed.append(out)
    return printed


def test_status_logs_and_cancel_sign_in_with_the_sweeps_credentials_block(
    tmp_path: Path,
    served: ServedSageMaker,
    mlflow_server: str,
    prefect_harness: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from prefect_aws import AwsCredentials

    from hpo_flow.adapters.sagemaker import SageMakerAdapter
    from hpo_flow.adapters.sagemaker.aws import boto_session

    AwsCredentials(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION).save(
        BLOCK, overwrite=True
    )
    asked: list[str | None] = []

    def signed_in(region: str | None, block: str | None) -> Any:
        """hpo-flow's own session making (the block, or the default chain), on the served service."""
        asked.append(block)
        session = boto_session(region, block)
        served.attach(session)
        return session

    raw = yaml.safe_load((EXAMPLE / "config.yaml").read_text())
    raw["project"] = f"creds-{time.time_ns() % 10**8}"
    raw["training"]["source_dir"] = str(EXAMPLE)
    raw["tuning"].update(max_jobs=4, max_parallel_jobs=2)
    raw["backends"]["sagemaker"]["credentials_block"] = BLOCK
    raw["mlflow"] = {"tracking_uri": mlflow_server}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    config = identify(load_config(path), path)
    output = raw["backends"]["sagemaker"]["output_path"]
    new_session(REGION).client("s3").create_bucket(Bucket=output.removeprefix("s3://").split("/")[0])
    served.write_logs = True

    submitter = SageMakerAdapter(signed_in)
    ref = submitter.submit(config)
    assert ref.credentials_block == BLOCK and "testing" not in ref.to_json()
    served.advance(60 * 12)  # the first two training jobs have ended (8-11 simulated minutes each), two run
    state = submitter.poll(ref)
    record_sweep(config, ref, state, plots=False)  # as the flow records it at its first poll
    ended = next(t for t in state.trials if t.status.is_terminal)

    asked.clear()
    with registered(in_process_backend("sagemaker", SageMakerAdapter(signed_in))):  # another process's adapter
        status, log, cancel = _operate(capsys, ref.name, ended.id, mlflow_server)
        assert f"Sweep {ref.name} on sagemaker: RUNNING" in status
        assert log.startswith("Invoking script with the following command: ") and "epoch 2: " in log
        assert f"cancelled sweep {ref.name} on sagemaker: now STOPPING" in cancel
    assert asked and set(asked) == {BLOCK}, asked
    assert served.jobs[ref.name].status(served.clock.now) in ("Stopping", "Stopped")


def test_azure_status_logs_and_cancel_sign_in_with_the_sweeps_credentials_block(
    tmp_path: Path,
    workspace: ServedWorkspace,
    mlflow_server: str,
    prefect_harness: None,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from prefect_azure.credentials import AzureMlCredentials

    from hpo_flow.adapters.azure import AzureMLAdapter

    for name in ("AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_TENANT_ID", "AZURE_USERNAME", "AZURE_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    workspace.service_principals = {"team-sp": "sp-secret"}  # no other identity gets a token
    AzureMlCredentials(
        tenant_id="team-tenant",
        service_principal_id="team-sp",
        service_principal_password="sp-secret",
        subscription_id=SUB,
        resource_group=RG,
        workspace_name=WS,
    ).save("team-azure", overwrite=True)

    def adapter() -> AzureMLAdapter:
        """hpo-flow's own sign-in (no credential given: the ref's block), on the served workspace."""
        return AzureMLAdapter(client_kwargs={"transport": workspace}, credential_kwargs={"transport": workspace})

    raw = yaml.safe_load((EXAMPLES / "azure-hyperdrive" / "config.yaml").read_text())
    raw["project"] = f"creds-az-{time.time_ns() % 10**8}"
    raw["training"]["source_dir"] = str(EXAMPLES / "azure-hyperdrive")
    raw["tuning"]["max_jobs"] = 4
    raw["backends"]["azure"] = {
        "credentials_block": "team-azure",  # the workspace's names come from the block too
        "compute": "cpu-cluster",
        "environment": "azureml:sklearn-env:1",
    }
    raw["mlflow"] = {"tracking_uri": mlflow_server}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    config = identify(load_config(path), path)

    submitter = adapter()
    ref = submitter.submit(config)
    assert ref.credentials_block == "team-azure" and "sp-secret" not in ref.to_json()
    workspace.start(
        job_name(ref), [ChildPlan("Completed"), ChildPlan("Failed", save_model=False), ChildPlan("Running")]
    )
    state = submitter.poll(ref)
    record_sweep(config, ref, state, plots=False)
    ended = next(t for t in state.trials if t.status.is_terminal)

    workspace.issued.clear()
    with registered(in_process_backend("azure", adapter())):  # another process's adapter
        status, log, cancel = _operate(capsys, ref.name, ended.id, mlflow_server)
        assert f"Sweep {ref.name} on azure: RUNNING" in status
        assert log.startswith(f"Starting trial {ended.id}")
        assert f"cancelled sweep {ref.name} on azure" in cancel
    assert set(workspace.issued.values()) == {"team-sp"}, "signed in as the block's service principal"
    assert workspace.jobs[job_name(ref)]["properties"]["status"] in ("CancelRequested", "Canceled")
