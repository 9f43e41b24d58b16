"""Register a sweep's best trial as a model version and point the config's alias at it.

One model version per sweep's winner, found again by its version tags, so registering twice
adds nothing. `register_best_task` at the bottom is what the flow uses.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlparse

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from adapters.errors import HpoFlowError
from adapters.port import SweepRef, SweepState, Trial, best_trial
from adapters.spec import HpoConfig
from tasks.tracking.store import BEST, CONFIG_HASH, SWEEP, TRIAL_ID, client_for, find_child, lit

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities.model_registry import ModelVersion

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RegisteredModel:
    """The model version registered for a sweep's best trial."""

    name: str
    version: str
    alias: str
    source: str
    trial_id: str
    objective: float

    @property
    def uri(self) -> str:
        """What `mlflow.pyfunc.load_model` takes to load this model by its alias."""
        return f"models:/{self.name}@{self.alias}"


def register_best(config: HpoConfig, ref: SweepRef, state: SweepState, parent_run_id: str) -> RegisteredModel | None:
    """Register the best trial's model as a new version with the config's alias; safe to repeat.

    Returns None when no trial succeeded, or when the best trial left no model (logged as a
    warning). Call `record_sweep` first: the version links to the trial's child run.
    """
    best = best_trial(state.trials, config.objective)
    if best is None or best.objective is None:
        return None
    if not best.model_uri:
        log.warning("best trial %s left no model (model_uri is empty); nothing registered", best.id)
        return None
    client = client_for(config.mlflow.tracking_uri)
    name, alias = config.registered_model_name, config.mlflow.alias
    child = find_child(client, parent_run_id, best.id)
    if child is None:
        raise HpoFlowError(
            f"trial {best.id} has no MLflow run under parent run {parent_run_id}; record the sweep first (record_sweep)"
        )
    child_id = child.info.run_id
    version = _find_version(client, name, ref.name, best.id)
    if version is None:
        _ensure_registered_model(client, name, config)
        source = _model_source(client, child_id, best)
        version = client.create_model_version(
            name,
            source,
            run_id=child_id,
            tags={
                SWEEP: ref.name,
                TRIAL_ID: best.id,
                "hpo.parent_run_id": parent_run_id,
                CONFIG_HASH: config.config_hash(),
                "hpo.backend": ref.backend,
                "hpo.objective": f"{config.tuning.objective_metric}={best.objective!r}",
            },
            description=(
                f"Best trial {best.id} of sweep {ref.name} ({ref.backend}): "
                f"{config.tuning.objective_metric} = {best.objective:.6g} ({config.objective.value}); "
                f"parent run {parent_run_id}, trial run {child_id}."
            ),
        )
        version = _wait_ready(client, name, version)
    _point_alias(client, name, alias, version)
    client.set_tag(child_id, "hpo.registered_model", f"{name}/{version.version}")
    if child.data.tags.get(BEST) != "true":
        client.set_tag(child_id, BEST, "true")
    return RegisteredModel(
        name=name,
        version=str(version.version),
        alias=alias,
        source=str(version.source),
        trial_id=best.id,
        objective=float(best.objective),
    )


def _model_source(client: MlflowClient, child_id: str, trial: Trial) -> str:
    """Where the version's files come from: a local model is copied into the trial's run first
    (so the registry never points at a directory that a later sweep may delete); a cloud URI is
    used as it is."""
    uri = str(trial.model_uri)
    parsed = urlparse(uri)
    if parsed.scheme not in ("", "file") and len(parsed.scheme) > 1:  # one letter: a Windows drive
        return uri
    path = Path(unquote(parsed.path)) if parsed.scheme == "file" else Path(uri)
    if not path.exists():
        raise HpoFlowError(f"best trial {trial.id}'s model {path} does not exist; was the sweep's workdir cleaned?")
    if path.is_dir():
        if not (path / "MLmodel").is_file():
            log.warning("%s holds no MLmodel file: registered, but mlflow.pyfunc cannot load it", path)
        client.log_artifacts(child_id, str(path), "model")
    else:
        client.log_artifact(child_id, str(path), "model")
    return f"runs:/{child_id}/model"


def _ensure_registered_model(client: MlflowClient, name: str, config: HpoConfig) -> None:
    from mlflow.exceptions import MlflowException

    try:
        client.create_registered_model(
            name,
            tags={"hpo.project": config.project},
            description=f"Models tuned by hpo-flow for project {config.project}.",
        )
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_ALREADY_EXISTS":
            raise


def _find_version(client: MlflowClient, name: str, sweep_name: str, trial_id: str) -> ModelVersion | None:
    from mlflow.exceptions import MlflowException

    query = f"name = {lit(name)} and tags.`{SWEEP}` = {lit(sweep_name)} and tags.`{TRIAL_ID}` = {lit(trial_id)}"
    try:
        found = client.search_model_versions(query)
    except MlflowException as exc:
        if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "NOT_FOUND"):
            return None
        raise
    return min(found, key=lambda v: int(v.version)) if found else None


def _wait_ready(client: MlflowClient, name: str, version: ModelVersion, timeout: float = 300) -> ModelVersion:
    """Registries that copy files (Databricks, some plugins) report PENDING_REGISTRATION for a while."""
    deadline = time.monotonic() + timeout
    while version.status == "PENDING_REGISTRATION" and time.monotonic() < deadline:
        time.sleep(1)
        version = client.get_model_version(name, version.version)
    if version.status == "FAILED_REGISTRATION":
        raise HpoFlowError(f"model {name} version {version.version} failed to register: {version.status_message}")
    return version


def _point_alias(client: MlflowClient, name: str, alias: str, version: ModelVersion) -> None:
    """Move the alias to this version, unless it already points at a newer one (a later sweep's
    winner must not lose its alias because an older flow was re-run)."""
    from mlflow.exceptions import MlflowException

    try:
        current = client.get_model_version_by_alias(name, alias)
    except MlflowException:
        current = None
    if current is None or int(current.version) < int(version.version):
        client.set_registered_model_alias(name, alias, str(version.version))


@task(name="register-best-model", retries=2, retry_delay_seconds=10, cache_policy=NO_CACHE)
def register_best_task(
    config: HpoConfig, ref: SweepRef, state: SweepState, parent_run_id: str
) -> RegisteredModel | None:
    model = register_best(config, ref, state, parent_run_id)
    if model is None:
        get_run_logger().warning("MLflow: no model registered (no successful trial, or the best left no model)")
    else:
        get_run_logger().info("MLflow: registered %s version %s as @%s", model.name, model.version, model.alias)
    return model
