"""A password in the MLflow tracking URI never reaches stdout or stderr (issue 12: MLflow's own
"View run ... at: URL" line printed it once per recorded trial)."""

from __future__ import annotations

import pytest

from hpo_flow.adapters.port import SweepStatus
from hpo_flow.tasks.tracking import record_sweep
from tests.fakes import FakeAdapter
from tests.helpers import make_config

pytestmark = pytest.mark.integration

CANARY = "canary-pw-7c1e"


def test_recording_trials_with_a_password_in_the_tracking_uri_prints_no_password(
    mlflow_server: str, capfd: pytest.CaptureFixture[str]
) -> None:
    uri = mlflow_server.replace("http://", f"http://reviewer:{CANARY}@")  # the server ignores basic auth
    config = make_config({"project": "secret-out", "mlflow.tracking_uri": uri, "tuning.max_jobs": 2})
    adapter = FakeAdapter(per_poll=2)
    ref = adapter.submit(config)
    state = adapter.poll(ref)
    assert state.status == SweepStatus.COMPLETED and state.trials
    record_sweep(config, ref, state)
    out, err = capfd.readouterr()
    assert CANARY not in out + err
