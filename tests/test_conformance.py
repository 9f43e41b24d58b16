"""One training script, launched the way each backend launches it, sees and reports the same.

For the seed-003-style SageMaker script (examples/sagemaker-mnist/mnist.py) and the seed-004-style
Azure ML script (examples/azure-hyperdrive/train.py), each with its example config:

- local: a real local sweep (LocalAdapter), one trial;
- SageMaker: the plan's CreateHyperParameterTuningJob request laid out as a training container's
  /opt/ml (hyperparameters.json with SageMaker's string values, inputdataconfig.json, the channels'
  data, the code from the sourcedir.tar.gz we upload), argv and environment built by the
  `sagemaker-training` toolkit's own Environment (to_cmd_args, to_env_vars), plus the request's
  Environment; metrics read from the output with the request's MetricDefinitions;
- Azure ML: the plan's trial command with ${{search_space.*}} and ${{inputs.*}} substituted, run by
  bash in the uploaded code with the job's environment variables and an MLflow run as Azure ML
  gives it, ./outputs uploaded to the run; the trial read back by the adapter's TrialReader.

All three give the same params, the same metric values, a saved model, and read the same data.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import yaml

from hpo_flow.adapters.local import LocalAdapter
from hpo_flow.adapters.local.metrics import MetricReader
from hpo_flow.adapters.port import Trial, TrialStatus
from hpo_flow.adapters.spec import HpoConfig, MetricDefinition, parse_config
from tests.contract import with_overrides
from tests.helpers import azure_job_run
from tests.local.sweep_helpers import finish
from tests.ray.cluster import LocalRayCluster

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"
BUCKET_DATA = "s3://sagemaker-us-east-1-123456789012/conformance/data"
SAGEMAKER = {
    "role": "arn:aws:iam::123456789012:role/SageMakerExecutionRole",
    "image_uri": "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3",
    "region": "us-east-1",
    "output_path": "s3://sagemaker-us-east-1-123456789012/conformance/output",
}
AZURE = {
    "subscription_id": "00000000-0000-0000-0000-000000000000",
    "resource_group": "ml-rg",
    "workspace": "ml-ws",
    "compute": "cpu-cluster",
    "environment": "azureml:sklearn-env:1",
}
EPOCHS = 3
# Every process gets the same: one BLAS thread (the same arithmetic), no user site.
QUIET = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONNOUSERSITE": "1"}


@dataclass(frozen=True)
class Case:
    example: str
    script: str
    input_name: str
    fixed: dict[str, Any]
    sampled: dict[str, Any]  # one value per range, so every backend samples the same
    model_file: str


CASES = {
    "seed-003 SageMaker script": Case(
        "sagemaker-mnist",
        "mnist.py",
        "training",
        fixed={"epochs": EPOCHS, "hidden": 16, "batch_size": 32},
        sampled={"learning_rate": 0.05, "optimizer": "adam"},
        model_file="model.joblib",
    ),
    "seed-004 Azure script": Case(
        "azure-hyperdrive",
        "train.py",
        "data_dir",
        fixed={"num_epochs": EPOCHS},
        sampled={"learning_rate": 0.004, "momentum": 0.95},
        model_file="MLmodel",
    ),
}


# --------------------------------------------------------------------------- the config and its data


def write_data(case: Case, directory: Path) -> None:
    """A data set of our own (a slice of the digits, shuffled), never the script's fallback."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    order = np.random.default_rng(7).permutation(len(digits.target))[:900]
    x, y = digits.data[order], digits.target[order]
    directory.mkdir(parents=True)
    np.savetxt(directory / "digits.csv", np.column_stack([x, y]), delimiter=",", fmt="%g")
    if case.input_name == "training":  # and Keras's mnist.npz layout, 8x8 images at 0..255
        images = (x.reshape(-1, 8, 8) * 16).clip(0, 255).astype(np.uint8)
        np.savez(directory / "mnist.npz", x_train=images[:600], y_train=y[:600], x_test=images[600:], y_test=y[600:])


