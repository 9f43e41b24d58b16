"""The Azure ML plan: every config variant as a sweep job that the SDK's own schema loads and
serialises for REST, exact conversions checked with numbers, and every refusal explained."""

from __future__ import annotations

import io
import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from hpo_flow.adapters.azure.plan import sweep_job
from hpo_flow.adapters.errors import PlanError
from hpo_flow.adapters.spec import HpoConfig
from tests.azure.conftest import azure_backend
from tests.helpers import make_config

# azure-ai-ml 1.23 passes marshmallow's deprecated `context` on every schema it builds: its noise, not ours
pytestmark = [pytest.mark.unit, pytest.mark.filterwarnings("ignore::marshmallow.warnings.RemovedInMarshmallow4Warning")]

SEED_004 = Path(__file__).resolve().parents[2] / "examples" / "azure-hyperdrive" / "config.yaml"


def config(ranges: dict[str, Any] | None = None, **tuning: Any) -> HpoConfig:
    overrides: dict[str, Any] = {"backends.azure": azure_backend(), "tuning.random_seed": None}
    if ranges is not None:
        overrides["tuning.hyperparameter_ranges"] = ranges
    overrides.update({f"tuning.{k}": v for k, v in tuning.items()})
    return make_config(overrides)


def loaded(doc: dict[str, Any]) -> Any:
    """The plan as `az ml job create --file` reads it: YAML text through azure.ai.ml.load_job."""
    from azure.ai.ml import load_job

    return load_job(source=io.StringIO(yaml.safe_dump(doc, sort_keys=False)))


def rest(job: Any) -> dict[str, Any]:
    """The request body the SDK sends for this job (its REST serialisation)."""
    return job._to_rest_object().serialize()


def refusal(spec: HpoConfig) -> list[str]:
    with pytest.raises(PlanError) as info:
        sweep_job(spec)
    assert info.value.backend == "azure"
    return [str(p) for p in info.value.problems]


# --------------------------------------------------------------------------- seed 004 end to end


def test_seed_004_plan_from_the_cli_loads_into_the_sweep_job_the_notebook_describes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from azure.ai.ml.entities import CommandJob
    from azure.ai.ml.sweep import BanditPolicy, SweepJob, Uniform

    from hpo_flow.cli import main

    assert main(["plan", str(SEED_004), "--backend", "azure", "--format", "yaml"]) == 0
    doc = yaml.safe_load(capsys.readouterr().out)
    job = loaded(doc)
    assert isinstance(job, SweepJob) and isinstance(job.trial, CommandJob | object)
    assert job.search_space["learning_rate"] == Uniform(min_value=0.0005, max_value=0.005)
    assert job.search_space["momentum"] == Uniform(min_value=0.9, max_value=0.99)
    assert isinstance(job.early_termination, BanditPolicy)
    assert (job.early_termination.slack_factor, job.early_termination.evaluation_interval) == (0.15, 1)
    assert job.early_termination.delay_evaluation == 10
    assert (job.limits.max_total_trials, job.limits.max_concurrent_trials) == (100, 4)
    assert (job.objective.goal, job.objective.primary_metric) == ("maximize", "accuracy")
    assert job.sampling_algorithm.type == "random"
    assert "--learning_rate '${{search_space.learning_rate}}'" in job.trial.command
    assert "--num_epochs 30" in job.trial.command and "--data_dir '${{inputs.data_dir}}'" in job.trial.command
    assert job.trial.command.startswith("HPO_INPUT_DATA_DIR='${{inputs.data_dir}}' ")
    assert doc["$schema"].endswith("sweepJob.schema.json") and doc["type"] == "sweep"


