"""The adapter contract: every backend's test module subclasses `AdapterContract`.

A subclass provides three fixtures:
- `adapter`: the adapter under test, wired to its (real, emulated or served) service;
- `spec`: an HpoConfig that the adapter can run to completion in a test;
- `finish`: a callable(ref) that makes the sweep reach a terminal state (waits for a local
  sweep, advances a served cloud sweep) and returns nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from adapters.port import SweepAdapter, SweepRef, SweepState, SweepStatus, TrialStatus, best_trial
from adapters.spec import HpoConfig


class AdapterContract:
    def test_is_an_adapter(self, adapter: SweepAdapter) -> None:
        assert isinstance(adapter, SweepAdapter)
        assert adapter.backend in ("local", "sagemaker", "azure", "fake")

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

    def test_cancel_is_safe_twice_and_after_the_end(
        self, adapter: SweepAdapter, spec: HpoConfig, finish: Callable[[SweepRef], None]
    ) -> None:
        ref = adapter.submit(spec)
        adapter.cancel(ref)
        adapter.cancel(ref)
        state = adapter.poll(ref)
        assert state.status in (SweepStatus.STOPPING, SweepStatus.STOPPED, SweepStatus.COMPLETED)
        assert not any(t.status == TrialStatus.RUNNING for t in state.trials if state.status.is_terminal)


@pytest.fixture
def finish_noop() -> Callable[[SweepRef], None]:
    return lambda ref: None
