"""Record a sweep in MLflow for review, and register its best model.

One parent run per sweep (found again by its tags, so recording twice adds nothing), one nested
child run per trial (found again by `hpo.trial_id`), and one model version per sweep's winner
(found again by its version tags). The plain functions know nothing of Prefect and can be
called and tested alone; the `*_task` wrappers at the bottom are what the flow uses.

Everything written is redacted first (adapters.redact): params, tags, notes, the config
snapshot and the trials' log files.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import numbers
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlparse

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from adapters.errors import HpoFlowError
from adapters.lean_imports import mlflow_without_sagemaker_plugin
from adapters.port import SweepRef, SweepState, SweepStatus, Trial, TrialStatus, best_trial
from adapters.redact import MASK, redact, redact_text
from adapters.spec import HpoConfig, ParamRange, RangeType, Scaling
from tasks.writeback import redact_config_text

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities import Run
    from mlflow.entities.model_registry import ModelVersion

log = logging.getLogger(__name__)

# Tag names: the contract between runs recorded earlier and this code finding them again.
KIND = "hpo.run_kind"  # "sweep" on the parent, "trial" on each child
SWEEP = "hpo.sweep_name"
CONFIG_HASH = "hpo.config_hash"
TRIAL_ID = "hpo.trial_id"
TRIAL_STATUS = "hpo.trial_status"
BEST = "hpo.best"
PARENT = "mlflow.parentRunId"
NOTE = "mlflow.note.content"
PLOTTED = "hpo.plots_for"  # digest of the trials the current plots were drawn from
CONFIG_ARTIFACT = "hpo_config.json"

# Neutral trial status -> MLflow run status; the exact status is kept in the hpo.trial_status tag.
RUN_STATUS = {
    TrialStatus.COMPLETED: "FINISHED",
    TrialStatus.PRUNED: "KILLED",
    TrialStatus.FAILED: "FAILED",
    TrialStatus.STOPPED: "KILLED",
}
SWEEP_RUN_STATUS = {SweepStatus.COMPLETED: "FINISHED", SweepStatus.FAILED: "FAILED", SweepStatus.STOPPED: "KILLED"}

# MLflow's own limits on values (mlflow.utils.validation); longer text goes to artifacts.
_MAX_PARAM = 6000
_MAX_TAG = 5000
# A trial's log is uploaded whole up to this size; beyond it, its tail (where errors are).
_MAX_LOG_BYTES = 10 * 1024 * 1024

# The tracking URI each parent run was recorded at, for log_config_diff's callers that pass only
# the run id (the flow runs its tasks in one process).
_URI_OF_RUN: dict[str, str] = {}


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


# --------------------------------------------------------------------------- recording


def record_sweep(config: HpoConfig, ref: SweepRef, state: SweepState) -> str:
    """Record the sweep and its trials; returns the parent run id. Safe to call again and again.

    A second call with the same state changes nothing. A later call with more trials, or with
    trials that have finished since, adds what is new: child runs of new trials, the rest of a
    running trial's curve, final statuses, the current best, fresh plots.
    """
    client = _client(config.mlflow.tracking_uri)
    experiment_id = _experiment(client, config.experiment_name, config.project)
    parent = _find_parent(client, experiment_id, ref.name, config.config_hash())
    if parent is None:
        parent = client.create_run(
            experiment_id,
            start_time=_ms(min((t.started_at for t in state.trials if t.started_at), default=None)),
            tags={KIND: "sweep", SWEEP: ref.name, CONFIG_HASH: config.config_hash()},
            run_name=ref.name,
        )
    parent_id = parent.info.run_id
    _URI_OF_RUN[parent_id] = config.mlflow.tracking_uri

    children = _children(client, experiment_id, parent_id)
    best = best_trial(state.trials, config.objective)
    for trial in state.trials:
        if trial.status == TrialStatus.PENDING:
            continue  # nothing to show until it starts
        run_id = _record_trial(client, experiment_id, parent_id, ref.name, config, trial, children.get(trial.id))
        _mark_best(client, run_id, children.get(trial.id), is_best=best is not None and trial.id == best.id)

    _record_parent(client, parent, config, ref, state, best)
    return parent_id


def _record_trial(
    client: MlflowClient,
    experiment_id: str,
    parent_id: str,
    sweep_name: str,
    config: HpoConfig,
    trial: Trial,
    existing: Run | None,
) -> str:
    from mlflow.entities import Metric, Param, RunTag

    if existing is not None and trial.status.is_terminal and existing.data.tags.get(TRIAL_STATUS) == trial.status:
        return existing.info.run_id  # recorded in full before
    if existing is None:
        run_id = client.create_run(
            experiment_id,
            start_time=_ms(trial.started_at),
            tags={PARENT: parent_id, KIND: "trial", SWEEP: sweep_name, TRIAL_ID: trial.id},
            run_name=trial.id,
        ).info.run_id
        have_params: dict[str, str] = {}
    else:
        run_id = existing.info.run_id
        have_params = existing.data.params

    params = [Param(k, _clip(v, _MAX_PARAM)) for k, v in _flat_params(trial.params).items() if k not in have_params]
    metrics = [
        Metric(key, value, timestamp, step)
        for key, value, timestamp, step in _new_points(client, run_id, existing, trial, config.tuning.objective_metric)
    ]
    tags = [RunTag(k, v) for k, v in _trial_tags(trial, config).items()]
    client.log_batch(run_id, metrics=metrics, params=params, tags=tags)  # the client chunks to MLflow's limits
    if trial.log_path and Path(trial.log_path).is_file():
        _log_redacted_file(client, run_id, Path(trial.log_path), "logs")
    if trial.status.is_terminal:
        # Status tag last: a run whose tag says terminal has everything, so a later call may skip it.
        client.set_terminated(run_id, RUN_STATUS[trial.status], end_time=_ms(trial.ended_at))
    client.set_tag(run_id, TRIAL_STATUS, trial.status.value)
    return run_id


def _new_points(
    client: MlflowClient, run_id: str, existing: Run | None, trial: Trial, objective_metric: str
) -> list[tuple[str, float, int, int]]:
    """(key, value, timestamp, step) of every metric point not yet recorded on the run.

    Curves are step metrics; a point is new when its step is past the last recorded one, so a
    trial recorded while running gets only the rest of its curve later. Final values of metrics
    without a curve are logged at step 0.
    """
    recorded = existing.data.metrics if existing is not None else {}
    base = _ms(trial.started_at)
    points: list[tuple[str, float, int, int]] = []
    for key, curve in trial.curves.items():
        last = -1
        if key in recorded:
            last = max((m.step for m in client.get_metric_history(run_id, key)), default=-1)
        points.extend((key, float(v), base, int(s)) for s, v in curve if int(s) > last and _finite(v))
    finals = dict(trial.metrics)
    if trial.objective is not None and objective_metric not in finals and objective_metric not in trial.curves:
        finals[objective_metric] = trial.objective
    for key, value in finals.items():
        if not _finite(value):
            continue
        curve = trial.curves.get(key)
        if curve:
            # The curve's last point is the final value; a backend that judged otherwise
            # (best-of-curve, say) gets its own figure next to the curve.
            if float(curve[-1][1]) != float(value):
                key = f"{key}.final"
            else:
                continue
        if recorded.get(key) != float(value):
            points.append((key, float(value), base, 0))
    return points


def _trial_tags(trial: Trial, config: HpoConfig) -> dict[str, str]:
    tags: dict[str, str] = {}
    if trial.status == TrialStatus.PRUNED:
        last = max((s for c in trial.curves.values() for s, _ in c), default=None)
        where = f" at step {last}" if last is not None else ""
        reason = trial.failure_reason or (
            f"stopped early by the {config.tuning.early_stopping.policy.value} early-stopping policy{where}"
        )
        tags["hpo.pruned_reason"] = _clip(redact_text(reason), _MAX_TAG)
    elif trial.status in (TrialStatus.FAILED, TrialStatus.STOPPED) and trial.failure_reason:
        tags["hpo.failure_reason"] = _clip(redact_text(trial.failure_reason), _MAX_TAG)
        tags[NOTE] = _clip(f"**{trial.status.value}**: {redact_text(trial.failure_reason)}", _MAX_TAG)
    if trial.objective is not None and _finite(trial.objective):
        tags["hpo.objective"] = repr(float(trial.objective))
    if trial.model_uri:
        tags["hpo.model_uri"] = _clip(redact_text(trial.model_uri), _MAX_TAG)
    return tags


def _mark_best(client: MlflowClient, run_id: str, existing: Run | None, is_best: bool) -> None:
    had = existing is not None and existing.data.tags.get(BEST) == "true"
    if is_best and not had:
        client.set_tag(run_id, BEST, "true")
    elif had and not is_best:
        client.delete_tag(run_id, BEST)  # the best has moved on to a later trial


def _record_parent(
    client: MlflowClient, parent: Run, config: HpoConfig, ref: SweepRef, state: SweepState, best: Trial | None
) -> None:
    from mlflow.entities import Metric, Param, RunTag

    run_id = parent.info.run_id
    have = parent.data
    params = [Param(k, _clip(v, _MAX_PARAM)) for k, v in sweep_params(config).items() if k not in have.params]
    tags = {k: _clip(v, _MAX_TAG) for k, v in _sweep_tags(config, ref, state, best).items()}
    changed_tags = [RunTag(k, v) for k, v in tags.items() if have.tags.get(k) != v]
    metrics = []
    if best is not None and best.objective is not None:
        key = f"best_{config.tuning.objective_metric}"
        if have.metrics.get(key) != float(best.objective):
            finished = len(state.finished_trials)
            metrics.append(Metric(key, float(best.objective), _ms(best.ended_at), finished))
    if params or changed_tags or metrics:
        client.log_batch(run_id, metrics=metrics, params=params, tags=changed_tags)

    if CONFIG_ARTIFACT not in have.tags.get("hpo.artifacts", ""):
        client.log_text(run_id, json.dumps(config_snapshot(config), indent=2, sort_keys=True), CONFIG_ARTIFACT)
        client.set_tag(run_id, "hpo.artifacts", CONFIG_ARTIFACT)

    digest = _trials_digest(state.finished_trials)
    if state.finished_trials and have.tags.get(PLOTTED) != digest:
        _log_plots(client, run_id, config, state.trials)
        client.set_tag(run_id, PLOTTED, digest)

    status = parent.info.status
    if state.status.is_terminal:
        wanted = SWEEP_RUN_STATUS[state.status]
        if status != wanted:
            end = max((t.ended_at for t in state.trials if t.ended_at), default=None)
            client.set_terminated(run_id, wanted, end_time=_ms(end))
    elif status != "RUNNING":
        client.update_run(run_id, status="RUNNING")  # a stopped sweep that was resumed


def _log_plots(client: MlflowClient, run_id: str, config: HpoConfig, trials: list[Trial]) -> None:
    from tasks.plots import write_plots

    with tempfile.TemporaryDirectory(prefix="hpo-plots-") as tmp:
        plots = write_plots(
            trials, config.objective, config.tuning.objective_metric, tmp, config.tuning.hyperparameter_ranges
        )
        if plots.notes:
            (Path(tmp) / "NOTES.md").write_text("".join(f"- {n}\n" for n in plots.notes), encoding="utf-8")
            for note in plots.notes:
                log.info("plots: %s", note)
        client.log_artifacts(run_id, tmp, "plots")


def sweep_params(config: HpoConfig) -> dict[str, str]:
    """The parent run's params: each range in readable form, the fixed hyperparameters, the budget."""
    params = {f"{name}.range": describe_range(r) for name, r in config.tuning.hyperparameter_ranges.items()}
    params.update(_flat_params(config.fixed_hyperparameters()))
    t = config.tuning
    params.update(
        {
            "tuning.objective": f"{t.objective_type.value} {t.objective_metric}",
            "tuning.max_jobs": str(t.max_jobs),
            "tuning.max_parallel_jobs": str(t.max_parallel_jobs),
        }
    )
    return params