def test_the_plan_loads_into_a_sweep_job_equal_to_the_one_built_with_the_sdk() -> None:
    """Round trip: YAML -> load_job equals the job written with command(...)(...).sweep(...)."""
    from azure.ai.ml import Input, command
    from azure.ai.ml.sweep import BanditPolicy, Choice, LogUniform

    spec = config(early_stopping={"policy": "bandit", "slack_amount": 0.05, "delay_evaluation": 2})
    doc = sweep_job(spec)
    job = loaded(doc)

    # the SDK's builder: a command with inputs, called with distributions, then .sweep()
    trial = command(
        code=spec.training.source_dir,
        command=doc["trial"]["command"].replace("${{search_space.", "${{inputs."),
        environment="azureml:sklearn-env:3",
        compute="azureml:cpu-cluster",
        inputs={"data": Input(type="uri_folder", path="azureml:digits:1"), "lr": 0.01, "batch_size": 16},
        environment_variables={
            "HPO_MODEL_DIR": "outputs/model",
            "SM_MODEL_DIR": "outputs/model",
            "HPO_FIXED_HYPERPARAMETERS": '{"epochs":5}',
            "HPO_METRIC_DEFINITIONS": '[{"Name":"accuracy","Regex":"accuracy: ([0-9.]+)"},'
            '{"Name":"loss","Regex":"loss: ([0-9.eE+-]+)"}]',
        },
        instance_count=1,
        experiment_name="unit-proj",
    )
    node = trial(lr=LogUniform(math.log(1e-4), math.log(0.1)), batch_size=Choice([16, 32, 64])).sweep(
        sampling_algorithm="random",
        primary_metric="accuracy",
        goal="Maximize",
        max_total_trials=4,
        max_concurrent_trials=2,
        early_termination_policy=BanditPolicy(slack_amount=0.05, evaluation_interval=1, delay_evaluation=2),
    )
    built = node._to_job()
    built.name, built.display_name, built.description = doc["name"], doc["display_name"], doc["description"]
    built.tags = doc["tags"]

    ours, theirs = rest(job)["properties"], rest(built)["properties"]
    for key in ("searchSpace", "samplingAlgorithm", "limits"):
        assert ours[key] == theirs[key], key
    # the YAML loader keeps a data asset as name:version, the builder as azureml:name:version;
    # submission resolves both to the same ARM id
    assert _asset_names(ours["inputs"]) == _asset_names(theirs["inputs"])
    # the SDK's YAML loader fills the unused slack with 0.0 and keeps the goal's case; its builder
    # leaves the slack out and lowers the case: the same request either way
    assert _unset_zero(ours["earlyTermination"]) == _unset_zero(theirs["earlyTermination"])
    assert {k: str(v).lower() for k, v in ours["objective"].items()} == theirs["objective"]
    assert ours["trial"]["command"] == theirs["trial"]["command"]
    assert ours["trial"]["environmentVariables"] == theirs["trial"]["environmentVariables"]
    assert ours["tags"] == theirs["tags"] and ours["experimentName"] == "unit-proj"
    # and the SDK's own YAML form of the loaded job loads back to the same request
    again = loaded(json.loads(json.dumps(job._to_dict())))  # plain dicts: the SDK dumps OrderedDicts
    assert rest(again)["properties"]["searchSpace"] == ours["searchSpace"]
    assert rest(again)["properties"]["trial"]["command"] == ours["trial"]["command"]


def _asset_names(inputs: dict[str, Any]) -> dict[str, Any]:
    return {k: {**v, "uri": v["uri"].removeprefix("azureml:")} for k, v in inputs.items()}


def _unset_zero(policy: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in policy.items() if not (k.startswith("slack") and v == 0)}


# --------------------------------------------------------------------------- every variant


VARIANTS: dict[str, HpoConfig] = {}


