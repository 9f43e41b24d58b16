"""MLflow plumbing shared by recording and the registry: the client, experiment and run look-ups by
the tags that let later calls find earlier runs again (their keys are in `schema`), and how values
are shaped for MLflow."""

from __future__ import annotations

import json
import logging
import math
import numbers
import tempfile
from collections.abc import Set
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hpo_flow.adapters.errors import HpoFlowError
from hpo_flow.adapters.redact import mask_values, redact
from hpo_flow.tasks.lean_mlflow import mlflow_without_sagemaker_plugin
from hpo_flow.tasks.tracking.schema import (
    CONFIG_HASH,
    EXPERIMENT_TAGS,
    PARENT,
    PROJECT,
    RUN_KIND,
    SWEEP_KIND,
    SWEEP_NAME,
    TRIAL_ID,
)

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities import Run

log = logging.getLogger(__name__)

# MLflow's own limits on values (mlflow.utils.validation); longer text goes to artifacts.
MAX_PARAM = 6000
MAX_TAG = 5000
# A trial's log is uploaded whole up to this size; beyond it, its tail (where errors are).
_MAX_LOG_BYTES = 10 * 1024 * 1024


def absolute_uri(tracking_uri: str) -> str:
    """A tracking URI that names the same store from any working directory: a relative SQLite or
    file store (`sqlite:///mlflow.db`, the default) is relative to where hpo-flow runs."""
    if tracking_uri.startswith("sqlite:///") and not tracking_uri.startswith("sqlite:////"):
        return f"sqlite:///{Path(tracking_uri.removeprefix('sqlite:///')).resolve()}"
    if tracking_uri.startswith("file:") and not tracking_uri.startswith("file:/"):
        return f"file:{Path(tracking_uri.removeprefix('file:')).resolve()}"
    if "://" not in tracking_uri and not tracking_uri.startswith("file:"):
        return str(Path(tracking_uri).resolve())
    return tracking_uri


def client_for(tracking_uri: str | None) -> MlflowClient:
    import os

    mlflow_without_sagemaker_plugin(tracking_uri)  # a local run does not pay for importing boto3
    from mlflow import MlflowClient

    # The sagemaker-mlflow plugin (installed with the sagemaker extra) fails to read any tracking
    # URI that is not a SageMaker ARN and warns about it on every request; the request goes on.
    logging.getLogger("mlflow.tracking.request_header.registry").setLevel(logging.ERROR)
    # MLflow prints "View run ... at: <tracking URI>" to stdout for every run it ends, password
    # included when the URI holds one; our own output says where to look, redacted.
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
    return MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)


def runs_view_path(tracking_uri: str | None, experiment: str) -> str:
    """The MLflow UI's path to an experiment's runs, or "" when the experiment cannot be read.

    MLflow 3.17's UI keeps one GenAI / model-training switch for every experiment, GenAI unless
    the browser chose otherwise; the page's `workflowType` parameter opens the runs view."""
    import urllib.request

    try:
        if tracking_uri and tracking_uri.startswith(("http://", "https://")):
            # MLflow's client retries a server that is down for minutes: ask once, briefly, first
            urllib.request.urlopen(f"{tracking_uri.rstrip('/')}/health", timeout=2).close()
        found = client_for(tracking_uri).get_experiment_by_name(experiment)
    except Exception:  # a hint only: a store we cannot read now still gets its plain URL
        return ""
    return f"/#/experiments/{found.experiment_id}?workflowType=machine_learning" if found else ""


def ensure_experiment(client: MlflowClient, name: str, project: str) -> str:
    """The experiment's id, created (or restored from deleted) as needed."""
    from mlflow.exceptions import MlflowException

    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        try:
            return client.create_experiment(name, tags={PROJECT: project, **EXPERIMENT_TAGS})
        except MlflowException as exc:  # created by a concurrent flow between the two calls
            if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
            experiment = client.get_experiment_by_name(name)
            assert experiment is not None
    if experiment.lifecycle_stage == "deleted":
        log.warning("MLflow experiment %r was deleted; restoring it to record this sweep", name)
        client.restore_experiment(experiment.experiment_id)
    for key, value in EXPERIMENT_TAGS.items():
        if key not in experiment.tags:  # a kind the user chose stays
            client.set_experiment_tag(experiment.experiment_id, key, value)
    return str(experiment.experiment_id)


