"""Fixed cost of `hpo-flow run`: a 2-trial local sweep of trivial trials, phase by phase.

Each round runs, as a user would, `hpo-flow run config.yaml` (its own temporary Prefect server,
an embedded SQLite MLflow store, the local runner) on two trials of a script that prints one
metric line, and the floor: a plain Optuna script in the same interpreter that starts the same
two trial processes the same way (subprocess, one after the other's start, two at a time) and
reads their metric. Every output line of `hpo-flow run` is time-stamped as it arrives, and the
trials' own start and end come from the study, so the wall time splits into phases:

  start-up      process start -> the flow's first task (imports, the Prefect server)
  submit        -> the runner's first trial starts
  trials        first trial start -> last trial end (the trials themselves)
  notice end    last trial end -> the flow logs that the sweep ended
  record        -> the final MLflow record (plots included) is done
  register+     -> the flow run finished (registry, write-back, artifacts)
  exit          -> the process is gone (logs drained, server stopped)

Rounds alternate hpo-flow and the floor; medians are printed, with the CPU seconds of `hpo-flow
run` and its Prefect server (steadier than wall time on a busy machine). Each round's MLflow store
is new; like a user's second project, it is made from the empty store an earlier run left in the
cache (hpo_flow/tasks/lean_mlflow.py), unless `--first-on-machine`. Goal: everything but `trials` <= 6 s.
Run: `.venv/bin/python bench/run_overhead.py [--rounds 2] [--first-on-machine]`.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

TRIAL = 'print("accuracy: 0.5", flush=True)\n'
FLOOR = """
import re, subprocess, sys
from concurrent.futures import ThreadPoolExecutor
import optuna
optuna.logging.set_verbosity(optuna.logging.WARNING)
script = sys.argv[1]
def objective(trial):
    x = trial.suggest_float("x", 0, 1)
    out = subprocess.run([sys.executable, script, "--x", str(x)], capture_output=True, text=True, check=True)
    return float(re.search(r"accuracy: ([0-9.]+)", out.stdout).group(1))