def make_spec(case: Case, root: Path) -> tuple[HpoConfig, Path]:
    code = root / "code"
    shutil.copytree(EXAMPLES / case.example, code)
    data = root / "data"
    write_data(case, data)
    raw = yaml.safe_load((EXAMPLES / case.example / "config.yaml").read_text())
    raw = copy.deepcopy(raw)
    training = raw["training"]
    training["source_dir"] = str(code)
    training["hyperparameters"] = {**case.fixed, **case.sampled}
    training["environment"] = dict(QUIET)
    training["inputs"] = {case.input_name: {"local": str(data), "sagemaker": BUCKET_DATA, "azure": str(data)}}
    raw["tuning"].update(
        {
            "backend": "local",
            "strategy": "Random",
            "max_jobs": 1,
            "max_parallel_jobs": 1,
            "early_stopping": {"policy": "off"},
            "hyperparameter_ranges": {k: {"type": "categorical", "values": [v]} for k, v in case.sampled.items()},
        }
    )
    raw["tuning"].pop("base_tuning_job_name", None)
    raw["backends"] = {"local": {"gpus": []}, "sagemaker": SAGEMAKER, "azure": AZURE}
    return parse_config(raw), data


def readers(spec: HpoConfig) -> MetricReader:
    return MetricReader(list(spec.training.metric_definitions))


# --------------------------------------------------------------------------- (a) the local backend


def run_local(
    spec: HpoConfig, workdir: Path, monkeypatch: pytest.MonkeyPatch, adapter: LocalAdapter | None = None
) -> tuple[Trial, Path]:
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    adapter = adapter or LocalAdapter()
    state = finish(adapter, adapter.submit(spec), timeout=240)
    assert len(state.trials) == 1, (state.status, state.message)
    (trial,) = state.trials
    assert trial.status == TrialStatus.COMPLETED, trial.failure_reason
    assert trial.model_uri is not None
    return trial, Path(trial.model_uri)


def run_ray(
    spec: HpoConfig, workdir: Path, monkeypatch: pytest.MonkeyPatch, cluster: LocalRayCluster
) -> tuple[Trial, Path]:
    """The same sweep with its trial placed by Ray on the two-node cluster (the input read at its
    `local` place, which a node on this machine sees): the code reaches the node as Ray's working_dir."""
    from hpo_flow.adapters.ray.adapter import RayAdapter

    on_ray = with_overrides(
        spec,
        {
            "tuning.backend": "ray",
            "backends.ray": {"address": cluster.address, "gpus_per_trial": 0.5, "cpus_per_trial": 0},
        },
    )
    return run_local(on_ray, workdir, monkeypatch, RayAdapter())


# --------------------------------------------------------------------------- (b) SageMaker's toolkit

TOOLKIT = r"""
import json, sys
from sagemaker_training import environment
env = environment.Environment()
print(json.dumps({"argv": [str(a) for a in env.to_cmd_args()], "env": env.to_env_vars(),
                  "program": env.user_entry_point, "code": env.module_dir}))
"""


def in_container(value: str, base: Path) -> str:
    return str(base) + value[len("/opt/ml") :] if value == "/opt/ml" or value.startswith("/opt/ml/") else value