def _sweep_tags(config: HpoConfig, ref: SweepRef, state: SweepState, best: Trial | None) -> dict[str, str]:
    counts: dict[str, int] = {}
    for trial in state.trials:
        counts[trial.status.value] = counts.get(trial.status.value, 0) + 1
    tags = {
        "hpo.backend": ref.backend,
        "hpo.cloud_id": redact_text(ref.cloud_id or ""),
        "hpo.strategy": config.tuning.strategy.value,
        "hpo.early_stopping": describe_early_stopping(config),
        "hpo.objective_metric": config.tuning.objective_metric,
        "hpo.objective_type": config.tuning.objective_type.value,
        "hpo.sweep_status": state.status.value,
        "hpo.trials": ", ".join(f"{n} {s.lower()}" for s, n in sorted(counts.items())) or "none yet",
        NOTE: _sweep_note(config, ref, state, best),
    }
    if ref.url:
        tags["hpo.url"] = redact_text(ref.url)
    if state.message:
        tags["hpo.sweep_message"] = redact_text(state.message)
    if best is not None:
        tags["hpo.best_trial_id"] = best.id
    return tags


def _sweep_note(config: HpoConfig, ref: SweepRef, state: SweepState, best: Trial | None) -> str:
    """The parent run's description in the MLflow UI: what ran, and who won."""
    metric = config.tuning.objective_metric
    lines = [
        f"Sweep `{ref.name}` on **{ref.backend}**: {state.status.value}, "
        f"{len(state.finished_trials)} of {config.tuning.max_jobs} trials finished.",
        "",
    ]
    if best is None:
        lines.append("No trial has produced an objective yet.")
    else:
        lines += [
            f"Best trial `{best.id}`: {metric} = {best.objective:.6g} ({config.objective.value}).",
            "",
            "| hyperparameter | value |",
            "| --- | --- |",
        ]
        lines += [f"| {k} | {v} |" for k, v in sorted(_flat_params(best.params).items())]
    if state.message:
        lines += ["", f"Service message: {redact_text(state.message)}"]
    return "\n".join(lines)


