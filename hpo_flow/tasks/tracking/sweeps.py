"""The sweeps a tracking store knows: what `hpo-flow list` shows and how `status`, `cancel` and
`logs` find a sweep's handle again (the `SweepRef` its parent run carries), whatever its backend."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from hpo_flow.adapters.errors import HpoFlowError
from hpo_flow.adapters.port import SweepRef
from hpo_flow.tasks.tracking.schema import (
    BACKEND,
    BEST_TRIAL_ID,
    CONFIG_HASH,
    OBJECTIVE_METRIC,
    OBJECTIVE_TYPE,
    PARENT,
    RUN_KIND,
    SWEEP_KIND,
    SWEEP_NAME,
    SWEEP_REF,
    SWEEP_STATUS,
    TRIAL_ID,
    TRIALS,
)
from hpo_flow.tasks.tracking.store import client_for, lit


class UnknownSweepError(HpoFlowError):
    """No sweep of that name (or config) has been recorded in the tracking store."""


@dataclass(frozen=True)
class KnownSweep:
    """A sweep as its MLflow parent run describes it."""

    ref: SweepRef
    experiment: str
    parent_run_id: str
    status: str
    trials: str
    best_trial: str | None
    started: datetime | None
    objective_metric: str
    objective_type: str  # Maximize or Minimize


def known_sweeps(tracking_uri: str | None, name: str | None = None, config_hash: str | None = None) -> list[KnownSweep]:
    """Every recorded sweep (or those of one name or config), newest first."""
    client = client_for(tracking_uri)
    experiments = {e.experiment_id: e.name for e in client.search_experiments(max_results=1000)}
    if not experiments:
        return []
    query = f"tags.`{RUN_KIND}` = {lit(SWEEP_KIND)}"
    if name is not None:
        query += f" and tags.`{SWEEP_NAME}` = {lit(name)}"
    if config_hash is not None:
        query += f" and tags.`{CONFIG_HASH}` = {lit(config_hash)}"
    found: list[KnownSweep] = []
    token = None
    while True:
        page = client.search_runs(
            list(experiments), query, max_results=1000, order_by=["attributes.start_time DESC"], page_token=token
        )
        for run in page:
            tags = run.data.tags
            raw = tags.get(SWEEP_REF)
            ref = SweepRef.from_json(raw) if raw else SweepRef(backend=tags.get(BACKEND, "?"), name=tags[SWEEP_NAME])
            found.append(
                KnownSweep(
                    ref=ref,
                    experiment=experiments.get(run.info.experiment_id, run.info.experiment_id),
                    parent_run_id=run.info.run_id,
                    status=tags.get(SWEEP_STATUS, run.info.status),
                    trials=tags.get(TRIALS, ""),
                    best_trial=tags.get(BEST_TRIAL_ID),
                    started=datetime.fromtimestamp(run.info.start_time / 1000, UTC) if run.info.start_time else None,
                    objective_metric=tags.get(OBJECTIVE_METRIC, "objective"),
                    objective_type=tags.get(OBJECTIVE_TYPE, "Maximize"),
                )
            )
        token = page.token
        if not token:
            return found


def find_sweep(tracking_uri: str | None, name: str | None = None, config_hash: str | None = None) -> KnownSweep:
    """The newest recorded sweep of this name (or config); UnknownSweepError names the known ones."""
    found = known_sweeps(tracking_uri, name=name, config_hash=config_hash)
    if found:
        return found[0]
    names = sorted({s.ref.name for s in known_sweeps(tracking_uri)})
    what = f"named {name!r}" if name else "for this config"
    known = f"; known sweeps: {', '.join(names)}" if names else "; it holds no sweep yet"
    raise UnknownSweepError(
        f"no sweep {what} is recorded in the tracking store {tracking_uri or '(MLflow default)'}{known}. "
        "`hpo-flow list` shows them; give a config.yaml or pass --tracking-uri to look elsewhere"
    )


def trial_log_artifacts(tracking_uri: str | None, sweep: KnownSweep, trial_id: str) -> list[str]:
    """Local copies of the log files recorded on a trial's MLflow run (none when it has no run yet)."""
    client = client_for(tracking_uri)
    runs = client.search_runs(
        [client.get_run(sweep.parent_run_id).info.experiment_id],
        f"tags.`{PARENT}` = {lit(sweep.parent_run_id)} and tags.`{TRIAL_ID}` = {lit(trial_id)}",
    )
    if not runs:
        return []
    run_id = runs[0].info.run_id
    return [client.download_artifacts(run_id, a.path) for a in client.list_artifacts(run_id, "logs") if not a.is_dir]
