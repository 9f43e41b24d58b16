"""`python -m hpo_flow.launch <entry_point> [arguments...]`: run a training script with the SageMaker
training toolkit's environment where the backend does not set it (an Azure ML trial).

A script written for SageMaker reads `SM_HOSTS`, `SM_CHANNEL_<NAME>`, `SM_OUTPUT_DATA_DIR`, `SM_HPS`
... and fails with a KeyError without them. On Azure ML hpo-flow's trial command starts the script
through this launcher, which sets them from what the trial has: the fixed hyperparameters
(`HPO_FIXED_HYPERPARAMETERS`, JSON), the sampled ones (Azure ML's `AZUREML_SWEEP_<name>`), each input's
mount (`HPO_INPUT_<NAME>`), the model folder (`HPO_MODEL_DIR`) and the GPUs it sees, then replaces
itself with the script (the same process: signals, exit code and output are the script's own).
A variable the job already sets (`training.environment`) is left as it is.

Where the config reads metrics from the output (`training.metric_definitions`, here as
`HPO_METRIC_DEFINITIONS`) and the trial has an MLflow run, the script runs as a child instead and
each value those regexes read from a line it prints is logged to the run, which is where Azure ML
reads a sweep's objective: a script that only prints its metrics, as SageMaker reads them, is tuned
on Azure ML unchanged.

It ships with the training code and needs the standard library alone.
"""

from __future__ import annotations

import glob
import importlib.util
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Mapping

from hpo_flow.report import BRIDGED_VAR, MODEL_DIR_VAR, matched_number
from hpo_flow.toolkit_env import toolkit_environment

FIXED_VAR = "HPO_FIXED_HYPERPARAMETERS"  # the trial's fixed hyperparameters, as JSON
METRICS_VAR = "HPO_METRIC_DEFINITIONS"  # training.metric_definitions, as JSON
SWEEP_PREFIX = "AZUREML_SWEEP_"  # Azure ML gives a sweep trial each sampled value in one of these
INPUT_PREFIX = "HPO_INPUT_"
QUICK_MLFLOW = {"MLFLOW_HTTP_REQUEST_TIMEOUT": "10", "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1"}
MAX_FAILURES = 3  # in a row: then the tracking store is gone, and the script is left to run
OUTPUTS = "outputs"  # Azure ML uploads this folder: the toolkit's output folders go inside it


def environment(entry_point: str, environ: Mapping[str, str], cwd: str) -> dict[str, str]:
    """The variables to add: the toolkit's, for this trial, except those `environ` has already."""
    hyperparameters = dict(json.loads(environ.get(FIXED_VAR) or "{}"))
    for key, raw in environ.items():
        if key.startswith(SWEEP_PREFIX):
            hyperparameters[key[len(SWEEP_PREFIX) :]] = _value(raw)
    channels = {key[len(INPUT_PREFIX) :].lower(): path for key, path in environ.items() if key.startswith(INPUT_PREFIX)}
    model_dir = os.path.join(cwd, environ.get(MODEL_DIR_VAR) or os.path.join(OUTPUTS, "model"))
    added = toolkit_environment(
        hyperparameters=hyperparameters,
        channels=channels,
        entry_point=entry_point,
        module_dir=cwd,
        model_dir=model_dir,
        trial_dir=os.path.join(cwd, OUTPUTS),
        num_gpus=_gpus(environ),
    )
    return {key: value for key, value in added.items() if key not in environ}


def _value(raw: str) -> object:
    """A sampled value as the toolkit types SM_HPS (JSON where it parses: 0.5, 3, true), else the text."""
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def _gpus(environ: Mapping[str, str]) -> int:
    visible = environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return len([d for d in visible.split(",") if d.strip() and d.strip() != "-1"])
    return len(glob.glob("/dev/nvidia[0-9]*"))


def main(argv: list[str]) -> None:
    if not argv:
        sys.exit("usage: python -m hpo_flow.launch <entry_point> [arguments...]")
    cwd = os.getcwd()
    env = {**os.environ, **environment(argv[0], os.environ, cwd)}
    for folder in (env["SM_OUTPUT_DATA_DIR"], env["SM_OUTPUT_INTERMEDIATE_DIR"], env["SM_MODEL_DIR"]):
        os.makedirs(folder, exist_ok=True)  # the toolkit makes them; a script writes there unasked
    definitions = json.loads(env.get(METRICS_VAR) or "[]")
    if definitions and env.get("MLFLOW_RUN_ID") and importlib.util.find_spec("mlflow") is not None:
        env[BRIDGED_VAR] = json.dumps(sorted(d["Name"] for d in definitions))
        sys.exit(run_logging_metrics([sys.executable, *argv], env, definitions))
    os.execve(sys.executable, [sys.executable, *argv], env)


def run_logging_metrics(argv: list[str], env: dict[str, str], definitions: list[dict[str, str]]) -> int:
    """Run the script, its output passed through line by line, and log to its MLflow run each value a
    metric definition reads from that output, step by step (what the local runner and SageMaker read):
    Azure ML reads a sweep's objective from MLflow, and a script written for SageMaker only prints it."""
    # This process's own requests only (the script's environment is `env`, built before): an MLflow
    # outage must not stall the output the script writes into our pipe, and so the script itself.
    os.environ.update(QUICK_MLFLOW)
    from mlflow import MlflowClient

    client, run_id = MlflowClient(), env["MLFLOW_RUN_ID"]
    patterns = [(d["Name"], re.compile(d["Regex"])) for d in definitions]
    steps: dict[str, int] = {}
    failures = 0
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE)
    for sig in (signal.SIGTERM, signal.SIGINT):  # Azure ML's cancel and early termination reach the script
        signal.signal(sig, lambda number, _: proc.send_signal(number))
    assert proc.stdout is not None
    for raw in proc.stdout:
        line = raw.decode("utf-8", errors="replace")
        sys.stdout.write(line)
        sys.stdout.flush()
        for name, pattern in patterns:
            value = matched_number(pattern.search(line))
            if value is None:
                continue
            steps[name] = steps.get(name, 0) + 1
            if failures >= MAX_FAILURES:
                continue
            try:
                client.log_metric(run_id, name, value, step=steps[name])
                failures = 0
            except Exception as exc:  # the trial goes on; its output still holds every value
                failures += 1
                if failures == MAX_FAILURES:
                    print(
                        f"hpo_flow.launch: MLflow unreachable ({type(exc).__name__}); metrics no longer logged",
                        file=sys.stderr,
                    )
    code = proc.wait()
    return 128 - code if code < 0 else code


if __name__ == "__main__":
    main(sys.argv[1:])
