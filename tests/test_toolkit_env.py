"""The SageMaker training toolkit's environment as hpo-flow gives it to a trial off SageMaker
(hpo_flow.toolkit_env), held to the toolkit's own output (`sagemaker-training`'s
Environment.to_env_vars) for the same trial laid out as a training container: every variable the
toolkit sets, with the same value."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from hpo_flow.toolkit_env import folders, toolkit_environment

TOOLKIT = """
import json
from sagemaker_training import environment
print(json.dumps(environment.Environment().to_env_vars()))
"""


def _parsed(value: str) -> Any:
    try:
        return json.loads(value)
    except ValueError:
        return value


@pytest.mark.integration
def test_the_trial_gets_what_the_toolkit_would_set(tmp_path: Path) -> None:
    hyperparameters = {"lr": 0.05, "epochs": 3, "C": 1.0, "optimizer": "adam"}
    base = tmp_path / "opt-ml"  # the container's /opt/ml, and the trial's own folder
    config = base / "input" / "config"
    config.mkdir(parents=True)
    (config / "hyperparameters.json").write_text(json.dumps({k: str(v) for k, v in hyperparameters.items()}))
    (config / "inputdataconfig.json").write_text(
        json.dumps({"training": {"TrainingInputMode": "File"}, "test": {"TrainingInputMode": "File"}})
    )
    (config / "resourceconfig.json").write_text(
        json.dumps({"current_host": "algo-1", "hosts": ["algo-1"], "network_interface_name": "eth0"})
    )
    env = {"SAGEMAKER_BASE_DIR": str(base), "SAGEMAKER_PROGRAM": "train.py", "PATH": os.environ["PATH"]}
    done = subprocess.run([sys.executable, "-c", TOOLKIT], env=env, capture_output=True, text=True, check=True)
    theirs = json.loads(done.stdout.strip().splitlines()[-1])

    ours = toolkit_environment(
        hyperparameters=hyperparameters,
        channels={name: base / "input" / "data" / name for name in ("training", "test")},
        entry_point="train.py",
        module_dir=base / "code",
        model_dir=base / "model",
        trial_dir=base,
        num_gpus=0,  # what the toolkit finds here: no nvidia-smi
        num_cpus=os.cpu_count(),
    )
    assert sorted(ours) == sorted(theirs)
    different = {k: (ours[k], theirs[k]) for k in ours if _parsed(ours[k]) != _parsed(theirs[k])}
    assert different == {}


@pytest.mark.unit
def test_its_folders_are_the_trials_own(tmp_path: Path) -> None:
    env = toolkit_environment(
        hyperparameters={"x": 1},
        channels={},
        entry_point="train.py",
        module_dir=tmp_path,
        model_dir=tmp_path / "model",
        trial_dir=tmp_path / "trial-0003",
        num_gpus=2,
    )
    assert env["SM_OUTPUT_DATA_DIR"] == folders(tmp_path / "trial-0003")["output_data"]
    assert env["SM_OUTPUT_DATA_DIR"].startswith(str(tmp_path / "trial-0003"))
    assert (env["SM_NUM_GPUS"], env["SM_HP_X"], env["SM_USER_ARGS"], env["SM_CHANNELS"]) == (
        "2",
        "1",
        '["-x","1"]',
        "[]",
    )
