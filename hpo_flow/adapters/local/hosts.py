"""Where the runner's trials run: this machine's slots, or those of a backend that places them itself.

The sweep loop (search, early stopping, records) is the same for every placement; a placement
only says which slots there are, starts a trial in one, and lets go of them at the end. The local
backend's is `ThisMachine`; a backend that reuses the local runner and places its trials
elsewhere (Ray) names its own factory in its registry entry (`BackendInfo.trial_placement`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import optuna

from hpo_flow.adapters.local.slots import Slot, slots_for
from hpo_flow.adapters.local.state import SweepPaths
from hpo_flow.adapters.local.trial_io import RunningTrial, start_trial
from hpo_flow.adapters.spec import HpoConfig
from hpo_flow.adapters.trial_tracking import TrialTracking


class PlacementLost(RuntimeError):
    """A slot's place went away (a Ray node died) before its trial could start: the trial is retried,
    and does not count as a failure of the training code. `tracking_run` is the MLflow run already
    opened for it, which recording then closes with the failed trial instead of leaving it RUNNING."""

    def __init__(self, message: str, tracking_run: str | None = None) -> None:
        super().__init__(message)
        self.tracking_run = tracking_run


class PlacementFailed(RuntimeError):
    """No trial of the sweep can be placed as configured (no node can hold one): the sweep fails
    with this message, instead of waiting for ever."""


class TrialPlacement(Protocol):
    def first_slots(self) -> list[Slot]:
        """The slots to start with (at least one)."""
        ...

    def new_slots(self) -> list[Slot]:
        """Slots that became available since the last call."""
        ...

    def take_retired(self) -> list[Slot]:
        """Slots that went away since the last call; their running trial, if any, ends as lost."""
        ...

    def lost(self, slot: Slot) -> None:
        """The trial in `slot` was lost with its place: stop using the slot."""
        ...

    def start(
        self,
        spec: HpoConfig,
        paths: SweepPaths,
        cwd: Path,
        trial: optuna.trial.Trial,
        params: dict[str, Any],
        slot: Slot,
        tracking: TrialTracking | None = None,
    ) -> RunningTrial: ...

    def close(self) -> None: ...


class ThisMachine:
    """The local backend's placement: a fixed set of GPU or CPU slots on this machine."""

    def __init__(self, spec: HpoConfig, slots: list[Slot] | None = None) -> None:
        self.slots = slots if slots is not None else slots_for(spec.backends.local, spec.tuning.max_parallel_jobs)

    def first_slots(self) -> list[Slot]:
        return self.slots

    def new_slots(self) -> list[Slot]:
        return []

    def take_retired(self) -> list[Slot]:
        return []

    def lost(self, slot: Slot) -> None:
        return None

    start = staticmethod(start_trial)

    def close(self) -> None:
        return None


def placement_for(
    spec: HpoConfig, paths: SweepPaths, cwd: Path, backend: str, slots: list[Slot] | None = None
) -> TrialPlacement:
    """The placement of `backend`: this machine's slots unless its registry entry names another."""
    from hpo_flow.adapters import registry

    info = registry.backends().get(backend)
    if info is None or info.trial_placement is None:
        return ThisMachine(spec, slots)
    placement: TrialPlacement = info.create_placement(spec, paths, cwd)
    return placement
