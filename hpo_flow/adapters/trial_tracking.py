"""A trial's own tracking run, for backends that start trial processes themselves (local).

On Azure ML every trial is an MLflow run of its own: the script's `mlflow.log_metric` and autolog
land there and the sweep reads its objective from it. A local trial gets the same: before it
starts, the runner opens a run for it in the config's MLflow (`MLFLOW_TRACKING_URI`,
`MLFLOW_RUN_ID`, `MLFLOW_EXPERIMENT_ID` in its environment), reads the metrics the script logged
there, and the flow records the trial in that run instead of a new one.

The adapters know nothing of MLflow: the tracking layer provides the implementation through the
`hpo_flow.trial_tracking` entry point group (pyproject.toml), found here. Without one installed, or
where the config names no tracking store, a trial simply has no run of its own.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from hpo_flow.adapters.spec import HpoConfig

ENTRY_POINT_GROUP = "hpo_flow.trial_tracking"
log = logging.getLogger("hpo_flow.local")


@dataclass(frozen=True)
class TrialRun:
    run_id: str
    env: dict[str, str] = field(repr=False)  # may hold the tracking URI's password: never printed


@runtime_checkable
class TrialTracking(Protocol):
    def open(self, sweep_name: str, trial_id: str) -> TrialRun | None:
        """A run for the trial about to start, or None where the store cannot be reached now (the
        trial then runs without one: it must not wait on a tracking outage)."""
        ...

    def histories(self, run_id: str, names: Iterable[str] | None = None) -> dict[str, list[tuple[int, float]]]:
        """Each metric the run holds (or each of `names`) as [(step, value)], by step; {} when unreadable."""
        ...


def trial_tracking(spec: HpoConfig) -> TrialTracking | None:
    """The installed provider's tracking for this spec's store, or None (none installed, none named)."""
    for point in entry_points(group=ENTRY_POINT_GROUP):
        try:
            factory = point.load()
        except Exception as exc:  # a broken provider costs the trials their runs, not the sweep
            log.warning("trial tracking %r does not load (%s); trials run without runs of their own", point.name, exc)
            return None
        found: TrialTracking | None = factory(spec)
        return found
    return None
