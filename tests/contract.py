"""The adapter contract: every backend's test module subclasses `AdapterContract`.

A subclass provides seven fixtures:
- `adapter`: the adapter under test, wired to its (real, emulated or served) service;
- `spec`: an HpoConfig that the adapter can run to completion in a test;
- `finish`: a callable(ref) that makes the sweep reach a terminal state (waits for a local
  sweep, advances a served cloud sweep) and returns nothing;
- `faulty`: a callable() that runs a sweep on `adapter` to its end in which some trials fail and,
  where the backend stops trials early (`prunes`), some are pruned, and returns its SweepRef;
- `unknown_ref`: a well-formed SweepRef of a sweep the service has never heard of;
- `unsupported`: (a valid config this backend cannot run, the config keys its PlanError must name).
and may override two:
- `advance`: a callable(ref) that moves the service on by one step between two polls (a served
  cloud's simulated clock); by default a short real sleep;
- `long_spec`: a spec whose sweep is still running when it is cancelled right after its first poll
  (by default `spec`).

The checks on what a finished sweep reports are plain functions (`check_*`), so a test can show
that an adapter which breaks a promise fails them (tests/test_weak_adapter.py).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from datetime import datetime
from typing import ClassVar

import pytest

from hpo_flow.adapters import registry
from hpo_flow.adapters.errors import BackendError, PlanError
from hpo_flow.adapters.port import (
    SweepAdapter,
    SweepRef,
    SweepState,
    SweepStatus,
    Trial,
    TrialStatus,
    best_trial,
)
from hpo_flow.adapters.spec import HpoConfig, apply_overrides, parse_config

SCORED = (TrialStatus.COMPLETED, TrialStatus.PRUNED)  # trials that ran far enough to have a curve


class AdapterContract:
    cancel_bound_s: ClassVar[float] = 60.0  # a cancel reaches STOPPED, with no trial running, within this
    prunes: ClassVar[bool] = True  # the `faulty` sweep has PRUNED trials (False where the service cannot prune)
    # Trials carry the objective's curve. False only where the adapter cannot read one yet, saying why.
    reports_curves: ClassVar[bool] = True

    @pytest.fixture
    def advance(self) -> Callable[[SweepRef], None]:
        return lambda ref: time.sleep(0.05)

    @pytest.fixture
    def long_spec(self, spec: HpoConfig) -> HpoConfig:
        return spec

    def test_is_an_adapter(self, adapter: SweepAdapter) -> None:
        assert isinstance(adapter, SweepAdapter)
        assert adapter.backend in registry.names(), "an adapter's backend is a registered backend's name"

    def test_plan_is_plain_deterministic_data(self, adapter: SweepAdapter, spec: HpoConfig) -> None:
        first = adapter.plan(spec)
        second = adapter.plan(spec)
        assert isinstance(first, dict) and first
        assert json.dumps(first, sort_keys=True, default=str) == json.dumps(second, sort_keys=True, default=str)

    def test_submit_twice_attaches_to_the_same_sweep(
        self, adapter: SweepAdapter, spec: HpoConfig, finish: Callable[[SweepRef], None]
    ) -> None:
        ref = adapter.submit(spec)
        again = adapter.submit(spec)
        assert again.name == ref.name and again.cloud_id == ref.cloud_id
        assert SweepRef.from_json(ref.to_json()) == ref
        assert ref.backend == adapter.backend
        finish(ref)
        adapter.cancel(ref)  # leave nothing running whatever happened above

    def test_poll_reaches_a_terminal_state_with_a_best_trial(
        self, adapter: SweepAdapter, spec: HpoConfig, finish: Callable[[SweepRef], None]
    ) -> None:
        ref = adapter.submit(spec)
        finish(ref)
        state = adapter.poll(ref)
        assert isinstance(state, SweepState)
        assert state.status == SweepStatus.COMPLETED
        assert state.trials, "a completed sweep reports its trials"
        assert all(isinstance(t.status, TrialStatus) for t in state.trials)
        assert len({t.id for t in state.trials}) == len(state.trials)
        best = best_trial(state.trials, spec.objective)
        assert best is not None and best.objective is not None
        assert set(spec.tuning.hyperparameter_ranges) <= set(best.params)

    def test_finished_trials_carry_curves_models_and_times(
        self, adapter: SweepAdapter, spec: HpoConfig, finish: Callable[[SweepRef], None]
    ) -> None:
        ref = adapter.submit(spec)
        finish(ref)
        state = adapter.poll(ref)
        assert any(t.status == TrialStatus.COMPLETED for t in state.trials), state
        if self.reports_curves:
            check_curves(state, spec.tuning.objective_metric)
        check_model_uris(state)
        check_times(state)

    def test_failed_and_pruned_trials_say_why(self, adapter: SweepAdapter, faulty: Callable[[], SweepRef]) -> None:
        state = adapter.poll(faulty())
        assert state.status.is_terminal, state
        check_failure_reasons(state, prunes=self.prunes)
        check_times(state)

    def test_submit_after_the_end_attaches_and_starts_nothing(
        self,
        adapter: SweepAdapter,
        spec: HpoConfig,
        finish: Callable[[SweepRef], None],
        advance: Callable[[SweepRef], None],
    ) -> None:
        ref = adapter.submit(spec)
        finish(ref)
        before = adapter.poll(ref)
        again = adapter.submit(spec)
        check_reattached(adapter, ref, again, before, advance)

    def test_cancel_reaches_stopped_within_its_bound(
        self, adapter: SweepAdapter, long_spec: HpoConfig, advance: Callable[[SweepRef], None]
    ) -> None:
        ref = adapter.submit(long_spec)
        try:
            advance(ref)
            assert not adapter.poll(ref).status.is_terminal, "long_spec's sweep must still run when cancelled"
            adapter.cancel(ref)
            check_stops(adapter, ref, advance, self.cancel_bound_s)
        finally:
            adapter.cancel(ref)

    def test_cancel_is_safe_twice_and_after_the_end(
        self, adapter: SweepAdapter, spec: HpoConfig, finish: Callable[[SweepRef], None]
    ) -> None:
        ref = adapter.submit(spec)
        adapter.cancel(ref)
        adapter.cancel(ref)
        state = adapter.poll(ref)
        assert state.status in (SweepStatus.STOPPING, SweepStatus.STOPPED, SweepStatus.COMPLETED)
        assert not any(t.status == TrialStatus.RUNNING for t in state.trials if state.status.is_terminal)

    def test_cancel_after_the_end_changes_nothing(
        self, adapter: SweepAdapter, spec: HpoConfig, finish: Callable[[SweepRef], None]
    ) -> None:
        ref = adapter.submit(spec)
        finish(ref)
        before = adapter.poll(ref)
        adapter.cancel(ref)
        adapter.cancel(ref)
        after = adapter.poll(ref)
        assert before.status == after.status == SweepStatus.COMPLETED
        assert [(t.id, t.status, t.objective) for t in after.trials] == [
            (t.id, t.status, t.objective) for t in before.trials
        ]

    def test_the_same_name_with_a_different_config_is_refused(
        self, adapter: SweepAdapter, spec: HpoConfig, finish: Callable[[SweepRef], None]
    ) -> None:
        # Only a fixed tuning.sweep_name can give two configs one name; attaching would report the
        # other config's trials as this one's.
        fixed = with_overrides(spec, {"tuning.sweep_name": "contract-fixed"})
        other = with_overrides(fixed, {"tuning.max_jobs": spec.tuning.max_jobs + 1})
        assert fixed.sweep_name() == other.sweep_name() and fixed.config_hash() != other.config_hash()
        ref = adapter.submit(fixed)
        try:
            with pytest.raises(BackendError, match="different config"):
                adapter.submit(other)
            assert adapter.submit(fixed).name == ref.name  # the sweep's own config still attaches
        finally:
            finish(ref)
            adapter.cancel(ref)

    def test_polling_an_unknown_sweep_raises_backend_error(self, adapter: SweepAdapter, unknown_ref: SweepRef) -> None:
        with pytest.raises(BackendError):
            adapter.poll(unknown_ref)

    def test_an_unsupported_config_is_refused_with_every_reason(
        self, adapter: SweepAdapter, unsupported: tuple[HpoConfig, list[str]]
    ) -> None:
        config, keys = unsupported
        assert len(keys) >= 2, "the contract wants a config with several reasons to refuse it"
        for call in (adapter.plan, adapter.submit):  # submit refuses before anything is paid for
            with pytest.raises(PlanError) as info:
                call(config)
            assert info.value.backend == adapter.backend
            found = [p.path for p in info.value.problems]
            for key in keys:
                assert any(path.startswith(key) for path in found), f"{key} missing from {found}"
                assert key in str(info.value)


# ---------------------------------------------------------------------- the checks


def check_curves(state: SweepState, objective_metric: str) -> None:
    """Every completed or pruned trial has the objective's curve, step by step, ending at its objective."""
    scored = [t for t in state.trials if t.status in SCORED]
    assert scored, f"no completed or pruned trial to check: {state}"
    for trial in scored:
        curve = trial.curves.get(objective_metric)
        assert curve, f"{trial.id} ({trial.status}) has no curve of {objective_metric!r}: {sorted(trial.curves)}"
        steps = [step for step, _ in curve]
        assert all(isinstance(s, int) for s in steps) and steps == sorted(set(steps)), f"{trial.id}: steps {steps}"
        assert all(isinstance(v, float) and math.isfinite(v) for _, v in curve), f"{trial.id}: values {curve}"
        if trial.objective is not None:
            assert curve[-1][1] == pytest.approx(trial.objective), f"{trial.id}: curve ends {curve[-1]}"


