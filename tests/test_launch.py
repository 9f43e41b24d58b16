"""hpo_flow.launch: the SageMaker toolkit's environment inside an Azure ML trial, and the metrics a
script only prints logged to the trial's MLflow run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from hpo_flow.adapters.trial_code import add_helper
from hpo_flow.launch import environment
from tests.helpers import azure_job_run


@pytest.mark.unit
def test_the_toolkit_variables_come_from_the_trials_values_and_the_jobs_own_win() -> None:
    environ = {
        "HPO_FIXED_HYPERPARAMETERS": '{"epochs": 3}',
        "AZUREML_SWEEP_lr": "0.01",
        "AZUREML_SWEEP_optimizer": "adam",
        "HPO_INPUT_TRAINING": "/mnt/azureml/cr/j/x/cap/data-capability/wd/INPUT_training",
        "HPO_MODEL_DIR": "outputs/model",
        "SM_NUM_GPUS": "8",  # set by the job (training.environment): kept
        "CUDA_VISIBLE_DEVICES": "0,1",
    }
    added = environment("train.py", environ, "/code")
    assert json.loads(added["SM_HPS"]) == {"epochs": 3, "lr": 0.01, "optimizer": "adam"}
    assert added["SM_HP_LR"] == "0.01" and added["SM_HP_OPTIMIZER"] == "adam"
    assert added["SM_CHANNEL_TRAINING"] == environ["HPO_INPUT_TRAINING"]
    assert added["SM_HOSTS"] == '["algo-1"]' and added["SM_CURRENT_HOST"] == "algo-1"
    assert added["SM_MODEL_DIR"] == "/code/outputs/model"
    assert added["SM_OUTPUT_DATA_DIR"] == "/code/outputs/output/data"  # inside ./outputs: Azure ML keeps it
    assert "SM_NUM_GPUS" not in added and json.loads(added["SM_TRAINING_ENV"])["num_gpus"] == 2


@pytest.mark.integration
def test_printed_metrics_reach_the_trials_mlflow_run_once_and_the_exit_code_is_the_scripts(tmp_path: Path) -> None:
    _write_script(tmp_path)
    client, run_id, job_run = azure_job_run(tmp_path, "launch")
    done = _launch(tmp_path, job_run)
    assert done.returncode == 3, done.stderr
    assert done.stdout.splitlines() == ["accuracy: 0.5", "loss: 0.5", "accuracy: 0.75", "loss: 0.25", "done"]
    # accuracy: logged by the launcher from the output, once per line; loss: by report() itself
    assert [(m.step, m.value) for m in client.get_metric_history(run_id, "accuracy")] == [(1, 0.5), (2, 0.75)]
    assert [(m.step, m.value) for m in client.get_metric_history(run_id, "loss")] == [(1, 0.5), (2, 0.25)]


@pytest.mark.integration
def test_an_mlflow_outage_costs_the_metrics_never_the_trial(tmp_path: Path) -> None:
    """Nothing listens where the run's store should be: the script's output and exit code are its own,
    and the launcher gives up logging after a few tries instead of stalling the script on its pipe."""
    _write_script(tmp_path)
    started = time.monotonic()
    gone = {"MLFLOW_TRACKING_URI": "http://127.0.0.1:9", "MLFLOW_RUN_ID": "0" * 32}
    done = _launch(tmp_path, gone, read=("accuracy", "loss"))  # all logged by the launcher, none by report()
    assert done.returncode == 3 and done.stdout.splitlines()[-1] == "done", done.stderr[-2000:]
    assert "MLflow unreachable" in done.stderr and "metrics no longer logged" in done.stderr
    assert time.monotonic() - started < 90


def _write_script(folder: Path) -> None:
    """A trial that reports two epochs with the helper, then exits 3."""
    add_helper(folder)
    (folder / "train.py").write_text(
        "import os, sys\n"
        "from hpo_flow.report import report\n"
        "assert os.environ['SM_HOSTS'] == '[\"algo-1\"]'\n"
        "for step, acc in enumerate([0.5, 0.75], 1):\n"
        "    report(step=step, accuracy=acc, loss=1 - acc)\n"
        "print('done')\n"
        "sys.exit(3)\n"
    )


def _launch(folder: Path, job_run: dict[str, str], read: tuple[str, ...] = ("accuracy",)) -> Any:
    """`python -m hpo_flow.launch train.py` as the Azure ML command runs it, the `read` metrics read by regexes."""
    definitions = [{"Name": name, "Regex": f"{name}: ([0-9.]+)"} for name in read]
    env = {"PATH": os.environ["PATH"], **job_run, "HPO_METRIC_DEFINITIONS": json.dumps(definitions)}
    return subprocess.run(
        [sys.executable, "-m", "hpo_flow.launch", "train.py"],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
