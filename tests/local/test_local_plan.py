"""`plan` for the local backend, and what the local backend refuses before starting anything."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hpo_flow.adapters.errors import HpoFlowError, PlanError
from hpo_flow.adapters.local import LocalAdapter
from hpo_flow.adapters.local.plan import build_plan
from hpo_flow.adapters.local.worker import run_worker
from tests.helpers import make_config

pytestmark = pytest.mark.unit


def test_plan_shows_slots_search_limits_and_the_first_trials_exact_command(tmp_path: Path) -> None:
    spec = make_config(
        {
            "tuning.max_parallel_jobs": 3,
            "tuning.trial_timeout_seconds": 60,
            "backends.local.gpus": [0, 1, 2, 3],
            "backends.local.gpus_per_trial": 2,
        }
    )
    plan = build_plan(spec, cwd=tmp_path)
    assert plan["sweep_name"] == spec.sweep_name()
    assert plan["sweep_dir"] == str(tmp_path / ".hpo" / spec.sweep_name())
    assert plan["storage"].startswith("journal file ") and plan["storage"].endswith("study.journal")
    assert plan["slots"] == ["gpu:0,1", "gpu:2,3"] and plan["parallelism"] == 2
    assert plan["search"]["sampler"]["name"] == "RandomSampler"
    assert plan["limits"]["trial_timeout_seconds"] == 60 and plan["limits"]["max_jobs"] == 4
    first = plan["first_trial"]
    command = first["command"]
    assert command[1] == "train.py" and command[command.index("--epochs") + 1] == "5"
    for name, value in first["params"].items():
        assert command[command.index(f"--{name}") + 1] == str(value)
    assert first["environment"]["CUDA_VISIBLE_DEVICES"] == "0,1"
    assert first["environment"]["HPO_MODEL_DIR"].endswith("trial-0000/model")
    assert json.loads(json.dumps(plan)) == plan  # plain data
    assert LocalAdapter().plan(spec)["first_trial"]["params"] == first["params"]  # deterministic under a seed


def test_plan_values_depend_on_the_seed_and_are_marked_as_an_example_without_one(tmp_path: Path) -> None:
    one = build_plan(make_config({"tuning.random_seed": 1}), cwd=tmp_path)["first_trial"]
    two = build_plan(make_config({"tuning.random_seed": 2}), cwd=tmp_path)["first_trial"]
    assert one["params"] != two["params"] and one["params_are"] == "the first trial's"
    unseeded = make_config({"tuning.random_seed": None})
    first = build_plan(unseeded, cwd=tmp_path)["first_trial"]
    assert first == build_plan(unseeded, cwd=tmp_path)["first_trial"] and "example" in first["params_are"]


def test_plan_never_shows_a_secret(tmp_path: Path) -> None:
    spec = make_config(
        {
            "training.environment": {"API_TOKEN": "tok-123", "WANDB_KEY": "hunter2", "MODE": "fast"},
            "training.hyperparameters": {"epochs": 5},
            "backends.local.storage": "postgresql://hpo:s3cret@db:5432/hpo",
        }
    )
    text = json.dumps(build_plan(spec, cwd=tmp_path))
    for secret in ("tok-123", "hunter2", "s3cret"):
        assert secret not in text
    assert '"MODE": "fast"' in text


def test_what_the_local_backend_cannot_run_is_refused_before_anything_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    spec = make_config(
        {
            "tuning.strategy": "Hyperband",
            "tuning.early_stopping": {"policy": "bandit", "slack_factor": 0.1},
        }
    )
    with pytest.raises(PlanError) as caught:
        build_plan(spec, cwd=tmp_path)
    assert any(p.path == "tuning.early_stopping.policy" for p in caught.value.problems)
    with pytest.raises(PlanError):
        LocalAdapter().submit(spec)
    assert not (tmp_path / ".hpo").exists()


def test_a_worker_needs_a_shared_storage() -> None:
    with pytest.raises(HpoFlowError, match=r"backends\.local\.storage"):
        run_worker(make_config())