optuna.create_study(direction="maximize").optimize(objective, n_trials=2, n_jobs=2)
"""
MARKERS = {
    "flow started": re.compile(r"Task run 'load-config"),
    "sweep ended": re.compile(r"sweep \S+ ended COMPLETED"),
    "recorded": re.compile(r"MLflow: sweep \S+ is run"),
    "flow finished": re.compile(r"Flow run .* - Finished in state"),
}


def config(tmp: Path) -> dict:
    return {
        "project": "bench-run-overhead",
        "training": {
            "entry_point": "train.py",
            "source_dir": str(tmp),
            "hyperparameters": {"x": 0.5},
            "metric_definitions": [{"Name": "accuracy", "Regex": "accuracy: ([0-9.]+)"}],
        },
        "tuning": {
            "update_config": True,
            "backend": "local",
            "strategy": "Random",
            "max_jobs": 2,
            "max_parallel_jobs": 2,
            "objective_metric": "accuracy",
            "random_seed": 1,
            "hyperparameter_ranges": {"x": {"type": "continuous", "min": 0, "max": 1}},
        },
        "backends": {"local": {"gpus": None, "workdir": str(tmp / ".hpo")}},
        "mlflow": {"tracking_uri": f"sqlite:///{tmp / 'mlflow.db'}"},
    }


def hpo_flow_round(bin_dir: Path, first_on_machine: bool = False) -> dict[str, float]:
    from hpo_flow.adapters.local import LocalAdapter
    from hpo_flow.adapters.port import SweepRef

    with tempfile.TemporaryDirectory(prefix="bench-run-") as name:
        tmp = Path(name)
        (tmp / "train.py").write_text(TRIAL)
        path = tmp / "config.yaml"
        path.write_text(yaml.safe_dump(config(tmp), sort_keys=False))
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_API_URL", "MLFLOW_TRACKING_URI"))}
        if first_on_machine:  # no empty MLflow store made by an earlier run (hpo_flow/tasks/lean_mlflow.py)
            env["XDG_CACHE_HOME"] = str(tmp / "cache")
        wall0, t0 = time.time(), time.perf_counter()
        cpu0 = _children_cpu()
        proc = subprocess.Popen(
            [str(bin_dir / "hpo-flow"), "run", str(path)],
            cwd=tmp,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        seen: dict[str, float] = {}
        assert proc.stdout is not None
        for line in proc.stdout:
            now = time.perf_counter() - t0
            for key, pattern in MARKERS.items():
                if key not in seen and pattern.search(line):
                    seen[key] = now
        proc.wait()
        seen["exit"] = time.perf_counter() - t0
        cpu = _children_cpu() - cpu0
        if proc.returncode != 0 or len(seen) != len(MARKERS) + 1:
            raise SystemExit(f"hpo-flow run failed (exit {proc.returncode}); markers seen: {sorted(seen)}")
        # The sweep's own record of its trials: the one directory the run left under the workdir.
        (spec_file,) = (tmp / ".hpo").glob("*/spec.json")
        ref = SweepRef(backend="local", name=spec_file.parent.name, workdir=str(spec_file.parent))
        trials = LocalAdapter().poll(ref).trials
        first = min(t.started_at.timestamp() for t in trials if t.started_at) - wall0
        last = max(t.ended_at.timestamp() for t in trials if t.ended_at) - wall0
    return {
        "start-up": seen["flow started"],
        "submit": first - seen["flow started"],
        "trials": last - first,
        "notice end": seen["sweep ended"] - last,
        "record": seen["recorded"] - seen["sweep ended"],
        "register+": seen["flow finished"] - seen["recorded"],
        "exit": seen["exit"] - seen["flow finished"],
        "total": seen["exit"],
        "cpu": cpu,
    }


def _children_cpu() -> float:
    """CPU seconds of the child processes waited for: `hpo-flow run` and its Prefect server, not the
    sweep's runner (a session of its own); on a busy machine a steadier figure than wall time."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def floor_round() -> float:
    with tempfile.TemporaryDirectory(prefix="bench-floor-") as name:
        script = Path(name) / "train.py"
        script.write_text(TRIAL)
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", FLOOR, str(script)], check=True)
        return time.perf_counter() - start


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument(
        "--first-on-machine",
        action="store_true",
        help="each round as the first hpo-flow run on this machine: an empty cache (XDG_CACHE_HOME)",
    )
    args = parser.parse_args()
    bin_dir = Path(sys.executable).parent
    runs: list[dict[str, float]] = []
    floors: list[float] = []
    for r in range(args.rounds):
        order = ("hpo", "floor") if r % 2 == 0 else ("floor", "hpo")
        for what in order:
            if what == "hpo":
                runs.append(hpo_flow_round(bin_dir, args.first_on_machine))
                print(f"round {r + 1} hpo-flow run {runs[-1]['total']:6.2f} s", flush=True)
            else:
                floors.append(floor_round())
                print(f"round {r + 1} optuna floor {floors[-1]:6.2f} s", flush=True)
    print(f"\n`hpo-flow run`, 2 trivial trials, median of {args.rounds} rounds (load average {_load()}):")
    for phase in runs[0]:
        what = "CPU s (hpo-flow run and its Prefect server)" if phase == "cpu" else "s"
        print(f"  {phase:11s} {statistics.median(r[phase] for r in runs):6.2f} {what}")
    total = statistics.median(r["total"] for r in runs)
    fixed = statistics.median(r["total"] - r["trials"] for r in runs)
    each = ", ".join(f"{r['total'] - r['trials']:.2f}" for r in runs)
    print(f"  per round: fixed cost {each} s")
    floor = statistics.median(floors)
    print(f"  fixed cost (all but trials) {fixed:.2f} s   (goal <= 6 s)")
    print(f"plain Optuna script, same trials: {floor:.2f} s; ratio hpo-flow / floor {total / floor:.1f}")


if __name__ == "__main__":
    main()