def describe_range(r: ParamRange) -> str:
    """A range in the vocabulary people read: `loguniform(0.0001, 0.05)`, `choice(16, 32)`, ..."""
    q = f", q={_num(r.step)}" if r.step is not None else ""
    base = f", base={_num(r.log_base)}" if r.log_base is not None else ""
    if r.type == RangeType.categorical:
        return "choice(" + ", ".join(repr(v) for v in r.values or []) + ")"
    if r.type in (RangeType.normal, RangeType.lognormal):
        name = ("q" if r.step is not None else "") + r.type.value
        return f"{name}({_num(r.mu)}, {_num(r.sigma)}{q})"
    bounds = f"{_num(r.min)}, {_num(r.max)}"
    if r.type == RangeType.integer:
        scale = ", log" if r.is_log else ""
        step = f", step={_num(r.step)}" if r.step is not None else ""
        return f"integer({bounds}{step}{scale})"  # bounds inclusive, as in the config
    prefix = "q" if r.step is not None else ""
    if r.scaling_type == Scaling.ReverseLogarithmic:
        return f"{prefix}reverse_loguniform({bounds}{q})"
    kind = "loguniform" if r.is_log else "uniform"
    return f"{prefix}{kind}({bounds}{q}{base})"


def describe_early_stopping(config: HpoConfig) -> str:
    es = config.tuning.early_stopping
    if es.policy.value == "off":
        return "off"
    details = {
        "evaluation_interval": es.evaluation_interval,
        "delay_evaluation": es.delay_evaluation,
        "slack_factor": es.slack_factor,
        "slack_amount": es.slack_amount,
        "truncation_percentage": es.truncation_percentage if es.policy.value == "truncation" else None,
    }
    if es.policy.value == "asha":
        details.update(min_resource=es.min_resource, reduction_factor=es.reduction_factor)
    shown = ", ".join(f"{k}={v}" for k, v in details.items() if v is not None)
    return f"{es.policy.value}({shown})"


