"""Register a sweep's best trial as a model version and point the config's alias at it.

One model version per sweep's winner, found again by its version tags, so registering twice
adds nothing. `register_best_task` at the bottom is what the flow uses.
"""

from __future__ import annotations

import logging
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlparse

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from hpo_flow.adapters.errors import HpoFlowError
from hpo_flow.adapters.port import FetchesModels, SweepAdapter, SweepStatus, Trial
from hpo_flow.adapters.spec import HpoConfig, Objective
from hpo_flow.tasks.result import SweepResult
from hpo_flow.tasks.tracking import ledger
from hpo_flow.tasks.tracking.schema import (
    BACKEND,
    BEST,
    CONFIG_HASH,
    OBJECTIVE,
    OBJECTIVE_METRIC,
    OBJECTIVE_TYPE,
    PARENT_RUN_ID,
    PROJECT,
    PROMOTION,
    REGISTERED_AS,
    SWEEP_NAME,
    TRIAL_ID,
    TRUE,
    PromotionBasis,
    PromotionVerdict,
    flag,
    format_objective,
    format_registered,
    read_objective,
)
from hpo_flow.tasks.tracking.store import MAX_TAG, client_for, find_child, lit

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities.model_registry import ModelVersion

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RegisteredModel:
    """The model version registered for a sweep's best trial, and whether the alias moved to it."""

    name: str
    version: str
    alias: str
    source: str
    trial_id: str
    objective: float
    promoted: bool = True  # the alias points at this version
    reason: str = ""  # why the alias moved, or stayed (`explain` of the verdict)
    alias_version: str | None = None  # the version holding the alias after the decision
    alias_params: dict[str, str] = field(default_factory=dict)  # that version's tuned values, as recorded
    verdict: PromotionVerdict | None = None  # the decision as stored on the version
    loadable: bool | None = None  # the version's files hold an MLmodel (None: not known, a cloud URI)

    @property
    def uri(self) -> str:
        """What `mlflow.pyfunc.load_model` takes to load this model by its alias."""
        return f"models:/{self.name}@{self.alias}"

    @property
    def load_hint(self) -> str:
        """The line that loads the model by its alias, as the summary and the artifact print it."""
        if self.loadable is False and self.promoted:
            return (
                f'mlflow.artifacts.download_artifacts("{self.uri}")  # the files the trial saved; no MLmodel, so '
                "pyfunc cannot load them: save the model with mlflow.<flavor>.save_model to make it loadable"
            )
        return f'mlflow.pyfunc.load_model("{self.uri}")'

    @property
    def promotion(self) -> str:
        """One sentence for the summary, the outcome and the MLflow description."""
        if self.promoted:
            return f"version {self.version} holds @{self.alias}: {self.reason}"
        held = f"version {self.alias_version}" if self.alias_version else "no version"
        return f"version {self.version} registered, @{self.alias} stays on {held}: {self.reason}"


@dataclass(frozen=True)
class Holder:
    """The version that holds the alias before the decision, with its recorded objective."""

    version: str
    metric: str | None
    objective: float | None
    run_id: str | None


