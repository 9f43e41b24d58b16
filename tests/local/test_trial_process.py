"""A trial's argument list and environment, and metrics read from its output."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest

from hpo_flow.adapters.local.metrics import MetricReader
from hpo_flow.adapters.local.process import describe_exit, trial_command, trial_environment
from hpo_flow.adapters.spec import MetricDefinition
from tests.helpers import make_config

pytestmark = pytest.mark.unit


def test_the_command_is_an_argument_list_with_every_fixed_and_sampled_hyperparameter() -> None:
    spec = make_config({"training.hyperparameters": {"epochs": 5, "lr": 0.01, "name": "a b; rm -rf /", "flag": True}})
    argv = trial_command(spec, {"lr": 0.001, "batch_size": 32})
    assert argv == [
        sys.executable,
        "train.py",
        "--epochs",
        "5",
        "--name",
        "a b; rm -rf /",  # one argument, never seen by a shell
        "--flag",
        "True",
        "--lr",
        "0.001",
        "--batch_size",
        "32",
    ]


def test_the_interpreter_is_training_python_when_set() -> None:
    spec = make_config({"training.python": "/opt/env/bin/python"})
    assert trial_command(spec, {})[0] == "/opt/env/bin/python"
    assert trial_command(spec, {}, python="/other/python")[0] == "/other/python"


def test_floats_keep_their_exact_value_and_type_on_the_command_line() -> None:
    spec = make_config()
    argv = trial_command(spec, {"lr": 1e-05, "batch_size": 64, "momentum": 0.9000000000000001, "w": 32.0})
    assert argv[argv.index("--lr") + 1] == "1e-05"
    assert float(argv[argv.index("--momentum") + 1]) == 0.9000000000000001
    assert argv[argv.index("-w") + 1] == "32.0"  # a one-letter name as SageMaker's toolkit passes it


def test_the_environment_of_a_trial(tmp_path: Path) -> None:
    spec = make_config({"training.environment": {"DATA": "/data", "HPO_TRIAL_ID": "user value loses"}})
    env = trial_environment(
        spec, "trial-0007", tmp_path / "model", "2,3", base={"PATH": "/bin", "DATA": "old"}, params={"lr": 0.02}
    )
    toolkit = {k: v for k, v in env.items() if k.startswith("SM_") and k != "SM_MODEL_DIR"}
    assert {k: v for k, v in env.items() if k not in toolkit} == {
        "PATH": "/bin",
        "DATA": "/data",
        "HPO_TRIAL_ID": "trial-0007",
        "HPO_MODEL_DIR": str(tmp_path / "model"),
        "SM_MODEL_DIR": str(tmp_path / "model"),
        "CUDA_VISIBLE_DEVICES": "2,3",
        "PYTHONUNBUFFERED": "1",
    }
    # and what the SageMaker training toolkit would set for this trial (tests/test_toolkit_env.py)
    assert (toolkit["SM_NUM_GPUS"], toolkit["SM_CURRENT_HOST"], toolkit["SM_HOSTS"]) == ("2", "algo-1", '["algo-1"]')
    assert toolkit["SM_HPS"] == '{"epochs":5,"lr":0.02}' and toolkit["SM_HP_LR"] == "0.02"
    assert toolkit["SM_OUTPUT_DATA_DIR"] == str(tmp_path / "output" / "data")


def test_every_match_is_one_step_of_its_metric_curve() -> None:
    reader = MetricReader(
        [
            MetricDefinition(Name="accuracy", Regex=r"val_accuracy: ([0-9.]+)"),
            MetricDefinition(Name="loss", Regex=r"loss: ([0-9.eE+-]+|nan)"),
        ]
    )
    assert reader.feed("epoch 1 loss: 2.5e-1 val_accuracy: 0.5") == [("accuracy", 1, 0.5), ("loss", 1, 0.25)]
    assert reader.feed("nothing to see") == []
    assert reader.feed("version 1.2.3 val_accuracy: 1.2.3") == []  # not a number: skipped, not a failure
    assert reader.feed("val_accuracy: 0.75") == [("accuracy", 2, 0.75)]
    assert reader.feed("loss: nan")[0][:2] == ("loss", 2)
    assert reader.curves["accuracy"] == [(1, 0.5), (2, 0.75)]
    assert reader.last("accuracy") == 0.75 and reader.last("missing") is None
    assert math.isnan(reader.final_metrics()["loss"])


def test_exit_descriptions() -> None:
    assert describe_exit(2) == "exit code 2"
    assert describe_exit(-9) == "killed by SIGKILL"
    assert describe_exit(-11) == "killed by SIGSEGV"
