"""One training script reports to both: printed lines for regexes, MLflow for Azure ML sweeps."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit


def test_report_prints_lines_and_logs_to_the_run_azure_ml_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mlflow

    from hpo_flow import report as report_module
    from hpo_flow.report import report

    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    uri = (tmp_path / "mlruns").as_uri()
    client = mlflow.MlflowClient(uri)
    run_id = client.create_run(client.create_experiment("sweep")).info.run_id
    # what Azure ML sets in a sweep trial's environment
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MLFLOW_RUN_ID", run_id)
    monkeypatch.setenv("AZUREML_SWEEP_learning_rate", "0.0031")
    monkeypatch.setenv("AZUREML_SWEEP_data", "https://acct.blob.core.windows.net/c/d?sv=1&sig=SECRET")
    monkeypatch.setattr(report_module, "_params_logged", set())

    out = io.StringIO()
    try:
        for epoch, accuracy in enumerate([0.5, 0.75, 0.875]):
            report(step=epoch, stream=out, accuracy=accuracy, loss=1 - accuracy)
    finally:
        mlflow.end_run()

    assert out.getvalue().splitlines()[:2] == ["accuracy: 0.5", "loss: 0.5"]
    run = client.get_run(run_id)
    assert run.data.metrics == {"accuracy": 0.875, "loss": 0.125}
    assert [(m.step, m.value) for m in client.get_metric_history(run_id, "accuracy")] == [
        (0, 0.5),
        (1, 0.75),
        (2, 0.875),
    ]
    assert run.data.params == {"learning_rate": "0.0031"}  # the signed URL is never logged


def test_report_outside_mlflow_only_prints(monkeypatch: pytest.MonkeyPatch) -> None:
    from hpo_flow.report import report

    monkeypatch.delenv("MLFLOW_RUN_ID", raising=False)
    out = io.StringIO()
    report(stream=out, accuracy=0.25)
    assert out.getvalue() == "accuracy: 0.25\n"
