"""The config model: one representation of every range vocabulary, aliases users bring, and the values
every layer derives from it (fixed hyperparameters, sweep name, config hash)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from hpo_flow.adapters.errors import ConfigError
from hpo_flow.adapters.spec import (
    EarlyStoppingPolicy,
    HpoConfig,
    Objective,
    RangeType,
    Scaling,
    Strategy,
    apply_overrides,
    load_config,
    load_yaml,
    parse_config,
    read_yaml,
)
from tests.helpers import config_dict, make_config

pytestmark = pytest.mark.unit

R = "tuning.hyperparameter_ranges"


def _problems(overrides: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as info:
        make_config(overrides)
    return [str(p) for p in info.value.problems]


def _range(spec: dict[str, Any]) -> Any:
    return make_config({f"{R}.x": spec}).tuning.hyperparameter_ranges["x"]


# ---------------------------------------------------------------- range vocabularies


@pytest.mark.parametrize(
    ("spec", "kind", "scaling", "step"),
    [
        ({"type": "continuous", "min": 0.1, "max": 1}, RangeType.continuous, Scaling.Auto, None),
        ({"type": "integer", "min": 1, "max": 9}, RangeType.integer, Scaling.Auto, None),
        ({"type": "categorical", "values": ["a", "b"]}, RangeType.categorical, Scaling.Auto, None),
        ({"type": "choice", "values": [16, 32]}, RangeType.categorical, Scaling.Auto, None),
        ({"type": "randint", "min": 0, "max": 5}, RangeType.integer, Scaling.Linear, None),
        ({"type": "uniform", "min": 0.9, "max": 0.99}, RangeType.continuous, Scaling.Linear, None),
        ({"type": "quniform", "min": 0.001, "max": 0.01, "q": 0.001}, RangeType.continuous, Scaling.Linear, 0.001),
        ({"type": "loguniform", "min": 1e-5, "max": 1e-1}, RangeType.continuous, Scaling.Logarithmic, None),
        ({"type": "qloguniform", "min": 32, "max": 128, "step": 2}, RangeType.continuous, Scaling.Logarithmic, 2),
        ({"type": "normal", "mu": 10, "sigma": 3}, RangeType.normal, Scaling.Auto, None),
        ({"type": "qnormal", "mu": 10, "sigma": 3, "q": 1}, RangeType.normal, Scaling.Auto, 1),
        ({"type": "lognormal", "mu": 0, "sigma": 1}, RangeType.lognormal, Scaling.Auto, None),
        ({"type": "qlognormal", "mu": 0, "sigma": 1, "step": 0.5}, RangeType.lognormal, Scaling.Auto, 0.5),
        (
            {"type": "Continuous", "min": 1, "max": 2, "scaling_type": "logarithmic"},
            RangeType.continuous,
            Scaling.Logarithmic,
            None,
        ),
    ],
    ids=lambda v: v["type"] if isinstance(v, dict) else None,
)
def test_every_vocabulary_maps_onto_one_representation(
    spec: dict[str, Any], kind: RangeType, scaling: Scaling, step: float | None
) -> None:
    r = _range(spec)
    assert (r.type, r.scaling_type, r.step) == (kind, scaling, step)
    assert r.written_as == spec["type"].lower()


def test_a_range_survives_a_dump_and_reload_unchanged() -> None:
    config = make_config(
        {
            f"{R}.wd": {"type": "qloguniform", "min": 1e-5, "max": 1e-2, "q": 1e-5, "log_base": 2},
            f"{R}.noise": {"type": "qnormal", "mu": 0, "sigma": 1, "q": 0.1},
            f"{R}.m": {"type": "uniform", "min": 0.9, "max": 0.99},
            "tuning.early_stopping": "median",
        }
    )
    again = parse_config(config.model_dump(by_alias=True, mode="json"))
    assert again == config
    assert again.sweep_name() == config.sweep_name()


def test_log_base_belongs_to_log_ranges_only() -> None:
    assert _range({"type": "loguniform", "min": 1, "max": 100, "log_base": 2}).log_base == 2
    assert _problems({f"{R}.x": {"type": "uniform", "min": 1, "max": 100, "log_base": 2}}) == [
        f"{R}.x.log_base: 2.0: only a logarithmic range has a log_base; remove it or use loguniform"
    ]
    assert _problems({f"{R}.x": {"type": "loguniform", "min": 1, "max": 100, "log_base": 1}}) == [
        f"{R}.x.log_base: 1.0: must be > 1; use 10, 2 or 2.718281828 (e)"
    ]


def test_q_and_step_are_one_thing() -> None:
    assert _range({"type": "integer", "min": 0, "max": 64, "q": 8}).grid_values() == [0, 8, 16, 24, 32, 40, 48, 56, 64]
    assert _problems({f"{R}.x": {"type": "quniform", "min": 0, "max": 1, "q": 0.1, "step": 0.1}}) == [
        f"{R}.x.q: 0.1: q and step are the same thing; give only one of them"
    ]


def test_a_type_that_implies_a_scaling_cannot_be_given_another() -> None:
    assert _problems({f"{R}.x": {"type": "loguniform", "min": 1, "max": 10, "scaling_type": "Linear"}}) == [
        f"{R}.x.scaling_type: 'Linear': loguniform is already Logarithmic; remove scaling_type, "
        "or pick the type that matches"
    ]


def test_normal_ranges_need_mu_and_a_positive_sigma() -> None:
    assert _problems({f"{R}.x": {"type": "normal", "mu": 1, "sigma": 0, "min": 0}}) == [
        f"{R}.x.sigma: 0.0: must be > 0; give the standard deviation as a positive number",
        f"{R}.x.min: 0.0: not used by a normal range; use mu and sigma",
    ]
    assert _problems({f"{R}.x": {"type": "qnormal", "sigma": 1}}) == [
        f"{R}.x.step: qnormal needs a step (its q), e.g. step: 0.001; or use the type without q",
        f"{R}.x.mu: a qnormal range needs mu (the mean); add mu:",
    ]


def test_values_that_reach_the_script_as_the_same_text_are_duplicates() -> None:
    assert _problems({f"{R}.batch_size.values": [16, "16"]}) == [
        f"{R}.batch_size.values.1: '16': duplicate categorical value (same as values.0); list each value once"
    ]


def test_integer_and_quantized_ranges_list_their_grid() -> None:
    assert _range({"type": "integer", "min": 1, "max": 4}).grid_values() == [1, 2, 3, 4]
    quantized = _range({"type": "quniform", "min": 0.1, "max": 0.3, "q": 0.1})
    assert quantized.is_finite and quantized.grid_values() == [0.1, 0.2, 0.3]
    assert _range({"type": "qloguniform", "min": 32, "max": 128, "step": 32}).is_integral


# ---------------------------------------------------------------- names users bring


@pytest.mark.parametrize(
    ("written", "objective"),
    [
        ("Maximize", Objective.Maximize),
        ("maximize", Objective.Maximize),
        ("MAXIMIZE", Objective.Maximize),  # Azure's PrimaryMetricGoal.MAXIMIZE
        ("max", Objective.Maximize),  # OpenVINO's mode
        ("Minimize", Objective.Minimize),
        ("minimize", Objective.Minimize),
        ("min", Objective.Minimize),
        (" Min ", Objective.Minimize),
    ],
)
def test_objective_type_accepts_every_spelling_of_the_goal(written: str, objective: Objective) -> None:
    assert make_config({"tuning.objective_type": written}).objective is objective


def test_strategy_backend_and_policy_names_ignore_case() -> None:
    config = make_config(
        {
            "tuning.strategy": "grid",
            "tuning.backend": "SageMaker",
            "tuning.early_stopping": {"policy": "Median_Stopping"},
            f"{R}.lr": {"type": "categorical", "values": [0.1, 0.01]},
        }
    )
    assert config.tuning.strategy is Strategy.Grid
    assert config.tuning.backend == "sagemaker"
    assert config.tuning.early_stopping.policy is EarlyStoppingPolicy.median


@pytest.mark.parametrize(
    ("written", "policy"),
    [(False, "off"), (None, "off"), (True, "auto"), ("asha", "asha"), ({"policy": False}, "off")],
)
def test_early_stopping_shorthands(written: Any, policy: str) -> None:
    assert make_config({"tuning.early_stopping": written}).tuning.early_stopping.policy.value == policy


def test_a_bandit_policy_needs_slack() -> None:
    assert _problems({"tuning.early_stopping": "bandit"}) == [
        "tuning.early_stopping.slack_factor: the bandit policy needs slack_factor or slack_amount; "
        "add slack_factor: 0.15"
    ]


@pytest.mark.parametrize(("written", "gpus"), [("auto", "auto"), ("AUTO", "auto"), ("none", None), ("0,1", [0, 1])])
def test_local_gpus_accepts_the_words_the_demo_config_uses(written: Any, gpus: Any) -> None:
    assert make_config({"backends.local.gpus": written}).backends.local.gpus == gpus


# ---------------------------------------------------------------- YAML as people write it


def test_sections_left_empty_mean_their_defaults(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(
        "project: p\n"
        "training:\n  entry_point: train.py\n  hyperparameters:\n"
        "  metric_definitions: [{Name: accuracy, Regex: 'accuracy: ([0-9.]+)'}]\n"
        "tuning:\n  objective_metric: accuracy\n  early_stopping:\n"
        "  hyperparameter_ranges: {lr: {type: uniform, min: 0.1, max: 0.2}}\n"
        "backends:\n  # sagemaker: ... everything commented out\n"
        "mlflow:\n"
    )
    config = load_config(path)
    assert config.training.hyperparameters == {}
    assert config.backends.local.gpus == "auto"
    assert config.mlflow.tracking_uri == "sqlite:///mlflow.db"
    assert config.tuning.early_stopping.policy is EarlyStoppingPolicy.off


def test_exponent_numbers_are_floats_as_in_yaml_1_2(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(
        "project: p\n"
        "training: {entry_point: t.py, hyperparameters: {lr: 1e-3, wd: 5E-4},"
        " metric_definitions: [{Name: a, Regex: 'a: (.+)'}]}\n"
        "tuning:\n  objective_metric: a\n"
        "  hyperparameter_ranges: {lr: {type: loguniform, min: 1e-5, max: 1e-1}, wd: {type: choice, values: [1e-4, 1e-3]}}\n"  # noqa: E501
    )
    config = load_config(path)
    assert load_yaml("x: [1e-3, 1.5E+2, '1e-3']") == {"x": [0.001, 150.0, "1e-3"]}
    assert config.training.hyperparameters == {"lr": 0.001, "wd": 0.0005}
    assert config.tuning.hyperparameter_ranges["lr"].min == 1e-5
    assert config.tuning.hyperparameter_ranges["wd"].values == [1e-4, 1e-3]


def test_overrides_read_values_as_yaml() -> None:
    data = apply_overrides(config_dict(), ["tuning.max_jobs=7", f"{R}.lr.min=1e-5", "project=other"])
    assert data["tuning"]["max_jobs"] == 7
    assert data["tuning"]["hyperparameter_ranges"]["lr"]["min"] == 1e-5
    assert parse_config(data).project == "other"


def test_duplicate_keys_are_problems_not_silently_dropped(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("project: p\nproject: q\ntraining: {}\n")
    with pytest.raises(ConfigError) as info:
        read_yaml(path)
    assert [str(p) for p in info.value.problems] == [
        "project: given twice (config.yaml lines 1 and 2); YAML keeps only the last one, so delete one of them"
    ]
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert len(info.value.problems) == 3  # the duplicate, then training.entry_point and tuning missing


def test_a_self_referencing_anchor_does_not_hang_or_crash(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("project: &a [*a]\n")
    with pytest.raises(ConfigError):
        load_config(path)


# ---------------------------------------------------------------- seed 000's tuning block

SEED_000_BLOCK = """\
tuning_config: {
    "tuning": {
    "enabled": True,
    "update_config": True,
    "max_jobs": 6,
    "max_parallel_jobs": 2,
    "objective_metric": "mAP_0.5",
    "objective_type": "Maximize",

    "hyperparameter_ranges": {
        "lr0": {
        "type": "continuous",
        "scaling_type": "Logarithmic",
        "min": 0.1,
        "max": 0.2,
        },
        "batch": {
        "type": "categorical",
        "values": [2, 4],
        },
        "optimizer": {
        "type": "categorical",
        "values": ["SGD", "Adam"],
        }
        }
    }
}
"""

SEED_000_TOP = """\
project: yolo
training:
  entry_point: entrypoint_trainer.py
  metric_definitions:
    - {Name: mAP_0.5, Regex: 'mAP@0\\.5: ([0-9\\.]+)'}
