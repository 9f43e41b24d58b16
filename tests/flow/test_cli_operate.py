"""`hpo-flow status`, `list`, `cancel` and `logs` on the fake adapter, the local backend and a cloud
backend without credentials, against a real MLflow server: what a person types, what they read."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from hpo_flow.adapters.lifecycle import identify
from hpo_flow.adapters.port import SweepRef, SweepStatus, Trial, TrialStatus
from hpo_flow.adapters.registry import registered
from hpo_flow.adapters.spec import HpoConfig, apply_overrides, load_config
from hpo_flow.cli import main
from hpo_flow.tasks.tracking import record_sweep
from tests.fakes import FakeAdapter, _Sweep
from tests.flow.test_flow_local import local_config
from tests.helpers import config_dict, in_process_backend
from tests.ray.cluster import LocalRayCluster

pytestmark = pytest.mark.integration


class FakeWithLogs(FakeAdapter):
    """The fake, each trial with a log file as a runner would leave it."""

    def __init__(self, log_dir: Path, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.log_dir = log_dir

    def _trial(self, sweep: _Sweep, index: int) -> Trial:
        trial = super()._trial(sweep, index)
        log = self.log_dir / f"{trial.id}.log"
        log.write_text(f"epoch 1\naccuracy: {trial.objective}\nDB url postgresql://u:hunter2@db/x\n")
        return dataclasses.replace(trial, log_path=str(log))

    def trial_log(self, ref: SweepRef, trial: Trial) -> Path | None:
        return Path(trial.log_path) if trial.log_path else None


@pytest.fixture
def fake(tmp_path: Path) -> Iterator[FakeWithLogs]:
    (tmp_path / "logs").mkdir()
    adapter = FakeWithLogs(tmp_path / "logs", per_poll=2)
    with registered(in_process_backend("fake", adapter)):
        yield adapter


def _config_file(tmp_path: Path, mlflow_server: str, data: dict[str, Any]) -> Path:
    data["project"] = f"op-{time.time_ns() % 10**9}"
    data["mlflow"] = {"tracking_uri": mlflow_server}
    if data["training"].get("source_dir", ".") == ".":  # training code of its own, part of the sweep's identity
        (tmp_path / "code").mkdir(exist_ok=True)
        data["training"]["source_dir"] = str(tmp_path / "code")
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _as_run_submits_it(path: Path) -> HpoConfig:
    """The config as `hpo-flow run` submits and records it: its hash covers the training code."""
    return identify(load_config(path), path)


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def fake_sweep(tmp_path: Path, mlflow_server: str, fake: FakeWithLogs) -> tuple[Path, SweepRef]:
    """A fake sweep of 6 trials, 2 finished, recorded in MLflow as the flow records it at its first poll."""
    path = _config_file(tmp_path, mlflow_server, config_dict({"tuning.max_jobs": 6}))
    config = _as_run_submits_it(path)
    ref = fake.submit(config)
    record_sweep(config, ref, fake.poll(ref), plots=False)
    return path, ref


def test_status_of_a_config_asks_the_backend_and_says_where_to_look(
    fake_sweep: tuple[Path, SweepRef], capsys: pytest.CaptureFixture[str], mlflow_server: str
) -> None:
    path, ref = fake_sweep
    code, out, _ = _run(capsys, "status", str(path))
    assert code == 0
    assert f"Sweep {ref.name} on fake: RUNNING" in out
    assert "4/6 done | 0 running | 0 pruned | 0 failed | best accuracy=" in out  # the backend moved on: 4 now
    assert out.count("    trial trial-") == 4
    assert f"open {mlflow_server}" in out


def test_status_list_cancel_by_sweep_name(
    fake_sweep: tuple[Path, SweepRef], fake: FakeWithLogs, capsys: pytest.CaptureFixture[str], mlflow_server: str
) -> None:
    _, ref = fake_sweep
    code, out, _ = _run(capsys, "list", "--tracking-uri", mlflow_server)
    assert code == 0
    line = next(row for row in out.splitlines() if row.startswith(ref.name))
    assert line.split()[1:3] == ["fake", "RUNNING"] and "2 completed" in line

    code, out, _ = _run(capsys, "cancel", ref.name, "--tracking-uri", mlflow_server)
    assert code == 0 and f"cancelled sweep {ref.name} on fake: now STOPPED" in out
    assert fake.sweeps[ref.name].status == SweepStatus.STOPPED
    code, out, _ = _run(capsys, "cancel", ref.name, "--tracking-uri", mlflow_server)  # safe to repeat
    assert code == 0 and "now STOPPED" in out

    code, out, _ = _run(capsys, "status", ref.name, "--tracking-uri", mlflow_server)
    assert code == 0 and f"Sweep {ref.name} on fake: STOPPED" in out and " | stopped" in out


def test_logs_prints_a_trials_log_with_secrets_masked(
    fake_sweep: tuple[Path, SweepRef], capsys: pytest.CaptureFixture[str], mlflow_server: str
) -> None:
    _, ref = fake_sweep
    code, out, _ = _run(capsys, "logs", ref.name, "trial-1", "--tracking-uri", mlflow_server)
    assert code == 0
    assert out.startswith("epoch 1\naccuracy: ") and "hunter2" not in out and "postgresql://u:***@db/x" in out

    code, _, err = _run(capsys, "logs", ref.name, "trial-99", "--tracking-uri", mlflow_server)
    assert code == 1 and f"sweep {ref.name} has no trial 'trial-99'; its trials: trial-0, trial-1" in err


def test_an_unknown_sweep_is_a_clear_error_naming_the_known_ones(
    fake_sweep: tuple[Path, SweepRef], capsys: pytest.CaptureFixture[str], mlflow_server: str
) -> None:
    _, ref = fake_sweep
    for command in (["status", "no-such-sweep"], ["cancel", "no-such-sweep"], ["logs", "no-such-sweep", "trial-0"]):
        code, out, err = _run(capsys, *command, "--tracking-uri", mlflow_server)
        assert code == 1 and out == ""
        assert err.startswith("error: no sweep named 'no-such-sweep' is recorded in the tracking store")
        assert ref.name in err and "hpo-flow list" in err
        assert "Traceback" not in err


def test_a_cloud_backend_without_credentials_is_a_clear_error(
    tmp_path: Path, mlflow_server: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sweep recorded by a flow that ran elsewhere (a deployment), looked at from a laptop with no AWS login."""
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    path = _config_file(tmp_path, mlflow_server, config_dict({"tuning.backend": "sagemaker"}))
    config = _as_run_submits_it(path)
    name = config.sweep_name()
    arn = f"arn:aws:sagemaker:eu-west-1:123456789012:hyper-parameter-tuning-job/{name}"
    ref = SweepRef(backend="sagemaker", name=name, cloud_id=arn)
    trial = Trial(id="t-001", params={"lr": 0.01}, status=TrialStatus.RUNNING)
    record_sweep(config, ref, _state(SweepStatus.RUNNING, [trial]), plots=False)

    for command in (["status", str(path)], ["cancel", name, "--tracking-uri", mlflow_server]):
        code, out, err = _run(capsys, *command)
        assert code == 1 and out == ""
        assert err.startswith("error: ") and "no AWS credentials found" in err and "Traceback" not in err


