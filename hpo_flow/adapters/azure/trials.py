"""Azure ML job states and sweep children as neutral SweepStatus and Trial records.

Statuses are Azure ML's JobStatus values. A child's sampled values come from the child job (its
`hyperparameters` tag), its metrics and curves from the workspace's MLflow tracking server, where
Azure ML trials log (the job name is the MLflow run id); the values are typed back with the
sweep's own search space, so an integer stays an int.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from hpo_flow.adapters.azure.plan import MODEL_DIR
from hpo_flow.adapters.port import SweepStatus, Trial, TrialStatus

# Every JobStatus Azure ML documents, including the transient ones.
SWEEP_STATUS: dict[str, SweepStatus] = {
    "NotStarted": SweepStatus.PENDING,
    "Scheduled": SweepStatus.PENDING,
    "Queued": SweepStatus.PENDING,
    "Preparing": SweepStatus.PENDING,
    "Provisioning": SweepStatus.PENDING,
    "Starting": SweepStatus.PENDING,
    "Paused": SweepStatus.PENDING,  # waiting to resume; not over
    "Running": SweepStatus.RUNNING,
    "Finalizing": SweepStatus.RUNNING,
    "NotResponding": SweepStatus.RUNNING,  # no heartbeat for a while; Azure may still recover it
    "CancelRequested": SweepStatus.STOPPING,
    "Completed": SweepStatus.COMPLETED,
    "Failed": SweepStatus.FAILED,
    "Canceled": SweepStatus.STOPPED,
    "Unknown": SweepStatus.PENDING,
}
_TRIAL_PENDING = {"NotStarted", "Scheduled", "Queued", "Preparing", "Provisioning", "Starting", "Paused", "Unknown"}
_TRIAL_RUNNING = {"Running", "Finalizing", "NotResponding"}
_CANCELED = {"Canceled", "CancelRequested"}
SAMPLED_TAG = "hyperparameters"


def sweep_status(azure_status: str | None) -> tuple[SweepStatus, str | None]:
    status = SWEEP_STATUS.get(azure_status or "")
    if status is None:
        return SweepStatus.PENDING, f"Azure ML reports an unknown status {azure_status!r}"
    message = None
    if azure_status in ("Failed", "Canceled", "NotResponding", "Paused", "Unknown"):
        message = f"Azure ML reports the sweep {azure_status}"
    return status, message


def trial_status(azure_status: str | None, sweep_canceled: bool, has_policy: bool) -> TrialStatus:
    """A child's status. Azure cancels the trials its early-termination policy stops; a cancelled
    trial of a sweep that was not itself cancelled was stopped by the policy (PRUNED, its metrics
    count), one of a cancelled sweep was stopped by the cancel (STOPPED)."""
    s = azure_status or "Unknown"
    if s in _TRIAL_PENDING or s not in SWEEP_STATUS:
        return TrialStatus.PENDING
    if s in _TRIAL_RUNNING:
        return TrialStatus.RUNNING
    if s == "Completed":
        return TrialStatus.COMPLETED
    if s == "Failed":
        return TrialStatus.FAILED
    if s in _CANCELED:
        return TrialStatus.PRUNED if has_policy and not sweep_canceled else TrialStatus.STOPPED
    return TrialStatus.PENDING


def flag_names(command: str) -> dict[str, str]:
    """search-space key -> the hyperparameter's own name, read from the sweep's trial command
    (`--learning-rate ${{search_space.learning_rate}}`), so poll needs nothing but the job."""
    pattern = r"(?:^|\s)--?([^\s=']+)(?:\s+|=)'?\$\{\{\s*search_space\.(\w+)\s*\}\}"
    # A flag of the user's own (training.arguments: `--reg ${{search_space.C}}`) is not the name: the
    # key is, where the flag is not the name it was made from.
    return {key: flag for flag, key in re.findall(pattern, command or "") if re.sub(r"[^A-Za-z0-9_]", "_", flag) == key}


def typed_value(raw: Any, dist: Any) -> Any:
    """A sampled value as its own type: MLflow params are strings, the search space knows better."""
    if not isinstance(raw, str):
        raw = json.dumps(raw)  # an already-parsed value: typed like the string MLflow would hold
    kind = (getattr(dist, "type", "") or "").lower()
    if kind == "choice":
        for value in getattr(dist, "values", None) or []:
            if str(value) == raw:
                return value
        for value in getattr(dist, "values", None) or []:
            if isinstance(value, int | float) and _float(raw) == value:
                return value
        return raw
    number = _float(raw)
    if number is None:
        return raw
    if kind == "randint" or (kind.startswith("q") and _integral_q(dist, kind)):
        return round(number)
    return number


def _integral_q(dist: Any, kind: str) -> bool:
    values = [getattr(dist, "q", None)]
    if kind == "quniform":  # bounds are values; for qloguniform they are exponents
        values += [getattr(dist, "min_value", None), getattr(dist, "max_value", None)]
    return all(v is not None and float(v).is_integer() for v in values)


def _float(raw: str) -> float | None:
    try:
        return float(raw)
    except ValueError:
        return None


def sampled_values(child: Any) -> dict[str, Any]:
    """A sweep child's sampled values: Azure ML tags every trial of a sweep with them, as JSON under
    `hyperparameters` (`{"learning_rate": 0.0031, "momentum": 0.95}`)."""
    text = (getattr(child, "tags", None) or {}).get(SAMPLED_TAG)
    if not text:
        return {}
    try:
        values = json.loads(text)
    except (TypeError, ValueError):
        return {}
    if not isinstance(values, dict):
        return {}
    # HyperDrive-era trials keyed them by the flag ("--learning_rate"); sweep jobs by the key
    return {str(k).lstrip("-"): v for k, v in values.items()}


def child_order(name: str) -> tuple[str, int, str]:
    """Children in the order the sweep started them: `<sweep>_2` before `<sweep>_10`."""
    head, sep, tail = str(name).rpartition("_")
    return (head, int(tail), "") if sep and tail.isdigit() else (str(name), -1, str(name))


def model_uri(child: str, artifact_path: str) -> str:
    return f"azureml://jobs/{child}/outputs/artifacts/paths/{artifact_path}"


class TrialReader:
    """Reads children's MLflow runs; finished trials are read once and kept."""

    def __init__(self, mlflow_client: Any) -> None:
        self.client = mlflow_client
        self._done: dict[str, Trial] = {}

    def trial(
        self,
        child: Any,
        status: TrialStatus,
        search_space: Mapping[str, Any],
        names: Mapping[str, str],
        objective_metric: str,
    ) -> Trial:
        name = str(child.name)
        if name in self._done:
            return self._done[name]
        run = self._run(name)
        params: dict[str, Any] = {}
        metrics: dict[str, float] = {}
        curves: dict[str, list[tuple[int, float]]] = {}
        started = ended = None
        # The values Azure ML sampled for this child, from the child job itself; MLflow params (which
        # report() logs) only where the job does not say, so a script that never calls report() has them.
        raw = {**(dict(run.data.params) if run is not None else {}), **sampled_values(child)}
        for key, dist in search_space.items():
            if key in raw:
                params[names.get(key, key)] = typed_value(raw[key], dist)
        if run is not None:
            metrics = {k: float(v) for k, v in run.data.metrics.items()}
            for key in metrics:
                history = self.client.get_metric_history(name, key)
                ordered = sorted(history, key=lambda m: (m.step, m.timestamp))
                curves[key] = [(int(m.step), float(m.value)) for m in ordered]
            started = _ms(run.info.start_time)
            ended = _ms(run.info.end_time) if status.is_terminal else None
        if started is None:
            created = getattr(getattr(child, "creation_context", None), "created_at", None)
            started = created if isinstance(created, datetime) else None
        uri = self._model_uri(name) if status in (TrialStatus.COMPLETED, TrialStatus.PRUNED) else None
        failure = None
        if status == TrialStatus.FAILED:
            failure = f"Azure ML reports trial {name} Failed; its logs are in Azure ML studio under the sweep"
        elif status == TrialStatus.STOPPED:
            failure = f"Azure ML reports trial {name} {child.status} (the sweep was cancelled)"
        elif status == TrialStatus.PRUNED:
            failure = f"stopped early by the sweep's early-termination policy (Azure ML status {child.status})"
        trial = Trial(
            id=name,
            params=params,
            status=status,
            objective=metrics.get(objective_metric),
            metrics=metrics,
            curves=curves,
            model_uri=uri,
            started_at=started,
            ended_at=ended,
            failure_reason=failure,
        )
        if status.is_terminal and run is not None:
            self._done[name] = trial
        return trial

    def _run(self, run_id: str) -> Any:
        from mlflow.exceptions import MlflowException

        try:
            return self.client.get_run(run_id)
        except MlflowException:
            return None  # not started yet: Azure creates the MLflow run when the trial starts

    def _model_uri(self, run_id: str) -> str | None:
        """The trial's model: what the script saved to HPO_MODEL_DIR (./outputs/model, uploaded by
        Azure ML), else an MLflow model it logged under `model`."""
        from mlflow.exceptions import MlflowException

        for path in (MODEL_DIR, "model"):
            try:
                if self.client.list_artifacts(run_id, path):
                    return model_uri(run_id, path)
            except (MlflowException, OSError):
                continue
        return None


def _ms(value: Any) -> datetime | None:
    if not value:
        return None
    return datetime.fromtimestamp(int(value) / 1000, tz=UTC)
