"""The sweep's result, computed once by the flow and handed to every task after the sweep ends:
its status, its best trial (none for a sweep the backend calls failed), the registered model
with the promotion decision, and the config diff write-back made or would make."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from hpo_flow.adapters.port import SweepRef, SweepState, SweepStatus, Trial, best_trial
from hpo_flow.adapters.spec import HpoConfig

if TYPE_CHECKING:
    from hpo_flow.tasks.tracking.registry import RegisteredModel


@dataclass(frozen=True)
class SweepResult:
    ref: SweepRef
    state: SweepState
    best: Trial | None  # the winner; None when no trial scored or the sweep failed
    model: RegisteredModel | None = None
    diff: str = ""
    written: bool = False
    config_note: str | None = None  # what write-back left alone and why

    @classmethod
    def of(cls, config: HpoConfig, ref: SweepRef, state: SweepState) -> SweepResult:
        # A sweep the backend calls failed is recorded for review but never promoted.
        best = best_trial(state.trials, config.objective) if state.status != SweepStatus.FAILED else None
        return cls(ref=ref, state=state, best=best)

    @property
    def status(self) -> SweepStatus:
        return self.state.status
