"""Overhead of the local runner per trial, against the floor of running the same processes bare.

200 trivial trials (a child Python that prints one metric line), 2 at a time:
- floor: a ThreadPoolExecutor(2), each trial started exactly as the runner starts one
  (`hpo_flow.adapters.local.process.launch`: this interpreter, its own session, the death-signal wrapper,
  stdout and stderr on pipes) and its output matched with the metric regex. A new session
  matters: under load the kernel schedules each session as its own group, so a floor started
  in our session runs faster than the runner's trials can, and the ratio read below 1;
- adapter: `LocalAdapter.submit` + `poll` to the end, with the default durable storage
  (Optuna's journal file), Random sampling, every trial recorded in the study.
Both run in the same process, one after the other, several rounds alternating (the order flips
each round), so a busy machine hurts both alike; each round's ratio is printed, then the medians.
Goal: adapter/floor <= 1.5 per trial.

`adapter (sweep)` is submit to COMPLETED, so it includes starting the runner process once per
sweep (importing Optuna); `adapter (trials)` is first trial start to last trial end, the steady
per-trial cost. Run: `.venv/bin/python bench/overhead.py [--trials 200] [--rounds 3]`.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from hpo_flow.adapters.local import LocalAdapter
from hpo_flow.adapters.local.process import launch
from hpo_flow.adapters.port import SweepState
from hpo_flow.adapters.spec import HpoConfig, parse_config

TRIAL = 'print("accuracy: 0.5")\n'
REGEX = r"accuracy: ([0-9.]+)"


def bare(script: Path, trials: int, parallel: int) -> float:
    pattern = re.compile(REGEX)
    env = dict(os.environ) | {"PYTHONUNBUFFERED": "1"}

    def one(i: int) -> float:
        proc = launch([sys.executable, str(script), "--x", str(i / trials)], script.parent, env)
        out, _ = proc.communicate()
        assert proc.returncode == 0
        match = pattern.search(out.decode())
        assert match is not None
        return float(match.group(1))

    start = time.perf_counter()
    with ThreadPoolExecutor(parallel) as pool:
        values = list(pool.map(one, range(trials)))
    assert len(values) == trials
    return time.perf_counter() - start


def sweep_spec(workdir: Path, trials: int, parallel: int, name: str) -> HpoConfig:
    """A Random sweep of `trials` runs of workdir/trial.py, each printing `accuracy: 0.5`."""
    return parse_config(
        {
            "project": "overhead",
            "training": {
                "entry_point": "trial.py",
                "source_dir": str(workdir),
                "metric_definitions": [{"Name": "accuracy", "Regex": REGEX}],
            },
            "tuning": {
                "strategy": "Random",
                "sweep_name": name,
                "max_jobs": trials,
                "max_parallel_jobs": parallel,
                "objective_metric": "accuracy",
                "random_seed": 1,
                "hyperparameter_ranges": {"x": {"type": "continuous", "min": 0.0, "max": 1.0}},
            },
            "backends": {"local": {"gpus": [], "workdir": str(workdir / ".hpo")}},
        }
    )


def run_to_end(spec: HpoConfig) -> tuple[SweepState, float, float]:
    """(final state, seconds from submit to COMPLETED, wall-clock time of the submit)."""
    local = LocalAdapter()
    start = time.perf_counter()
    wall_start = time.time()
    ref = local.submit(spec)
    while True:
        state = local.poll(ref)
        if state.status.is_terminal:
            break
        time.sleep(0.05)
    total = time.perf_counter() - start
    assert state.status.value == "COMPLETED", state.message
    assert len(state.trials) == spec.tuning.max_jobs and all(t.objective == 0.5 for t in state.trials)
    return state, total, wall_start


def adapter(workdir: Path, trials: int, parallel: int, name: str) -> tuple[float, float, float]:
    state, total, wall_start = run_to_end(sweep_spec(workdir, trials, parallel, name))
    first = min(t.started_at.timestamp() for t in state.trials if t.started_at)
    last = max(t.ended_at.timestamp() for t in state.trials if t.ended_at)
    return total, last - first, first - wall_start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--parallel", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    n = args.trials
    bare_s: list[float] = []
    sweep_s: list[float] = []
    trials_s: list[float] = []
    startup_s: list[float] = []
    with tempfile.TemporaryDirectory(prefix="hpo-overhead-") as tmp:
        workdir = Path(tmp)
        script = workdir / "trial.py"
        script.write_text(TRIAL)
        for r in range(args.rounds):
            floor_first = r % 2 == 0
            if floor_first:
                bare_s.append(bare(script, n, args.parallel))
            total, steady, startup = adapter(workdir, n, args.parallel, f"overhead-{r}")
            if not floor_first:
                bare_s.append(bare(script, n, args.parallel))
            sweep_s.append(total)
            trials_s.append(steady)
            startup_s.append(startup)
            print(
                f"round {r + 1}: floor {bare_s[-1] / n * 1000:.1f} ms/trial, adapter sweep {total / n * 1000:.1f}, "
                f"adapter trials {steady / n * 1000:.1f} (ratio {steady / bare_s[-1]:.2f}), "
                f"runner start {startup:.2f} s",
                flush=True,
            )
    b, s, t = (statistics.median(x) / n * 1000 for x in (bare_s, sweep_s, trials_s))
    ratio_t = statistics.median(x / y for x, y in zip(trials_s, bare_s, strict=True))
    ratio_s = statistics.median(x / y for x, y in zip(sweep_s, bare_s, strict=True))
    print(f"\n{n} trivial trials, {args.parallel} in parallel, {os.cpu_count()} CPUs, median of {args.rounds} rounds")
    print(f"  floor (launched as the runner does) : {b:6.1f} ms/trial")
    print(f"  adapter (trials)              : {t:6.1f} ms/trial   ratio {ratio_t:.2f} (median of per-round ratios)")
    print(f"  adapter (sweep, incl. start)  : {s:6.1f} ms/trial   ratio {ratio_s:.2f}")
    print(f"  runner start (submit -> first trial): {statistics.median(startup_s):.2f} s")
    if os.environ.get("PYTHONDONTWRITEBYTECODE"):
        print("  note: PYTHONDONTWRITEBYTECODE is set, so every Python start compiles its imports from source")


if __name__ == "__main__":
    main()
