"""A trial whose place goes (a Ray node dying) is retried once, elsewhere; a retry lost as well is a
failure that counts, so a placement that loses everything ends the sweep instead of looping on it.

The runner's loop runs here in-process with a placement of the test's own (hpo_flow.adapters.local.hosts):
this machine's slots, every trial reported lost with its place when it ends, each lost slot replaced."""

from __future__ import annotations

import dataclasses
import itertools
from pathlib import Path
from typing import Any

import pytest

from hpo_flow.adapters.local.hosts import PlacementLost, ThisMachine
from hpo_flow.adapters.local.loop import SweepLoop
from hpo_flow.adapters.local.slots import Slot
from hpo_flow.adapters.local.state import RESULT_ATTR, RETRY_ATTR, SweepPaths, to_trial, write_spec
from hpo_flow.adapters.local.trial_io import RunningTrial, start_trial
from hpo_flow.adapters.port import SweepStatus
from hpo_flow.adapters.registry import registered
from hpo_flow.adapters.spec import HpoConfig
from tests.helpers import in_process_backend
from tests.local.sweep_helpers import local_config, write_trial_script

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


class LosesEveryPlace(ThisMachine):
    """CPU slots here; each trial's place is gone by the time it ends, and a new slot replaces it."""

    def __init__(self, spec: HpoConfig) -> None:
        super().__init__(spec)
        self.indexes = itertools.count(100)
        self.replacements: list[Slot] = []

    def start(self, *args: Any, **kwargs: Any) -> RunningTrial:  # type: ignore[override]
        running = start_trial(*args, **kwargs)
        running.proc.lost = "its test node died"
        return running

    def lost(self, slot: Slot) -> None:
        self.replacements.append(Slot(next(self.indexes)))

    def new_slots(self) -> list[Slot]:
        found, self.replacements = self.replacements, []
        return found


def run_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, placement: type[LosesEveryPlace], jobs: int
) -> tuple[SweepLoop, SweepStatus | None]:
    """A sweep of `jobs` trials, all at once, run here by the runner's loop with `placement`."""
    monkeypatch.chdir(tmp_path)
    write_trial_script(tmp_path)
    spec = local_config(tmp_path, {"tuning.max_jobs": jobs, "tuning.max_parallel_jobs": jobs})
    paths = SweepPaths.for_spec(spec, tmp_path)
    paths.root.mkdir(parents=True)
    write_spec(paths, spec, tmp_path)
    info = dataclasses.replace(
        in_process_backend("lossy", object()), trial_placement=lambda spec, _paths, _cwd: placement(spec)
    )
    with registered(info):
        loop = SweepLoop(spec, paths, tmp_path, role="runner", backend="lossy")
        return loop, loop.run()


def test_a_lost_trial_runs_once_more_and_a_lost_retry_counts_as_failed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    loop, status = run_loop(tmp_path, monkeypatch, LosesEveryPlace, jobs=2)
    trials = loop.study.get_trials(deepcopy=False)
    assert status is not None and status != SweepStatus.STOPPED
    first, retries = trials[:2], trials[2:]
    assert len(retries) == 2 and sorted(t.user_attrs[RETRY_ATTR] for t in retries) == [0, 1]
    for trial in first:
        record = trial.user_attrs[RESULT_ATTR]
        assert record["reason"] == "stopped: its test node died (it will be retried)" and not record["counts"]
    for trial in retries:
        record = trial.user_attrs[RESULT_ATTR]
        assert record["reason"] == "failed: its test node died, and it was already a retry: not retried again"
        assert record["counts"]


class LosesTheFirstStart(LosesEveryPlace):
    """The first start finds its place gone after its MLflow run was opened; later ones run as usual."""

    def start(self, *args: Any, **kwargs: Any) -> RunningTrial:  # type: ignore[override]
        if not self.replacements and next(self.indexes) == 100:
            raise PlacementLost("test slot is gone", tracking_run="run-of-trial-0")
        return start_trial(*args, **kwargs)


def test_a_trial_whose_place_went_before_it_started_is_retried_and_its_opened_run_goes_to_recording(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    loop, status = run_loop(tmp_path, monkeypatch, LosesTheFirstStart, jobs=1)
    assert status == SweepStatus.COMPLETED
    first, retry = loop.study.get_trials(deepcopy=False)
    assert first.user_attrs[RESULT_ATTR]["reason"] == "test slot is gone; retried as a new trial"
    # The run opened for it is handed to recording, which closes it with this failed trial.
    assert to_trial(first, loop.spec.tuning.objective_metric).tracking_run_id == "run-of-trial-0"
    assert retry.user_attrs[RETRY_ATTR] == 0 and retry.state.name == "COMPLETE"
