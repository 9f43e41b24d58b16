"""Issue 22, check 2: a SageMaker sweep operated from anywhere with only a credentials block.

The sweep is submitted with `backends.sagemaker.credentials_block` (a real prefect-aws
AwsCredentials block, saved in Prefect's test server) and no AWS variable or file in the
environment. Then `hpo-flow status`, `logs` and `cancel` run as a second process would: a fresh
adapter that never saw the submit, reaching the sweep by the handle recorded in MLflow. They sign
in with the block the handle names; `logs` reads the training job's output from CloudWatch Logs.
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
from tests.helpers import in_process_backend
from tests.sagemaker import conftest as sagemaker_fixtures
from tests.sagemaker.conftest import SDK_NOISE, new_session
from tests.sagemaker.served import REGION, ServedSageMaker

pytestmark = [pytest.mark.integration, *SDK_NOISE]

moto_url, served = sagemaker_fixtures.moto_url, sagemaker_fixtures.served
_no_ambient_aws = sagemaker_fixtures._no_ambient_aws
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "sagemaker-mnist"
BLOCK = "team-aws"


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
        code = main(["status", ref.name, "--tracking-uri", mlflow_server])
        out, err = capsys.readouterr()
        assert code == 0, err
        assert f"Sweep {ref.name} on sagemaker: RUNNING" in out

        code = main(["logs", ref.name, ended.id, "--tracking-uri", mlflow_server])
        out, err = capsys.readouterr()
        assert code == 0, err
        assert out.startswith("Invoking script with the following command: ") and "epoch 2: " in out

        code = main(["cancel", ref.name, "--tracking-uri", mlflow_server])
        out, err = capsys.readouterr()
        assert code == 0, err
        assert f"cancelled sweep {ref.name} on sagemaker: now STOPPING" in out
    assert asked and set(asked) == {BLOCK}, asked
    assert served.jobs[ref.name].status(served.clock.now) in ("Stopping", "Stopped")