def decide_promotion(
    policy: str,
    objective: Objective,
    metric: str,
    value: float,
    version: str,
    holder: Holder | None,
    alias: str = "",
    stopped: bool = False,
) -> PromotionVerdict:
    """Whether the alias moves to the new best, and on what basis: the promotion gate (mlflow.promote).
    The best of a `stopped` sweep (cancelled, or stopped with its flow) is registered for lineage, but
    has not run its budget: only `always` moves the alias to it. `explain` puts the verdict in words."""

    def verdict(promoted: bool, basis: PromotionBasis) -> PromotionVerdict:
        compared = holder if holder is not None and holder.version != version else None
        return PromotionVerdict(
            promoted=promoted,
            rule=policy,
            basis=basis,
            alias=alias,
            compared_version=compared.version if compared else None,
            compared_objective=compared.objective if compared and compared.metric == metric else None,
        )

    if holder is not None and holder.version == version:
        return verdict(True, PromotionBasis.HOLDS_ALREADY)
    if policy == "never":
        return verdict(False, PromotionBasis.NEVER)
    if stopped and policy != "always":
        return verdict(False, PromotionBasis.STOPPED)
    if holder is None:
        return verdict(True, PromotionBasis.NO_HOLDER)
    if policy == "always":
        if int(holder.version) > int(version):
            return verdict(False, PromotionBasis.HOLDER_NEWER)
        return verdict(True, PromotionBasis.ALWAYS)
    if holder.objective is None or holder.metric != metric:
        return verdict(True, PromotionBasis.NOT_COMPARABLE)
    better = objective.sign * value > objective.sign * holder.objective
    return verdict(better, PromotionBasis.BEATS if better else PromotionBasis.DOES_NOT_BEAT)


def explain(verdict: PromotionVerdict, objective: Objective, metric: str, value: float) -> str:
    """The verdict in words, for people: the version's tag and description, the summary."""
    basis, held, against = verdict.basis, verdict.compared_version, verdict.compared_objective
    word = "higher" if objective.sign > 0 else "lower"
    if basis == PromotionBasis.HOLDS_ALREADY:
        return "it was promoted when this sweep was first recorded"
    if basis == PromotionBasis.NEVER:
        return "mlflow.promote is never: versions are registered, the alias is moved by hand"
    if basis == PromotionBasis.NO_HOLDER:
        return f"no version held the alias yet ({metric} = {value:.6g})"
    if basis == PromotionBasis.HOLDER_NEWER:
        return f"version {held} is newer (a re-run of an older sweep never takes the alias back)"
    if basis == PromotionBasis.ALWAYS:
        return f"mlflow.promote is always ({metric} = {value:.6g})"
    if basis == PromotionBasis.STOPPED:
        return (
            f"the sweep was stopped before it finished ({metric} = {value:.6g}): its best is registered for "
            "lineage, and the alias and config.yaml move to a stopped sweep's best only with mlflow.promote: always"
        )
    if basis == PromotionBasis.NOT_COMPARABLE or against is None:
        return f"version {held} has no recorded {metric} to compare with ({metric} = {value:.6g})"
    if basis == PromotionBasis.BEATS:
        return f"{metric} {value:.6g} beats {against:.6g} of version {held} ({word} is better)"
    return (
        f"{metric} {value:.6g} does not beat {against:.6g} of version {held} "
        f"({word} is better; mlflow.promote is better)"
    )


def register_best(
    config: HpoConfig, result: SweepResult, parent_run_id: str, adapter: SweepAdapter | None = None
) -> RegisteredModel | None:
    """Register the result's best trial as a new version, and move the alias only as mlflow.promote
    says (`decide_promotion`); safe to repeat.

    Returns None when there is no best trial, or when it left no model (logged as a warning). Call
    `record_sweep` first: the version links to the trial's child run.
    """
    best, ref = result.best, result.ref
    if best is None or best.objective is None:
        return None
    # Find-or-create of the version, in turn with every other recorder of this sweep on this machine:
    # two runs of one config fired together register one version, not two.
    with ledger.one_record_at_a_time(config.mlflow.tracking_uri, ref.name, config.config_hash()):
        return _register(config, result, parent_run_id, best, float(best.objective), adapter)


