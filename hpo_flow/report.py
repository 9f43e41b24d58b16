"""Report metrics from a training script so that every backend reads them.

    from hpo_flow.report import report
    report(step=epoch, accuracy=acc, loss=loss)

prints `accuracy: 0.9731` lines (what `metric_definitions` regexes match: SageMaker and the
local runner read these) and, when an MLflow run is active or MLFLOW_RUN_ID is set (Azure ML
sets it), also logs the metrics to MLflow, which is where Azure ML sweeps read them.
Imports nothing heavy unless MLflow is actually in use.
"""

from __future__ import annotations

import os
import sys
from typing import Any


def report(step: int | None = None, *, stream: Any = None, **metrics: float) -> None:
    out = stream or sys.stdout
    for name, value in metrics.items():
        out.write(f"{name}: {float(value):.6g}\n")
    out.flush()
    _log_to_mlflow(metrics, step)


def _log_to_mlflow(metrics: dict[str, float], step: int | None) -> None:
    if "mlflow" not in sys.modules and not os.environ.get("MLFLOW_RUN_ID"):
        return
    try:
        import mlflow
    except ImportError:
        return
    if mlflow.active_run() is None and not os.environ.get("MLFLOW_RUN_ID"):
        return
    mlflow.log_metrics({k: float(v) for k, v in metrics.items()}, step=step)
    _log_sweep_params(mlflow)


_SWEEP_PREFIX = "AZUREML_SWEEP_"  # Azure ML gives each sweep trial its sampled values in these
_params_logged: set[str] = set()


def _log_sweep_params(mlflow: Any) -> None:
    """Record an Azure ML trial's sampled values as the run's params, once per run, so that the
    sweep's trials can be read back with their values from MLflow alone."""
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
