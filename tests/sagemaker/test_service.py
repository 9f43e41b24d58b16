"""Submit, attach, poll and cancel through the real SDK and boto3, against moto's server on loopback
and the served tuning service (what moto lacks, on a simulated clock)."""

from __future__ import annotations

import io
import sys
import tarfile
import types
from pathlib import Path
from typing import Any

import pytest

from hpo_flow.adapters.errors import CredentialsError, PlanError
from hpo_flow.adapters.port import SweepRef, SweepStatus, TrialStatus, best_trial
from hpo_flow.adapters.sagemaker import SageMakerAdapter
from tests.sagemaker.conftest import ARCHIVED_CODE, BUCKET, SDK_NOISE, new_session, sm_config
from tests.sagemaker.served import REGION, ServedSageMaker

pytestmark = [pytest.mark.integration, *SDK_NOISE]


def test_submit_sends_the_planned_request_uploads_the_code_and_attaches_after(
    served: ServedSageMaker, factory: Any, code_dir: Path, sessions: list[Any]
) -> None:
    spec = sm_config(code_dir, {"tuning.early_stopping": "auto", "tuning.random_seed": 3})
    adapter = SageMakerAdapter(factory)
    planned = adapter.plan(spec)
    ref = adapter.submit(spec)

    assert ref.backend == "sagemaker" and ref.name == planned["HyperParameterTuningJobName"]
    assert ref.cloud_id == f"arn:aws:sagemaker:{REGION}:123456789012:hyper-parameter-tuning-job/{ref.name}"
    assert ref.url and ref.name in ref.url
    assert served.sent[ref.name] == planned, "the SDK sent something else than plan showed"
    stored = served.moto.hyper_parameter_tuning_jobs[ref.name]  # what moto's server received
    assert stored.hyper_parameter_tuning_job_config == planned["HyperParameterTuningJobConfig"]
    assert stored.training_job_definition == planned["TrainingJobDefinition"]

    # the code went where the request says: sourcedir.tar.gz (caches left out) and the SDK's drivers
    s3 = sessions[0].client("s3")
    static = planned["TrainingJobDefinition"]["StaticHyperParameters"]
    key = static["sagemaker_submit_directory"].removeprefix(f"s3://{BUCKET}/")
    archive = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        # the trial helper ships with the code
        assert sorted(tar.getnames()) == ARCHIVED_CODE
    drivers = next(c for c in planned["TrainingJobDefinition"]["InputDataConfig"] if c["ChannelName"] == "sm_drivers")
    prefix = drivers["DataSource"]["S3DataSource"]["S3Uri"].removeprefix(f"s3://{BUCKET}/")
    listed = {o["Key"].removeprefix(prefix + "/") for o in s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix)["Contents"]}
    assert {"sm_train.sh", "sourcecode.json", "distributed.json"} <= listed

    # the same config again, from this or another process, attaches: nothing is created twice
    assert SageMakerAdapter(factory).submit(spec) == ref
    assert served.calls["CreateHyperParameterTuningJob"] == 1
    assert SageMakerAdapter(factory).poll(SweepRef.from_json(ref.to_json())).status == SweepStatus.RUNNING
    # a job created by someone else between our look-up and our create (ResourceInUse) is attached too
    served.hide_next["DescribeHyperParameterTuningJob"] = 1
    assert SageMakerAdapter(factory).submit(spec) == ref
    assert served.calls["CreateHyperParameterTuningJob"] == 2


