"""What `hpo-flow run` prints when a sweep fails (issue 12): our one `error:` line and no Prefect
traceback in front of it; and a sweep whose runner was killed after trials completed is not
called one "with no successful trial": it is resumed, by the run that drives it and by the next."""

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
    """Trials complete, then the sweep is interrupted (what the local adapter says once its runner
    is killed) until it has been submitted again `faults` times: each resubmit resumes it."""

    def __init__(self, faults: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.faults = faults

    def submit(self, spec: Any) -> Any:
        if self.submits and self.faults:  # a submit after the first is a resume
            self.faults -= 1
        return super().submit(spec)

    def poll(self, ref: Any) -> SweepState:
        state = super().poll(ref)
        if state.status.is_terminal and self.faults:
            return SweepState(SweepStatus.FAILED, state.trials, "the runner died (exit code -9)", interrupted=True)
        return state


@pytest.fixture(autouse=True)
def _quick_resumes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("hpo_flow.tasks.sweep.RESUME_AFTER_S", (0.01, 0.01, 0.01))


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


def test_an_interrupted_sweep_is_resumed_by_the_run_that_drives_it(
    tmp_path: Path, mlflow_server: str, use: Any, caplog: pytest.LogCaptureFixture
) -> None:
    killed = RunnerKilled(faults=2, per_poll=2)
    out = io.StringIO()
    assert run_from_cli(str(_config(tmp_path, mlflow_server)), backend=use(killed), out=out) == 0
    assert killed.faults == 0 and killed.submits == 3 and len(killed.sweeps) == 1  # resumed twice, one sweep
    resumed = [r.getMessage() for r in caplog.records if "resuming it" in r.getMessage()]
    assert len(resumed) == 2 and "the runner died" in resumed[0], resumed


def test_a_sweep_still_interrupted_says_so_and_the_next_run_resumes_it_not_a_new_one(
    tmp_path: Path, mlflow_server: str, use: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    killed = RunnerKilled(faults=99, per_poll=2)
    config = str(_config(tmp_path, mlflow_server))
    assert run_from_cli(config, backend=use(killed), out=io.StringIO()) == EXIT_FAILED
    last = capfd.readouterr().err.strip().splitlines()[-1]
    assert "no successful trial" not in last and "the runner died" in last and "2 completed" in last
    assert "was interrupted" in last and "the next run of this config resumes it" in last
    (first,) = killed.sweeps

    killed.faults = 1  # the database is back: the next run's resume holds
    out = io.StringIO()
    assert run_from_cli(config, backend=use(killed), out=out) == 0, out.getvalue()
    assert list(killed.sweeps) == [first], "the next run started a new sweep instead of resuming"
