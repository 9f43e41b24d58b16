"""`hpo-flow validate` on bad configs: one line per problem (key path, bad value, fix), exit 2, no traceback."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from hpo_flow.cli import main
from tests.helpers import config_dict, write_config

pytestmark = pytest.mark.unit

R = "tuning.hyperparameter_ranges"
# The config loader uses libyaml's parser when PyYAML has it, which words this one error differently.
_HERE = "in this context" if yaml.__with_libyaml__ else "here"


def _with(overrides: dict[str, Any]) -> Callable[[Path], Path]:
    def build(tmp: Path) -> Path:
        return write_config(tmp / "config.yaml", config_dict(overrides))

    return build


def _without(*dotted: str) -> Callable[[Path], Path]:
    def build(tmp: Path) -> Path:
        data = config_dict()
        for key in dotted:
            node = data
            *parents, last = key.split(".")
            for part in parents:
                node = node[part]
            del node[last]
        return write_config(tmp / "config.yaml", data)

    return build


def _text(text: str) -> Callable[[Path], Path]:
    def build(tmp: Path) -> Path:
        path = tmp / "config.yaml"
        path.write_text(text)
        return path

    return build


_VALID_YAML = """\
project: p
training:
  entry_point: train.py
  metric_definitions:
    - {Name: accuracy, Regex: "accuracy: ([0-9.]+)"}
tuning:
  objective_metric: accuracy
  hyperparameter_ranges:
    lr: {type: continuous, min: 0.001, max: 0.1}