def config_snapshot(config: HpoConfig) -> dict[str, Any]:
    """The config as recorded on the parent run: secret-looking keys and URL passwords masked,
    and every environment value masked too (any of them may be a credential under a plain name)."""
    data = config.model_dump(mode="json", by_alias=True)

    def mask_env(node: Any) -> Any:
        if isinstance(node, dict):
            return {
                k: (
                    {ek: MASK for ek in v}
                    if k in ("environment", "environment_variables") and isinstance(v, dict)
                    else mask_env(v)
                )
                for k, v in node.items()
            }
        if isinstance(node, list):
            return [mask_env(v) for v in node]
        return node

    return redact(mask_env(data))


# --------------------------------------------------------------------------- registry


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
    client = _client(config.mlflow.tracking_uri)
    name, alias = config.registered_model_name, config.mlflow.alias
    child = _find_child(client, parent_run_id, best.id)
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

    query = f"name = {_lit(name)} and tags.`{SWEEP}` = {_lit(sweep_name)} and tags.`{TRIAL_ID}` = {_lit(trial_id)}"
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


# --------------------------------------------------------------------------- config diff


def log_config_diff(parent_run_id: str, diff: str, tracking_uri: str | None = None) -> None:
    """Attach the write-back diff to the sweep's parent run (`config/config.diff`); safe to repeat.

    `tracking_uri` defaults to the one the run was recorded at by `record_sweep` in this process.
    """
    client = _client(tracking_uri or _URI_OF_RUN.get(parent_run_id))
    text = redact_config_text(diff)
    if text.strip():
        client.log_text(parent_run_id, text, "config/config.diff")
        client.set_tag(parent_run_id, "hpo.config_diff", "config/config.diff")
    else:
        client.set_tag(parent_run_id, "hpo.config_diff", "unchanged")


# --------------------------------------------------------------------------- MLflow plumbing


def _client(tracking_uri: str | None) -> MlflowClient:
    mlflow_without_sagemaker_plugin(tracking_uri)  # a local run does not pay for importing boto3
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)


