"""The trial helper (hpo_flow.report): numbers a regex reads exactly, the model directory, data
inputs, and the validate warning when the objective's regex misreads what report() prints."""

from __future__ import annotations

import io
import math
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import hpo_flow
from hpo_flow.adapters.local.process import trial_command, trial_environment
from hpo_flow.report import GENERAL_REGEX_GROUP, format_number, input_path, model_dir, report
from tests.helpers import make_config

pytestmark = pytest.mark.unit

NON_NEGATIVE = re.compile(r"loss: ([0-9.]+)")  # the style our users write
SEED_003 = re.compile(r"loss = ([0-9\.]+)")
GENERAL = re.compile(r"loss: " + GENERAL_REGEX_GROUP)


def printed(value: float, sep: str = ": ") -> str:
    out = io.StringIO()
    report(stream=out, sep=sep, loss=value)
    return out.getvalue()


@settings(max_examples=2000, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_any_finite_float_reads_back_exactly(value: float) -> None:
    line = printed(value)
    general = GENERAL.search(line)
    assert general is not None and float(general.group(1)) == value, line
    if value >= 0:
        plain = NON_NEGATIVE.search(line)
        assert plain is not None and float(plain.group(1)) == value, line
        seed = SEED_003.search(printed(value, sep=" = "))
        assert seed is not None and float(seed.group(1)) == value
    else:
        assert line.startswith("loss: -")  # a sign only when negative


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (4.2e-05, "0.000042"),  # .6g printed 4.2e-05, which ([0-9.]+) read as 4.2
        (1234567.0, "1234567.0"),  # .6g printed 1.23457e+06
        (0.1 + 0.2, "0.30000000000000004"),  # full precision, not 0.3
        (-2.5, "-2.5"),
        (3, "3.0"),
        (1e22, "10000000000000000000000.0"),
    ],
)
def test_report_prints_positional_notation(value: float, text: str) -> None:
    assert printed(value) == f"loss: {text}\n"
    assert format_number(value) == text


def test_non_finite_values_are_not_read_as_numbers() -> None:
    for value in (math.nan, math.inf, -math.inf):
        assert NON_NEGATIVE.search(printed(value)) is None