def _variants() -> dict[str, HpoConfig]:
    if VARIANTS:
        return VARIANTS
    every_kind = {
        "a": {"type": "continuous", "min": 0.1, "max": 0.9},
        "b": {"type": "continuous", "min": 1e-5, "max": 1e-1, "scaling_type": "Logarithmic", "log_base": 10},
        "c": {"type": "quniform", "min": 0.2, "max": 1.0, "q": 0.2},
        "d": {"type": "qloguniform", "min": 10, "max": 1000, "q": 10},
        "e": {"type": "integer", "min": 0, "max": 9},
        "f": {"type": "integer", "min": 16, "max": 256},
        "g": {"type": "integer", "min": 1, "max": 1024, "scaling_type": "Logarithmic"},
        "h": {"type": "normal", "mu": 0.5, "sigma": 0.1},
        "i": {"type": "qnormal", "mu": 64, "sigma": 8, "q": 8},
        "j": {"type": "lognormal", "mu": -4.6, "sigma": 0.5},
        "k": {"type": "qlognormal", "mu": 3.0, "sigma": 0.5, "q": 1},
        "l": {"type": "choice", "values": ["adam", "sgd", 0.5, 3]},
        "m": {"type": "randint", "min": 0, "max": 4},
    }
    bayes_ranges = {k: every_kind[k] for k in ("a", "c", "f", "l")}
    grid_ranges = {
        "c": every_kind["c"],
        "f": {"type": "integer", "min": 1, "max": 3},
        "l": every_kind["l"],
    }
    VARIANTS.update(
        {
            "random+bandit-factor": config(every_kind, strategy="Random", random_seed=7),
            "random+bandit-amount": config(
                every_kind, strategy="Random", early_stopping={"policy": "bandit", "slack_amount": 0.02}
            ),
            "random+median": config(every_kind, strategy="Random", early_stopping="median"),
            "random+truncation": config(
                every_kind,
                strategy="Random",
                early_stopping={"policy": "truncation", "truncation_percentage": 20, "delay_evaluation": 3},
            ),
            "random+auto": config(every_kind, strategy="Random", early_stopping="auto"),
            "grid+median": config(grid_ranges, strategy="Grid", early_stopping="median"),
            "bayesian": config(bayes_ranges, strategy="Bayesian"),
            "limits": config(max_runtime_seconds=3600, trial_timeout_seconds=600, max_parallel_jobs=9),
            "serverless+inputs": make_config(
                {
                    "backends.azure": azure_backend(
                        compute=None,
                        instance_count=2,
                        inputs={
                            "train": "uri_file:azureml:digits-csv:2",
                            "extra": "https://example.org/data/train.csv",
                            "folder": "azureml://datastores/workspaceblobstore/paths/digits/",
                        },
                        environment_variables={"LOG_LEVEL": "debug"},
                        tags={"team": "vision"},
                        experiment_name="birds",
                    ),
                    "training.environment": {"OMP_NUM_THREADS": "1"},
                    "training.hyperparameters": {"epochs": 5, "note": "two words"},
                }
            ),
        }
    )
    VARIANTS["random+bandit-factor"] = make_config(
        {
            "backends.azure": azure_backend(),
            "tuning.strategy": "Random",
            "tuning.hyperparameter_ranges": every_kind,
            "tuning.early_stopping": {"policy": "bandit", "slack_factor": 0.1, "delay_evaluation": 5},
        }
    )
    return VARIANTS


def test_every_variant_passes_the_sdk_schema_and_rest_serialisation() -> None:
    for label, spec in _variants().items():
        doc = sweep_job(spec)
        body = rest(loaded(doc))["properties"]
        assert body["jobType"] == "Sweep", label
        assert set(body["searchSpace"]) == {k.replace("-", "_") for k in spec.tuning.hyperparameter_ranges}, label
        assert body["limits"]["maxTotalTrials"] == spec.tuning.max_jobs, label
        assert body["objective"]["goal"].lower() == "maximize", label
        assert body["objective"]["primaryMetric"] == "accuracy", label


