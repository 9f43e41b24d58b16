"""training.arguments: a script's own command line, the way an Azure ML command writes it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from hpo_flow.adapters.errors import ConfigError, PlanError
from hpo_flow.adapters.spec import parse_config
from tests.helpers import config_dict

pytestmark = pytest.mark.unit

TEMPLATE = (
    "--lr=${{search_space.lr}} --batch ${{search_space.batch_size}} --epochs ${{inputs.epochs}} "
    "--data-dir ${{inputs.training}} 'a b'"
)
AZURE = {
    "subscription_id": "00000000-0000-0000-0000-000000000000",
    "resource_group": "rg",
    "workspace": "ws",
    "compute": "cpu",
    "environment": "azureml:env:1",
}


def _config(tmp_path: Path, arguments: Any = TEMPLATE, **more: Any) -> dict[str, Any]:
    data = tmp_path / "my data"
    data.mkdir(exist_ok=True)
    return config_dict(
        {
            "training.hyperparameters": {"epochs": 5},
            "training.inputs": {"training": {"local": str(data), "azure": "azureml:digits:1"}},
            "training.arguments": arguments,
            "backends": {"local": {"gpus": []}, "azure": AZURE},
            **more,
        }
    )


def _problems(data: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(data)
    return [str(p) for p in caught.value.problems]


def test_a_template_string_is_split_as_a_shell_would_without_a_shell(tmp_path: Path) -> None:
    spec = parse_config(_config(tmp_path))
    assert spec.training.arguments == [
        "--lr=${{search_space.lr}}",
        "--batch",
        "${{search_space.batch_size}}",
        "--epochs",
        "${{inputs.epochs}}",
        "--data-dir",
        "${{inputs.training}}",
        "a b",
    ]


def test_the_local_trial_gets_the_template_with_its_values_one_argument_each(tmp_path: Path) -> None:
    from hpo_flow.adapters.local.process import trial_command

    spec = parse_config(_config(tmp_path))
    argv = trial_command(spec, {"lr": 0.001, "batch_size": 32}, python="python")
    data = str((tmp_path / "my data").resolve())
    assert argv == ["python", "train.py", "--lr=0.001", "--batch", "32", "--epochs", "5", "--data-dir", data, "a b"]


def test_the_azure_command_gives_the_script_the_same_arguments(tmp_path: Path) -> None:
    """The sweep job's command, with Azure ML's substitutions made and run by bash as Azure ML runs
    it, hands the script exactly the argument list the local runner gives it."""
    from hpo_flow.adapters.azure import AzureMLAdapter
    from hpo_flow.adapters.local.process import trial_command

    spec = parse_config(_config(tmp_path))
    command = AzureMLAdapter().plan(spec)["trial"]["command"]
    data = str((tmp_path / "my data").resolve())
    filled = (
        command.replace("${{search_space.lr}}", "0.001")
        .replace("${{search_space.batch_size}}", "32")
        .replace("${{inputs.training}}", data)
    )
    assert "${{" not in filled
    show = f"{sys.executable} -c 'import json, sys; print(json.dumps(sys.argv[1:]))'"
    done = subprocess.run(
        ["bash", "-c", filled.replace("python -m hpo_flow.launch train.py", show, 1)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(done.stdout) == trial_command(spec, {"lr": 0.001, "batch_size": 32}, python="p")[2:]


def test_the_azure_trial_reads_a_user_flag_back_under_the_hyperparameter_name() -> None:
    from hpo_flow.adapters.azure.trials import flag_names

    command = (
        "python t.py --learning-rate '${{search_space.learning_rate}}' --reg '${{search_space.C}}' "
        "--x='${{search_space.x}}'"
    )
    assert flag_names(command) == {"learning_rate": "learning-rate", "x": "x"}  # C: its key is its name


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        (
            "--lr ${{search_space.lrr}} --batch ${{search_space.batch_size}} --epochs ${{inputs.epochs}} "
            "--data ${{inputs.training}}",
            ["'${{search_space.lrr}}': did you mean 'lr'?", "lr is tuned but never reaches the script"],
        ),
        (
            "--lr ${{search_space.lr}} --batch ${{search_space.batch_size}} --epochs ${{search_space.epochs}} "
            "--data ${{inputs.training}}",
            ["epochs is a fixed hyperparameter, not tuned; write ${{inputs.epochs}}"],
        ),
        (
            "--lr ${{search_space.lr}} --batch ${{search_space.batch_size}} --epochs ${{inputs.epochs}}",
            ["training is a data input but never reaches the script; add its flag and ${{inputs.training}}"],
        ),
        (
            "--lr ${{search_space.lr}} --batch ${{search_space.batch_size}} --data ${{inputs.training}}",
            [
                "epochs is a fixed hyperparameter but never reaches the script",
                "or remove it from training.hyperparameters",
            ],
        ),
        ("--lr 'unclosed", ["cannot split into arguments"]),
    ],
    ids=["typo", "fixed-as-tuned", "input-missing", "fixed-missing", "unclosed-quote"],
)
def test_a_template_that_would_lose_a_value_is_refused_with_the_fix(
    tmp_path: Path, arguments: str, expected: list[str]
) -> None:
    found = "\n".join(_problems(_config(tmp_path, arguments)))
    assert "training.arguments" in found
    for text in expected:
        assert text in found, found


def test_input_flags_and_a_template_are_not_both_taken(tmp_path: Path) -> None:
    found = "\n".join(_problems(_config(tmp_path, **{"training.input_flags": True})))
    assert "training.input_flags" in found and "remove input_flags" in found


def test_sagemaker_says_its_toolkit_writes_the_command_line(tmp_path: Path) -> None:
    from hpo_flow.adapters.sagemaker import SageMakerAdapter

    data = _config(tmp_path)
    data["training"]["inputs"]["training"]["sagemaker"] = "s3://bucket/data"
    data["backends"]["sagemaker"] = {
        "role": "arn:aws:iam::123456789012:role/SageMakerExecutionRole",
        "image_uri": "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3",
        "region": "us-east-1",
        "output_path": "s3://bucket/output",
    }
    with pytest.raises(PlanError) as refused:
        SageMakerAdapter().plan(parse_config(data))
    (problem,) = [p for p in refused.value.problems if p.path == "training.arguments"]
    assert "toolkit writes the command line itself" in problem.message and "--backend local or azure" in problem.message


def test_an_objective_with_no_regex_is_read_from_the_trials_run_unless_it_has_none(tmp_path: Path) -> None:
    from hpo_flow.adapters.local.search import local_problems
    from hpo_flow.adapters.trial_tracking import trial_tracking

    data = _config(tmp_path)
    assert trial_tracking(parse_config(data)) is None  # a regex reads the objective: no runs by default
    del data["training"]["metric_definitions"]
    assert trial_tracking(parse_config(data)) is not None
    assert not [p for p in local_problems(parse_config(data)) if p.path == "tuning.objective_metric"]
    data["mlflow"] = {"trial_runs": False}
    (problem,) = [p for p in local_problems(parse_config(data)) if p.path == "tuning.objective_metric"]
    assert "remove mlflow.trial_runs: false" in problem.message
