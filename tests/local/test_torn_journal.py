"""A journal whose last record was torn (a power cut inside the fsync window, a full disk) is cut
back to its last whole record, with the torn bytes kept aside, before anything is appended; a
record damaged elsewhere is one error line naming the file, the line and the way out."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import optuna
import pytest

from hpo_flow.adapters.errors import BackendError
from hpo_flow.adapters.local import LocalAdapter
from hpo_flow.adapters.local.journal import TORN_SUFFIX
from hpo_flow.adapters.local.state import SweepPaths, read_runner_pid
from hpo_flow.adapters.local.storage import JOURNAL_FILE, StorageTarget, open_storage
from hpo_flow.adapters.port import SweepStatus, TrialStatus
from tests.local.sweep_helpers import finish, local_config, wait_for, write_trial_script

STUDY = "torn"


def _journal(tmp_path: Path, trials: int = 3) -> Path:
    path = tmp_path / JOURNAL_FILE
    study = optuna.create_study(study_name=STUDY, storage=open_storage(StorageTarget("journal", str(path))))
    for i in range(trials):
        study.add_trial(optuna.trial.create_trial(params={"x": float(i)}, distributions={"x": _DIST}, value=i))
    return path


_DIST = optuna.distributions.FloatDistribution(0.0, 10.0)


def _reopen(path: Path) -> optuna.Study:
    return optuna.load_study(study_name=STUDY, storage=open_storage(StorageTarget("journal", str(path))))


def _cut(path: Path, count: int) -> bytes:
    data = path.read_bytes()
    path.write_bytes(data[:-count])
    return data


@pytest.mark.unit
def test_a_torn_last_record_is_cut_aside_and_appends_after_it_stay_readable(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = _journal(tmp_path)
    whole = _cut(path, 40)
    last_start = whole.rstrip(b"\n").rfind(b"\n") + 1
    with caplog.at_level("WARNING", logger="hpo_flow.local"):
        study = _reopen(path)
    assert path.read_bytes() == whole[:last_start], "cut back to the last whole record"
    assert (tmp_path / (JOURNAL_FILE + TORN_SUFFIX)).read_bytes() == whole[last_start:-40] + b"\n"
    assert any("torn last record" in r.getMessage() for r in caplog.records)
    kept = len(study.trials)
    study.add_trial(optuna.trial.create_trial(params={"x": 9.0}, distributions={"x": _DIST}, value=9))
    again = _reopen(path)  # a new reader parses every record: nothing was glued onto a torn line
    assert len(again.trials) == kept + 1
    assert [t.value for t in again.trials][-1] == 9


@pytest.mark.unit
def test_a_last_record_of_zeros_with_a_newline_is_torn_too(tmp_path: Path) -> None:
    path = _journal(tmp_path)
    with path.open("ab") as f:
        f.write(b"\0" * 30 + b"\n")
    study = _reopen(path)
    assert len(study.trials) == 3
    study.add_trial(optuna.trial.create_trial(params={"x": 1.0}, distributions={"x": _DIST}, value=1))
    assert len(_reopen(path).trials) == 4


@pytest.mark.unit
def test_a_whole_journal_is_left_as_it_is(tmp_path: Path) -> None:
    path = _journal(tmp_path)
    before = path.read_bytes()
    assert len(_reopen(path).trials) == 3
    assert path.read_bytes() == before
    assert not (tmp_path / (JOURNAL_FILE + TORN_SUFFIX)).exists()


@pytest.mark.unit
def test_a_record_damaged_in_the_middle_is_one_line_naming_file_line_and_way_out(tmp_path: Path) -> None:
    path = _journal(tmp_path)
    lines = path.read_bytes().splitlines(keepends=True)
    lines[2] = b'{"op_code": 4, "broken\n'
    path.write_bytes(b"".join(lines))
    with pytest.raises(BackendError) as damaged:
        _reopen(path)
    message = str(damaged.value)
    assert "\n" not in message
    assert str(path) in message and "line 3" in message and "move it aside" in message
    assert path.read_bytes() == b"".join(lines), "a damaged middle is never cut: it is the user's to decide"


@pytest.mark.integration
@pytest.mark.timeout(180)
def test_a_runner_killed_then_its_journal_torn_resumes_with_every_finished_trial(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    write_trial_script(tmp_path)
    spec = local_config(tmp_path, {"tuning.max_jobs": 6, "training.hyperparameters": {"steps": 6, "sleep": 0.1}})
    adapter = LocalAdapter()
    ref = adapter.submit(spec)
    # Each `hpo-flow run` is a process of its own: the reader that saw the journal whole is gone
    # by the time the next one opens it (a reader kept across the cut would hold stale offsets).
    resumed = LocalAdapter()
    try:
        before = wait_for(adapter, ref, lambda s: sum(t.status == TrialStatus.COMPLETED for t in s.trials) >= 2)
        runner = read_runner_pid(SweepPaths(Path(ref.workdir or "")))
        assert runner is not None
        os.kill(runner, signal.SIGKILL)
        wait_for(adapter, ref, lambda s: s.status.is_terminal, timeout=20)
        journal = Path(ref.workdir or "") / JOURNAL_FILE
        _cut(journal, 40)

        assert resumed.submit(spec) == ref
        after = finish(resumed, ref, timeout=120)
    finally:
        resumed.cancel(ref)
    assert after.status == SweepStatus.COMPLETED, after.message
    completed = {t.id: t for t in after.trials if t.status == TrialStatus.COMPLETED}
    assert len(completed) == 6
    finished_before = [t for t in before.trials if t.status == TrialStatus.COMPLETED]
    assert all(t.id in completed for t in finished_before), "a finished trial was lost"
    assert (journal.parent / (JOURNAL_FILE + TORN_SUFFIX)).is_file()
