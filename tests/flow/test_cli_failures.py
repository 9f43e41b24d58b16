"""What `hpo-flow run` prints when a sweep fails (issue 12): our one `error:` line and no Prefect
traceback in front of it; and a sweep whose runner was killed after trials completed is not
called one "with no successful trial"."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path
from typing import Any

import pytest

from hpo_flow.adapters.port import SweepState, SweepStatus
from hpo_flow.adapters.registry import registered
from hpo_flow.cli.run import EXIT_FAILED, run_from_cli
from tests.fakes import FakeAdapter
from tests.helpers import config_dict, in_process_backend, write_config

pytestmark = pytest.mark.integration


class RunnerKilled(FakeAdapter):
    """Two trials complete, then the backend reports the sweep failed: what the local adapter says
    once its runner is killed."""

    def poll(self, ref: Any) -> SweepState:
        state = super().poll(ref)
        if state.status.is_terminal:
            return SweepState(SweepStatus.FAILED, state.trials, "the runner died (exit code -9)")
        return state


@pytest.fixture
def use(prefect_harness: None) -> Any:
    with contextlib.ExitStack() as stack:

        def use(adapter: Any) -> str:
            stack.enter_context(registered(in_process_backend("staged", adapter)))
            return "staged"

        yield use


def _config(tmp_path: Path, mlflow_server: str) -> Path:
    data = config_dict({"tuning.max_jobs": 2, "tuning.poll_interval_seconds": 0.05})
    data["project"] = f"cli-fail-{tmp_path.name}"[-40:].strip("-_")
    data["mlflow"] = {"tracking_uri": mlflow_server}
    return write_config(tmp_path / "config.yaml", data)


def test_a_failed_sweep_prints_our_error_line_and_no_traceback(
    tmp_path: Path, mlflow_server: str, use: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    backend = use(FakeAdapter(per_poll=2, fail_every=1))
    assert run_from_cli(str(_config(tmp_path, mlflow_server)), backend=backend, out=io.StringIO()) == EXIT_FAILED
    _, err = capfd.readouterr()
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith("error: sweep ")


def test_a_sweep_whose_runner_died_after_trials_completed_says_so(
    tmp_path: Path, mlflow_server: str, use: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    backend = use(RunnerKilled(per_poll=2))
    assert run_from_cli(str(_config(tmp_path, mlflow_server)), backend=backend, out=io.StringIO()) == EXIT_FAILED
    last = capfd.readouterr().err.strip().splitlines()[-1]
    assert "no successful trial" not in last
    assert "the runner died" in last and "2 completed" in last and "run the same command again" in last
