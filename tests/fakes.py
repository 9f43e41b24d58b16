"""An in-memory adapter that honours the port exactly: the flow's tests drive it to prove the
flow knows nothing of any backend. It lives in tests, not adapters: it is no backend."""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hpo_flow.adapters.errors import BackendError, PlanError, Problem
from hpo_flow.adapters.port import SweepRef, SweepState, SweepStatus, Trial, TrialStatus
from hpo_flow.adapters.spec import HpoConfig, RangeType


@dataclass
class _Sweep:
    spec: HpoConfig
    trials: list[Trial] = field(default_factory=list)
    status: SweepStatus = SweepStatus.RUNNING
    polls: int = 0
    warm: list[dict[str, Any]] = field(default_factory=list)  # tried first, as a local study does


class FakeAdapter:
    """Each poll finishes `per_poll` more trials; the objective is a smooth function of the params.

    `model_dir`, when given, is where each trial's model "lands" (a directory per trial): the
    flow registers whatever it finds there, so tests can put a real MLflow model in it.
    Every `fail_every`-th trial fails; every `prune_every`-th of the others is stopped early after
    two steps, as an early-stopping policy would.
    """

    backend = "fake"

    def __init__(
        self, per_poll: int = 2, model_dir: Path | None = None, fail_every: int = 0, prune_every: int = 0
    ) -> None:
        self.per_poll = per_poll
        self.model_dir = model_dir
        self.fail_every = fail_every
        self.prune_every = prune_every
        self.sweeps: dict[str, _Sweep] = {}
        self.submits = 0
        self.cancels = 0
        self._lock = threading.Lock()

    def plan(self, spec: HpoConfig) -> dict[str, Any]:
        problems = [
            Problem(f"tuning.hyperparameter_ranges.{name}.type", r.type.value, "the fake draws only bounded ranges")
            for name, r in spec.tuning.hyperparameter_ranges.items()
            if r.type in (RangeType.normal, RangeType.lognormal)
        ]
        if spec.tuning.warm_start is not None:
            problems.append(Problem("tuning.warm_start", spec.tuning.warm_start.parents, "the fake has no parents"))
        if problems:
            raise PlanError(self.backend, problems)
        return {
            "name": spec.sweep_name(),
            "max_jobs": spec.tuning.max_jobs,
            "ranges": sorted(spec.tuning.hyperparameter_ranges),
            "warm_points": spec.lineage.warm_points if spec.lineage else [],
        }

    def submit(self, spec: HpoConfig) -> SweepRef:
        self.plan(spec)
        name = spec.sweep_name()
        with self._lock:
            self.submits += 1
            known = self.sweeps.get(name)
            if known is not None and known.spec.config_hash() != spec.config_hash():
                raise BackendError(f"fake sweep {name!r} is a sweep of a different config")
            if known is None:
                self.sweeps[name] = _Sweep(spec=spec, warm=list(spec.lineage.warm_points) if spec.lineage else [])
        return SweepRef(backend=self.backend, name=name, cloud_id=f"fake://{name}")

    def poll(self, ref: SweepRef) -> SweepState:
        with self._lock:
            sweep = self.sweeps.get(ref.name)
            if sweep is None:
                raise BackendError(f"the fake has no sweep {ref.name!r}")
            sweep.polls += 1
            if sweep.status == SweepStatus.RUNNING:
                for _ in range(self.per_poll):
                    if len(sweep.trials) >= sweep.spec.tuning.max_jobs:
                        break
                    sweep.trials.append(self._trial(sweep, len(sweep.trials)))
                if len(sweep.trials) >= sweep.spec.tuning.max_jobs:
                    sweep.status = SweepStatus.COMPLETED
            return SweepState(status=sweep.status, trials=list(sweep.trials))

    def cancel(self, ref: SweepRef) -> None:
        with self._lock:
            self.cancels += 1
            sweep = self.sweeps.get(ref.name)
            if sweep and not sweep.status.is_terminal:
                sweep.status = SweepStatus.STOPPED

    def _trial(self, sweep: _Sweep, index: int) -> Trial:
        spec = sweep.spec
        rng = random.Random(index + (spec.tuning.random_seed or 0))
        params: dict[str, Any] = dict(sweep.warm[index]) if index < len(sweep.warm) else {}
        for name, r in spec.tuning.hyperparameter_ranges.items():
            if name in params:
                continue
            if r.type == RangeType.categorical:
                params[name] = rng.choice(r.values or [None])
            elif r.is_integral:
                params[name] = rng.randint(int(r.min or 0), int(r.max or 0))
            else:
                params[name] = rng.uniform(r.min or 0.0, r.max or 1.0)
        failed = bool(self.fail_every) and (index + 1) % self.fail_every == 0
        pruned = not failed and bool(self.prune_every) and (index + 1) % self.prune_every == 0
        score = 0.5 + 0.4 * (1 - abs(0.5 - rng.random()))
        curve = [(step, round(score * (step + 1) / 5, 6)) for step in range(2 if pruned else 5)]
        model_uri = None
        if self.model_dir is not None and not failed:
            later = f"g{spec.generation}" if spec.generation > 1 else ""  # a generation's models stay apart
            model_uri = str(self.model_dir / later / f"trial-{index}")
        now = datetime.now(UTC)
        status = TrialStatus.FAILED if failed else TrialStatus.PRUNED if pruned else TrialStatus.COMPLETED
        reason = "exit code 1: simulated failure" if failed else None
        if pruned:
            reason = f"stopped early by the fake's early stopping at step {curve[-1][0]}"
        return Trial(
            id=f"trial-{index}",
            params=params,
            status=status,
            objective=None if failed else curve[-1][1],
            metrics={} if failed else {spec.tuning.objective_metric: curve[-1][1]},
            curves={} if failed else {spec.tuning.objective_metric: curve},
            model_uri=model_uri,
            started_at=now,
            ended_at=now,
            failure_reason=reason,
        )