def test_distributions_policies_and_limits_are_the_exact_azure_forms() -> None:
    v = _variants()
    space = sweep_job(v["random+bandit-factor"])["search_space"]
    assert space["a"] == {"type": "uniform", "min_value": 0.1, "max_value": 0.9}
    # Azure's log bounds are natural-log exponents of ours: exp() gives our bounds back
    assert space["b"]["type"] == "loguniform"
    assert space["b"]["min_value"] == pytest.approx(-11.512925465)  # ln(1e-5)
    assert space["b"]["max_value"] == pytest.approx(-2.302585093)  # ln(0.1)
    assert math.exp(space["b"]["min_value"]) == pytest.approx(1e-5, rel=1e-12)
    assert math.exp(space["b"]["max_value"]) == pytest.approx(0.1, rel=1e-12)
    assert space["c"] == {"type": "quniform", "min_value": 0.2, "max_value": 1, "q": 0.2}
    assert space["d"]["type"] == "qloguniform" and space["d"]["q"] == 10
    assert space["d"]["min_value"] == pytest.approx(2.302585093) and space["d"]["max_value"] == pytest.approx(
        6.907755279
    )
    assert space["e"] == {"type": "randint", "upper": 10}  # [0, 10): 0..9, our inclusive max
    assert space["f"] == {"type": "quniform", "min_value": 16, "max_value": 256, "q": 1}
    assert space["g"]["type"] == "qloguniform" and space["g"]["q"] == 1
    assert space["g"]["min_value"] == 0 and space["g"]["max_value"] == pytest.approx(math.log(1024))
    assert space["h"] == {"type": "normal", "mu": 0.5, "sigma": 0.1}
    assert space["i"] == {"type": "qnormal", "mu": 64, "sigma": 8, "q": 8}
    # lognormal: mu and sigma are those of ln(value), in the config as in Azure: passed unchanged
    assert space["j"] == {"type": "lognormal", "mu": -4.6, "sigma": 0.5}
    assert space["k"] == {"type": "qlognormal", "mu": 3, "sigma": 0.5, "q": 1}
    assert space["l"] == {"type": "choice", "values": ["adam", "sgd", 0.5, 3]}
    assert space["m"] == {"type": "randint", "upper": 5}

    grid = sweep_job(v["grid+median"])
    assert grid["sampling_algorithm"] == {"type": "grid"}
    assert grid["search_space"]["c"] == {"type": "choice", "values": [0.2, 0.4, 0.6, 0.8, 1.0]}
    assert grid["search_space"]["f"] == {"type": "choice", "values": [1, 2, 3]}
    assert grid["early_termination"] == {"type": "median_stopping", "evaluation_interval": 1, "delay_evaluation": 0}

    bayes = sweep_job(v["bayesian"])
    assert bayes["sampling_algorithm"] == {"type": "bayesian"} and "early_termination" not in bayes
    assert bayes["search_space"]["f"]["type"] == "quniform"  # randint is not Bayesian-searchable

    assert sweep_job(v["random+bandit-factor"])["early_termination"] == {
        "type": "bandit",
        "slack_factor": 0.1,
        "evaluation_interval": 1,
        "delay_evaluation": 5,
    }
    assert sweep_job(v["random+bandit-amount"])["early_termination"]["slack_amount"] == 0.02
    assert sweep_job(v["random+truncation"])["early_termination"] == {
        "type": "truncation_selection",
        "truncation_percentage": 20,
        "evaluation_interval": 1,
        "delay_evaluation": 3,
    }
    # auto: Azure's documented conservative policy, median stopping every interval after 5
    assert sweep_job(v["random+auto"])["early_termination"] == {
        "type": "median_stopping",
        "evaluation_interval": 1,
        "delay_evaluation": 5,
    }
    assert sweep_job(v["random+bandit-amount"])["sampling_algorithm"] == {"type": "random"}
    assert sweep_job(config(strategy="Random", random_seed=7))["sampling_algorithm"] == {"type": "random", "seed": 7}
    assert sweep_job(v["limits"])["limits"] == {
        "max_total_trials": 4,
        "max_concurrent_trials": 4,
        "timeout": 3600,
        "trial_timeout": 600,
    }