def check_model_uris(state: SweepState) -> None:
    """Every completed trial says where its model went."""
    for trial in _with_status(state, TrialStatus.COMPLETED):
        assert isinstance(trial.model_uri, str) and trial.model_uri, f"{trial.id} is COMPLETED without a model_uri"


def check_times(state: SweepState) -> None:
    """Every trial that ran to an end of its own (completed, pruned, failed) has its start and end."""
    ended = [t for t in state.trials if t.status in (*SCORED, TrialStatus.FAILED)]
    assert ended, f"no ended trial to check: {state}"
    for trial in ended:
        start, end = trial.started_at, trial.ended_at
        assert isinstance(start, datetime) and start.tzinfo, f"{trial.id} ({trial.status}) started_at {start!r}"
        assert isinstance(end, datetime) and end.tzinfo, f"{trial.id} ({trial.status}) ended_at {end!r}"
        assert end >= start, f"{trial.id} ended {end} before it started {start}"


def check_failure_reasons(state: SweepState, prunes: bool = True) -> None:
    """A FAILED trial says why; a PRUNED one says it was stopped early."""
    failed = _with_status(state, TrialStatus.FAILED)
    assert failed, f"the faulty sweep has no FAILED trial: {[t.status for t in state.trials]}"
    for trial in failed:
        assert trial.failure_reason and trial.failure_reason.strip(), f"{trial.id} FAILED without a reason"
    if not prunes:
        return
    pruned = _with_status(state, TrialStatus.PRUNED)
    assert pruned, f"the faulty sweep has no PRUNED trial: {[t.status for t in state.trials]}"
    for trial in pruned:
        reason = (trial.failure_reason or "").lower()
        assert "early" in reason, f"{trial.id} PRUNED without saying it was stopped early: {trial.failure_reason!r}"


