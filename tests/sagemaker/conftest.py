"""Fixtures for the SageMaker adapter's tests: moto's server on loopback, the served tuning service
on top of it, an adapter wired to both, and configs that name the moto account's role and bucket."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hpo_flow.adapters.spec import HpoConfig, parse_config
from tests.helpers import config_dict
from tests.sagemaker.served import ACCOUNT, REGION, ServedSageMaker

# What sourcedir.tar.gz holds for the `code_dir` fixture: its files and the shipped trial helper.
ARCHIVED_CODE = [
    "helpers.py",
    "hpo_flow/__init__.py",
    "hpo_flow/launch.py",
    "hpo_flow/report.py",
    "hpo_flow/toolkit_env.py",
    "train.py",
]

# The SDK's import noise: docstrings with invalid escapes (compiled when no .pyc is cached) and its own
# deprecated-module shim, which its ModelTrainer still imports.
SDK_NOISE = [
    pytest.mark.filterwarnings("ignore:invalid escape sequence:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:sagemaker.train.configs has been moved:DeprecationWarning"),
]
ROLE = f"arn:aws:iam::{ACCOUNT}:role/SageMakerExecutionRole"
BUCKET = "hpo-flow-tests"
IMAGE = f"763104351884.dkr.ecr.{REGION}.amazonaws.com/pytorch-training:2.3.0-cpu-py311-ubuntu20.04-sagemaker"
TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}
# Any AWS setting of the machine running the tests must not leak in (nor its credentials out).
_AWS_ENV = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ENDPOINT_URL",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
)


@pytest.fixture(autouse=True)
def _no_ambient_aws(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    for name in _AWS_ENV:
        monkeypatch.delenv(name, raising=False)
    empty = tmp_path_factory.mktemp("aws-home")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(empty / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(empty / "credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no instance-role lookups on loopback-only CI


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def served(moto_url: str, monkeypatch: pytest.MonkeyPatch) -> ServedSageMaker:
    """A fresh moto account with the execution role and bucket, and the served tuning service on it."""
    from moto.sagemaker.models import sagemaker_backends

    request = urllib.request.Request(f"{moto_url}/moto-api/reset", method="POST")
    urllib.request.urlopen(request, timeout=10).close()
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_url)
    setup = new_session(REGION)
    setup.client("iam").create_role(RoleName="SageMakerExecutionRole", AssumeRolePolicyDocument=json.dumps(TRUST))
    setup.client("s3").create_bucket(Bucket=BUCKET)
    return ServedSageMaker(moto_backend=sagemaker_backends[ACCOUNT][REGION])


_LOADER: list[Any] = []


def new_session(region: str | None, key: str = "testing") -> Any:
    """A boto3 session with test keys; its service models come from one loader shared by the tests
    (each fresh session would otherwise parse the large SageMaker model again)."""
    import boto3
    import botocore.session
    from botocore.loaders import create_loader

    if not _LOADER:
        _LOADER.append(create_loader())
    core = botocore.session.get_session()
    core.register_component("data_loader", _LOADER[0])
    return boto3.Session(botocore_session=core, aws_access_key_id=key, aws_secret_access_key=key, region_name=region)


@pytest.fixture
def sessions() -> list[Any]:
    """Every boto3 session the adapter asked for, in order."""
    return []


@pytest.fixture
def factory(served: ServedSageMaker, sessions: list[Any]) -> Any:
    def make(region: str | None, credentials_block: str | None) -> Any:
        session = new_session(region)
        served.attach(session)
        sessions.append(session)
        return session

    return make


@pytest.fixture
def code_dir(tmp_path: Path) -> Path:
    code = tmp_path / "code"
    code.mkdir()
    (code / "train.py").write_text('print("accuracy: 0.9")\n')
    (code / "helpers.py").write_text("X = 1\n")
    (code / "__pycache__").mkdir()
    (code / "__pycache__" / "helpers.cpython-311.pyc").write_bytes(b"\0")
    return code


def sm_data(code_dir: Path | str = ".", overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """A config tree for the served account: the tests' base config plus a sagemaker section."""
    data = config_dict(
        {
            "training.source_dir": str(code_dir),
            "tuning.backend": "sagemaker",
            "backends.sagemaker": {
                "role": ROLE,
                "image_uri": IMAGE,
                "instance_type": "ml.m5.xlarge",
                "output_path": f"s3://{BUCKET}/sweeps",
                "inputs": {"train": f"s3://{BUCKET}/data/train"},
                "region": REGION,
            },
        }
    )
    from hpo_flow.adapters.spec import apply_overrides

    return apply_overrides(data, overrides) if overrides else data


def sm_config(code_dir: Path | str = ".", overrides: dict[str, Any] | None = None) -> HpoConfig:
    return parse_config(sm_data(code_dir, overrides))