def _state(status: SweepStatus, trials: list[Trial]) -> Any:
    from hpo_flow.adapters.port import SweepState

    return SweepState(status=status, trials=trials)


@pytest.mark.e2e
def test_status_logs_cancel_on_the_local_backend(
    tmp_path: Path, mlflow_server: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A real local sweep, recorded as the flow records it, operated from the CLI while it runs."""
    from hpo_flow.adapters.local import LocalAdapter

    _operate_a_running_sweep(tmp_path, mlflow_server, capsys, LocalAdapter(), {})


def test_status_logs_cancel_on_the_ray_backend(
    tmp_path: Path, mlflow_server: str, capsys: pytest.CaptureFixture[str], ray_cluster: LocalRayCluster
) -> None:
    """The same on Ray: the trials run on the tests' two-node cluster; status says where its dashboard is."""
    from hpo_flow.adapters.ray.adapter import RayAdapter

    ray = {"address": ray_cluster.address, "gpus_per_trial": 0.5, "cpus_per_trial": 0}
    out = _operate_a_running_sweep(
        tmp_path, mlflow_server, capsys, RayAdapter(), {"tuning.backend": "ray", "backends.ray": ray}
    )
    assert f"ray: {ray_cluster.dashboard}" in out


def _operate_a_running_sweep(
    tmp_path: Path, mlflow_server: str, capsys: pytest.CaptureFixture[str], adapter: Any, overrides: dict[str, Any]
) -> str:
    """status, logs, list and cancel of a running sweep; returns what status printed."""
    backend = adapter.backend
    data = apply_overrides(local_config(tmp_path), overrides)
    data["training"]["hyperparameters"]["step_seconds"] = 1.0  # a sweep that outlives the test's reads
    data["tuning"]["max_jobs"] = 6
    path = _config_file(tmp_path, mlflow_server, data)
    config = _as_run_submits_it(path)
    ref = adapter.submit(config)
    try:
        deadline = time.monotonic() + 120
        state = adapter.poll(ref)
        while not state.finished_trials and time.monotonic() < deadline:
            adapter.wait_for_change(ref, 1.0)
            state = adapter.poll(ref)
        assert state.finished_trials and not state.status.is_terminal
        record_sweep(config, ref, state, plots=False)

        code, status, _ = _run(capsys, "status", str(path))
        assert code == 0 and f"Sweep {ref.name} on {backend}: RUNNING" in status
        assert f"sweep directory {ref.workdir}" in status

        first = state.finished_trials[0].id
        code, out, _ = _run(capsys, "logs", ref.name, first, "--tracking-uri", mlflow_server)
        assert code == 0 and "accuracy: " in out

        code, out, _ = _run(capsys, "list", str(path))
        assert code == 0 and any(row.startswith(f"{ref.name} ") and f" {backend} " in row for row in out.splitlines())

        code, out, _ = _run(capsys, "cancel", str(path))
        assert code == 0 and f"cancelled sweep {ref.name} on {backend}: now STOPPED" in out
        after = adapter.poll(ref)
        assert after.status == SweepStatus.STOPPED
        assert not [t for t in after.trials if t.status in (TrialStatus.RUNNING, TrialStatus.PENDING)]
    finally:
        adapter.cancel(ref)
    return status
