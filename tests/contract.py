"""The adapter contract: every backend's test module subclasses `AdapterContract`.

A subclass provides five fixtures:
- `adapter`: the adapter under test, wired to its (real, emulated or served) service;
- `spec`: an HpoConfig that the adapter can run to completion in a test;
- `finish`: a callable(ref) that makes the sweep reach a terminal state (waits for a local
  sweep, advances a served cloud sweep) and returns nothing;
- `unknown_ref`: a well-formed SweepRef of a sweep the service has never heard of;
- `unsupported`: (a valid config this backend cannot run, the config keys its PlanError must name).
"""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from hpo_flow.adapters.errors import BackendError, PlanError
from hpo_flow.adapters.port import SweepAdapter, SweepRef, SweepState, SweepStatus, TrialStatus, best_trial
from hpo_flow.adapters.spec import HpoConfig, apply_overrides, parse_config


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


def with_overrides(spec: HpoConfig, overrides: dict[str, object]) -> HpoConfig:
    """The spec with dotted keys changed, validated again."""
    return parse_config(apply_overrides(spec.model_dump(mode="json", by_alias=True), overrides))


@pytest.fixture
def finish_noop() -> Callable[[SweepRef], None]:
    return lambda ref: None
