"""Hostile input gets one clean line, exit 2, at once (issue 12): alias bombs, huge documents, values
and numbers, bytes that are not UTF-8, limits no backend could run. Before, these hung validate/plan/run
or ended in a traceback."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from hpo_flow.adapters.errors import PlanError, Problem
from hpo_flow.adapters.spec import limits
from hpo_flow.cli import main
from tests.helpers import config_dict, write_config
from tests.sagemaker.conftest import sm_data

pytestmark = pytest.mark.unit

BOMB = """\
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
project: *i
"""

_BOMB_LINE = "[&a [{}], &b [{}], &c [{}], [{}]]".format(
    ",".join(["x"] * 10), ",".join(["*a"] * 10), ",".join(["*b"] * 10), ",".join(["*c"] * 10)
)  # 12,000 values from 130 characters


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, err


def _one_problem(err: str, *words: str) -> None:
    lines = [line for line in err.splitlines() if line.startswith("  ")]
    assert len(lines) == 1, err
    for word in words:
        assert word in lines[0], err
    assert len(lines[0]) < 400


@pytest.mark.timeout(20)  # each of these hung before
@pytest.mark.parametrize(
    ("text", "words"),
    [
        (BOMB, ["expands to more than", "aliases"]),
        ("project: &a [x, *a]\n", ["project", "refers to itself"]),
        ("project: " + "[" * 100 + "]" * 100 + "\n", ["nested more than"]),
        ("project: " + "x" * 20_000 + "\n", ["project", "20,000 characters"]),
        ("project: p\ntuning: {max_jobs: " + "9" * 5000 + "}\n", ["tuning.max_jobs", "5000-digit number"]),
        ("project: p\n" + "# padding\n" * 20_000, ["bytes", "at most 100,000"]),
    ],
    ids=["alias-bomb", "self-reference", "deep", "long-string", "long-int", "big-file"],
)
def test_a_hostile_document_is_one_clean_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, words: list[str]
) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    for command in ("validate", "plan", "run"):
        code, err = _cli(capsys, command, str(path))
        assert code == 2, err
        _one_problem(err, *words)


@pytest.mark.timeout(20)
@pytest.mark.parametrize(
    ("override", "words"),
    [
        ("tuning.max_jobs=" + "9" * 5000, ["--set tuning.max_jobs", "5000-digit number"]),
        ("project=caf\udcff", ["--set project", "not UTF-8"]),
        ("project=" + "x" * 20_000, ["--set project", "20,000 characters"]),
        ("project=" + _BOMB_LINE, ["--set project", "expands to more than 10,000"]),
    ],
    ids=["huge-int", "non-utf8", "long-string", "alias-bomb"],
)
def test_a_hostile_override_is_one_clean_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], override: str, words: list[str]
) -> None:
    config = write_config(tmp_path / "config.yaml", config_dict())
    code, err = _cli(capsys, "plan", str(config), "--set", override)
    assert code == 2, err
    _one_problem(err, *words)


@pytest.mark.parametrize(
    ("key", "value", "limit"),
    [
        ("tuning.max_jobs", 1e40, "far too large"),
        ("tuning.max_parallel_jobs", 1e20, "far too large"),
        ("tuning.max_parallel_jobs", 10**20, f"<= {limits.MAX_PARALLEL_JOBS}"),
        ("tuning.max_jobs", 10**7, f"<= {limits.MAX_JOBS}"),
    ],
)
def test_absurd_counts_fail_validate_instead_of_reaching_a_backend(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], key: str, value: float, limit: str
) -> None:
    config = write_config(tmp_path / "config.yaml", config_dict({key: value}))
    code, err = _cli(capsys, "validate", str(config))
    assert code == 2
    _one_problem(err, key, limit)


@pytest.mark.timeout(20)  # building 1e20 slots hung plan and run
def test_the_local_runner_refuses_more_parallel_trials_than_it_has_slots(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(
        tmp_path / "config.yaml", config_dict({"tuning.max_parallel_jobs": 5000, "tuning.max_jobs": 9000})
    )
    code, err = _cli(capsys, "plan", str(config), "--backend", "local")
    assert code == 2
    assert "tuning.max_parallel_jobs: 5000: the local runner runs at most 256 trials at once" in err


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("tuning.max_jobs", 751, "SageMaker runs at most 750 training jobs in one tuning job"),
        ("tuning.max_parallel_jobs", 101, "SageMaker runs at most 100 training jobs at once"),
    ],
)
def test_sagemaker_service_limits_are_plan_problems(key: str, value: int, message: str, tmp_path: Path) -> None:
    from hpo_flow.adapters.sagemaker.mapping import map_spec
    from hpo_flow.adapters.spec import parse_config

    (tmp_path / "train.py").write_text("print('accuracy: 1')\n")
    spec = parse_config(sm_data(tmp_path, {key: value, "tuning.max_jobs": max(value, 200)}))
    with pytest.raises(PlanError) as raised:
        map_spec(spec)
    assert any(p.path == key and message in p.message for p in raised.value.problems), raised.value


def test_a_problem_shows_a_bounded_value_whatever_it_holds() -> None:
    nested: Any = "x"
    for _ in range(9):
        nested = [nested] * 9
    shown = str(Problem("project", nested, "must be a string"))
    assert len(shown) < 200 and shown.endswith("must be a string")
    assert json.dumps(str(Problem("k", 10**100, "m")))


@pytest.mark.parametrize("workdir", ["/proc/hpo-nope/x", "{file}/x"], ids=["proc", "under-a-file"])
def test_an_unusable_workdir_is_a_plan_problem_not_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], workdir: str
) -> None:
    (tmp_path / "a-file").write_text("")
    workdir = workdir.format(file=tmp_path / "a-file")
    config = write_config(tmp_path / "config.yaml", config_dict({"backends.local.workdir": workdir}))
    for command in ("plan", "run"):
        code, err = _cli(capsys, command, str(config), "--backend", "local")
        assert code == 2, err
        assert f"backends.local.workdir: '{workdir}':" in err and "a directory this user can write" in err


@pytest.mark.parametrize("uri", ["", "   "])
def test_an_empty_tracking_uri_is_refused_instead_of_recording_to_mlruns(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], uri: str
) -> None:
    config = write_config(tmp_path / "config.yaml", config_dict({"mlflow.tracking_uri": uri}))
    code, err = _cli(capsys, "validate", str(config))
    assert code == 2
    _one_problem(err, "mlflow.tracking_uri", "sqlite:///mlflow.db")
    assert not (tmp_path / "mlruns").exists()


@pytest.mark.parametrize("backend", ["local", "ray", "sagemaker", "azure"])
@pytest.mark.parametrize(
    "place",
    [
        {"training.hyperparameters.api_token": "tok-hunter2-x"},
        {"training.hyperparameters.WANDB_KEY": "tok-hunter2-x"},
        {"tuning.hyperparameter_ranges.api_token": {"type": "categorical", "values": ["tok-hunter2-x"]}},
    ],
    ids=["fixed", "fixed-key", "tuned"],
)
def test_a_secret_named_hyperparameter_is_refused_on_every_backend_without_its_value(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], backend: str, place: dict[str, Any]
) -> None:
    # One rule: a hyperparameter is a command-line argument (ps, the cloud consoles) and an MLflow param.
    config = write_config(tmp_path / "config.yaml", config_dict({"tuning.backend": backend, **place}))
    for argv in (["validate", str(config)], ["plan", str(config), "--backend", backend]):
        assert main(argv) == 2
        out, err = capsys.readouterr()
        assert "tok-hunter2-x" not in out + err
        (key,) = place
        line = next(x for x in err.splitlines() if key in x)
        assert "looks like a secret" in line and "training.environment" in line, line


def test_a_config_path_that_is_not_utf8_is_printed_not_a_traceback(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    name = os.fsencode(tmp_path) + b"/caf\xe9.yaml"
    Path(os.fsdecode(name)).write_text(yaml.safe_dump(config_dict()))
    done = subprocess.run(
        [sys.executable, "-m", "hpo_flow.cli", "validate", name],
        capture_output=True,
        env={**os.environ, "LC_ALL": "C.UTF-8"},
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    assert b"Traceback" not in done.stderr and b"caf\\udce9.yaml: OK" in done.stdout


@pytest.mark.parametrize("command", ["validate", "plan"])
def test_a_url_password_in_any_value_is_masked_in_the_problem_and_its_fix(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Found by `make chaos`'s mutation: a metric name holding a URL came back, password and all,
    in the problem and in the metric definition it suggested."""
    url = "postgresql://u:cnry-pw-9d2b@h/db"
    config = write_config(tmp_path / "config.yaml", config_dict({"tuning.objective_metric": url}))
    code, err = _cli(capsys, command, str(config))
    assert code == 2
    assert "cnry-pw-9d2b" not in err and "postgresql://u:***@h/db" in err


@pytest.mark.parametrize("backend", ["local", "ray", "sagemaker", "azure"])
@pytest.mark.parametrize("entry", ["../x.py", "/opt/code/train.py", "src/../../x.py"])
def test_an_entry_point_outside_source_dir_is_refused_at_validate_on_every_backend(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], backend: str, entry: str
) -> None:
    # One path rule: the cloud backends upload source_dir only; locally it would run, and then fail in the cloud.
    config = write_config(
        tmp_path / "config.yaml", config_dict({"tuning.backend": backend, "training.entry_point": entry})
    )
    assert main(["validate", str(config)]) == 2
    line = next(x for x in capsys.readouterr().err.splitlines() if "training.entry_point" in x)
    assert repr(entry) in line and "inside training.source_dir" in line, line


def test_an_entry_point_in_a_subfolder_of_source_dir_is_fine(tmp_path: Path) -> None:
    config = write_config(tmp_path / "config.yaml", config_dict({"training.entry_point": "src/train.py"}))
    assert main(["validate", str(config)]) == 0
