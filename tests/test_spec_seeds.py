"""The configs written from each seed document's example (examples/seeds/) validate, and say what the seed said."""

from __future__ import annotations

from pathlib import Path

import pytest

from hpo_flow.adapters.spec import (
    EarlyStoppingPolicy,
    HpoConfig,
    Objective,
    RangeType,
    Scaling,
    Strategy,
    load_config,
)
from hpo_flow.cli import main

pytestmark = pytest.mark.unit

SEEDS = Path(__file__).resolve().parent.parent / "examples" / "seeds"
SEED_CONFIGS = {
    "000": SEEDS / "000_yolo_sagemaker" / "config.yaml",
    "001": SEEDS / "001_openvino_hpo" / "config.yaml",
    "003": SEEDS / "003_sagemaker_mnist" / "config.yaml",
    "004": SEEDS / "004_azure_hyperdrive" / "config.yaml",
}


@pytest.mark.parametrize("seed", sorted(SEED_CONFIGS))
def test_seed_config_validates_through_the_cli(seed: str, capsys: pytest.CaptureFixture[str]) -> None:
    path = SEED_CONFIGS[seed]
    assert main(["validate", str(path)]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith(f"{path}: OK")
    assert captured.err == ""  # not even a warning


@pytest.mark.parametrize("seed", sorted(SEED_CONFIGS))
def test_seed_config_header_names_its_seed(seed: str) -> None:
    header = SEED_CONFIGS[seed].read_text().splitlines()[0]
    assert header.startswith(f"# Seed {seed} (")


def _load(seed: str) -> HpoConfig:
    return load_config(SEED_CONFIGS[seed])


def test_seed_000_yolo_sagemaker_tuner() -> None:
    config = _load("000")
    t = config.tuning
    assert (t.enabled, t.update_config, t.max_jobs, t.max_parallel_jobs) == (True, True, 6, 2)
    assert (t.objective_metric, t.objective_type, t.strategy) == ("mAP_0.5", Objective.Maximize, Strategy.Bayesian)
    assert (t.backend, t.base_tuning_job_name) == ("sagemaker", "yolo-hpt-test")
    lr0 = t.hyperparameter_ranges["lr0"]
    assert (lr0.type, lr0.scaling_type, lr0.min, lr0.max) == (RangeType.continuous, Scaling.Logarithmic, 0.1, 0.2)
    assert t.hyperparameter_ranges["batch"].values == [2, 4]
    assert t.hyperparameter_ranges["optimizer"].values == ["SGD", "Adam"]
    regex = config.training.metric("mAP_0.5")
    assert regex is not None and regex.search("mAP@0.5: 0.713").group(1) == "0.713"
    assert len(config.training.metric_definitions) == 6
    assert config.sweep_name(max_length=32).startswith("yolo-hpt-test-")


def test_seed_001_openvino_hpo() -> None:
    config = _load("001")
    t = config.tuning
    lr = t.hyperparameter_ranges["learning_parameters.learning_rate"]
    assert (lr.written_as, lr.type, lr.scaling_type) == ("quniform", RangeType.continuous, Scaling.Linear)
    assert (lr.min, lr.max, lr.step) == (0.001, 0.01, 0.001)
    batch = t.hyperparameter_ranges["learning_parameters.batch_size"]
    assert (batch.written_as, batch.scaling_type, batch.step, batch.log_base) == (
        "qloguniform",
        Scaling.Logarithmic,
        2,
        10,
    )
    assert batch.is_integral
    assert t.objective_type is Objective.Maximize  # written as OpenVINO's `max`
    assert t.max_runtime_seconds == 3600  # the time budget
    assert t.early_stopping.policy is EarlyStoppingPolicy.asha
    assert t.early_stopping.min_resource == 1
    assert config.backends.local.gpus == "auto"
    assert config.fixed_hyperparameters() == {"epochs": 30}


def test_seed_003_sagemaker_mnist() -> None:
    config = _load("003")
    t = config.tuning
    assert (t.max_jobs, t.max_parallel_jobs, t.objective_type) == (9, 3, Objective.Minimize)
    assert t.objective_metric == "loss"
    lr = t.hyperparameter_ranges["learning_rate"]
    assert (lr.type, lr.min, lr.max, lr.scaling_type) == (RangeType.continuous, 0.01, 0.2, Scaling.Auto)
    loss = config.training.metric("loss")
    assert loss is not None and loss.Regex == r"loss = ([0-9\.]+)"
    assert loss.search("step 100, loss = 0.2841").group(1) == "0.2841"
    assert config.training.hyperparameters == {"training_steps": 1000, "evaluation_steps": 100}
    sagemaker = config.backends.sagemaker
    assert sagemaker is not None and (sagemaker.instance_type, sagemaker.instance_count) == ("ml.m4.xlarge", 1)


def test_seed_004_azure_hyperdrive() -> None:
    config = _load("004")
    t = config.tuning
    assert (t.backend, t.strategy, t.max_jobs, t.max_parallel_jobs) == ("azure", Strategy.Random, 100, 4)
    assert (t.objective_metric, t.objective_type) == ("accuracy", Objective.Maximize)
    es = t.early_stopping
    assert (es.policy, es.slack_factor, es.evaluation_interval, es.delay_evaluation) == (
        EarlyStoppingPolicy.bandit,
        0.15,
        1,
        10,
    )
    for name, (low, high) in {"learning_rate": (0.0005, 0.005), "momentum": (0.9, 0.99)}.items():
        r = t.hyperparameter_ranges[name]
        assert (r.written_as, r.type, r.scaling_type, r.min, r.max) == (
            "uniform",
            RangeType.continuous,
            Scaling.Linear,
            low,
            high,
        )
    assert config.fixed_hyperparameters() == {"num_epochs": 30, "output_dir": "./outputs"}