"""

# (id, how the file is made, the exact problem line(s) it must print). `{path}` is the config file's path.
BAD_CONFIGS: list[tuple[str, Callable[[Path], Path], list[str]]] = [
    (
        "unknown-top-level-key",
        _with({"projekt": "x"}),
        ["projekt: 'x': unknown key; did you mean 'project'?"],
    ),
    (
        "unknown-tuning-key",
        _with({"tuning.max_job": 3}),
        ["tuning.max_job: 3: unknown key; did you mean 'max_jobs'?"],
    ),
    (
        "unknown-range-key",
        _with({f"{R}.lr.mn": 0.1}),
        [f"{R}.lr.mn: 0.1: unknown key; did you mean 'min'?"],
    ),
    (
        "unknown-early-stopping-key",
        _with({"tuning.early_stopping": {"policy": "bandit", "slak_factor": 0.1, "slack_factor": 0.2}}),
        ["tuning.early_stopping.slak_factor: 0.1: unknown key; did you mean 'slack_factor'?"],
    ),
    (
        "unknown-backend-key",
        _with({"backends.sagemaker": {"rol": "arn:aws:iam::1:role/r"}}),
        ["backends.sagemaker.rol: 'arn:aws:iam::1:role/r': unknown key; did you mean 'role'?"],
    ),
    (
        "azure-key-name",
        _with({"tuning.max_total_runs": 100}),
        ["tuning.max_total_runs: 100: unknown key; hpo-flow calls this 'max_jobs'"],
    ),
    (
        "unknown-range-type",
        _with({f"{R}.lr.type": "continous"}),
        [
            f"{R}.lr.type: 'continous': unknown range type; use one of continuous, integer, categorical, choice, "
            "randint, uniform, quniform, loguniform, qloguniform, normal, qnormal, lognormal, qlognormal; "
            "did you mean 'continuous'?"
        ],
    ),
    (
        "unknown-strategy",
        _with({"tuning.strategy": "Bayes"}),
        ["tuning.strategy: 'Bayes': must be one of Bayesian, Random, Grid, Hyperband; did you mean 'Bayesian'?"],
    ),
    (
        "min-not-below-max",
        _with({f"{R}.lr.min": 0.5}),
        [f"{R}.lr.min: 0.5: must be less than max (0.1); lower min or raise max"],
    ),
    (
        "log-scale-min-zero",
        _with({f"{R}.lr.min": 0}),
        [f"{R}.lr.min: 0.0: a logarithmic range needs min > 0; use a small positive bound such as 1e-6"],
    ),
    (
        "reverse-log-max-above-one",
        _with({f"{R}.lr": {"type": "continuous", "min": 0.5, "max": 2, "scaling_type": "ReverseLogarithmic"}}),
        [f"{R}.lr.max: 2.0: ReverseLogarithmic needs 0 <= min < max < 1; lower max below 1 or use Logarithmic"],
    ),
    (
        "reverse-log-min-negative",
        _with({f"{R}.lr": {"type": "continuous", "min": -0.5, "max": 0.5, "scaling_type": "ReverseLogarithmic"}}),
        [f"{R}.lr.min: -0.5: ReverseLogarithmic needs 0 <= min < max < 1; raise min to 0 or more"],
    ),
    (
        "empty-categorical",
        _with({f"{R}.batch_size.values": []}),
        [f"{R}.batch_size.values: []: a categorical range needs a non-empty list of values, e.g. [16, 32, 64]"],
    ),
    (
        "duplicate-categorical",
        _with({f"{R}.batch_size.values": [16, 32, 16]}),
        [f"{R}.batch_size.values.2: 16: duplicate categorical value (same as values.0); list each value once"],
    ),
    (
        "step-not-positive",
        _with({f"{R}.hidden": {"type": "integer", "min": 8, "max": 64, "step": -8}}),
        [f"{R}.hidden.step: -8.0: must be > 0; use a positive step such as 0.001, or remove it"],
    ),
    (
        "step-larger-than-range",
        _with({f"{R}.hidden": {"type": "integer", "min": 8, "max": 64, "step": 100}}),
        [f"{R}.hidden.step: 100.0: larger than the range (max - min = 56); use a step <= 56"],
    ),
    (
        "q-type-without-step",
        _with({f"{R}.wd": {"type": "quniform", "min": 0.1, "max": 0.5}}),
        [f"{R}.wd.step: quniform needs a step (its q), e.g. step: 0.001; or use the type without q"],
    ),
    (
        "max-jobs-zero",
        _with({"tuning.max_jobs": 0}),
        ["tuning.max_jobs: 0: must be >= 1; set it to 1 or more"],
    ),
    (
        "max-parallel-jobs-zero",
        _with({"tuning.max_parallel_jobs": 0}),
        ["tuning.max_parallel_jobs: 0: must be >= 1; set it to 1 or more"],
    ),
    (
        "max-jobs-string",
        _with({"tuning.max_jobs": "ten"}),
        ["tuning.max_jobs: 'ten': must be a whole number; write it without quotes, e.g. 10"],
    ),
    (
        "max-jobs-boolean",
        _with({"tuning.max_jobs": True}),
        ["tuning.max_jobs: True: must be a number, not true; write the number itself"],
    ),
    (
        "objective-metric-not-defined",
        _with({"tuning.objective_metric": "acc"}),
        [
            "tuning.objective_metric: 'acc': no metric definition has this Name; did you mean 'accuracy'? Or add "
            '{Name: acc, Regex: "acc: ([0-9.]+)"} to training.metric_definitions'
        ],
    ),
    (
        "regex-does-not-compile",
        _with({"training.metric_definitions": [{"Name": "accuracy", "Regex": "accuracy: ([0-9."}]}),
        [
            "training.metric_definitions.0.Regex: 'accuracy: ([0-9.': regex does not compile "
            "(unterminated character set at position 11); escape special characters"
        ],
    ),
    (
        "regex-without-group",
        _with({"training.metric_definitions": [{"Name": "accuracy", "Regex": "accuracy: [0-9.]+"}]}),
        [
            "training.metric_definitions.0.Regex: 'accuracy: [0-9.]+': regex has no capture group; "
            'wrap the number in parentheses, e.g. "accuracy: ([0-9.]+)"'
        ],
    ),
    (
        "grid-continuous-without-step",
        _with({"tuning.strategy": "Grid"}),
        [
            f"{R}.lr.type: 'continuous': Grid needs a finite set of values; give this range a step, "
            "or make it categorical or integer"
        ],
    ),
    (
        "slack-factor-and-amount",
        _with({"tuning.early_stopping": {"policy": "bandit", "slack_factor": 0.1, "slack_amount": 0.2}}),
        ["tuning.early_stopping.slack_amount: 0.2: give slack_factor (relative) or slack_amount (absolute), not both"],
    ),
    (
        "nan-bound",
        _text(_VALID_YAML.replace("min: 0.001", "min: .nan")),
        [f"{R}.lr.min: nan: must be a finite number; NaN and infinity are not allowed, write a real bound"],
    ),
    (
        "infinite-bound",
        _text(_VALID_YAML.replace("max: 0.1", "max: .inf")),
        [f"{R}.lr.max: inf: must be a finite number; NaN and infinity are not allowed, write a real bound"],
    ),
    (
        "integer-range-fraction",
        _with({f"{R}.hidden": {"type": "integer", "min": 8.5, "max": 64}}),
        [f"{R}.hidden.min: 8.5: an integer range needs whole-number bounds; use 9"],
    ),
    (
        "bad-hyperparameter-name",
        _with({"training.hyperparameters": {"lr": 0.01, "learning rate": 0.1}}),
        [
            "training.hyperparameters.learning rate: 'learning rate': not a usable hyperparameter name; "
            "use letters, digits, _ . and -, starting with a letter or _"
        ],
    ),
    (
        "list-as-hyperparameter-value",
        _with({"training.hyperparameters.layers": [64, 64]}),
        ["training.hyperparameters.layers: [64, 64]: is a list; must be a number, a string or true/false"],
    ),
    (
        "date-read-by-yaml",
        _text(
            _VALID_YAML.replace(
                "  metric_definitions:", "  hyperparameters: {data_version: 2024-01-01}\n  metric_definitions:"
            )
        ),
        [
            "training.hyperparameters.data_version: datetime.date(2024, 1, 1): is a date (YAML reads 2024-01-01 "
            "as one); must be a number, a string or true/false; put it in quotes"
        ],
    ),
    (
        "python-tag",
        _text("project: !!python/object:os.system x\n"),
        [
            "{path}:1: YAML syntax error at line 1, column 10: could not determine a constructor for the tag "
            "'tag:yaml.org,2002:python/object:os.system'; remove the !!tag; a config is plain YAML"
        ],
    ),
    (
        "secret-value-masked",
        _with({"training.environment.API_TOKEN": ["abc123"]}),
        ["training.environment.API_TOKEN: '***': must be a string; put it in quotes"],
    ),
    (
        "url-password-masked",
        _with({"backends.local.storag": "postgresql://hpo:hunter2@db/hpo"}),
        ["backends.local.storag: 'postgresql://hpo:***@db/hpo': unknown key; did you mean 'storage'?"],
    ),
    (
        "missing-required-sections",
        _without("training", "tuning"),
        [
            "training: required key is missing; add `training: {entry_point: train.py, metric_definitions: [...]}`",
            "tuning: required key is missing; add `tuning: {objective_metric: accuracy, hyperparameter_ranges: {...}}`",
        ],
    ),
    (
        "null-section",
        _text(_VALID_YAML.split("tuning:")[0] + "tuning:\n"),
        [
            "tuning: None: is empty (null); give a mapping, e.g. "
            "`tuning: {objective_metric: accuracy, hyperparameter_ranges: {...}}`"
        ],
    ),
    (
        "gpus-word",
        _with({"backends.local.gpus": "all of them"}),
        [
            "backends.local.gpus: 'all of them': must be auto (every GPU nvidia-smi lists), none (CPU slots only) "
            "or a list of GPU indexes such as [0, 1]"
        ],
    ),
    (
        "yaml-syntax-error",
        _text("project: p\ntraining:\n  entry_point: train.py\n   source_dir: .\n"),
        [
            f"{{path}}:4: YAML syntax error at line 4, column 14: mapping values are not allowed {_HERE}; "
            "check the indentation and quoting on that line"
        ],
    ),
    (
        "python-assignment-as-in-seed-000",
        _text('tuning_config = {\n    "tuning": {\n    "enabled": True,\n    }\n}\n'),
        [
            f"{{path}}:2: YAML syntax error at line 2, column 13: mapping values are not allowed {_HERE}; "
            "this looks like Python (`tuning_config = ...`); write `tuning_config:` and keep the rest, "
            "or use plain YAML keys"
        ],
    ),
    (
        "duplicate-yaml-key",
        _text(_VALID_YAML + "    lr: {type: continuous, min: 0.01, max: 0.2}\n"),
        [
            f"{R}.lr: given twice (config.yaml lines 9 and 10); YAML keeps only the last one, so delete one of them",
        ],
    ),
    (
        "missing-file",
        lambda tmp: tmp / "nope.yaml",
        ["{path}: file not found; pass the path of your config.yaml"],
    ),
    (
        "directory-not-file",
        lambda tmp: tmp,
        ["{path}: is a directory; pass the path of the config.yaml file in it"],
    ),
    (
        "empty-file",
        _text("# nothing but a comment\n"),
        ["<config>: the config is empty; it needs project, training and tuning"],
    ),
    (
        "document-is-a-list",
        _text("- project: p\n- tuning: {}\n"),
        [
            "<config>: [{'project': 'p'}, {'tuning': {}}]: the config is a list; it must be a YAML mapping "
            "with project, training and tuning keys"
        ],
    ),
]


def _run(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str], str]:
    code = main(["validate", str(path)])
    captured = capsys.readouterr()
    problems = [line.strip() for line in captured.err.splitlines()[1:] if line.startswith("  ")]
    return code, problems, captured.out + captured.err


@pytest.mark.parametrize(("build", "expected"), [c[1:] for c in BAD_CONFIGS], ids=[c[0] for c in BAD_CONFIGS])
def test_bad_config_prints_one_line_per_problem_and_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], build: Callable[[Path], Path], expected: list[str]
) -> None:
    path = build(tmp_path)
    code, problems, output = _run(path, capsys)
    assert code == 2, output
    assert "Traceback" not in output
    assert problems == [line.replace("{path}", str(path)) for line in expected], output


def test_there_are_at_least_twenty_bad_config_cases() -> None:
    assert len({case_id for case_id, _, _ in BAD_CONFIGS}) == len(BAD_CONFIGS) >= 20


def test_every_problem_is_reported_at_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = config_dict(
        {
            "projekt": "typo",
            "tuning.max_jobs": 0,
            "tuning.strategy": "Grid",
            "tuning.objective_metric": "acc",
            f"{R}.lr.min": 0.5,
            f"{R}.batch_size.values": [16, 16],
            f"{R}.depth": {"type": "integer", "min": 1, "max": 4, "step": 9},
            "tuning.early_stopping": {"policy": "bandit", "slack_factor": 0.1, "slack_amount": 0.1},
            "training.metric_definitions": [
                {"Name": "accuracy", "Regex": "accuracy: [0-9.]+"},
                {"Name": "loss", "Regex": "loss: ("},
            ],
        }
    )
    code, problems, output = _run(write_config(tmp_path / "config.yaml", data), capsys)
    assert code == 2
    assert "Traceback" not in output
    assert output.splitlines()[0] == "config has 10 problems:"
    paths = sorted(p.split(":")[0] for p in problems)
    assert paths == sorted(
        [
            "projekt",
            "tuning.max_jobs",
            "tuning.objective_metric",
            f"{R}.lr.min",
            f"{R}.lr.type",  # Grid with a continuous range that has no step
            f"{R}.batch_size.values.1",
            f"{R}.depth.step",
            "tuning.early_stopping.slack_amount",
            "training.metric_definitions.0.Regex",
            "training.metric_definitions.1.Regex",
        ]
    )


def test_more_parallel_jobs_than_jobs_is_a_warning(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_config(tmp_path / "config.yaml", config_dict({"tuning.max_jobs": 2, "tuning.max_parallel_jobs": 5}))
    code = main(["validate", str(path)])
    captured = capsys.readouterr()
    assert code == 0
    assert "warning: tuning.max_parallel_jobs: 5: more than max_jobs (2); only 2 will run at once" in captured.err
    assert f"{path}: OK" in captured.out


def test_step_that_does_not_divide_the_range_is_a_warning(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_config(
        tmp_path / "config.yaml", config_dict({f"{R}.hidden": {"type": "integer", "min": 8, "max": 60, "step": 8}})
    )
    assert main(["validate", str(path)]) == 0
    err = capsys.readouterr().err
    assert f"warning: {R}.hidden.max: 60.0: not reachable from min in steps of 8; the largest value tried is 56" in err


def test_success_prints_a_summary_of_the_sweep(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = config_dict(
        {
            "tuning.max_runtime_seconds": 600,
            "tuning.early_stopping": {"policy": "bandit", "slack_factor": 0.15, "delay_evaluation": 10},
            f"{R}.wd": {"type": "qloguniform", "min": 0.0001, "max": 0.01, "q": 0.0001},
            "training.hyperparameters.hub_revision": "hf_secret",
        }
    )
    path = write_config(tmp_path / "config.yaml", data)
    assert main(["validate", str(path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"{path}: OK"
    text = "\n".join(out)
    assert "on local: Random, 4 trials, 2 at a time" in text
    assert "objective  maximize accuracy" in text
    assert "stopping   bandit (slack_factor 0.15, every 1, after 10)" in text
    assert "budget     600 s for the sweep" in text
    assert "lr          loguniform(0.0001, 0.1)" in text
    assert "batch_size  choice(16, 32, 64)" in text
    assert "wd          qloguniform(0.0001, 0.01, q=0.0001)" in text
    assert "fixed      epochs=5, hub_revision=hf_secret" in text  # lr is tuned, so not fixed


@pytest.mark.parametrize("command", [[], ["validate"], ["plan"], ["run"], ["worker"]])
def test_help_is_useful_for_every_command(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([*command, "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: hpo-flow")
    assert "config.yaml" in out
    if command:
        assert len(out.splitlines()) >= 8  # a description and every option, not just a usage line


def test_plan_exits_2_when_the_backend_cannot_run_the_config(capsys: pytest.CaptureFixture[str]) -> None:
    """Same answer as `hpo-flow run`: a refusal at plan time is a config problem, shown without a traceback."""
    demo_config = Path(__file__).resolve().parents[1] / "config.yaml"  # no sagemaker section
    assert main(["plan", str(demo_config), "--backend", "sagemaker"]) == 2
    err = capsys.readouterr().err
    assert "backends.sagemaker" in err and "Traceback" not in err