"""


def test_seed_000_tuning_block_loads_as_written(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(SEED_000_TOP + SEED_000_BLOCK)
    t = load_config(path).tuning
    assert (t.enabled, t.update_config, t.max_jobs, t.max_parallel_jobs) == (True, True, 6, 2)
    assert (t.objective_metric, t.objective_type) == ("mAP_0.5", Objective.Maximize)
    lr0, batch, optimizer = (t.hyperparameter_ranges[k] for k in ("lr0", "batch", "optimizer"))
    assert (lr0.type, lr0.scaling_type, lr0.min, lr0.max) == (RangeType.continuous, Scaling.Logarithmic, 0.1, 0.2)
    assert (batch.values, optimizer.values) == ([2, 4], ["SGD", "Adam"])
    # The same keys directly under `tuning:` give the same model.
    plain = read_yaml(path)
    plain["tuning"] = plain.pop("tuning_config")["tuning"]
    assert parse_config(plain).tuning == t


def test_seed_000_block_alone_says_what_is_missing(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(SEED_000_BLOCK)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert [p.path for p in info.value.problems] == ["project", "training"]


def test_tuning_given_twice_through_tuning_config_is_a_problem() -> None:
    data = config_dict()
    data["tuning_config"] = {"tuning": data["tuning"], "max_jobs": 3}
    with pytest.raises(ConfigError) as info:
        parse_config(data)
    assert [str(p) for p in info.value.problems] == [
        "tuning_config.tuning: 'tuning' is also given at the top level; keep one of them",
        "tuning_config.max_jobs: 3: unknown key; use one of: backends, mlflow, project, training, tuning",
    ]


# ---------------------------------------------------------------- tuned values that also have a fixed value


def test_a_tuned_hyperparameter_with_a_fixed_value_is_not_fixed() -> None:
    config = make_config()
    assert config.training.hyperparameters == {"epochs": 5, "lr": 0.01}  # lr is also tuned
    assert config.fixed_hyperparameters() == {"epochs": 5}


def test_write_back_of_a_tuned_value_keeps_the_sweep_name_and_hash() -> None:
    before = make_config()
    after = make_config({"training.hyperparameters.lr": 0.0042})  # what write-back does
    assert after.sweep_name() == before.sweep_name()
    assert after.config_hash() == before.config_hash()
    # ...but a truly fixed value, or the search itself, is a different sweep.
    assert make_config({"training.hyperparameters.epochs": 6}).config_hash() != before.config_hash()
    assert make_config({f"{R}.lr.max": 0.2}).config_hash() != before.config_hash()


def test_sweep_names_fit_every_backend() -> None:
    config = make_config({"tuning.base_tuning_job_name": "My_Job.v2"})
    name = config.sweep_name(max_length=32)
    assert name.startswith("My-Job-v2-") and len(name) <= 32
    fixed = make_config({"tuning.sweep_name": "abc-" + "d" * 40})
    assert fixed.sweep_name(max_length=4) == "abc"  # cut, and never ending in a hyphen
    assert _problems({"tuning.sweep_name": "-bad_name"}) == [
        "tuning.sweep_name: '-bad_name': is not allowed here; use letters, digits and hyphens, "
        "starting and ending with a letter or digit, e.g. digits-hpo-1"
    ]


def test_defaults_are_what_the_docs_say() -> None:
    config = HpoConfig.model_validate(
        {
            "project": "p",
            "training": {"entry_point": "t.py", "metric_definitions": [{"Name": "a", "Regex": "a: (.+)"}]},
            "tuning": {
                "objective_metric": "a",
                "hyperparameter_ranges": {"x": {"type": "integer", "min": 1, "max": 2}},
            },
        }
    )
    t = config.tuning
    assert (t.backend, t.strategy, t.max_jobs, t.max_parallel_jobs) == ("local", Strategy.Bayesian, 10, 1)
    assert (t.enabled, t.update_config, t.objective_type) == (True, False, Objective.Maximize)
    assert (config.experiment_name, config.registered_model_name, config.mlflow.alias) == ("p", "p", "challenger")
    assert math.isclose(t.poll_interval_seconds, 5.0)


def test_a_field_typed_as_a_union_gives_one_problem_not_one_per_member() -> None:
    # A safety net for fields added later without a validator of their own (spec's own unions have one).
    from pydantic import ValidationError

    from hpo_flow.adapters.spec import Strict, translate_errors

    class Section(Strict):
        limit: int | list[int] | None = None

    data = {"limit": "lots"}
    with pytest.raises(ValidationError) as info:
        Section.model_validate(data)
    assert [str(p) for p in translate_errors(info.value, Section, data)] == [
        "limit: 'lots': has the wrong type; must be a whole number or a list"
    ]
