"""Which sweep a flow run drives, from what MLflow recorded of the config's earlier sweeps.

The rule itself is `hpo_flow.adapters.lifecycle.decide`; this module reads its input (the generations
of this config and code on this backend: parent runs tagged with the config hash, the backend
and the generation, and whether the flow finished recording them) and writes the mark that
closes a sweep's record, after which the next flow run starts the next generation.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from prefect import task
from prefect.cache_policies import NO_CACHE

from hpo_flow.adapters import registry
from hpo_flow.adapters.lifecycle import Decision, Generation, decide, for_generation, identify, warm_points
from hpo_flow.adapters.port import Trial, TrialStatus
from hpo_flow.adapters.spec import HpoConfig
from hpo_flow.tasks.runlog import run_logger
from hpo_flow.tasks.tracking.schema import (
    BACKEND,
    CONFIG_HASH,
    GENERATION,
    NOTE,
    PROMOTION,
    RECORDED,
    RUN_KIND,
    SWEEP_KIND,
    SWEEP_NAME,
    TRIAL_STATUS,
    TRUE,
    flag,
    read_objective,
)
from hpo_flow.tasks.tracking.store import child_runs, client_for, lit, search

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities import Run

_PROMOTION_HEADING = "\n\n**Promotion**: "


def generations(config: HpoConfig, backend: str) -> list[tuple[Generation, Run]]:
    """The recorded sweeps of this config and code on this backend, oldest first."""
    client = client_for(config.mlflow.tracking_uri)
    experiment = client.get_experiment_by_name(config.experiment_name)
    if experiment is None:
        return []
    query = (
        f"tags.`{RUN_KIND}` = {lit(SWEEP_KIND)} and tags.`{CONFIG_HASH}` = {lit(config.config_hash())} "
        f"and tags.`{BACKEND}` = {lit(backend)}"
    )
    found: dict[int, tuple[Generation, Run]] = {}
    for run in search(client, experiment.experiment_id, query, order_by=["attributes.start_time ASC"]):
        tags = run.data.tags
        number = int(tags.get(GENERATION, "1"))
        generation = Generation(number=number, name=tags.get(SWEEP_NAME, ""), recorded=flag(tags, RECORDED))
        found.setdefault(number, (generation, run))
    return [found[n] for n in sorted(found)]


def earlier_trials(client: MlflowClient, runs: list[Run]) -> list[Trial]:
    """The trials recorded under earlier generations' parent runs, with their objective."""
    trials: list[Trial] = []
    for parent in runs:
        for trial_id, run in child_runs(client, parent.info.experiment_id, parent.info.run_id).items():
            tags = run.data.tags
            try:
                status = TrialStatus(tags.get(TRIAL_STATUS, ""))
            except ValueError:
                continue
            _, objective = read_objective(tags)
            trials.append(Trial(id=trial_id, params=dict(run.data.params), status=status, objective=objective))
    return trials


def choose_sweep(
    config: HpoConfig, config_path: str | Path, backend: str, *, new_sweep: bool = False, attach: str | None = None
) -> tuple[HpoConfig, Decision]:
    """The spec of the sweep this run drives (its generation and warm start), and why that one."""
    identified = identify(config, config_path)
    history = generations(identified, backend)
    decision = decide([g for g, _ in history], new_sweep=new_sweep, attach=attach)
    earlier = [run for g, run in history if g.number < decision.generation and g.recorded]  # as decide's parents
    points = []
    if earlier and registry.get(backend).warm_start:
        points = warm_points(earlier_trials(client_for(config.mlflow.tracking_uri), earlier), identified)
    return for_generation(identified, decision, points), decision


@task(name="choose-sweep", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=10)
def choose_sweep_task(
    config: HpoConfig, config_path: str, backend: str, new_sweep: bool = False, attach: str | None = None
) -> tuple[HpoConfig, Decision]:
    spec, decision = choose_sweep(config, config_path, backend, new_sweep=new_sweep, attach=attach)
    warm = spec.lineage.warm_points if spec.lineage else []
    note = ""
    if warm and not decision.attach:
        note = f", warm-started: {len(warm)} earlier best value set(s) to try first"
    elif spec.generation > 1 and not decision.attach and not registry.get(backend).warm_start:
        note = f", cold: {backend} sweeps cannot warm-start"
    run_logger().info("sweep %s (generation %d): %s%s", spec.sweep_name(), spec.generation, decision.reason, note)
    return spec, decision


def mark_recorded(tracking_uri: str, parent_run_id: str, promotion: str | None) -> None:
    """Close the sweep's record: the next flow run of this config starts the next generation.
    The promotion decision goes on the parent run's tags and at the end of its description."""
    client = client_for(tracking_uri)
    if promotion:
        note = client.get_run(parent_run_id).data.tags.get(NOTE, "")
        note = note.split(_PROMOTION_HEADING)[0] + _PROMOTION_HEADING + promotion
        client.set_tag(parent_run_id, NOTE, note[:5000])
        client.set_tag(parent_run_id, PROMOTION, promotion[:5000])
    client.set_tag(parent_run_id, RECORDED, TRUE)  # last: a crash before it means "attach next time"


@task(name="close-sweep-record", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=10)
def mark_recorded_task(tracking_uri: str, parent_run_id: str, promotion: str | None) -> None:
    mark_recorded(tracking_uri, parent_run_id, promotion)