def test_the_trial_carries_code_command_environment_inputs_and_tags() -> None:
    doc = sweep_job(_variants()["serverless+inputs"])
    trial = doc["trial"]
    assert "compute" not in doc  # no compute: Azure ML's serverless compute
    assert trial["resources"] == {"instance_count": 2}
    assert trial["environment"] == "azureml:sklearn-env:3"
    assert trial["environment_variables"] == {
        "OMP_NUM_THREADS": "1",
        "LOG_LEVEL": "debug",
        "HPO_MODEL_DIR": "outputs/model",
        "SM_MODEL_DIR": "outputs/model",
        "HPO_FIXED_HYPERPARAMETERS": '{"epochs":5,"note":"two words"}',
        "HPO_METRIC_DEFINITIONS": '[{"Name":"accuracy","Regex":"accuracy: ([0-9.]+)"},'
        '{"Name":"loss","Regex":"loss: ([0-9.eE+-]+)"}]',
    }
    inputs_env = " ".join(
        f"{var}='${{{{inputs.{name}}}}}'"
        for name in ("train", "extra", "folder")
        for var in (f"HPO_INPUT_{name.upper()}", f"SM_CHANNEL_{name.upper()}")
    )
    assert trial["command"] == (
        f"{inputs_env} python -m hpo_flow.launch train.py --lr '${{{{search_space.lr}}}}' "
        "--batch_size '${{search_space.batch_size}}' "
        "--epochs 5 --note 'two words' --train '${{inputs.train}}' --extra '${{inputs.extra}}' "
        "--folder '${{inputs.folder}}'"
    )
    assert doc["inputs"] == {
        "train": {"type": "uri_file", "path": "azureml:digits-csv:2"},
        "extra": {"type": "uri_file", "path": "https://example.org/data/train.csv"},
        "folder": {"type": "uri_folder", "path": "azureml://datastores/workspaceblobstore/paths/digits/"},
    }
    spec = _variants()["serverless+inputs"]
    assert doc["experiment_name"] == "birds"
    assert doc["tags"] == {
        "team": "vision",
        "hpo-flow.project": "unit-proj",
        "hpo-flow.config_hash": spec.config_hash(),
    }
    assert doc["name"] == spec.sweep_name() and doc["name"] == sweep_job(spec)["name"]


def test_names_azure_cannot_take_are_sampled_under_an_identifier_and_passed_as_written() -> None:
    spec = config({"learning-rate": {"type": "uniform", "min": 0.1, "max": 0.2}})
    doc = sweep_job(spec)
    assert doc["search_space"] == {"learning_rate": {"type": "uniform", "min_value": 0.1, "max_value": 0.2}}
    assert "--learning-rate '${{search_space.learning_rate}}'" in doc["trial"]["command"]
    rest(loaded(doc))
    fixed = make_config({"backends.azure": azure_backend(), "tuning.sweep_name": "digits-hpo-1"})
    assert sweep_job(fixed)["name"] == "digits-hpo-1"