def test_a_sweep_runs_to_the_end_with_failed_pruned_and_silent_trials(
    served: ServedSageMaker, factory: Any, code_dir: Path
) -> None:
    spec = sm_config(code_dir, {"tuning.max_jobs": 10, "tuning.max_parallel_jobs": 3, "tuning.early_stopping": "auto"})
    adapter = SageMakerAdapter(factory)
    ref = adapter.submit(spec)

    first = adapter.poll(ref)
    assert first.status == SweepStatus.RUNNING and first.trials == []  # nothing launched yet
    served.advance(120)
    running = adapter.poll(ref)
    assert running.status == SweepStatus.RUNNING
    assert [t.status for t in running.trials] == [TrialStatus.RUNNING] * 3  # MaxParallelTrainingJobs
    listed = served.calls["ListTrainingJobsForHyperParameterTuningJob"]
    assert adapter.poll(ref) == running  # nothing moved: DescribeHyperParameterTuningJob says so,
    assert served.calls["ListTrainingJobsForHyperParameterTuningJob"] == listed  # and nothing is listed

    served.finish(ref.name)
    done = adapter.poll(ref)
    assert done.status == SweepStatus.COMPLETED and len(done.trials) == 10
    by_status: dict[TrialStatus, list[Any]] = {}
    for trial in done.trials:
        by_status.setdefault(trial.status, []).append(trial)
    assert len(by_status[TrialStatus.PRUNED]) == 2 and all(
        t.objective is not None for t in by_status[TrialStatus.PRUNED]
    )
    failures = sorted(t.failure_reason or "" for t in by_status[TrialStatus.FAILED])
    assert len(failures) == 2
    assert failures[0].startswith("AlgorithmError: ExecuteUserScriptError") and "no 'accuracy' value" in failures[1]
    assert len(by_status[TrialStatus.COMPLETED]) == 6
    assert [t.id for t in done.trials] == sorted(t.id for t in done.trials)  # in launch order

    for trial in done.trials:
        assert set(trial.params) == {"lr", "batch_size"}
        assert isinstance(trial.params["lr"], float) and trial.params["batch_size"] in (16, 32, 64)
    best = best_trial(done.trials, spec.objective)
    assert best is not None and best.status == TrialStatus.COMPLETED
    assert best.model_uri == f"s3://{BUCKET}/sweeps/{best.id}/output/model.tar.gz"
    assert best.metrics["accuracy"] == best.objective and "epoch" in best.metrics
    for trial in done.trials:  # a job that ran to its end or was stopped early uploads its model; a failed one none
        own = f"s3://{BUCKET}/sweeps/{trial.id}/output/model.tar.gz"
        assert trial.model_uri == (own if trial.status in (TrialStatus.COMPLETED, TrialStatus.PRUNED) else None), trial

    # a finished sweep costs one call per poll: no listing, and the best model is described once
    calls = dict(served.calls)
    again = adapter.poll(ref)
    assert again == done
    assert (
        served.calls["ListTrainingJobsForHyperParameterTuningJob"]
        == calls["ListTrainingJobsForHyperParameterTuningJob"]
    )
    assert served.calls["DescribeTrainingJob"] == calls["DescribeTrainingJob"] == 1


def test_cancel_stops_the_sweep_and_is_safe_twice_after_the_end_and_for_unknown_jobs(
    served: ServedSageMaker, factory: Any, code_dir: Path
) -> None:
    adapter = SageMakerAdapter(factory)
    ref = adapter.submit(sm_config(code_dir, {"tuning.max_jobs": 6, "tuning.max_parallel_jobs": 2}))
    served.advance(700)
    before = adapter.poll(ref)
    assert any(t.status == TrialStatus.RUNNING for t in before.trials)

    adapter.cancel(ref)
    adapter.cancel(ref)  # already stopping: SageMaker says ValidationException, which is fine
    assert adapter.poll(ref).status == SweepStatus.STOPPING
    served.advance(60)
    stopped = adapter.poll(ref)
    assert stopped.status == SweepStatus.STOPPED and stopped.message == "tuning job stopped on request"
    assert not any(t.status in (TrialStatus.RUNNING, TrialStatus.PENDING) for t in stopped.trials)
    assert any(t.status == TrialStatus.STOPPED for t in stopped.trials)
    adapter.cancel(ref)  # finished: nothing to do

    gone = SweepRef(backend="sagemaker", name="never-created", cloud_id=ref.cloud_id.replace(ref.name, "x"))
    adapter.cancel(gone)


def test_a_missing_training_script_is_named_before_anything_is_created(
    served: ServedSageMaker, factory: Any, tmp_path: Path
) -> None:
    with pytest.raises(PlanError, match=r"training\.source_dir"):
        SageMakerAdapter(factory).submit(sm_config(tmp_path / "nowhere"))
    assert served.calls["CreateHyperParameterTuningJob"] == 0


