"""Each local trial's own MLflow run (hpo_flow.adapters.trial_tracking), opened by the runner.

The run is made a child of nothing yet: the sweep's parent run is the flow's to find or create
(`recording._parent`), and recording adopts the trial's run as a child (`Trial.tracking_run_id`).
Its tags are the ones every trial run carries, so `hpo-flow` and the MLflow UI find it from the start.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from hpo_flow.adapters.trial_tracking import TrialRun
from hpo_flow.tasks.tracking.schema import RUN_KIND, SWEEP_NAME, TRIAL_ID, TRIAL_KIND
from hpo_flow.tasks.tracking.store import absolute_uri

log = logging.getLogger("hpo_flow.local")  # it runs in the local runner, and speaks in its log

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from hpo_flow.adapters.spec import HpoConfig

# The runner's loop waits on these calls: a tracking outage costs a trial its run, not the sweep minutes.
_QUICK = {"MLFLOW_HTTP_REQUEST_TIMEOUT": "10", "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1"}


def tracking_uri(spec: HpoConfig) -> str | None:
    """Where the trials' runs go: the config's store, else MLFLOW_TRACKING_URI; absolute, since the
    trial runs in a folder of its own (a stray mlflow.db there is where autolog once wrote)."""
    uri = spec.mlflow.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI")
    return absolute_uri(uri) if uri else None


class MlflowTrialRuns:
    """TrialTracking on the config's MLflow."""

    def __init__(self, spec: HpoConfig, uri: str) -> None:
        self.spec = spec
        self.uri = uri
        self._client: MlflowClient | None = None
        self._experiment_id: str | None = None

    @classmethod
    def for_spec(cls, spec: HpoConfig) -> MlflowTrialRuns | None:
        """Runs for this spec's trials where `mlflow.trial_runs` asks for them (by default: where the
        objective is read from them) and a store is named."""
        wanted = spec.mlflow.trial_runs
        if wanted is None:
            wanted = spec.training.metric(spec.tuning.objective_metric) is None
        uri = tracking_uri(spec) if wanted else None
        return cls(spec, uri) if uri else None

    def open(self, sweep_name: str, trial_id: str) -> TrialRun | None:
        from mlflow.exceptions import MlflowException

        try:
            with _quick():
                client = self._connect()
                assert self._experiment_id is not None
                run = client.create_run(
                    self._experiment_id,
                    tags={RUN_KIND: TRIAL_KIND, SWEEP_NAME: sweep_name, TRIAL_ID: trial_id},
                    run_name=trial_id,
                )
        except (MlflowException, OSError) as exc:
            log.warning("%s: no MLflow run of its own (%s); its metrics are read from its output only", trial_id, exc)
            return None
        env = {
            "MLFLOW_TRACKING_URI": self.uri,
            "MLFLOW_RUN_ID": run.info.run_id,
            "MLFLOW_EXPERIMENT_ID": self._experiment_id,
        }
        return TrialRun(run.info.run_id, env)

    def histories(self, run_id: str, names: Iterable[str] | None = None) -> dict[str, list[tuple[int, float]]]:
        from mlflow.exceptions import MlflowException

        try:
            with _quick():
                client = self._connect()
                keys = list(names) if names is not None else list(client.get_run(run_id).data.metrics)
                found = {}
                for key in keys:
                    points = client.get_metric_history(run_id, key)
                    if points:
                        # One value per step (the last logged wins, as the MLflow UI's chart shows).
                        by_step = {int(m.step): float(m.value) for m in sorted(points, key=lambda m: m.timestamp)}
                        found[key] = sorted(by_step.items())
                return found
        except (MlflowException, OSError) as exc:
            log.warning("run %s: metrics not read (%s)", run_id, exc)
            return {}

    def _connect(self) -> MlflowClient:
        if self._client is None:
            from hpo_flow.tasks.tracking.store import client_for, ensure_experiment

            client = client_for(self.uri)
            self._experiment_id = ensure_experiment(client, self.spec.experiment_name, self.spec.project)
            self._client = client
        return self._client


@contextlib.contextmanager
def _quick() -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in _QUICK}
    os.environ.update(_QUICK)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