def find_parent(client: MlflowClient, experiment: str, sweep_name: str, config_hash: str) -> Run | None:
    runs = search(
        client,
        experiment,
        f"tags.`{RUN_KIND}` = {lit(SWEEP_KIND)} and tags.`{SWEEP_NAME}` = {lit(sweep_name)} "
        f"and tags.`{CONFIG_HASH}` = {lit(config_hash)}",
        order_by=["attributes.start_time ASC"],
    )
    return runs[0] if runs else None


def child_runs(client: MlflowClient, experiment: str, parent_id: str) -> dict[str, Run]:
    """The parent's child runs by trial id."""
    found: dict[str, Run] = {}
    for run in search(client, experiment, f"tags.`{PARENT}` = {lit(parent_id)}"):
        trial_id = run.data.tags.get(TRIAL_ID)
        if trial_id is not None:
            found.setdefault(trial_id, run)
    return found


def find_child(client: MlflowClient, parent_id: str, trial_id: str) -> Run | None:
    parent = client.get_run(parent_id)
    runs = search(
        client,
        parent.info.experiment_id,
        f"tags.`{PARENT}` = {lit(parent_id)} and tags.`{TRIAL_ID}` = {lit(trial_id)}",
    )
    return runs[0] if runs else None


def search(client: MlflowClient, experiment: str, query: str, order_by: list[str] | None = None) -> list[Run]:
    runs: list[Run] = []
    token = None
    while True:
        page = client.search_runs([experiment], query, max_results=1000, order_by=order_by, page_token=token)
        runs.extend(page)
        token = page.token
        if not token:
            return runs


def lit(value: str) -> str:
    """A string literal for MLflow's search syntax."""
    if "'" not in value:
        return f"'{value}'"
    if '"' not in value:
        return f'"{value}"'
    raise HpoFlowError(f"{value!r} contains both quote characters; MLflow search cannot match it")


def log_redacted_file(
    client: MlflowClient,
    run_id: str,
    path: Path,
    artifact_dir: str,
    artifact_uri: str | None = None,
    secrets: Set[str] = frozenset(),
) -> None:
    """Upload a copy of a text file with `secrets` and passwords in URLs masked; the tail only if it is huge.

    With the run's `artifact_uri` at hand, the upload skips the client's look-up of the run (one
    request, or one SQL transaction, per trial)."""
    with tempfile.TemporaryDirectory(prefix="hpo-log-") as tmp:
        target = Path(tmp) / path.name
        size = path.stat().st_size
        with path.open("rb") as src, target.open("w", encoding="utf-8") as dst:
            if size > _MAX_LOG_BYTES:
                src.seek(size - _MAX_LOG_BYTES)
                src.readline()  # start at a line boundary
                dst.write(f"[... first {size - _MAX_LOG_BYTES} bytes left out ...]\n")
            for raw in src:
                dst.write(mask_values(raw.decode("utf-8", errors="replace"), secrets))
        if artifact_uri and not artifact_uri.startswith("dbfs:"):  # Databricks adds a profile: the client knows how
            from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

            get_artifact_repository(artifact_uri, tracking_uri=client.tracking_uri).log_artifact(
                str(target), artifact_dir
            )
        else:
            client.log_artifact(run_id, str(target), artifact_dir)


def flat_params(params: dict[str, Any]) -> dict[str, str]:
    """Params as MLflow stores them (strings), secret-looking keys masked."""
    return {
        str(k): str(v) if isinstance(v, str | numbers.Number) else json.dumps(v, default=str)
        for k, v in redact(params).items()
    }


def ms(moment: datetime | None) -> int:
    """MLflow's timestamps: milliseconds since the epoch, now when unknown."""
    return int((moment or datetime.now(UTC)).timestamp() * 1000)


def finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 20] + " ... [truncated]"
