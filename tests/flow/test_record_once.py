"""Recording is idempotent across processes: two recorders of one sweep at once (two `hpo-flow run`
of one config fired together, a deployment run beside a CLI run) leave one parent run, exactly one
child run per trial, none of them RUNNING, and one registered version."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from hpo_flow.tasks.tracking.schema import RUN_KIND, SWEEP_KIND, TRIAL_ID, TRIAL_KIND
from hpo_flow.tasks.tracking.store import client_for, search

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

TRIALS = 8

# One recorder: polls the fake sweep as the flow does, recording every state live, then registers
# the best. Both start at the same moment (the gate file), with the same deterministic sweep.
RECORDER = r"""
import sys, time
from pathlib import Path
from hpo_flow.tasks.result import SweepResult
from hpo_flow.tasks.tracking import record_result
from hpo_flow.tasks.tracking.registry import register_best
from tests.fakes import FakeAdapter
from tests.flow.trial_script import save_model
from tests.helpers import make_config

uri, project, gate, models = sys.argv[1:5]


class WithModels(FakeAdapter):
    def _trial(self, sweep, index):
        trial = super()._trial(sweep, index)
        if trial.model_uri and trial.objective is not None and not Path(trial.model_uri).exists():
            save_model(Path(trial.model_uri), trial.objective)
        return trial


config = make_config({"project": project, "mlflow.tracking_uri": uri, "tuning.max_jobs": int(sys.argv[5])})
adapter = WithModels(per_poll=1, model_dir=Path(models))
ref = adapter.submit(config)
while not Path(gate).exists():
    time.sleep(0.01)
while True:
    state = adapter.poll(ref)
    result = SweepResult.of(config, ref, state)
    parent = record_result(config, result, plots=False)
    if state.status.is_terminal:
        break
register_best(config, result, parent)
print("done")
"""


def test_two_recorders_at_once_leave_one_run_per_trial_and_one_version(mlflow_server: str, tmp_path: Path) -> None:
    project = f"once-{time.time_ns() % 10**8}"
    gate = tmp_path / "gate"
    repo = Path(__file__).resolve().parents[2]
    recorders = [
        subprocess.Popen(
            [sys.executable, "-c", RECORDER, mlflow_server, project, str(gate), str(tmp_path / f"m{i}"), str(TRIALS)],
            cwd=repo,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    time.sleep(3)  # both imported and waiting at the gate (a missed start only makes the race milder)
    gate.touch()
    for recorder in recorders:
        out, err = recorder.communicate(timeout=200)
        assert recorder.returncode == 0 and "done" in out, err[-3000:]

    client = client_for(mlflow_server)
    experiment = client.get_experiment_by_name(project)
    assert experiment is not None
    runs = search(client, experiment.experiment_id, "")
    parents = [r for r in runs if r.data.tags.get(RUN_KIND) == SWEEP_KIND]
    children = [r for r in runs if r.data.tags.get(RUN_KIND) == TRIAL_KIND]
    assert len(parents) == 1, [r.info.run_id for r in parents]
    per_trial: dict[str, int] = {}
    for child in children:
        per_trial[child.data.tags[TRIAL_ID]] = per_trial.get(child.data.tags[TRIAL_ID], 0) + 1
    assert per_trial == {f"trial-{i}": 1 for i in range(TRIALS)}, per_trial
    assert [r.info.run_id for r in runs if r.info.status == "RUNNING"] == [], "a run was left RUNNING"
    versions = client.search_model_versions(f"name = '{project}'")
    assert len(versions) == 1, [v.version for v in versions]