def check_reattached(
    adapter: SweepAdapter,
    ref: SweepRef,
    again: SweepRef,
    before: SweepState,
    advance: Callable[[SweepRef], None],
    rounds: int = 3,
) -> None:
    """A submit after the end is the same sweep, and no trial runs or appears for it afterwards."""
    assert before.status.is_terminal, before
    assert (again.name, again.cloud_id, again.workdir) == (ref.name, ref.cloud_id, ref.workdir)
    for _ in range(rounds):  # a sweep started again would show itself within a few steps
        advance(again)
        after = adapter.poll(again)
        assert after.status == before.status, f"the sweep went from {before.status} to {after.status}"
        assert [t.id for t in after.trials] == [t.id for t in before.trials], "a submit after the end added trials"


def check_stops(
    adapter: SweepAdapter, ref: SweepRef, advance: Callable[[SweepRef], None], bound_s: float
) -> SweepState:
    """Polled after a cancel: STOPPED, with no trial running or waiting, within `bound_s`."""
    deadline = time.monotonic() + bound_s
    while True:
        state = adapter.poll(ref)
        busy = [t.id for t in state.trials if not t.status.is_terminal]
        if state.status == SweepStatus.STOPPED and not busy:
            return state
        assert state.status in (SweepStatus.STOPPING, SweepStatus.STOPPED), f"a cancelled sweep is {state.status}"
        assert time.monotonic() < deadline, f"still {state.status} {bound_s}s after the cancel, trials {busy} busy"
        advance(ref)


def _with_status(state: SweepState, status: TrialStatus) -> list[Trial]:
    return [t for t in state.trials if t.status == status]


def with_overrides(spec: HpoConfig, overrides: dict[str, object]) -> HpoConfig:
    """The spec with dotted keys changed, validated again."""
    return parse_config(apply_overrides(spec.model_dump(mode="json", by_alias=True), overrides))


@pytest.fixture
def finish_noop() -> Callable[[SweepRef], None]:
    return lambda ref: None
