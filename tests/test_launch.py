"""hpo_flow.launch: the SageMaker toolkit's environment inside an Azure ML trial, and the metrics a
script only prints logged to the trial's MLflow run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hpo_flow.adapters.trial_code import add_helper
from hpo_flow.launch import environment


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
    import mlflow

    add_helper(tmp_path)
    (tmp_path / "train.py").write_text(
        "import os, sys\n"
        "from hpo_flow.report import report\n"
        "assert os.environ['SM_HOSTS'] == '[\"algo-1\"]'\n"
        "for step, acc in enumerate([0.5, 0.75], 1):\n"
        "    report(step=step, accuracy=acc, loss=1 - acc)\n"
        "print('done')\n"
        "sys.exit(3)\n"
    )
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = mlflow.MlflowClient(uri)
    run_id = client.create_run(client.create_experiment("launch")).info.run_id
    env = {
        "PATH": os.environ["PATH"],
        "MLFLOW_TRACKING_URI": uri,
        "MLFLOW_RUN_ID": run_id,
        "HPO_METRIC_DEFINITIONS": json.dumps([{"Name": "accuracy", "Regex": "accuracy: ([0-9.]+)"}]),
    }
    done = subprocess.run(
        [sys.executable, "-m", "hpo_flow.launch", "train.py"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 3, done.stderr
    assert done.stdout.splitlines() == ["accuracy: 0.5", "loss: 0.5", "accuracy: 0.75", "loss: 0.25", "done"]
    # accuracy: logged by the launcher from the output, once per line; loss: by report() itself
    assert [(m.step, m.value) for m in client.get_metric_history(run_id, "accuracy")] == [(1, 0.5), (2, 0.75)]
    assert [(m.step, m.value) for m in client.get_metric_history(run_id, "loss")] == [(1, 0.5), (2, 0.25)]