def test_model_dir_and_input_path_follow_the_backend_variables(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("HPO_MODEL_DIR", "SM_MODEL_DIR", "HPO_INPUT_TRAINING", "SM_CHANNEL_TRAINING"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)
    assert model_dir() == "model" and (tmp_path / "model").is_dir()
    monkeypatch.setenv("SM_MODEL_DIR", str(tmp_path / "sm"))
    assert model_dir() == str(tmp_path / "sm")
    monkeypatch.setenv("HPO_MODEL_DIR", str(tmp_path / "hpo"))
    assert model_dir() == str(tmp_path / "hpo") and (tmp_path / "hpo").is_dir()

    assert input_path("training") is None and input_path("training", "data") == "data"
    monkeypatch.setenv("SM_CHANNEL_TRAINING", "/opt/ml/input/data/training")
    assert input_path("training") == "/opt/ml/input/data/training"
    monkeypatch.setenv("HPO_INPUT_TRAINING", "/mnt/azureml/training")
    assert input_path("training") == "/mnt/azureml/training"


def test_the_helper_imports_with_the_standard_library_alone(tmp_path: Path) -> None:
    from hpo_flow.adapters.trial_code import add_helper

    assert add_helper(tmp_path) == [
        "hpo_flow/__init__.py",
        "hpo_flow/report.py",
        "hpo_flow/toolkit_env.py",
        "hpo_flow/launch.py",
    ]
    code = (
        "import sys, hpo_flow; from hpo_flow.report import report; report(loss=4.2e-05); "
        "print(hpo_flow.__version__, sorted(m for m in sys.modules if m.startswith('hpo_flow')))"
    )
    # -S -I: no site-packages, no PYTHONPATH: what a bare training container has
    done = subprocess.run(
        [sys.executable, "-S", "-I", "-c", f"import sys; sys.path.insert(0, {str(tmp_path)!r}); {code}"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.splitlines() == ["loss: 0.000042", f"{hpo_flow.__version__} ['hpo_flow', 'hpo_flow.report']"]
    # what ships is a package of its own, not hpo-flow's __init__ with lazy names of modules left behind
    assert "__getattr__" not in (tmp_path / "hpo_flow" / "__init__.py").read_text()


# --------------------------------------------------------------------------- validate warnings


def warnings_for(regex: str, objective: str = "loss") -> list[str]:
    spec = make_config(
        {
            "training.metric_definitions": [{"Name": objective, "Regex": regex}],
            "tuning.objective_metric": objective,
            "tuning.objective_type": "Minimize",
        }
    )
    return [str(w) for w in spec.warnings() if w.path.startswith("training.metric_definitions")]


def test_validate_warns_when_the_objective_regex_misreads_report_lines() -> None:
    assert warnings_for("loss: ([0-9.]+)") == []
    assert warnings_for(r"loss = ([0-9\.]+)") == []
    (misread,) = warnings_for("loss: ([0-9]+)")
    assert "reads 0.0 from the line 'loss: 0.000042'" in misread and GENERAL_REGEX_GROUP in misread
    (negative,) = warnings_for("r2: ([0-9.]+)", objective="r2")
    assert "cannot read a negative value ('r2: -0.25')" in negative
    assert warnings_for("r2: " + GENERAL_REGEX_GROUP, objective="r2") == []
    assert warnings_for(r"val_loss=(\S+)") == []  # a format of the script's own: not report()'s to judge


# --------------------------------------------------------------------------- hyperparameter delivery


def test_one_letter_names_reach_the_script_as_sagemaker_passes_them(tmp_path: Path) -> None:
    spec = make_config(
        {
            "training.hyperparameters": {"C": 0.5, "epochs": 3},
            "tuning.hyperparameter_ranges": {"k": {"type": "integer", "min": 1, "max": 9}},
        }
    )
    argv = trial_command(spec, {"k": 4}, python="python")
    assert argv[2:] == ["-C", "0.5", "--epochs", "3", "-k", "4"]


def test_inputs_reach_a_local_trial_as_variables_and_optionally_as_flags(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").mkdir()
    overrides = {"training.inputs": {"training": {"local": "data", "sagemaker": "s3://b/d"}}}
    spec = make_config(overrides)
    env = trial_environment(spec, "trial-0000", tmp_path / "m", "", base={})
    assert env["HPO_INPUT_TRAINING"] == env["SM_CHANNEL_TRAINING"] == str(tmp_path / "data")
    assert "--training" not in trial_command(spec, {}, python="python")
    flagged = make_config({**overrides, "training.input_flags": True})
    assert trial_command(flagged, {}, python="python")[-2:] == ["--training", str(tmp_path / "data")]


def test_an_input_the_local_backend_cannot_reach_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from hpo_flow.adapters.local.search import local_problems

    monkeypatch.chdir(tmp_path)
    spec = make_config({"training.inputs": {"training": {"sagemaker": "s3://b/d"}, "extra": {"local": "nope"}}})
    problems = {p.path: p.message for p in local_problems(spec)}
    assert "the local backend needs this input too" in problems["training.inputs.training.local"]
    assert "no such file or folder" in problems["training.inputs.extra.local"]


def test_trials_under_another_interpreter_get_the_helper_on_their_path(tmp_path: Path) -> None:
    spec = make_config({"training.python": "/opt/other/bin/python"})
    env = trial_environment(spec, "trial-0000", tmp_path / "m", "", base={"PYTHONPATH": "/mine"})
    first, helper = env["PYTHONPATH"].split(":")
    assert first == "/mine"  # the user's own path first
    assert (Path(helper) / "hpo_flow" / "report.py").read_bytes() == Path(report.__code__.co_filename).read_bytes()
    assert sorted(p.name for p in Path(helper).iterdir()) == ["hpo_flow"]  # nothing else of hpo-flow's
    assert "PYTHONPATH" not in trial_environment(make_config(), "trial-0000", tmp_path / "m", "", base={})
