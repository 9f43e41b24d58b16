"""`LocalAdapter.wait_for_change`: the flow's pause between polls ends when the sweep has news."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from hpo_flow.adapters.local import LocalAdapter
from hpo_flow.adapters.local.state import SweepPaths, write_spec
from hpo_flow.adapters.local.storage import storage_target
from hpo_flow.adapters.port import SweepRef
from tests.local.sweep_helpers import local_config, write_trial_script

pytestmark = pytest.mark.unit


@pytest.fixture
def sweep(tmp_path: Path) -> tuple[SweepRef, Path]:
    """A sweep directory as submit leaves it, without a runner: nothing changes unless the test says."""
    spec = local_config(write_trial_script(tmp_path))
    paths = SweepPaths.for_spec(spec, tmp_path)
    paths.root.mkdir(parents=True)
    write_spec(paths, spec, tmp_path)
    journal = Path(storage_target(spec, paths.root).location)
    journal.write_text("")
    return SweepRef(backend="local", name=spec.sweep_name(), workdir=str(paths.root)), journal


def test_returns_as_soon_as_the_study_journal_grows(sweep: tuple[SweepRef, Path]) -> None:
    ref, journal = sweep
    appended = threading.Event()

    def a_trial_ends() -> None:
        time.sleep(0.3)
        with journal.open("a") as f:
            f.write('{"op_code": 6}\n')
        appended.set()

    threading.Thread(target=a_trial_ends, daemon=True).start()
    start = time.monotonic()
    LocalAdapter().wait_for_change(ref, 60)
    assert appended.is_set() and time.monotonic() - start < 30  # not the 60 s timeout


def test_waits_the_whole_timeout_when_nothing_happens(sweep: tuple[SweepRef, Path]) -> None:
    ref, _ = sweep
    start = time.monotonic()
    LocalAdapter().wait_for_change(ref, 0.5)
    assert time.monotonic() - start >= 0.5
