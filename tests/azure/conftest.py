"""Fixtures for the Azure ML adapter: a served workspace, a real local MLflow store, a static credential."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hpo_flow.adapters.port import SweepRef
from hpo_flow.adapters.spec import HpoConfig
from tests.azure.served import RG, SUB, WS, ServedWorkspace, StaticCredential
from tests.helpers import make_config


def azure_backend(**extra: Any) -> dict[str, Any]:
    return {
        "subscription_id": SUB,
        "resource_group": RG,
        "workspace": WS,
        "compute": "cpu-cluster",
        "environment": "azureml:sklearn-env:3",
        "inputs": {"data": "azureml:digits:1"},
        **extra,
    }


@pytest.fixture
def mlflow_uri(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A real MLflow store of this test's own, the served workspace's tracking URI. MLflow's file
    store (opted into, it is in maintenance mode) starts instantly, where SQLite first migrates."""
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    return (tmp_path / "mlruns").as_uri()


@pytest.fixture
def workspace(mlflow_uri: str) -> ServedWorkspace:
    return ServedWorkspace(mlflow_uri)


@pytest.fixture
def credential() -> StaticCredential:
    return StaticCredential()


@pytest.fixture
def adapter(workspace: ServedWorkspace, credential: StaticCredential) -> Any:
    from hpo_flow.adapters.azure import AzureMLAdapter

    return AzureMLAdapter(credential=credential, client_kwargs={"transport": workspace})


@pytest.fixture
def code_dir(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    src.mkdir()
    (src / "train.py").write_text("print('accuracy: 0.5')\n")
    return src


@pytest.fixture
def spec(code_dir: Path) -> HpoConfig:
    return make_config(
        {
            "training.source_dir": str(code_dir),
            "tuning.early_stopping": {"policy": "bandit", "slack_factor": 0.2, "evaluation_interval": 1},
            "backends.azure": azure_backend(),
        }
    )


@pytest.fixture
def finish(workspace: ServedWorkspace) -> Callable[[SweepRef], None]:
    def done(ref: SweepRef) -> None:
        workspace.finish(job_name(ref))

    return done


def job_name(ref: SweepRef) -> str:
    return (ref.cloud_id or "").rsplit("/", 1)[-1]
