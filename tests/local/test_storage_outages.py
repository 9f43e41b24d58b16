"""Transient storage faults are waited out (hpo_flow.adapters.local.outages): a PostgreSQL that goes
away for a while mid-sweep, a disk that is full for a moment while the journal is written."""

from __future__ import annotations

import contextlib
import errno
import os
import time
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest

from hpo_flow.adapters.local import LocalAdapter, journal
from hpo_flow.adapters.local.outages import is_transient, retry_call
from hpo_flow.adapters.local.state import SweepPaths, read_runner_pid
from hpo_flow.adapters.local.storage import StorageTarget, open_storage
from hpo_flow.adapters.port import SweepStatus, TrialStatus
from tests.local.sweep_helpers import finish, local_config, wait_for, write_trial_script
from tests.outages import Outage

_DIST = optuna.distributions.FloatDistribution(0.0, 1.0)


@pytest.mark.unit
def test_what_is_waited_out_and_what_is_not() -> None:
    from optuna.exceptions import StorageInternalError
    from sqlalchemy.exc import IntegrityError, OperationalError

    def wrapped(cause: BaseException) -> BaseException:
        try:
            raise StorageInternalError("An exception is raised during the commit.") from cause
        except StorageInternalError as exc:
            return exc

    assert is_transient(wrapped(OperationalError("SELECT 1", {}, Exception("server closed the connection"))))
    assert is_transient(OSError(errno.ENOSPC, "No space left on device"))
    assert is_transient(ConnectionRefusedError())
    assert not is_transient(wrapped(IntegrityError("INSERT", {}, Exception("duplicate key"))))
    assert not is_transient(ValueError("bad value"))
    assert not is_transient(OSError(errno.EACCES, "Permission denied"))


@pytest.mark.unit
def test_a_fault_that_outlasts_the_patience_goes_on() -> None:
    calls = 0

    def down() -> None:
        nonlocal calls
        calls += 1
        raise ConnectionRefusedError()

    started = time.monotonic()
    with pytest.raises(ConnectionRefusedError):
        retry_call(down, "test", patience=1.0)
    assert calls > 1 and time.monotonic() - started < 5


