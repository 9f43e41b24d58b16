"""plan: every config variant becomes the CreateHyperParameterTuningJob request the SDK sends, which
botocore accepts (botocore.stub.Stubber); what SageMaker cannot express is refused with the reason
and the nearest exact alternative. No network, no credentials."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hpo_flow.adapters.errors import CredentialsError, PlanError
from hpo_flow.adapters.sagemaker import SageMakerAdapter
from hpo_flow.adapters.sagemaker.build import write_code_archive
from hpo_flow.adapters.spec import parse_config
from tests.sagemaker.conftest import ARCHIVED_CODE, BUCKET, ROLE, SDK_NOISE, sm_config, sm_data
from tests.sagemaker.served import ACCOUNT, REGION

pytestmark = [pytest.mark.unit, *SDK_NOISE]

REPO = Path(__file__).resolve().parents[2]
ARN = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:hyper-parameter-tuning-job/x"


@pytest.fixture(scope="module")
def sagemaker_client() -> Any:
    import boto3

    return boto3.client("sagemaker", region_name=REGION, aws_access_key_id="stub", aws_secret_access_key="stub")


def assert_accepted(client: Any, request: dict[str, Any]) -> None:
    """botocore validates the request against the service model; patterns and lengths checked too."""
    from botocore.stub import Stubber

    with Stubber(client) as stub:
        stub.add_response(
            "create_hyper_parameter_tuning_job", {"HyperParameterTuningJobArn": ARN}, expected_params=request
        )
        assert client.create_hyper_parameter_tuning_job(**request)["HyperParameterTuningJobArn"] == ARN
        stub.assert_no_pending_responses()
    shape = client.meta.service_model.operation_model("CreateHyperParameterTuningJob").input_shape
    assert _constraint_violations(shape, request, "") == []


def _constraint_violations(shape: Any, value: Any, path: str) -> list[str]:
    """What botocore leaves to the service: string patterns and maximum lengths."""
    found: list[str] = []
    meta = shape.metadata
    if shape.type_name == "structure":
        for key, member in shape.members.items():
            if key in value:
                found += _constraint_violations(member, value[key], f"{path}.{key}")
    elif shape.type_name == "list":
        if "max" in meta and len(value) > meta["max"]:
            found.append(f"{path}: {len(value)} items > {meta['max']}")
        for i, item in enumerate(value):
            found += _constraint_violations(shape.member, item, f"{path}[{i}]")
    elif shape.type_name == "map":
        if "max" in meta and len(value) > meta["max"]:
            found.append(f"{path}: {len(value)} entries > {meta['max']}")
        for k, v in value.items():
            found += _constraint_violations(shape.key, k, f"{path}.<key>")
            found += _constraint_violations(shape.value, v, f"{path}.{k}")
    elif shape.type_name == "string":
        if "max" in meta and len(value) > meta["max"]:
            found.append(f"{path}: longer than {meta['max']}")
        pattern = meta.get("pattern")
        if pattern and "\\p" not in pattern and not re.fullmatch(pattern, value):  # \p{..}: Java-only classes
            found.append(f"{path}: {value!r} !~ {pattern}")
    return found


# ---------------------------------------------------------------------------- variants


def _ranges(request: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    config = request["HyperParameterTuningJobConfig"]
    return {r["Name"]: r for r in config["ParameterRanges"].get(f"{kind}ParameterRanges", [])}


def _definition(request: dict[str, Any]) -> dict[str, Any]:
    return request["TrainingJobDefinition"]


VARIANTS: dict[str, tuple[dict[str, Any], Callable[[dict[str, Any]], None]]] = {}


def variant(name: str, overrides: dict[str, Any]) -> Callable[[Callable[[dict[str, Any]], None]], None]:
    def register(check: Callable[[dict[str, Any]], None]) -> None:
        VARIANTS[name] = (overrides, check)

    return register


@variant(
    "continuous-every-scaling",
    {
        "tuning.hyperparameter_ranges": {
            "a": {"type": "continuous", "min": 0.1, "max": 0.9},
            "b": {"type": "continuous", "min": 0.1, "max": 0.9, "scaling_type": "Linear"},
            "c": {"type": "continuous", "min": 1e-6, "max": 0.1, "scaling_type": "Logarithmic"},
            "d": {"type": "continuous", "min": 0.9, "max": 0.9999, "scaling_type": "ReverseLogarithmic"},
        }
    },
)
def _continuous(request: dict[str, Any]) -> None:
    ranges = _ranges(request, "Continuous")
    assert {n: r["ScalingType"] for n, r in ranges.items()} == {
        "a": "Auto",
        "b": "Linear",
        "c": "Logarithmic",
        "d": "ReverseLogarithmic",
    }
    assert (ranges["c"]["MinValue"], ranges["c"]["MaxValue"]) == ("1e-06", "0.1")


@variant(
    "integer-every-scaling",
    {
        "tuning.hyperparameter_ranges": {
            "layers": {"type": "integer", "min": 1, "max": 8},
            "width": {"type": "integer", "min": 16, "max": 512, "scaling_type": "Logarithmic"},
            "seed": {"type": "integer", "min": 0, "max": 99, "scaling_type": "Linear"},
        }
    },
)
def _integer(request: dict[str, Any]) -> None:
    ranges = _ranges(request, "Integer")
    assert ranges["width"] == {"Name": "width", "MinValue": "16", "MaxValue": "512", "ScalingType": "Logarithmic"}
    assert ranges["layers"]["ScalingType"] == "Auto" and ranges["seed"]["ScalingType"] == "Linear"


@variant(
    "azure-vocabulary",
    {
        "tuning.hyperparameter_ranges": {
            "opt": {"type": "choice", "values": ["adam", "sgd"]},
            "depth": {"type": "randint", "min": 2, "max": 10},
            "dropout": {"type": "uniform", "min": 0.0, "max": 0.5},
            "lr": {"type": "loguniform", "min": 0.0001, "max": 0.1, "log_base": 10},
        }
    },
)
def _azure(request: dict[str, Any]) -> None:
    assert _ranges(request, "Categorical")["opt"]["Values"] == ["adam", "sgd"]
    assert _ranges(request, "Integer")["depth"]["ScalingType"] == "Linear"
    assert _ranges(request, "Continuous")["dropout"]["ScalingType"] == "Linear"
    assert _ranges(request, "Continuous")["lr"]["ScalingType"] == "Logarithmic"


@variant(
    "categorical-values-as-text",
    {"tuning.hyperparameter_ranges": {"flag": {"type": "categorical", "values": [16, 0.5, True, "adam"]}}},
)
def _categorical(request: dict[str, Any]) -> None:
    assert _ranges(request, "Categorical")["flag"]["Values"] == ["16", "0.5", "True", "adam"]


@variant("random-with-seed", {"tuning.strategy": "Random", "tuning.random_seed": 7})
def _seed(request: dict[str, Any]) -> None:
    config = request["HyperParameterTuningJobConfig"]
    assert config["Strategy"] == "Random" and config["RandomSeed"] == 7


@variant(
    "grid-of-categoricals",
    {
        "tuning.strategy": "Grid",
        "tuning.max_jobs": 6,
        "tuning.hyperparameter_ranges": {
            "opt": {"type": "categorical", "values": ["adam", "sgd"]},
            "batch": {"type": "categorical", "values": [16, 32, 64]},
        },
    },
)
def _grid(request: dict[str, Any]) -> None:
    config = request["HyperParameterTuningJobConfig"]
    assert config["Strategy"] == "Grid" and config["ResourceLimits"]["MaxNumberOfTrainingJobs"] == 6


@variant(
    "hyperband",
    {
        "tuning.strategy": "Hyperband",
        "tuning.hyperband": {"min_resource": 2, "max_resource": 30},
        "tuning.max_runtime_seconds": 7200,
    },
)
def _hyperband(request: dict[str, Any]) -> None:
    config = request["HyperParameterTuningJobConfig"]
    assert config["StrategyConfig"] == {"HyperbandStrategyConfig": {"MinResource": 2, "MaxResource": 30}}
    assert config["TrainingJobEarlyStoppingType"] == "Off"
    assert config["ResourceLimits"]["MaxRuntimeInSeconds"] == 7200


@variant("hyperband-epochs-from-hyperparameters", {"tuning.strategy": "Hyperband"})
def _hyperband_inferred(request: dict[str, Any]) -> None:
    config = request["HyperParameterTuningJobConfig"]
    assert config["StrategyConfig"] == {"HyperbandStrategyConfig": {"MinResource": 1}}
    assert _definition(request)["StaticHyperParameters"]["epochs"] == "5"


@variant("early-stopping-auto", {"tuning.early_stopping": "auto", "tuning.strategy": "Bayesian"})
def _auto(request: dict[str, Any]) -> None:
    assert request["HyperParameterTuningJobConfig"]["TrainingJobEarlyStoppingType"] == "Auto"


@variant(
    "warm-start",
    {"tuning.warm_start": {"parents": ["mnist-a1b2c3d4", "mnist-e5f6a7b8"], "type": "TransferLearning"}},
)
def _warm(request: dict[str, Any]) -> None:
    assert request["WarmStartConfig"] == {
        "ParentHyperParameterTuningJobs": [
            {"HyperParameterTuningJobName": "mnist-a1b2c3d4"},
            {"HyperParameterTuningJobName": "mnist-e5f6a7b8"},
        ],
        "WarmStartType": "TransferLearning",
    }


@variant(
    "completion-criteria",
    {
        "tuning.completion_criteria": {
            "target_objective_value": 0.97,
            "max_jobs_not_improving": 5,
            "convergence_detected": True,
        }
    },
)
def _criteria(request: dict[str, Any]) -> None:
    assert request["HyperParameterTuningJobConfig"]["TuningJobCompletionCriteria"] == {
        "TargetObjectiveMetricValue": 0.97,
        "BestObjectiveNotImproving": {"MaxNumberOfTrainingJobsNotImproving": 5},
        "ConvergenceDetected": {"CompleteOnConvergence": "Enabled"},
    }


@variant(
    "spot-with-checkpoints",
    {
        "backends.sagemaker.use_spot": True,
        "backends.sagemaker.max_run_seconds": 1800,
        "backends.sagemaker.max_wait_seconds": 3600,
        "backends.sagemaker.checkpoint_s3_uri": f"s3://{BUCKET}/checkpoints",
    },
)
def _spot(request: dict[str, Any]) -> None:
    definition = _definition(request)
    assert definition["EnableManagedSpotTraining"] is True
    assert definition["StoppingCondition"] == {"MaxRuntimeInSeconds": 1800, "MaxWaitTimeInSeconds": 3600}
    assert definition["CheckpointConfig"]["S3Uri"] == f"s3://{BUCKET}/checkpoints"


@variant(
    "vpc-kms-environment-tags-resources",
    {
        "backends.sagemaker.subnets": ["subnet-0abc", "subnet-0def"],
        "backends.sagemaker.security_group_ids": ["sg-0123"],
        "backends.sagemaker.volume_kms_key_id": "arn:aws:kms:us-east-1:123456789012:key/volume",
        "backends.sagemaker.output_kms_key_id": "arn:aws:kms:us-east-1:123456789012:key/output",
        "backends.sagemaker.environment": {"MODE": "tune"},
        "training.environment": {"PYTHONHASHSEED": "0"},
        "backends.sagemaker.tags": {"team": "vision", "cost-center": "ml:42"},
        "backends.sagemaker.instance_type": "ml.g5.2xlarge",
        "backends.sagemaker.instance_count": 2,
        "backends.sagemaker.volume_size_gb": 100,
        "tuning.trial_timeout_seconds": 900,
    },
)
def _vpc(request: dict[str, Any]) -> None:
    definition = _definition(request)
    assert definition["VpcConfig"] == {"SecurityGroupIds": ["sg-0123"], "Subnets": ["subnet-0abc", "subnet-0def"]}
    assert definition["ResourceConfig"] == {
        "InstanceType": "ml.g5.2xlarge",
        "InstanceCount": 2,
        "VolumeSizeInGB": 100,
        "VolumeKmsKeyId": "arn:aws:kms:us-east-1:123456789012:key/volume",
    }
    assert definition["OutputDataConfig"]["KmsKeyId"] == "arn:aws:kms:us-east-1:123456789012:key/output"
    # HPO_MODEL_DIR: where the script saves its model on every backend (SM_MODEL_DIR comes from the toolkit)
    # and HPO_INPUT_<CHANNEL> beside the toolkit's SM_CHANNEL_<CHANNEL>, for backends.sagemaker.inputs too
    assert definition["Environment"] == {
        "HPO_MODEL_DIR": "/opt/ml/model",
        "HPO_INPUT_TRAIN": "/opt/ml/input/data/train",
        "PYTHONHASHSEED": "0",
        "MODE": "tune",
    }
    assert definition["StoppingCondition"]["MaxRuntimeInSeconds"] == 900
    tags = {t["Key"]: t["Value"] for t in request["Tags"]}
    assert tags["team"] == "vision" and tags["cost-center"] == "ml:42"
    assert tags["hpo-flow:project"] == "unit-proj" and len(tags["hpo-flow:config-hash"]) == 10


@variant("default-bucket-of-the-roles-account", {"backends.sagemaker.output_path": None})
def _default_bucket(request: dict[str, Any]) -> None:
    name = request["HyperParameterTuningJobName"]
    bucket = f"s3://sagemaker-{REGION}-{ACCOUNT}"
    assert _definition(request)["OutputDataConfig"]["S3OutputPath"].startswith(bucket)
    code = _definition(request)["StaticHyperParameters"]["sagemaker_submit_directory"]
    assert code == f"{bucket}/{name}/input/sourcedir/sourcedir.tar.gz"


@variant(
    "training-inputs-as-channels-variables-and-flags",
    {
        "training.inputs": {
            "images": {"sagemaker": "s3://bucket/images", "local": "data/images"},
            "labels": "s3://bucket/labels.csv",
        },
        "training.input_flags": True,
        "backends.sagemaker.inputs": {"extra": "s3://bucket/extra"},
    },
)
def _training_inputs(request: dict[str, Any]) -> None:
    definition = _definition(request)
    channels = {c["ChannelName"]: c["DataSource"]["S3DataSource"]["S3Uri"] for c in definition["InputDataConfig"]}
    assert {k: v for k, v in channels.items() if k != "sm_drivers"} == {
        "extra": "s3://bucket/extra",
        "images": "s3://bucket/images",
        "labels": "s3://bucket/labels.csv",
    }
    env = definition["Environment"]
    assert env["HPO_INPUT_IMAGES"] == "/opt/ml/input/data/images" and env["HPO_INPUT_EXTRA"].endswith("/extra")
    # --images <path> as on the other backends: the toolkit passes static hyperparameters as flags
    assert definition["StaticHyperParameters"]["images"] == "/opt/ml/input/data/images"
    assert "extra" not in definition["StaticHyperParameters"]  # a backend's own channel stays a channel only


def test_an_input_without_a_place_on_sagemaker_is_refused(tmp_path: Path) -> None:
    spec = sm_config(tmp_path, {"training.inputs": {"images": {"local": "data"}}})
    with pytest.raises(PlanError) as refused:
        SageMakerAdapter().plan(spec)
    assert "training.inputs.images.sagemaker" in str(refused.value) and "s3://" in str(refused.value)


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_every_variant_is_a_request_botocore_accepts(name: str, code_dir: Path, sagemaker_client: Any) -> None:
    overrides, check = VARIANTS[name]
    request = SageMakerAdapter().plan(sm_config(code_dir, overrides))
    assert_accepted(sagemaker_client, request)
    check(request)


def test_grid_without_max_jobs_leaves_the_count_to_sagemaker(code_dir: Path, sagemaker_client: Any) -> None:
    data = sm_data(
        code_dir,
        {"tuning.strategy": "Grid", "tuning.hyperparameter_ranges.lr": {"type": "categorical", "values": [0.1, 0.01]}},
    )
    del data["tuning"]["max_jobs"]
    request = SageMakerAdapter().plan(parse_config(data))
    assert_accepted(sagemaker_client, request)
    assert "MaxNumberOfTrainingJobs" not in request["HyperParameterTuningJobConfig"]["ResourceLimits"]


def test_the_request_carries_the_training_job_as_configured(code_dir: Path, sagemaker_client: Any) -> None:
    spec = sm_config(code_dir)
    request = SageMakerAdapter().plan(spec)
    name = request["HyperParameterTuningJobName"]
    assert name == spec.sweep_name(max_length=32) and len(name) <= 32
    definition = _definition(request)
    assert definition["RoleArn"] == ROLE
    assert definition["AlgorithmSpecification"]["MetricDefinitions"] == [
        {"Name": "accuracy", "Regex": "accuracy: ([0-9.]+)"},
        {"Name": "loss", "Regex": "loss: ([0-9.eE+-]+)"},
    ]
    assert request["HyperParameterTuningJobConfig"]["HyperParameterTuningJobObjective"] == {
        "Type": "Maximize",
        "MetricName": "accuracy",
    }
    # static hyperparameters are the training ones minus the tuned `lr`, plus the SDK's script-mode two
    code_root = f"s3://{BUCKET}/sweeps/{name}/input"
    assert definition["StaticHyperParameters"] == {
        "epochs": "5",
        "sagemaker_program": "train.py",
        "sagemaker_submit_directory": f"{code_root}/sourcedir/sourcedir.tar.gz",
    }
    channels = {c["ChannelName"]: c["DataSource"]["S3DataSource"]["S3Uri"] for c in definition["InputDataConfig"]}
    assert channels == {"train": f"s3://{BUCKET}/data/train", "sm_drivers": f"{code_root}/sm_drivers"}
    assert definition["OutputDataConfig"]["S3OutputPath"] == f"s3://{BUCKET}/sweeps"
    assert definition["StoppingCondition"] == {"MaxRuntimeInSeconds": 3600}  # the SDK's default


def test_plan_is_deterministic_offline_and_needs_no_credentials(
    code_dir: Path, monkeypatch: pytest.MonkeyPatch, sagemaker_client: Any
) -> None:
    import time

    spec = sm_config(code_dir, {"backends.sagemaker.output_path": None})
    first = SageMakerAdapter().plan(spec)

    def no_network(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"plan opened a connection: {args}")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    # the SDK keys its staging prefix by time.time(); the plan must not move with the clock
    monkeypatch.setattr(time, "time", lambda: 4_000_000_000.0)
    again = SageMakerAdapter().plan(spec)
    assert json.dumps(again, sort_keys=True) == json.dumps(first, sort_keys=True)


def test_the_offline_session_ignores_the_machines_aws_profile(monkeypatch: pytest.MonkeyPatch) -> None:
    from hpo_flow.adapters.sagemaker.offline import OfflineSession

    monkeypatch.setenv("AWS_PROFILE", "no-such-profile")  # would make botocore raise ProfileNotFound
    session = OfflineSession("eu-west-3", ACCOUNT)
    assert session.boto_session.client("sts").meta.region_name == "eu-west-3"
    assert session.default_bucket == f"sagemaker-eu-west-3-{ACCOUNT}"


def test_plan_without_the_code_here_shows_the_same_request(
    code_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    spec = sm_config("code")  # relative: resolved from the current directory, as submit does
    monkeypatch.chdir(code_dir.parent)
    with_code = SageMakerAdapter().plan(spec)
    monkeypatch.chdir(tmp_path / "code")  # no ./code here
    without = SageMakerAdapter().plan(spec)
    assert without == with_code
    assert "training.source_dir 'code' is not a directory" in caplog.text


# ---------------------------------------------------------------------------- refusals

REFUSALS: list[tuple[str, dict[str, Any], str, list[str]]] = [
    (
        "normal",
        {"tuning.hyperparameter_ranges.lr": {"type": "normal", "mu": 0.5, "sigma": 0.1}},
        "tuning.hyperparameter_ranges.lr.type",
        ["not a normal distribution", "{type: uniform, min: 0.3, max: 0.7}"],
    ),
    (
        "lognormal",
        {"tuning.hyperparameter_ranges.lr": {"type": "lognormal", "mu": -4, "sigma": 1}},
        "tuning.hyperparameter_ranges.lr.type",
        ["log-normal", "{type: loguniform, min: 0.00247875, max: 0.135335}"],
    ),
    (
        "qnormal",
        {"tuning.hyperparameter_ranges.lr": {"type": "qnormal", "mu": 10, "sigma": 2, "q": 1}},
        "tuning.hyperparameter_ranges.lr.type",
        ["normal distribution", "{type: uniform, min: 6, max: 14}"],
    ),
    (
        "quniform-on-whole-numbers",
        {"tuning.hyperparameter_ranges.lr": {"type": "quniform", "min": 1, "max": 64, "q": 1}},
        "tuning.hyperparameter_ranges.lr.step",
        ["no step", "{type: integer, min: 1, max: 64}, which is exact"],
    ),
    (
        "qloguniform",
        {"tuning.hyperparameter_ranges.lr": {"type": "qloguniform", "min": 0.001, "max": 0.1, "q": 0.001}},
        "tuning.hyperparameter_ranges.lr.step",
        ["qloguniform with step 0.001 has no exact equivalent", "{type: loguniform, min: 0.001, max: 0.1}"],
    ),
    (
        "integer-step",
        {"tuning.hyperparameter_ranges.lr": {"type": "integer", "min": 16, "max": 128, "step": 16}},
        "tuning.hyperparameter_ranges.lr.step",
        ["{type: categorical, values: [16, 32, 48, 64, 80, 96, 112, 128]}"],
    ),
    (
        "grid-with-an-integer-range",
        {"tuning.strategy": "Grid", "tuning.hyperparameter_ranges.lr": {"type": "integer", "min": 1, "max": 3}},
        "tuning.hyperparameter_ranges.lr.type",
        ["Grid strategy searches categorical ranges only", "{type: categorical, values: [1, 2, 3]}"],
    ),
    (
        "grid-max-jobs",
        {
            "tuning.strategy": "Grid",
            "tuning.max_jobs": 4,
            "tuning.hyperparameter_ranges.lr": {"type": "categorical", "values": [0.1, 0.01]},
        },
        "tuning.max_jobs",
        ["every one of the 6 combinations", "max_jobs: 6"],
    ),
    (
        "fewer-combinations-than-jobs",
        {"tuning.max_jobs": 20, "tuning.hyperparameter_ranges.lr": {"type": "integer", "min": 1, "max": 2}},
        "tuning.max_jobs",
        ["only 6 distinct combinations", "max_jobs: 6"],
    ),
    (
        "too-many-categorical-values",
        {"tuning.hyperparameter_ranges.lr": {"type": "categorical", "values": list(range(31))}},
        "tuning.hyperparameter_ranges.lr.values",
        ["at most 30"],
    ),
    (
        "bandit",
        {"tuning.early_stopping": {"policy": "bandit", "slack_factor": 0.1}},
        "tuning.early_stopping.policy",
        ["bandit policy", "policy: auto"],
    ),
    (
        "median",
        {"tuning.early_stopping": {"policy": "median", "delay_evaluation": 5}},
        "tuning.early_stopping.policy",
        ["itself a median rule", "cannot be set", "policy: auto"],
    ),
    (
        "truncation",
        {"tuning.early_stopping": {"policy": "truncation", "truncation_percentage": 20}},
        "tuning.early_stopping.policy",
        ["truncation-selection", "policy: auto"],
    ),
    (
        "asha",
        {"tuning.early_stopping": "asha"},
        "tuning.early_stopping.policy",
        ["no ASHA policy", "strategy: Hyperband with early_stopping: off"],
    ),
    (
        "auto-with-settings",
        {"tuning.early_stopping": {"policy": "auto", "delay_evaluation": 3}},
        "tuning.early_stopping.delay_evaluation",
        ["has no settings"],
    ),
    (
        "hyperband-with-early-stopping",
        {"tuning.strategy": "Hyperband", "tuning.early_stopping": "auto"},
        "tuning.early_stopping.policy",
        ["requires early stopping Off", "early_stopping: off"],
    ),
    (
        "hyperband-without-epochs",
        {"tuning.strategy": "Hyperband", "training.hyperparameters": {"lr": 0.1}},
        "tuning.hyperband.max_resource",
        ["set max_resource", "epochs"],
    ),
    (
        "hyperband-reduction-factor",
        {"tuning.strategy": "Hyperband", "tuning.hyperband": {"max_resource": 9, "reduction_factor": 2}},
        "tuning.hyperband.reduction_factor",
        ["no reduction factor setting"],
    ),
    (
        "six-warm-start-parents",
        {"tuning.warm_start": {"parents": [f"parent-{i}" for i in range(6)]}},
        "tuning.warm_start.parents",
        ["at most 5"],
    ),
    (
        "not-improving-below-3",
        {"tuning.completion_criteria": {"max_jobs_not_improving": 2}},
        "tuning.completion_criteria.max_jobs_not_improving",
        ["at least 3"],
    ),
    (
        "short-tuning-runtime",
        {"tuning.max_runtime_seconds": 60},
        "tuning.max_runtime_seconds",
        ["120 to 15768000"],
    ),
    (
        "spot-without-max-wait",
        {"backends.sagemaker.use_spot": True},
        "backends.sagemaker.max_wait_seconds",
        ["spot training needs", ">= max_run_seconds (3600)"],
    ),
    (
        "spot-max-wait-too-short",
        {"backends.sagemaker.use_spot": True, "backends.sagemaker.max_wait_seconds": 600},
        "backends.sagemaker.max_wait_seconds",
        ["at least 3600"],
    ),
    (
        "subnets-without-security-groups",
        {"backends.sagemaker.subnets": ["subnet-1"]},
        "backends.sagemaker.security_group_ids",
        ["both subnets and security_group_ids"],
    ),
    (
        "local-input",
        {"backends.sagemaker.inputs": {"train": "./data"}},
        "backends.sagemaker.inputs.train",
        ["aws s3 sync", "s3:// URI"],
    ),
    (
        "sdk-channel-name",
        {"backends.sagemaker.inputs": {"code": f"s3://{BUCKET}/code"}},
        "backends.sagemaker.inputs.code",
        ["the SageMaker SDK adds itself"],
    ),
    (
        "reserved-tag",
        {"backends.sagemaker.tags": {"aws:owner": "me"}},
        "backends.sagemaker.tags.aws:owner",
        ["reserved by AWS"],
    ),
    (
        "environment-name",
        {"training.environment": {"MY-VAR": "1"}},
        "training.environment.MY-VAR",
        ["letters, digits and _"],
    ),
    (
        "max-failed-trials",
        {"tuning.max_failed_trials": 3},
        "tuning.max_failed_trials",
        ["no failed-trial limit", "remove it"],
    ),
    (
        "seed-0",
        {"tuning.random_seed": 0},
        "tuning.random_seed",
        ["leaves zero-valued settings out", "e.g. 1"],
    ),
    (
        "target-0",
        {"tuning.completion_criteria": {"target_objective_value": 0.0}},
        "tuning.completion_criteria.target_objective_value",
        ["leaves zero-valued settings out"],
    ),
    (
        "instance-type",
        {"backends.sagemaker.instance_type": "m5.xlarge"},
        "backends.sagemaker.instance_type",
        ["did you mean 'ml.m5.xlarge'?"],
    ),
    (
        "no-image",
        {"backends.sagemaker.image_uri": None},
        "backends.sagemaker.image_uri",
        ["needs a training image"],
    ),
    (
        "entry-point-not-a-script",
        {"training.entry_point": "train.ipynb"},
        "training.entry_point",
        [".py or .sh"],
    ),
]


@pytest.mark.parametrize(("overrides", "path", "fragments"), [r[1:] for r in REFUSALS], ids=[r[0] for r in REFUSALS])
def test_what_sagemaker_cannot_express_is_refused_with_the_fix(
    overrides: dict[str, Any], path: str, fragments: list[str], code_dir: Path
) -> None:
    with pytest.raises(PlanError) as raised:
        SageMakerAdapter().plan(sm_config(code_dir, overrides))
    problems = {p.path: p.message for p in raised.value.problems}
    assert path in problems, f"no problem at {path}: {problems}"
    for fragment in fragments:
        assert fragment in problems[path], problems[path]
    assert raised.value.backend == "sagemaker"


def test_every_problem_is_reported_at_once(code_dir: Path) -> None:
    overrides = {
        "tuning.hyperparameter_ranges.lr": {"type": "normal", "mu": 0, "sigma": 1},
        "tuning.early_stopping": "asha",
        "backends.sagemaker.inputs": {"train": "/data"},
    }
    with pytest.raises(PlanError) as raised:
        SageMakerAdapter().plan(sm_config(code_dir, overrides))
    paths = {p.path for p in raised.value.problems}
    assert {
        "tuning.hyperparameter_ranges.lr.type",
        "tuning.early_stopping.policy",
        "backends.sagemaker.inputs.train",
    } <= paths


@pytest.mark.parametrize(
    ("role", "fragment"),
    [(None, "backends.sagemaker.role is not set"), ("SageMakerExecutionRole", "is not an IAM role ARN")],
)
def test_a_missing_role_is_one_credentials_error(role: str | None, fragment: str, code_dir: Path) -> None:
    with pytest.raises(CredentialsError) as raised:
        SageMakerAdapter().plan(sm_config(code_dir, {"backends.sagemaker.role": role}))
    assert fragment in str(raised.value) and "\n" not in str(raised.value)


def test_no_sagemaker_section_and_no_region(code_dir: Path) -> None:
    data = sm_data(code_dir)
    del data["backends"]["sagemaker"]
    with pytest.raises(PlanError, match=r"backends\.sagemaker: no sagemaker section"):
        SageMakerAdapter().plan(parse_config(data))
    with pytest.raises(PlanError, match=r"backends\.sagemaker\.region"):
        SageMakerAdapter().plan(sm_config(code_dir, {"backends.sagemaker.region": None}))


# ---------------------------------------------------------------------------- the CLI and the examples


@pytest.mark.parametrize(
    "config",
    [
        "examples/sagemaker-mnist/config.yaml",
        "examples/seeds/003_sagemaker_mnist/config.yaml",
        "examples/seeds/000_yolo_sagemaker/config.yaml",
    ],
)
def test_hpo_flow_plan_prints_the_request_for_the_seed_configs(
    config: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], sagemaker_client: Any
) -> None:
    from hpo_flow.cli import main

    if not (REPO / config).is_file():
        pytest.skip(f"{config} is not in this checkout")
    monkeypatch.chdir(REPO)
    assert main(["plan", config, "--backend", "sagemaker", "--format", "json"]) == 0
    request = json.loads(capsys.readouterr().out)
    assert_accepted(sagemaker_client, request)
    if config.startswith("examples/sagemaker-mnist"):
        tuning = request["HyperParameterTuningJobConfig"]
        assert tuning["ResourceLimits"] == {"MaxParallelTrainingJobs": 3, "MaxNumberOfTrainingJobs": 9}
        assert tuning["HyperParameterTuningJobObjective"] == {"Type": "Minimize", "MetricName": "loss"}
        assert set(_ranges(request, "Continuous")) == {"learning_rate"}
        assert set(_ranges(request, "Integer")) == {"batch_size"}
        assert _ranges(request, "Categorical")["optimizer"]["Values"] == ["sgd", "adam"]
        metrics = request["TrainingJobDefinition"]["AlgorithmSpecification"]["MetricDefinitions"]
        assert {"Name": "loss", "Regex": r"loss = ([0-9\.]+)"} in metrics


def test_the_cli_plan_masks_secret_looking_environment_values(
    code_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from hpo_flow.cli import main
    from tests.helpers import write_config

    data = sm_data(code_dir, {"backends.sagemaker.environment": {"WANDB_API_KEY": "wandb-secret-value"}})
    path = write_config(tmp_path / "config.yaml", data)
    assert main(["plan", str(path), "--backend", "sagemaker", "--format", "json"]) == 0
    out = capsys.readouterr().out
    assert "wandb-secret-value" not in out and "WANDB_API_KEY" in out


# ---------------------------------------------------------------------------- packaging


def test_importing_adapters_loads_no_cloud_sdk() -> None:
    code = (
        "import sys, hpo_flow.adapters.sagemaker; from hpo_flow.adapters import get_adapter; get_adapter('sagemaker'); "
        "loaded = [m for m in ('boto3', 'botocore', 'sagemaker') if m in sys.modules]; print(loaded)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    assert done.stdout.strip() == "[]"


def test_the_code_archive_is_reproducible_and_leaves_caches_out(code_dir: Path, tmp_path: Path) -> None:
    import tarfile

    first, second = tmp_path / "a.tar.gz", tmp_path / "b.tar.gz"
    write_code_archive(code_dir, first)
    (code_dir / "train.py").touch()  # a newer mtime changes nothing
    write_code_archive(code_dir, second)
    assert first.read_bytes() == second.read_bytes()
    with tarfile.open(first) as tar:
        # the trial helper ships with the code, so `import hpo_flow.report` works in any training image
        assert sorted(tar.getnames()) == ARCHIVED_CODE
        shipped = tar.extractfile("hpo_flow/report.py")
        assert shipped is not None and shipped.read() == (REPO / "hpo_flow" / "report.py").read_bytes()