def _experiment(client: MlflowClient, name: str, project: str) -> str:
    from mlflow.exceptions import MlflowException

    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        try:
            return client.create_experiment(name, tags={"hpo.project": project})
        except MlflowException as exc:  # created by a concurrent flow between the two calls
            if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
            experiment = client.get_experiment_by_name(name)
            assert experiment is not None
    if experiment.lifecycle_stage == "deleted":
        log.warning("MLflow experiment %r was deleted; restoring it to record this sweep", name)
        client.restore_experiment(experiment.experiment_id)
    return str(experiment.experiment_id)


def _find_parent(client: MlflowClient, experiment_id: str, sweep_name: str, config_hash: str) -> Run | None:
    runs = _search(
        client,
        experiment_id,
        f"tags.`{KIND}` = 'sweep' and tags.`{SWEEP}` = {_lit(sweep_name)} "
        f"and tags.`{CONFIG_HASH}` = {_lit(config_hash)}",
        order_by=["attributes.start_time ASC"],
    )
    return runs[0] if runs else None


def _children(client: MlflowClient, experiment_id: str, parent_id: str) -> dict[str, Run]:
    found: dict[str, Run] = {}
    for run in _search(client, experiment_id, f"tags.`{PARENT}` = {_lit(parent_id)}"):
        trial_id = run.data.tags.get(TRIAL_ID)
        if trial_id is not None:
            found.setdefault(trial_id, run)
    return found


def _find_child(client: MlflowClient, parent_id: str, trial_id: str) -> Run | None:
    parent = client.get_run(parent_id)
    runs = _search(
        client,
        parent.info.experiment_id,
        f"tags.`{PARENT}` = {_lit(parent_id)} and tags.`{TRIAL_ID}` = {_lit(trial_id)}",
    )
    return runs[0] if runs else None


def _search(client: MlflowClient, experiment_id: str, query: str, order_by: list[str] | None = None) -> list[Run]:
    runs: list[Run] = []
    token = None
    while True:
        page = client.search_runs([experiment_id], query, max_results=1000, order_by=order_by, page_token=token)
        runs.extend(page)
        token = page.token
        if not token:
            return runs


def _lit(value: str) -> str:
    """A string literal for MLflow's search syntax."""
    if "'" not in value:
        return f"'{value}'"
    if '"' not in value:
        return f'"{value}"'
    raise HpoFlowError(f"{value!r} contains both quote characters; MLflow search cannot match it")


def _log_redacted_file(client: MlflowClient, run_id: str, path: Path, artifact_dir: str) -> None:
    """Upload a copy of a text file with passwords in URLs masked; the tail only if it is huge."""
    with tempfile.TemporaryDirectory(prefix="hpo-log-") as tmp:
        target = Path(tmp) / path.name
        size = path.stat().st_size
        with path.open("rb") as src, target.open("w", encoding="utf-8") as dst:
            if size > _MAX_LOG_BYTES:
                src.seek(size - _MAX_LOG_BYTES)
                src.readline()  # start at a line boundary
                dst.write(f"[... first {size - _MAX_LOG_BYTES} bytes left out ...]\n")
            for raw in src:
                dst.write(redact_text(raw.decode("utf-8", errors="replace")))
        client.log_artifact(run_id, str(target), artifact_dir)


def _flat_params(params: dict[str, Any]) -> dict[str, str]:
    """Params as MLflow stores them (strings), secret-looking keys masked."""
    return {
        str(k): str(v) if isinstance(v, str | numbers.Number) else json.dumps(v, default=str)
        for k, v in redact(params).items()
    }


def _trials_digest(trials: Iterable[Trial]) -> str:
    blob = json.dumps(sorted((t.id, t.status.value, t.objective) for t in trials), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _ms(moment: datetime | None) -> int:
    return int((moment or datetime.now(UTC)).timestamp() * 1000)


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _num(value: float | None) -> str:
    if value is None:
        return "?"
    return str(int(value)) if float(value).is_integer() and abs(value) < 1e15 else repr(float(value))


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 20] + " ... [truncated]"


# --------------------------------------------------------------------------- Prefect tasks


@task(name="record-sweep-in-mlflow", retries=2, retry_delay_seconds=10, cache_policy=NO_CACHE)
def record_sweep_task(config: HpoConfig, ref: SweepRef, state: SweepState) -> str:
    run_id = record_sweep(config, ref, state)
    get_run_logger().info("MLflow: sweep %s is run %s, %d trials recorded", ref.name, run_id, len(state.trials))
    return run_id


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


@task(name="log-config-diff", retries=2, retry_delay_seconds=10, cache_policy=NO_CACHE)
def log_config_diff_task(parent_run_id: str, diff: str, tracking_uri: str | None = None) -> None:
    log_config_diff(parent_run_id, diff, tracking_uri)