@pytest.mark.unit
def test_a_disk_full_mid_append_is_cut_back_and_retried_without_a_torn_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "study.journal"
    storage = open_storage(StorageTarget("journal", str(path)))
    study = optuna.create_study(study_name="s", storage=storage)
    real_write = os.write
    faults = 2

    def write(fd: int, data: bytes) -> int:  # the disk fills half way through a record, twice
        nonlocal faults
        if faults and len(data) > 8:
            faults -= 1
            real_write(fd, bytes(data)[: len(data) // 2])
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(journal.os, "write", write)
    study.add_trial(optuna.trial.create_trial(params={"x": 0.5}, distributions={"x": _DIST}, value=1.0))
    monkeypatch.undo()
    assert faults == 0
    again = optuna.load_study(study_name="s", storage=open_storage(StorageTarget("journal", str(path))))
    assert [t.params for t in again.trials] == [{"x": 0.5}], "the record is there once, and parses"
    assert not path.with_name("study.journal.torn").exists(), "nothing was left torn"


@pytest.fixture
def outage() -> Iterator[Outage]:
    proxy = Outage(("127.0.0.1", 5432))
    yield proxy
    proxy.close()


@pytest.mark.integration
@pytest.mark.timeout(240)
def test_postgresql_away_for_a_while_mid_sweep_does_not_end_it(
    tmp_path: Path, database: str, outage: Outage, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    write_trial_script(tmp_path)
    via_proxy = database.replace("127.0.0.1:5432", f"127.0.0.1:{outage.port}")
    spec = local_config(
        tmp_path,
        {
            "tuning.max_jobs": 6,
            "backends.local.storage": via_proxy,
            "training.hyperparameters": {"steps": 8, "sleep": 0.2},
        },
    )
    adapter = LocalAdapter()
    ref = adapter.submit(spec)
    try:
        wait_for(adapter, ref, lambda s: sum(t.status == TrialStatus.COMPLETED for t in s.trials) >= 1, timeout=120)
        runner = read_runner_pid(SweepPaths(Path(ref.workdir or "")))
        for seconds in (3, 3, 12):  # blips, then a PostgreSQL restart: each cut lands on another call
            outage.cut()
            time.sleep(seconds)  # the runner keeps its trials and waits
            outage.restore()
            time.sleep(1.5)
        state = finish(adapter, ref, timeout=150)
    finally:
        outage.restore()
        adapter.cancel(ref)
    runner_log = (Path(ref.workdir or "") / "runner.log").read_text()
    assert state.status == SweepStatus.COMPLETED, runner_log[-3000:]
    assert sum(t.status == TrialStatus.COMPLETED for t in state.trials) == 6, [(t.id, t.status) for t in state.trials]
    assert read_runner_pid(SweepPaths(Path(ref.workdir or ""))) == runner, "the runner died and was restarted"
    assert "retrying for up to" in runner_log and "back after" in runner_log, runner_log[-2000:]


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 16 MiB file system of the test's own (tmpfs), to fill; skipped where mounting is not allowed."""
    import shutil
    import subprocess

    mount = tmp_path / "disk"
    mount.mkdir()
    if shutil.which("mount") is None or os.geteuid() != 0:
        pytest.skip("mounting a small file system needs root")
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount)], capture_output=True)
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {made.stderr.decode(errors='replace').strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.mark.integration
@pytest.mark.timeout(240)
def test_a_disk_full_for_a_while_mid_sweep_does_not_end_it(
    tmp_path: Path, small_disk: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    write_trial_script(tmp_path)
    spec = local_config(
        tmp_path,
        {
            "tuning.max_jobs": 6,
            "backends.local.workdir": str(small_disk / "work"),
            "training.hyperparameters": {"steps": 8, "sleep": 0.2},
        },
    )
    adapter = LocalAdapter()
    ref = adapter.submit(spec)
    filler = small_disk / "filler"
    try:
        wait_for(adapter, ref, lambda s: sum(t.status == TrialStatus.COMPLETED for t in s.trials) >= 1, timeout=120)
        runner = read_runner_pid(SweepPaths(Path(ref.workdir or "")))
        with filler.open("wb") as f, contextlib.suppress(OSError):  # every block the file system has
            while True:
                f.write(b"\0" * 65536)
        time.sleep(8)  # the journal cannot grow, the trials' output cannot be kept
        filler.unlink()
        state = finish(adapter, ref, timeout=150)
    finally:
        filler.unlink(missing_ok=True)
        adapter.cancel(ref)
    runner_log = (Path(ref.workdir or "") / "runner.log").read_text()
    assert state.status == SweepStatus.COMPLETED, runner_log[-3000:]
    # The budget is spent, no more: a trial whose own writes met the full disk failed by its own
    # doing and counts (as a failed training job does on SageMaker); none was lost or run twice.
    shown = [(t.id, t.status, t.failure_reason) for t in state.trials]
    assert len(state.trials) == 6 and sum(t.status == TrialStatus.COMPLETED for t in state.trials) >= 2, shown
    assert all(
        t.status == TrialStatus.COMPLETED or "No space left on device" in (t.failure_reason or "") for t in state.trials
    ), shown
    assert read_runner_pid(SweepPaths(Path(ref.workdir or ""))) == runner, "the runner died and was restarted"
    assert "No space left on device" in runner_log and "back after" in runner_log, runner_log[-2000:]
    reread = optuna.load_study(
        study_name=spec.sweep_name(),
        storage=open_storage(StorageTarget("journal", str(Path(ref.workdir or "") / "study.journal"))),
    )
    assert len(reread.trials) == len(state.trials), "the journal reads back whole"
