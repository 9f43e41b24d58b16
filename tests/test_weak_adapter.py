"""The contract has teeth: an adapter that breaks each promise fails the check for it.

`WeakAdapter` is the fake with every promise of a finished sweep broken: no curves, no model_uri,
no timestamps, no failure reasons, a submit after the end that starts the sweep over, and a cancel
that never leaves STOPPING. Each contract test is run on it (as pytest would, with its fixtures
made here) and must fail with an AssertionError that names what is missing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest

from hpo_flow.adapters.port import SweepRef, SweepStatus, Trial
from hpo_flow.adapters.spec import HpoConfig
from tests.contract import AdapterContract
from tests.fakes import FakeAdapter, _Sweep
from tests.helpers import make_config

pytestmark = pytest.mark.unit


class WeakAdapter(FakeAdapter):
    def _trial(self, sweep: _Sweep, index: int) -> Trial:
        trial = super()._trial(sweep, index)
        return dataclasses.replace(
            trial, curves={}, model_uri=None, started_at=None, ended_at=None, failure_reason=None
        )

    def submit(self, spec: HpoConfig) -> SweepRef:
        known = self.sweeps.get(spec.sweep_name())
        if known is not None and known.status.is_terminal:
            del self.sweeps[spec.sweep_name()]  # "attaches" by starting the sweep again
        return super().submit(spec)

    def cancel(self, ref: SweepRef) -> None:
        sweep = self.sweeps.get(ref.name)
        if sweep and not sweep.status.is_terminal:
            sweep.status = SweepStatus.STOPPING  # and there it stays


class WeakContract(AdapterContract):
    cancel_bound_s = 0.3


def finish_on(adapter: FakeAdapter) -> Callable[[SweepRef], None]:
    def drive(ref: SweepRef) -> None:
        while not adapter.poll(ref).status.is_terminal:
            pass

    return drive


def faulty_on(adapter: FakeAdapter, spec: HpoConfig) -> Callable[[], SweepRef]:
    def run() -> SweepRef:
        adapter.fail_every, adapter.prune_every = 3, 2
        ref = adapter.submit(spec)
        finish_on(adapter)(ref)
        return ref

    return run


def fixtures(adapter: FakeAdapter) -> dict[str, Any]:
    spec = make_config()
    return {
        "adapter": adapter,
        "spec": spec,
        "long_spec": spec,
        "finish": finish_on(adapter),
        "faulty": faulty_on(adapter, spec),
        "advance": lambda ref: None,
    }


# Each new contract test, and what its failure on the weak adapter says.
NEW_CHECKS = {
    "test_finished_trials_carry_curves_models_and_times": "has no curve",
    "test_failed_and_pruned_trials_say_why": "without a reason",
    "test_submit_after_the_end_attaches_and_starts_nothing": "added trials|went from",
    "test_cancel_reaches_stopped_within_its_bound": "still STOPPING",
}


def run_contract_test(contract: AdapterContract, name: str, adapter: FakeAdapter) -> None:
    method = getattr(contract, name)
    wanted = method.__code__.co_varnames[1 : method.__code__.co_argcount]
    given = fixtures(adapter)
    method(**{arg: given[arg] for arg in wanted})


@pytest.mark.parametrize("name", sorted(NEW_CHECKS))
def test_the_weak_adapter_fails_each_new_check(name: str) -> None:
    with pytest.raises(AssertionError, match=NEW_CHECKS[name]):
        run_contract_test(WeakContract(), name, WeakAdapter())


@pytest.mark.parametrize("name", sorted(NEW_CHECKS))
def test_the_same_checks_pass_on_the_fake_it_weakens(name: str, tmp_path) -> None:
    run_contract_test(WeakContract(), name, FakeAdapter(model_dir=tmp_path))


@pytest.mark.parametrize(
    ("weakness", "message"),
    [
        ({"curves": {}}, "has no curve"),
        ({"model_uri": None}, "without a model_uri"),
        ({"started_at": None}, "started_at None"),
        ({"ended_at": None}, "ended_at None"),
    ],
)
def test_each_missing_field_alone_fails_the_finished_trials_check(
    weakness: dict[str, Any], message: str, tmp_path
) -> None:
    class OneWeakness(FakeAdapter):
        def _trial(self, sweep: _Sweep, index: int) -> Trial:
            return dataclasses.replace(super()._trial(sweep, index), **weakness)

    with pytest.raises(AssertionError, match=message):
        run_contract_test(
            WeakContract(), "test_finished_trials_carry_curves_models_and_times", OneWeakness(model_dir=tmp_path)
        )


def test_a_pruned_trial_must_say_it_was_stopped_early(tmp_path) -> None:
    class SilentPrune(FakeAdapter):
        def _trial(self, sweep: _Sweep, index: int) -> Trial:
            trial = super()._trial(sweep, index)
            return dataclasses.replace(trial, failure_reason="done") if trial.status == "PRUNED" else trial

    with pytest.raises(AssertionError, match="PRUNED without saying it was stopped early"):
        run_contract_test(WeakContract(), "test_failed_and_pruned_trials_say_why", SilentPrune(model_dir=tmp_path))
