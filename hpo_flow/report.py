"""The trial side of hpo-flow: one small module a training script imports on every backend.

    from hpo_flow.report import input_path, model_dir, report

    data = input_path("training")              # HPO_INPUT_TRAINING (or SageMaker's SM_CHANNEL_TRAINING)
    report(step=epoch, accuracy=acc, loss=loss)
    model.save(model_dir())                    # HPO_MODEL_DIR (or SM_MODEL_DIR), else ./model

`report` prints one `name: value` line per metric (what `metric_definitions` regexes match: the
local runner and SageMaker read these) and, when an MLflow run is active or MLFLOW_RUN_ID is set
(Azure ML sets it), logs the metrics to MLflow too, which is where Azure ML sweeps read them.

Every finite number is printed in positional notation with its full precision (repr's digits,
never an exponent), a sign only when negative: 4.2e-05 prints 0.000042 and 1234567.0 prints
1234567.0, so `([0-9.]+)` reads a non-negative value exactly and GENERAL_REGEX reads any value.

The adapters ship this file with the trial's code, so it imports where hpo-flow is not
installed; it depends on the standard library alone and imports MLflow only when it is in use.
"""

from __future__ import annotations

import json
import math
import os
import sys
from decimal import Decimal
from typing import Any

# A capture group that reads every value report() prints, negative ones included.
GENERAL_REGEX_GROUP = r"(-?[0-9]+(?:\.[0-9]+)?)"
# What a trial finds in its environment, on every backend. The adapters set these names from here,
# so the script's side and the launcher's side cannot drift apart.
MODEL_DIR_VAR = "HPO_MODEL_DIR"
SAGEMAKER_MODEL_DIR_VAR = "SM_MODEL_DIR"  # the SageMaker training toolkit's name, set beside ours
MODEL_DIR_VARS = (MODEL_DIR_VAR, SAGEMAKER_MODEL_DIR_VAR)
TRIAL_ID_VAR = "HPO_TRIAL_ID"
# The metrics hpo_flow.launch reads from the printed lines and logs to MLflow itself (Azure ML trials).
BRIDGED_VAR = "HPO_METRICS_FROM_OUTPUT"


def input_vars(name: str) -> tuple[str, str]:
    """The variables that hold data input `name`'s path: ours, then the SageMaker toolkit's channel."""
    key = name.upper()
    return f"HPO_INPUT_{key}", f"SM_CHANNEL_{key}"


def format_number(value: float) -> str:
    """Positional notation with every significant digit of repr: what `([0-9.]+)` reads exactly."""
    number = float(value)
    if not math.isfinite(number):
        return repr(number)  # nan, inf, -inf: no regex of digits should read a diverged value as a number
    if number == 0:
        return "0.0"  # also -0.0: a sign a non-negative regex cannot read, on a value that has none
    text = format(Decimal(repr(number)), "f")
    return text if "." in text else text + ".0"


def report(step: int | None = None, *, stream: Any = None, sep: str = ": ", **metrics: float) -> None:
    """Print `name<sep>value` for each metric and log them to MLflow where a run is active.

    `sep` keeps a script's own line format (seed 003's `loss = 0.12` is `sep=" = "`)."""
    out = stream or sys.stdout
    for name, value in metrics.items():
        out.write(f"{name}{sep}{format_number(value)}\n")
    out.flush()
    _log_to_mlflow(metrics, step)


def matched_number(match: Any) -> float | None:
    """The number a metric regex's first group read from a line; None without a match or a number."""
    if match is None or match.group(1) is None:
        return None
    try:
        return float(match.group(1))
    except ValueError:
        return None


def model_dir(default: str = "model") -> str:
    """Where this trial saves its model: HPO_MODEL_DIR on every backend (SageMaker's SM_MODEL_DIR
    where only that is set), else `default`; the directory exists when this returns."""
    path = next((os.environ[v] for v in MODEL_DIR_VARS if os.environ.get(v)), default)
    os.makedirs(path, exist_ok=True)
    return path


def input_path(name: str, default: str | None = None) -> str | None:
    """Where the data input `name` (a key of training.inputs) is: HPO_INPUT_<NAME>, else SageMaker's
    SM_CHANNEL_<NAME>, else `default`."""
    for var in input_vars(name):
        if os.environ.get(var):
            return os.environ[var]
    return default


def _log_to_mlflow(metrics: dict[str, float], step: int | None) -> None:
    if "mlflow" not in sys.modules and not os.environ.get("MLFLOW_RUN_ID"):
        return
    try:
        import mlflow
    except ImportError:
        return
    if mlflow.active_run() is None and not os.environ.get("MLFLOW_RUN_ID"):
        return
    bridged = set(json.loads(os.environ.get(BRIDGED_VAR) or "[]"))  # logged once, by the launcher
    logged = {k: float(v) for k, v in metrics.items() if k not in bridged}
    if logged:
        mlflow.log_metrics(logged, step=step)
    _log_sweep_params(mlflow)


_SWEEP_PREFIX = "AZUREML_SWEEP_"  # Azure ML gives each sweep trial its sampled values in these
_params_logged: set[str] = set()


def _log_sweep_params(mlflow: Any) -> None:
    """Record an Azure ML trial's sampled values as the run's params, once per run, so that the
    MLflow UI shows them next to the metrics (the adapter itself reads the child job's values)."""
    run = mlflow.active_run()
    if run is None or run.info.run_id in _params_logged:
        return
    _params_logged.add(run.info.run_id)
    params = {
        key[len(_SWEEP_PREFIX) :]: value
        for key, value in os.environ.items()
        if key.startswith(_SWEEP_PREFIX) and "sig=" not in value  # never a SAS-signed input URL
    }
    if not params:
        return
    from mlflow.exceptions import MlflowException

    try:
        mlflow.log_params(params)
    except MlflowException as exc:  # the service logged it already, written differently: keep training
        print(f"hpo_flow.report: sweep values not logged as params ({type(exc).__name__})", file=sys.stderr)
