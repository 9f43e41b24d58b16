"""What the local runner's integration tests share: a tiny trial script, configs, waiting, process checks."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hpo_flow.adapters.local import LocalAdapter
from hpo_flow.adapters.port import SweepRef, SweepState
from hpo_flow.adapters.spec import HpoConfig, parse_config
from tests.helpers import config_dict

# A trial script that behaves as its --mode says. It prints `loss: ...` and `accuracy: ...` lines
# (one step each), writes a model file, and records its pid (and any child's) under --pids.
TRIAL_SCRIPT = r"""
import argparse, math, os, signal, subprocess, sys, time

p = argparse.ArgumentParser()
p.add_argument("--x", type=float, default=0.5)
p.add_argument("--k", type=int, default=1)
p.add_argument("--mode", default="ok")
p.add_argument("--steps", type=int, default=3)
p.add_argument("--sleep", type=float, default=0.0)
p.add_argument("--pids", default="")
p.add_argument("--gate", default="")
a, _ = p.parse_known_args()
while a.gate and not os.path.exists(a.gate):  # hold the trial until the test opens the gate
    time.sleep(0.05)
trial = os.environ.get("HPO_TRIAL_ID", "none")
mode = a.mode
if a.pids:
    os.makedirs(a.pids, exist_ok=True)
    with open(os.path.join(a.pids, trial + ".pid"), "w") as f:
        f.write(str(os.getpid()))
if mode == "child" and a.pids:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    with open(os.path.join(a.pids, trial + ".child"), "w") as f:
        f.write(str(child.pid))
if mode == "stubborn":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
if mode == "fail":
    print("accuracy: 0.1")
    print("something went wrong", file=sys.stderr)
    print("ValueError: boom", file=sys.stderr)
    sys.exit(3)
if mode == "segv":
    os.kill(os.getpid(), signal.SIGSEGV)
if mode == "silent":
    print("no metric here")
    sys.exit(0)
if mode in ("hang", "stubborn", "child") and a.steps <= 0:
    while True:
        time.sleep(0.1)
score = 1.0 - (a.x - 0.3) ** 2 - 0.01 * a.k
if mode == "order":  # the first trial is good, every later one poor: what early stopping must catch
    score = 0.9 if trial == "trial-0000" else 0.1
if mode == "mixed":  # as "order", but the second trial fails: a sweep with each way a trial ends
    if trial == "trial-0001":
        print("ValueError: boom", file=sys.stderr)
        sys.exit(3)
    score = 0.9 if trial == "trial-0000" else 0.1
for step in range(1, a.steps + 1):
    print(f"epoch {step} loss: {1 - score * step / a.steps:.6f}")
    print(f"accuracy: {score * step / a.steps:.6f}", flush=True)
    time.sleep(a.sleep)
with open(os.path.join(os.environ["HPO_MODEL_DIR"], "model.txt"), "w") as f:
    f.write(str(score))
"""


def write_trial_script(directory: Path) -> Path:
    path = directory / "train.py"
    path.write_text(TRIAL_SCRIPT)
    return path


def local_config(source_dir: Path, overrides: dict[str, Any] | None = None) -> HpoConfig:
    """A fast local sweep over the trial script: x continuous, k integer, 2 CPU slots, no GPU."""
    return parse_config(local_config_dict(source_dir, overrides))


def local_config_dict(source_dir: Path, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    base: dict[str, Any] = {
        "project": "localtest",
        "training.entry_point": "train.py",
        "training.source_dir": str(source_dir),
        "training.hyperparameters": {"steps": 3, "mode": "ok"},
        "tuning.strategy": "Random",
        "tuning.max_jobs": 4,
        "tuning.max_parallel_jobs": 2,
        "tuning.random_seed": 3,
        "tuning.hyperparameter_ranges": {
            "x": {"type": "continuous", "min": 0.0, "max": 1.0},
            "k": {"type": "integer", "min": 1, "max": 4},
        },
        "backends.local.gpus": [],
        "backends.local.kill_grace_seconds": 1,
    }
    base.update(overrides or {})
    return config_dict(base)


def wait_for(
    adapter: LocalAdapter, ref: SweepRef, until: Callable[[SweepState], bool], timeout: float = 90
) -> SweepState:
    end = time.monotonic() + timeout
    while True:
        state = adapter.poll(ref)
        if until(state):
            return state
        if time.monotonic() > end:
            pytest.fail(f"sweep did not get there in {timeout}s: {state.status} {state.message} {state.trials}")
        time.sleep(0.1)


def finish(adapter: LocalAdapter, ref: SweepRef, timeout: float = 90) -> SweepState:
    return wait_for(adapter, ref, lambda s: s.status.is_terminal, timeout)


def alive(pid: int) -> bool:
    """A process that exists and is not a zombie (an orphan that init has not reaped yet is dead)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2] not in "ZX"


def recorded_pids(pid_dir: Path) -> list[int]:
    return [int(p.read_text()) for p in sorted(pid_dir.glob("*")) if p.read_text().strip()]