def _register(
    config: HpoConfig,
    result: SweepResult,
    parent_run_id: str,
    best: Trial,
    value: float,
    adapter: SweepAdapter | None,
) -> RegisteredModel | None:
    ref = result.ref
    if not best.model_uri:
        log.warning("best trial %s left no model (model_uri is empty); nothing registered", best.id)
        return None
    client = client_for(config.mlflow.tracking_uri)
    name, alias = config.registered_model_name, config.mlflow.alias
    metric = config.tuning.objective_metric
    child = find_child(client, parent_run_id, best.id)
    if child is None:
        raise HpoFlowError(
            f"trial {best.id} has no MLflow run under parent run {parent_run_id}; record the sweep first (record_sweep)"
        )
    child_id = child.info.run_id
    holder = _holder(client, name, alias)
    version = _find_version(client, name, ref.name, best.id)
    description = (
        f"Best trial {best.id} of sweep {ref.name} ({ref.backend}): "
        f"{metric} = {value:.6g} ({config.objective.value}); "
        f"parent run {parent_run_id}, trial run {child_id}."
    )
    if version is None:
        _ensure_registered_model(client, name, config)
        source = _model_source(client, child_id, best, config, adapter)
        version = client.create_model_version(
            name,
            source,
            run_id=child_id,
            tags={
                SWEEP_NAME: ref.name,
                TRIAL_ID: best.id,
                PARENT_RUN_ID: parent_run_id,
                CONFIG_HASH: config.config_hash(),
                BACKEND: ref.backend,
                OBJECTIVE: format_objective(value),
                OBJECTIVE_METRIC: metric,
                OBJECTIVE_TYPE: config.objective.value,
            },
            description=description,
        )
        version = _wait_ready(client, name, version)
    number, tags = str(version.version), dict(version.tags or {})
    stopped = result.state.status == SweepStatus.STOPPED
    verdict = decide_promotion(config.mlflow.promote, config.objective, metric, value, number, holder, alias, stopped)
    earlier = PromotionVerdict.from_tags(tags)
    if verdict.promoted and earlier is not None and earlier.promoted and earlier.alias == alias:
        verdict = earlier  # a re-run keeps the first why
    if verdict.promoted:
        client.set_registered_model_alias(name, alias, number)
    reason = explain(verdict, config.objective, metric, value)
    _store_verdict(client, name, number, tags, verdict, _verdict_text(verdict, reason), description)
    client.set_tag(child_id, REGISTERED_AS, format_registered(name, number))
    if not flag(child.data.tags, BEST):
        client.set_tag(child_id, BEST, TRUE)
    if verdict.promoted:
        alias_version, alias_params = number, dict(child.data.params)
    elif holder is not None:
        alias_version, alias_params = holder.version, _params_of(client, holder.run_id)
    else:
        alias_version, alias_params = None, {}
    return RegisteredModel(
        name=name,
        version=number,
        alias=alias,
        source=str(version.source),
        trial_id=best.id,
        objective=value,
        promoted=verdict.promoted,
        reason=reason,
        alias_version=alias_version,
        alias_params=alias_params,
        verdict=verdict,
        loadable=_loadable(client, str(version.source), best),
    )


def _verdict_text(verdict: PromotionVerdict, reason: str) -> str:
    return ("Promoted to @" if verdict.promoted else "Not promoted to @") + f"{verdict.alias}: {reason}."


def _store_verdict(
    client: MlflowClient,
    name: str,
    version: str,
    tags: dict[str, str],
    verdict: PromotionVerdict,
    words: str,
    base: str,
) -> None:
    """The verdict as data (its tags, read back by `PromotionVerdict.from_tags`), then in words for
    people (`hpo.promotion` and the version's description, never read back); only what differs is written."""
    for key, value in verdict.tags().items():
        if value is None:
            if key in tags:
                client.delete_model_version_tag(name, version, key)
        elif tags.get(key) != value:
            client.set_model_version_tag(name, version, key, value)
    if tags.get(PROMOTION) != words[:MAX_TAG]:
        client.set_model_version_tag(name, version, PROMOTION, words[:MAX_TAG])
        client.update_model_version(name, version, description=f"{base} {words}"[:MAX_TAG])


def _holder(client: MlflowClient, name: str, alias: str) -> Holder | None:
    from mlflow.exceptions import MlflowException

    try:
        current = client.get_model_version_by_alias(name, alias)
    except MlflowException:
        return None
    metric, objective = read_objective(current.tags or {})
    return Holder(version=str(current.version), metric=metric, objective=objective, run_id=current.run_id)