# ---------------------------------------------------------------------------- credentials


def test_no_credentials_is_one_clear_message(code_dir: Path) -> None:
    with pytest.raises(CredentialsError) as raised:
        SageMakerAdapter().submit(sm_config(code_dir))
    message = str(raised.value)
    assert message.startswith("no AWS credentials found") and "credentials_block" in message
    assert raised.value.__cause__ is None and raised.value.__context__ is None


def test_a_role_that_cannot_train_is_a_credentials_error(served: ServedSageMaker, factory: Any, code_dir: Path) -> None:
    served.role_allowed = False  # iam:SimulatePrincipalPolicy denies what training needs
    with pytest.raises(CredentialsError, match="execution role cannot be used"):
        SageMakerAdapter(factory).submit(sm_config(code_dir))
    assert served.calls["CreateHyperParameterTuningJob"] == 0


def test_rejected_credentials_give_no_stack_trace_and_no_key(
    served: ServedSageMaker, factory: Any, code_dir: Path
) -> None:
    served.reject_next["DescribeHyperParameterTuningJob"] = (
        "UnrecognizedClientException",
        "The security token included in the request is invalid. Key AKIAIOSFODNN7EXAMPLE",
    )
    with pytest.raises(CredentialsError) as raised:
        SageMakerAdapter(factory).submit(sm_config(code_dir))
    assert "UnrecognizedClientException" in str(raised.value) and "AKIA" not in str(raised.value)
    assert raised.value.__suppress_context__


@pytest.mark.integration
def test_a_saved_prefect_aws_block_supplies_the_credentials() -> None:
    """prefect-aws is in the sagemaker extra: a block saved in Prefect signs the session, and a block
    that is not there is one clear error."""
    from prefect.testing.utilities import prefect_test_harness
    from prefect_aws import AwsCredentials

    from hpo_flow.adapters.sagemaker.aws import boto_session

    with prefect_test_harness(server_startup_timeout=180):  # its 30 s default fails on a loaded machine
        AwsCredentials(
            aws_access_key_id="AKIAEXAMPLEBLOCK0001", aws_secret_access_key="s3cret", region_name="eu-west-1"
        ).save("aws-prod")
        session = boto_session(None, "aws-prod")
        with pytest.raises(CredentialsError, match="no prefect-aws AwsCredentials block named 'aws-other'"):
            boto_session(None, "aws-other")
    credentials = session.get_credentials()
    assert credentials.access_key == "AKIAEXAMPLEBLOCK0001" and session.region_name == "eu-west-1"


def test_a_named_credentials_block_needs_prefect_aws(code_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = sm_config(code_dir, {"backends.sagemaker.credentials_block": "aws-prod"})
    monkeypatch.setitem(sys.modules, "prefect_aws", None)  # as where the sagemaker extra is not installed
    with pytest.raises(CredentialsError, match="'aws-prod', but prefect-aws is not installed: `pip install"):
        SageMakerAdapter().submit(spec)


def test_a_named_credentials_block_supplies_the_session(
    served: ServedSageMaker, code_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    loaded: list[str] = []

    class AwsCredentials:  # prefect-aws's block, as far as the adapter uses it
        @classmethod
        def load(cls, name: str, _sync: bool = False) -> AwsCredentials:
            if name != "aws-prod":
                raise ValueError(f"Unable to find block document named {name}")
            loaded.append(name)
            return cls()

        def get_boto3_session(self) -> Any:
            session = new_session("eu-west-1", key="block")
            served.attach(session)
            return session

    monkeypatch.setitem(sys.modules, "prefect_aws", types.SimpleNamespace(AwsCredentials=AwsCredentials))
    ref = SageMakerAdapter().submit(sm_config(code_dir, {"backends.sagemaker.credentials_block": "aws-prod"}))
    assert loaded == ["aws-prod"] and ref.name in served.sent
    with pytest.raises(CredentialsError, match="no prefect-aws AwsCredentials block named 'other'"):
        SageMakerAdapter().submit(sm_config(code_dir, {"backends.sagemaker.credentials_block": "other"}))