# --------------------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    ("overrides", "path", "words"),
    [
        (
            {
                "tuning.hyperparameter_ranges.x": {
                    "type": "continuous",
                    "min": 0.9,
                    "max": 0.999,
                    "scaling_type": "ReverseLogarithmic",
                }
            },
            "tuning.hyperparameter_ranges.x.scaling_type",
            "min 0.001, max 0.1",
        ),
        ({"tuning.strategy": "Hyperband"}, "tuning.strategy", "strategy Random with early_stopping"),
        (
            {"tuning.strategy": "Bayesian", "tuning.early_stopping": "median"},
            "tuning.early_stopping.policy",
            "set policy: off",
        ),
        ({"tuning.strategy": "Bayesian"}, "tuning.hyperparameter_ranges.lr.scaling_type", "strategy Random"),
        (
            {"tuning.strategy": "Bayesian", "tuning.hyperparameter_ranges.n": {"type": "normal", "mu": 0, "sigma": 1}},
            "tuning.hyperparameter_ranges.n.type",
            "uniform and quniform",
        ),
        ({"tuning.early_stopping": "asha"}, "tuning.early_stopping.policy", "truncation"),
        (
            {"tuning.hyperparameter_ranges.q": {"type": "quniform", "min": 0.1, "max": 1.0, "q": 0.2}},
            "tuning.hyperparameter_ranges.q.min",
            "use min 0",
        ),
        (
            {"tuning.hyperparameter_ranges.q": {"type": "integer", "min": 5, "max": 100, "step": 10}},
            "tuning.hyperparameter_ranges.q.min",
            "use min 0",
        ),
        (
            {"tuning.hyperparameter_ranges.q": {"type": "qloguniform", "min": 5, "max": 100, "q": 10}},
            "tuning.hyperparameter_ranges.q.min",
            "use min 10,",  # not 0: a log scale has no 0
        ),
        (
            {"tuning.hyperparameter_ranges.opt": {"type": "categorical", "values": ["sgd", "it's"]}},
            "tuning.hyperparameter_ranges.opt.values",
            "inside single quotes",
        ),
        (
            {"tuning.hyperparameter_ranges.flag": {"type": "categorical", "values": [True, False]}},
            "tuning.hyperparameter_ranges.flag.values",
            "'true', 'false'",
        ),
        ({"backends.azure.environment": None}, "backends.azure.environment", "azureml:my-env"),
        (
            {"tuning.hyperparameter_ranges.batch-size": {"type": "integer", "min": 1, "max": 4}},
            "tuning.hyperparameter_ranges.batch-size",
            "rename one",
        ),
        ({"tuning.warm_start": {"parents": ["old"]}}, "tuning.warm_start", "remove it"),
        ({"tuning.completion_criteria": {"target_objective_value": 0.99}}, "tuning.completion_criteria", "remove"),
        ({"tuning.max_failed_trials": 3}, "tuning.max_failed_trials", "remove it"),
        ({"backends.azure.inputs": {"lr": "azureml:x:1"}}, "backends.azure.inputs.lr", "rename one"),
    ],
)
def test_what_azure_cannot_run_exactly_is_refused_with_the_path_value_and_fix(
    overrides: dict[str, Any], path: str, words: str
) -> None:
    spec = make_config({"backends.azure": azure_backend(), "tuning.random_seed": None, **overrides})
    problems = refusal(spec)
    found = [p for p in problems if p.startswith(path + ":")]
    assert found, problems
    assert words in found[0], found[0]
    assert "s3cret" not in "\n".join(problems)


@pytest.mark.parametrize(
    ("written", "suggested"),
    [
        ({"type": "qloguniform", "min": 5, "max": 100, "q": 10}, {"min": 10}),
        ({"type": "qloguniform", "min": 0.5, "max": 8, "q": 1}, {"min": 1}),
        ({"type": "quniform", "min": 0.1, "max": 1.0, "q": 0.2}, {"min": 0}),
    ],
)
def test_the_suggested_bound_is_itself_accepted(written: dict[str, Any], suggested: dict[str, Any]) -> None:
    ranges = "tuning.hyperparameter_ranges.q"
    base = {"backends.azure": azure_backend(), "tuning.random_seed": None}
    problems = [p for p in refusal(make_config({**base, ranges: written})) if p.startswith(ranges)]
    assert problems and f"use min {suggested['min']}," in problems[0], problems
    sweep_job(make_config({**base, ranges: {**written, **suggested}}))  # no PlanError


def test_a_config_with_no_azure_section_says_what_to_add() -> None:
    problems = refusal(make_config())
    assert problems == [
        "backends.azure.environment: None: an Azure ML sweep needs the trial's environment, e.g. "
        '"azureml:my-env:3", "azureml:my-env@latest" or '
        '"azureml://registries/azureml/environments/sklearn-1.5/labels/latest"'
    ]


def test_importing_the_adapter_and_planning_import_no_azure_sdk() -> None:
    code = (
        "import sys, hpo_flow.adapters.azure\n"
        "from hpo_flow.adapters import get_adapter\n"
        "from tests.helpers import make_config\n"
        "get_adapter('azure').plan(make_config({'backends.azure.environment': 'azureml:e:1'}))\n"
        "print(sorted(m for m in sys.modules if m == 'azure' or m.startswith('azure.')))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=SEED_004.parents[2]
    )
    assert out.stdout.strip() == "[]"