def _params_of(client: MlflowClient, run_id: str | None) -> dict[str, str]:
    if not run_id:
        return {}
    from mlflow.exceptions import MlflowException

    try:
        return dict(client.get_run(run_id).data.params)
    except MlflowException:
        return {}


def _model_source(
    client: MlflowClient, child_id: str, trial: Trial, config: HpoConfig, adapter: SweepAdapter | None = None
) -> str:
    """Where the version's files come from: a local model is copied into the trial's run first
    (so the registry never points at a directory that a later sweep may delete); a cloud model is
    too where its backend can fetch it and it is an MLflow model (SageMaker's model.tar.gz holding
    an MLmodel: the version then loads with mlflow.pyfunc, which cannot read the archive); any
    other cloud URI is used as it is."""
    uri = str(trial.model_uri)
    parsed = urlparse(uri)
    if parsed.scheme not in ("", "file") and len(parsed.scheme) > 1:  # one letter: a Windows drive
        return _cloud_model_source(client, child_id, trial, config, adapter)
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


def _cloud_model_source(
    client: MlflowClient, child_id: str, trial: Trial, config: HpoConfig, adapter: SweepAdapter | None
) -> str:
    uri = str(trial.model_uri)
    if not isinstance(adapter, FetchesModels):
        return uri
    with tempfile.TemporaryDirectory(prefix="hpo-flow-model-") as folder:
        try:
            fetched = adapter.fetch_model(config, trial, Path(folder))
        except HpoFlowError as exc:  # registered all the same, by its URI: the model is not lost
            log.warning("best trial %s's model %s not fetched (%s); registered by its URI", trial.id, uri, exc)
            return uri
        if not fetched or not (Path(folder) / "MLmodel").is_file():
            log.warning("%s holds no MLmodel file: registered by its URI, but mlflow.pyfunc cannot load it", uri)
            return uri
        client.log_artifacts(child_id, folder, "model")
    return f"runs:/{child_id}/model"


def _loadable(client: MlflowClient, source: str, trial: Trial) -> bool | None:
    """Whether the version's files hold an MLmodel: known for what was copied into the trial's run."""
    from mlflow.exceptions import MlflowException

    if not source.startswith("runs:/"):
        return False if str(trial.model_uri).endswith((".tar.gz", ".tgz")) else None
    run_id = source.removeprefix("runs:/").split("/", 1)[0]
    try:
        return any(f.path == "model/MLmodel" for f in client.list_artifacts(run_id, "model"))
    except MlflowException:
        return None


def _ensure_registered_model(client: MlflowClient, name: str, config: HpoConfig) -> None:
    from mlflow.exceptions import MlflowException

    try:
        client.create_registered_model(
            name,
            tags={PROJECT: config.project},
            description=f"Models tuned by hpo-flow for project {config.project}.",
        )
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_ALREADY_EXISTS":
            raise


def _find_version(client: MlflowClient, name: str, sweep_name: str, trial_id: str) -> ModelVersion | None:
    from mlflow.exceptions import MlflowException

    query = f"name = {lit(name)} and tags.`{SWEEP_NAME}` = {lit(sweep_name)} and tags.`{TRIAL_ID}` = {lit(trial_id)}"
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


@task(name="register-best-model", retries=2, retry_delay_seconds=10, cache_policy=NO_CACHE)
def register_best_task(
    config: HpoConfig, result: SweepResult, parent_run_id: str, adapter: SweepAdapter | None = None
) -> RegisteredModel | None:
    model = register_best(config, result, parent_run_id, adapter)
    if model is None:
        get_run_logger().warning("MLflow: no model registered (no successful trial, or the best left no model)")
    else:
        get_run_logger().info("MLflow: registered %s version %s; %s", model.name, model.version, model.promotion)
    return model