def run_sagemaker(spec: HpoConfig, data: Path, base: Path) -> tuple[Trial, Path]:
    """The training container: /opt/ml as SageMaker lays it out, then the toolkit starts the script."""
    from hpo_flow.adapters.sagemaker import SageMakerAdapter
    from hpo_flow.adapters.sagemaker.build import write_code_archive
    from hpo_flow.adapters.sagemaker.trials import context, trial_from_summary

    request = SageMakerAdapter().plan(spec)
    definition = request["TrainingJobDefinition"]
    ranges = request["HyperParameterTuningJobConfig"]["ParameterRanges"]
    tuned = {r["Name"]: r["Values"][0] for r in ranges.get("CategoricalParameterRanges", [])}
    config = base / "input" / "config"
    config.mkdir(parents=True)
    # SageMaker writes every hyperparameter as a string: the static ones and the tuner's choice (an
    # input passed as a flag names its container path: /opt/ml is `base` here)
    static = {k: in_container(v, base) for k, v in definition["StaticHyperParameters"].items()}
    (config / "hyperparameters.json").write_text(json.dumps({**static, **tuned}))
    channels = {c["ChannelName"]: {"TrainingInputMode": "File"} for c in definition["InputDataConfig"]}
    (config / "inputdataconfig.json").write_text(json.dumps(channels))
    (config / "resourceconfig.json").write_text(
        json.dumps({"current_host": "algo-1", "hosts": ["algo-1"], "network_interface_name": "eth0"})
    )
    for channel in channels:  # S3 downloaded into /opt/ml/input/data/<channel>: here, the test's data
        target = base / "input" / "data" / channel
        if channel == "sm_drivers":
            target.mkdir(parents=True)
        else:
            shutil.copytree(data, target)
    (base / "model").mkdir()
    (base / "output" / "data").mkdir(parents=True)  # SageMaker makes it; a script may write there unasked
    code = base / "code"  # what the toolkit unpacks from sagemaker_submit_directory
    archive = base / "sourcedir.tar.gz"
    write_code_archive(Path(spec.training.source_dir), archive)
    with tarfile.open(archive) as tar:
        tar.extractall(code, filter="data")
    assert (code / "hpo_flow" / "report.py").is_file()  # the helper came with the code

    toolkit_env = {**QUIET, "SAGEMAKER_BASE_DIR": str(base), "PATH": os.environ["PATH"]}
    done = subprocess.run(
        [sys.executable, "-c", TOOLKIT], env=toolkit_env, capture_output=True, text=True, check=True, timeout=120
    )
    mapped = json.loads(done.stdout.strip().splitlines()[-1])
    assert mapped["program"] == spec.training.entry_point
    # the request's Environment names container paths: /opt/ml is `base` here
    request_env = {k: in_container(v, base) for k, v in definition.get("Environment", {}).items()}
    env = {**toolkit_env, **mapped["env"], **request_env}
    env.pop("SAGEMAKER_BASE_DIR")
    trial_run = subprocess.run(
        [sys.executable, mapped["program"], *mapped["argv"]],
        cwd=code,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert trial_run.returncode == 0, trial_run.stderr[-3000:]
    reader = MetricReader([MetricDefinition(**m) for m in definition["AlgorithmSpecification"]["MetricDefinitions"]])
    for line in trial_run.stdout.splitlines():
        reader.feed(line)
    ctx = context(request)
    summary = {
        "TrainingJobName": "conformance-001",
        "TrainingJobStatus": "Completed",
        "TunedHyperParameters": tuned,
        "FinalHyperParameterTuningJobObjectiveMetric": {
            "MetricName": ctx.objective_metric,
            "Value": reader.last(ctx.objective_metric),
        },
    }
    trial = trial_from_summary(summary, ctx)
    # SageMaker's summary carries the objective only; every metric it read is in the training job
    trial = Trial(**{**trial.__dict__, "metrics": reader.final_metrics()})
    return trial, base / "model"


# --------------------------------------------------------------------------- (c) Azure ML's command job


def run_azure(spec: HpoConfig, data: Path, root: Path) -> tuple[Trial, Path]:

    from hpo_flow.adapters.azure import AzureMLAdapter
    from hpo_flow.adapters.azure.adapter import code_with_helper, load_sweep_job
    from hpo_flow.adapters.azure.trials import TrialReader, flag_names

    doc = AzureMLAdapter().plan(spec)
    job = load_sweep_job(doc)  # the SDK's own reading of it: the search space poll types values with
    sampled = {key: dist["values"][0] for key, dist in doc["search_space"].items()}
    command = doc["trial"]["command"]
    for key, value in sampled.items():
        command = command.replace("${{search_space." + key + "}}", str(value))
    for name in doc.get("inputs", {}):  # Azure ML mounts each input and writes its path in
        command = command.replace("${{inputs." + name + "}}", str(data))
    assert "${{" not in command

    client, run_id, job_run = azure_job_run(root, "conformance")
    env = {
        **QUIET,
        "PATH": os.environ["PATH"],
        **doc["trial"]["environment_variables"],
        **job_run,
        **{f"AZUREML_SWEEP_{k}": str(v) for k, v in sampled.items()},
    }
    command = command.replace("python ", f"{sys.executable} ", 1)  # the environment's python
    with code_with_helper(spec.training.source_dir) as code:
        done = subprocess.run(["bash", "-c", command], cwd=code, env=env, capture_output=True, text=True, timeout=240)
        assert done.returncode == 0, done.stderr[-3000:]
        outputs = Path(code) / "outputs"
        client.log_artifacts(run_id, str(outputs), "outputs")  # Azure ML uploads ./outputs at the end
        client.set_terminated(run_id, "FINISHED")
        model = root / "azure-model"
        shutil.copytree(outputs / "model", model)
    child = SimpleNamespace(
        name=run_id, status="Completed", tags={"hyperparameters": json.dumps(sampled)}, creation_context=None
    )
    objective = doc["objective"]["primary_metric"]
    trial = TrialReader(client).trial(
        child, TrialStatus.COMPLETED, job.search_space, flag_names(doc["trial"]["command"]), objective
    )
    assert trial.model_uri == f"azureml://jobs/{run_id}/outputs/artifacts/paths/outputs/model"
    return trial, model


# --------------------------------------------------------------------------- the check


def fallback_metrics(spec: HpoConfig, case: Case, root: Path) -> dict[str, float]:
    """What the script reports without its input: it trains on scikit-learn's own digits."""
    env = {**QUIET, "PATH": os.environ["PATH"], "HPO_MODEL_DIR": str(root / "fallback-model")}
    argv = [part for k, v in {**case.fixed, **case.sampled}.items() for part in (f"--{k}", str(v))]
    done = subprocess.run(
        [sys.executable, case.script, *argv],
        cwd=spec.training.source_dir,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=True,
    )
    reader = readers(spec)
    for line in done.stdout.splitlines():
        reader.feed(line)
    return reader.final_metrics()


@pytest.mark.timeout(900)
@pytest.mark.parametrize("name", list(CASES))
def test_one_script_reports_the_same_on_every_backend(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ray_cluster: LocalRayCluster
) -> None:
    case = CASES[name]
    spec, data = make_spec(case, tmp_path)
    local, local_model = run_local(spec, tmp_path / "local", monkeypatch)
    ray, ray_model = run_ray(spec, tmp_path / "ray", monkeypatch, ray_cluster)
    sagemaker, sm_model = run_sagemaker(spec, data, tmp_path / "opt-ml")
    azure, azure_model = run_azure(spec, data, tmp_path)

    assert local.params == ray.params == sagemaker.params == azure.params == case.sampled
    objective = spec.tuning.objective_metric
    assert set(local.metrics) == {d.Name for d in spec.training.metric_definitions}
    assert local.metrics == ray.metrics == sagemaker.metrics == azure.metrics, (
        local.metrics,
        ray.metrics,
        sagemaker.metrics,
        azure.metrics,
    )
    assert local.objective == ray.objective == sagemaker.objective == azure.objective == local.metrics[objective]
    # the curve too: one value per epoch, the same values
    assert [v for _, v in local.curves[objective]] == [v for _, v in azure.curves[objective]]
    assert [v for _, v in local.curves[objective]] == [v for _, v in ray.curves[objective]]
    assert len(local.curves[objective]) == EPOCHS
    for model in (local_model, ray_model, sm_model, azure_model):
        assert (model / case.model_file).is_file(), sorted(p.name for p in model.iterdir())
    # the same data, and it was read: the script's fallback data gives other numbers
    assert fallback_metrics(spec, case, tmp_path)[objective] != local.metrics[objective]


@pytest.mark.timeout(600)
def test_a_sagemaker_native_script_runs_unchanged_on_every_backend(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ray_cluster: LocalRayCluster
) -> None:
    """examples/sagemaker-native/train.py reads SM_HOSTS, SM_CURRENT_HOST, SM_NUM_GPUS,
    SM_CHANNEL_TRAINING, SM_MODEL_DIR and SM_OUTPUT_DATA_DIR (a KeyError without them), takes `-C`,
    and only prints its accuracy: on the local backend it gets them from hpo-flow, in the container
    from the toolkit, on Azure ML from the trial command's launcher (hpo_flow.launch), which also logs
    what the metric regex reads from the output to the trial's MLflow run, where Azure ML reads it."""
    case = Case(
        "sagemaker-native",
        "train.py",
        "training",
        fixed={},
        sampled={"C": 0.5, "max_iter": 200},
        model_file="model.joblib",
    )
    spec, data = make_spec(case, tmp_path)
    local, local_model = run_local(spec, tmp_path / "local", monkeypatch)
    ray, ray_model = run_ray(spec, tmp_path / "ray", monkeypatch, ray_cluster)
    sagemaker, sm_model = run_sagemaker(spec, data, tmp_path / "opt-ml")
    azure, azure_model = run_azure(spec, data, tmp_path)

    assert local.params == ray.params == sagemaker.params == azure.params == case.sampled
    assert local.metrics == ray.metrics == sagemaker.metrics == azure.metrics
    assert local.objective == ray.objective == sagemaker.objective == azure.objective is not None
    for model in (local_model, ray_model, sm_model, azure_model):
        assert (model / case.model_file).is_file()
    # SM_OUTPUT_DATA_DIR was the trial's own: what the script wrote there is beside its model
    evaluation = json.loads((local_model.parent / "output" / "data" / "evaluation.json").read_text())
    assert (evaluation["C"], evaluation["max_iter"]) == (0.5, 200)
    assert round(evaluation["accuracy"], 6) == local.objective


def test_the_toolkit_passes_a_one_letter_name_as_every_backend_does(tmp_path: Path) -> None:
    """SageMaker's toolkit writes `-C 0.5` for a one-letter hyperparameter: the local runner and the
    Azure ML command write it the same way, so one argparse script reads it everywhere."""
    from hpo_flow.adapters.azure import AzureMLAdapter
    from hpo_flow.adapters.local.process import trial_command

    base = tmp_path / "ml"
    (base / "input" / "config").mkdir(parents=True)
    (base / "input" / "config" / "hyperparameters.json").write_text(json.dumps({"C": "0.5", "epochs": "3"}))
    (base / "input" / "config" / "inputdataconfig.json").write_text("{}")
    (base / "input" / "config" / "resourceconfig.json").write_text(
        json.dumps({"current_host": "algo-1", "hosts": ["algo-1"], "network_interface_name": "eth0"})
    )
    env = {"SAGEMAKER_BASE_DIR": str(base), "PATH": os.environ["PATH"]}
    done = subprocess.run([sys.executable, "-c", TOOLKIT], env=env, capture_output=True, text=True, check=True)
    toolkit_argv = json.loads(done.stdout.strip().splitlines()[-1])["argv"]
    assert toolkit_argv == ["-C", "0.5", "--epochs", "3"]

    raw = yaml.safe_load((EXAMPLES / "azure-hyperdrive" / "config.yaml").read_text())
    raw["training"]["hyperparameters"] = {"epochs": 3}
    raw["training"].pop("inputs")
    raw["tuning"]["hyperparameter_ranges"] = {"C": {"type": "categorical", "values": [0.5]}}
    raw["backends"]["azure"]["environment"] = "azureml:sklearn-env:1"
    spec = parse_config(raw)
    local_argv = trial_command(spec, {"C": 0.5}, python="python")[2:]
    assert sorted(zip(local_argv[::2], local_argv[1::2], strict=False)) == sorted(
        zip(toolkit_argv[::2], toolkit_argv[1::2], strict=False)
    )
    command = AzureMLAdapter().plan(spec)["trial"]["command"].replace("${{search_space.C}}", "0.5")
    azure_argv = re.sub(r"^.*?train\.py ", "", command).replace("'", "").split()
    assert sorted(zip(azure_argv[::2], azure_argv[1::2], strict=False)) == sorted(
        zip(toolkit_argv[::2], toolkit_argv[1::2], strict=False)
    )


@pytest.mark.timeout(600)
def test_an_azure_native_script_runs_unchanged_on_local_as_on_azure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ray_cluster: LocalRayCluster
) -> None:
    """examples/azure-native/main.py, written as azureml-examples write them: argparse `--C` and
    `--iris-csv` (a hyphen), metrics through MLflow only (autolog and mlflow.log_metric, never
    printed), its model saved to ./outputs/model. Its command line is the config's
    training.arguments; locally the objective is read from the trial's own MLflow run, as Azure ML
    reads it from the job's. SageMaker's toolkit cannot call it so, and plan says why."""
    from hpo_flow.adapters.errors import PlanError
    from hpo_flow.adapters.sagemaker import SageMakerAdapter

    code = tmp_path / "code"
    shutil.copytree(EXAMPLES / "azure-native", code, ignore=shutil.ignore_patterns("iris.csv"))
    data = tmp_path / "data" / "flowers.csv"  # our own rows (a shuffled subset), not the example's file
    data.parent.mkdir()
    rows = (EXAMPLES / "azure-native" / "iris.csv").read_text().splitlines()
    order = np.random.default_rng(3).permutation(len(rows) - 1)[:120]
    data.write_text("\n".join([rows[0], *(rows[1 + i] for i in order)]) + "\n")
    raw = yaml.safe_load((EXAMPLES / "azure-native" / "config.yaml").read_text())
    raw["training"].update(
        source_dir=str(code), environment=dict(QUIET), inputs={"iris_csv": {"local": str(data), "azure": str(data)}}
    )
    raw["tuning"].update(
        max_jobs=1, max_parallel_jobs=1, hyperparameter_ranges={"C": {"type": "categorical", "values": [0.5]}}
    )
    raw["mlflow"] = {"tracking_uri": f"sqlite:///{tmp_path / 'local-mlflow.db'}"}
    raw["backends"] = {"local": {"gpus": []}, "sagemaker": SAGEMAKER, "azure": AZURE}
    spec = parse_config(raw)
    assert spec.training.metric_definitions == []  # nothing is read from the output

    local, local_model = run_local(spec, tmp_path / "local", monkeypatch)
    ray, ray_model = run_ray(spec, tmp_path / "ray", monkeypatch, ray_cluster)
    azure, azure_model = run_azure(spec, data, tmp_path)

    assert local.params == ray.params == azure.params == {"C": 0.5}
    assert local.objective == ray.objective == azure.objective is not None and 0.5 < local.objective <= 1.0
    assert local.metrics["accuracy"] == ray.metrics["accuracy"] == azure.metrics["accuracy"] == local.objective
    for model in (local_model, ray_model, azure_model):
        assert (model / "MLmodel").is_file(), sorted(p.name for p in model.iterdir())
    # The trial's own MLflow run holds what the script logged there: autolog's params and metrics.
    import mlflow

    assert local.tracking_run_id is not None
    run = mlflow.MlflowClient(spec.mlflow.tracking_uri).get_run(local.tracking_run_id)
    assert run.data.params["C"] == "0.5" and run.data.params["max_iter"] == "200"
    assert run.data.metrics["accuracy"] == local.objective and "training_accuracy_score" in run.data.metrics
    assert not (code / "outputs").exists() and not (code / "mlflow.db").exists(), "the trial wrote into the shared code"

    with pytest.raises(PlanError) as refused:
        SageMakerAdapter().plan(spec)
    paths = {p.path for p in refused.value.problems}
    assert {"training.arguments", "tuning.objective_metric"} <= paths, refused.value