def test_training_inputs_become_job_inputs_variables_and_optional_flags() -> None:
    base = {"backends.azure": azure_backend(inputs={}), "tuning.random_seed": None}
    inputs = {"images": {"azure": "azureml:images:2", "local": "data"}}
    doc = sweep_job(make_config({**base, "training.inputs": inputs}))
    assert doc["inputs"] == {"images": {"type": "uri_folder", "path": "azureml:images:2"}}
    command = doc["trial"]["command"]
    assert command.startswith("HPO_INPUT_IMAGES='${{inputs.images}}' SM_CHANNEL_IMAGES='${{inputs.images}}' python ")
    assert "--images" not in command  # a variable only, as on SageMaker, unless input_flags asks
    flagged = sweep_job(make_config({**base, "training.inputs": inputs, "training.input_flags": True}))
    assert flagged["trial"]["command"].endswith("--images '${{inputs.images}}'")
    missing = refusal(make_config({**base, "training.inputs": {"images": {"local": "data"}}}))
    assert any(p.startswith("training.inputs.images.azure:") and "data asset" in p for p in missing), missing


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("max_jobs", 1001, "tuning.max_jobs: 1001: Azure ML runs at most 1000 trials in one sweep job"),
        ("max_parallel_jobs", 1001, "tuning.max_parallel_jobs: 1001: Azure ML runs at most 1000 trials at once"),
    ],
)
def test_azure_service_limits_are_plan_problems(key: str, value: int, message: str) -> None:
    found = refusal(config(**{"max_jobs": 2000, key: value}))
    assert any(p.startswith(message) for p in found), found


def test_the_largest_sweep_azure_takes_passes_its_schema() -> None:
    doc = sweep_job(config(max_jobs=1000, max_parallel_jobs=1000))
    assert rest(loaded(doc))["properties"]["limits"]["maxTotalTrials"] == 1000


def test_plan_out_writes_a_job_az_ml_submits_as_it_is_from_anywhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`hpo-flow plan --backend azure --out DIR`: DIR/sweep.yml and DIR/code (the training code and the
    trial helper its command starts), read by the SDK's own `load_job` (what `az ml job create --file`
    runs) from another directory: every path resolves, the helper is in the code it uploads."""
    from azure.ai.ml import load_job

    from hpo_flow.cli import main

    repo = Path(__file__).resolve().parents[2]
    monkeypatch.chdir(repo)
    out = tmp_path / "by-hand"
    assert main(["plan", "examples/azure-hyperdrive/config.yaml", "--backend", "azure", "--out", str(out)]) == 0
    assert f"az ml job create --file {out / 'sweep.yml'}" in capsys.readouterr().out

    monkeypatch.chdir(tmp_path)
    job = load_job(source=out / "sweep.yml")
    code = (Path(job.base_path) / job.trial.code).resolve()  # where the SDK uploads it from
    assert code == (out / "code").resolve()
    assert (code / "train.py").is_file() and (code / "hpo_flow" / "launch.py").is_file()
    assert job.trial.command.split("python -m hpo_flow.launch train.py", 1)[1].startswith(" --")
    assert "conda_file: conda.yaml" in (out / "sweep.yml").read_text() and (out / "conda.yaml").is_file()


def test_plan_out_names_a_file_or_an_unwritable_place_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from hpo_flow.cli import main

    config = str(Path(__file__).resolve().parents[2] / "examples" / "azure-hyperdrive" / "config.yaml")
    taken = tmp_path / "notes.txt"
    taken.write_text("mine")
    assert main(["plan", config, "--backend", "azure", "--out", str(taken)]) == 1
    err = capsys.readouterr().err
    assert "a file is there; name a folder" in err and "Traceback" not in err
    assert taken.read_text() == "mine"
    blocked = taken / "under-a-file"  # a path no one can create a folder at
    assert main(["plan", config, "--backend", "azure", "--out", str(blocked)]) == 1
    err = capsys.readouterr().err
    assert "cannot write there" in err and "Traceback" not in err
