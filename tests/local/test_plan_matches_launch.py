"""The local plan is what runs: the first trial's command and the environment hpo-flow adds, as launched."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from hpo_flow.adapters.local import LocalAdapter
from tests.local.sweep_helpers import finish, local_config

pytestmark = pytest.mark.integration


ENV_DUMP_SCRIPT = r"""
import json, os, sys
with open(os.path.join(os.environ["HPO_MODEL_DIR"], "launch.json"), "w") as f:
    json.dump({"argv": sys.argv, "env": dict(os.environ)}, f)
print("accuracy: 0.5")
"""


def test_the_plan_shows_exactly_the_command_and_environment_the_first_trial_is_launched_with(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "train.py").write_text(ENV_DUMP_SCRIPT)
    spec = local_config(
        tmp_path,
        {
            "training.python": sys.executable,  # another interpreter: PYTHONPATH gains the trial helper
            "training.environment": {"MODE": "fast", "PYTHONPATH": "/team/lib"},
            "training.hyperparameters": {},
            "tuning.max_jobs": 1,
            "tuning.max_parallel_jobs": 1,
        },
    )
    monkeypatch.chdir(tmp_path)
    adapter = LocalAdapter()
    plan = adapter.plan(spec)["first_trial"]
    ref = adapter.submit(spec)
    state = finish(adapter, ref)
    assert [t.status.value for t in state.trials] == ["COMPLETED"], state
    launched = json.loads((Path(plan["environment"]["HPO_MODEL_DIR"]) / "launch.json").read_text())
    assert launched["argv"][1:] == plan["command"][2:]  # the interpreter runs the script: argv[0] is its path
    assert plan["command"][:2] == [sys.executable, "train.py"]
    shown = plan["environment"]
    assert shown["PYTHONPATH"].startswith("/team/lib" + ":") and shown["MODE"] == "fast"
    assert {k: launched["env"].get(k) for k in shown} == shown
