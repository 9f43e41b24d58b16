"""Nothing imported that a command does not use, read from `python -X importtime`.

A local `hpo-flow run` must not import boto3 or the Azure SDK (MLflow would load the sagemaker-mlflow
and azureml-mlflow plugins for them) and a local `plan` must not import redis (Optuna would, for a
journal backend we never use).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.flow.test_flow_local import local_config

pytestmark = pytest.mark.integration

NEVER_LOCAL = ("boto3", "botocore", "sagemaker", "sagemaker_mlflow", "azure", "torch")


def imported(importtime_log: str) -> set[str]:
    """The top-level packages a process imported, from its `-X importtime` lines.

    An import that was refused (a module hidden while another package imported) is logged too,
    as one line of a few microseconds and no submodules; a package counts as imported when a
    submodule of it loaded or its own line took more than 0.2 ms.
    """
    found: set[str] = set()
    for line in importtime_log.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        _, cumulative, name = line.split("|", 2)
        name = name.strip()
        if not cumulative.strip().isdigit():
            continue  # the header line
        if "." in name or int(cumulative) > 200:
            found.add(name.split(".")[0])
    return found


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "MLFLOW_", "PYTHONPROFILEIMPORTTIME"))}
    env.update(DO_NOT_TRACK="1", PREFECT_HOME=str(tmp_path / "ph"))
    return env


def _config(tmp_path: Path, **overrides: object) -> Path:
    data = local_config(tmp_path)
    data["mlflow"] = {"tracking_uri": f"sqlite:///{tmp_path / 'mlflow.db'}"}
    data["tuning"] |= overrides
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _hpo_flow(args: list[str], tmp_path: Path, env: dict[str, str], timeout: float) -> tuple[int, str, str]:
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "hpo_flow.cli", *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return proc.returncode, proc.stdout, proc.stderr


def test_local_plan_imports_neither_redis_nor_cloud_sdks(tmp_path: Path) -> None:
    config = _config(tmp_path, strategy="Bayesian", max_jobs=40)
    rc, out, log = _hpo_flow(["plan", "--backend", "local", str(config)], tmp_path, _env(tmp_path), 120)
    assert rc == 0, out + log[-3000:]
    loaded = imported(log)
    assert "optuna" in loaded  # the plan did draw its first trial: the check below means something
    assert not loaded & {"redis", *NEVER_LOCAL}, sorted(loaded & {"redis", *NEVER_LOCAL})


@pytest.mark.timeout(900)
def test_local_run_imports_no_cloud_sdk(tmp_path: Path) -> None:
    """`hpo-flow run` as `make demo` runs it: its own temporary Prefect server, MLflow in SQLite."""
    config = _config(tmp_path, max_jobs=2, max_parallel_jobs=2)
    rc, out, log = _hpo_flow(["run", str(config)], tmp_path, _env(tmp_path), 840)
    assert rc == 0, out[-3000:] + log[-3000:]
    loaded = imported(log)
    assert {"mlflow", "prefect"} <= loaded  # it did record the sweep in MLflow
    assert not loaded & set(NEVER_LOCAL), sorted(loaded & set(NEVER_LOCAL))


@pytest.mark.parametrize("uri", ["sqlite:///{tmp}/m.db", "arn:aws:sagemaker:eu-west-1:123456789012:mlflow-app/app-X"])
def test_mlflow_loads_the_sagemaker_plugin_only_for_an_arn_tracking_uri(uri: str, tmp_path: Path) -> None:
    pytest.importorskip("sagemaker_mlflow")
    uri = uri.format(tmp=tmp_path)
    script = (
        "import sys\n"
        "from hpo_flow.tasks.tracking.store import client_for\n"
        f"client_for({uri!r})\n"
        "from mlflow.tracking._tracking_service.utils import _tracking_store_registry as r\n"
        "import redis\n"  # still importable by whoever needs it (Prefect's pydocket does)
        "print('arn' in r._registry, 'boto3' in sys.modules)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, env=_env(tmp_path), capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    arn = uri.startswith("arn:")
    assert proc.stdout.split() == [str(arn), str(arn)]


def test_optuna_without_redis_leaves_redis_importable(tmp_path: Path) -> None:
    script = (
        "import sys\n"
        "import hpo_flow.adapters.local, optuna\n"
        "print('redis' in sys.modules)\n"
        "import redis\n"
        "print(redis.__name__ in sys.modules)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, env=_env(tmp_path), capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split() == ["False", "True"]


@pytest.mark.timeout(400)
def test_the_temporary_prefect_server_imports_no_prefect_collection(tmp_path: Path) -> None:
    """Checking whether block types need registering would import every installed collection
    (prefect-aws, -azure, -docker) and their SDKs: 40% of the server's start-up, for nothing."""
    script = (
        "from hpo_flow.processes.server import prefect_api\nwith prefect_api() as url:\n    print(url, flush=True)\n"
    )
    env = {**_env(tmp_path), "PYTHONPROFILEIMPORTTIME": "1", "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "240"}
    # the server inherits PYTHONPROFILEIMPORTTIME: both processes log their imports
    proc = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=380
    )
    assert proc.returncode == 0 and proc.stdout.startswith("http://127.0.0.1:"), proc.stderr[-3000:]
    loaded = imported(proc.stderr)
    assert "uvicorn" in loaded  # the server's own imports are in the log: the check below means something
    collections = {"prefect_aws", "prefect_azure", "prefect_docker", "prefect_gcp"}
    assert not loaded & (collections | set(NEVER_LOCAL)), sorted(loaded & (collections | set(NEVER_LOCAL)))
