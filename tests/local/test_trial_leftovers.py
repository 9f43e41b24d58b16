"""What a trial leaves behind dies with it: a daemon it double-forks into a session of its own
(the way a data loader's server or a profiler escapes a process group) is killed when the trial
ends and when the sweep is cancelled; the trial's output.log stays within its cap on disk."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from hpo_flow.adapters.local import LocalAdapter
from hpo_flow.adapters.local.trial_io import LOG_BACKUP_SUFFIX
from hpo_flow.adapters.port import SweepRef, SweepStatus
from tests.local.sweep_helpers import alive, finish, local_config, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

# A trial that starts a daemon the classic way (fork, setsid, fork again: its parent is gone and it
# is in no process group of the trial's), then reports and exits, or keeps running with --hold.
DAEMON_TRIAL = r"""
import argparse, os, sys, time

p = argparse.ArgumentParser()
p.add_argument("--x", type=float, default=0.5)
p.add_argument("--pids", default="")
p.add_argument("--hold", type=int, default=0)
p.add_argument("--spam_mb", type=int, default=0)
a, _ = p.parse_known_args()
trial = os.environ["HPO_TRIAL_ID"]
if a.pids:
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            with open(os.path.join(a.pids, trial + ".daemon"), "w") as f:
                f.write(str(os.getpid()))
            os.closerange(0, 1024)
            time.sleep(600)
        os._exit(0)
    os.wait()
    deadline = time.time() + 10
    while not os.path.exists(os.path.join(a.pids, trial + ".daemon")) and time.time() < deadline:
        time.sleep(0.02)
line = ("x" * 1023 + "\n").encode()
for _ in range(a.spam_mb * 1024):
    sys.stdout.buffer.write(line)
sys.stdout.flush()
print(f"accuracy: {a.x:.4f}", flush=True)
while a.hold:
    time.sleep(0.1)
"""


def _sweep(
    tmp_path: Path, daemon: bool = True, hold: bool = False, spam_mb: int = 0, log_mb: int = 64
) -> tuple[LocalAdapter, SweepRef, Path]:
    code = tmp_path / "code"
    code.mkdir()
    (code / "train.py").write_text(DAEMON_TRIAL)
    pids = tmp_path / "pids"
    pids.mkdir()
    hyper = {"pids": str(pids) if daemon else "", "hold": int(hold), "spam_mb": spam_mb}
    spec = local_config(
        code,
        {
            "project": f"leftovers-{tmp_path.name}"[-40:],
            "training.hyperparameters": hyper,
            "tuning.max_jobs": 2,
            "tuning.hyperparameter_ranges": {"x": {"type": "continuous", "min": 0.0, "max": 1.0}},
            "backends.local.workdir": str(tmp_path / "work"),
            "backends.local.output_log_mb": log_mb,
        },
    )
    adapter = LocalAdapter()
    return adapter, adapter.submit(spec), pids


def _daemons(pids: Path) -> list[int]:
    return [int(p.read_text()) for p in sorted(pids.glob("*.daemon")) if p.read_text().strip()]


def _gone(found: list[int], timeout: float = 10) -> list[int]:
    deadline = time.monotonic() + timeout
    while (left := [p for p in found if alive(p)]) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


def test_a_daemon_a_trial_started_dies_when_the_trial_ends(tmp_path: Path) -> None:
    adapter, ref, pids = _sweep(tmp_path)
    state = finish(adapter, ref)
    assert state.status == SweepStatus.COMPLETED, state
    daemons = _daemons(pids)
    assert len(daemons) == 2, "each trial started its daemon"
    assert _gone(daemons) == [], "a trial's daemon outlived the trial"


def test_a_daemon_dies_when_the_sweep_is_cancelled(tmp_path: Path) -> None:
    adapter, ref, pids = _sweep(tmp_path, hold=True)
    wait_for(adapter, ref, lambda s: len(_daemons(pids)) >= 2)
    daemons = _daemons(pids)
    adapter.cancel(ref)
    state = finish(adapter, ref)
    assert state.status == SweepStatus.STOPPED
    assert _gone(daemons) == [], "a trial's daemon outlived the cancel"


def test_a_trial_that_prints_without_end_stays_within_its_log_cap(tmp_path: Path) -> None:
    cap = 2 * 2**20
    adapter, ref, _ = _sweep(tmp_path, daemon=False, spam_mb=3 * cap // 2**20, log_mb=cap // 2**20)
    state = finish(adapter, ref, timeout=150)
    assert state.status == SweepStatus.COMPLETED, state
    assert all(t.objective is not None for t in state.trials), "the metric after the flood was still read"
    for trial in state.trials:
        assert trial.log_path is not None
        log = Path(trial.log_path)
        kept = sum(p.stat().st_size for p in log.parent.glob("output.log*"))
        assert cap // 2 <= kept <= cap, f"{trial.id} keeps {kept} bytes of output for a cap of {cap}"
        assert log.with_name(log.name + LOG_BACKUP_SUFFIX).is_file()
        assert b"accuracy: " in log.read_bytes()[-4096:], "the newest output is the part kept"
