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
