"""How the local runner spends `max_runtime_seconds`: when the sweep ends, and how long slots idle at the end.

A sweep of trials that each sleep `--trial` seconds and print one metric line, 2 slots, max_jobs
far above what fits, under `--budget` seconds; against Optuna's own `study.optimize(timeout=...,
n_jobs=2)` running the same trial processes, started as the runner starts them. Rounds alternate
the order. Per round: the sweep's length over the budget (from the runner's recorded start to its
recorded end; Optuna: from optimize's call to its return), completed trials, and per slot the
idle time at the end (budget end minus the slot's last trial end, trials cut by the deadline
included). Goal: the sweep ends within 2% of the budget and never after it; no slot idles at the
end for longer than one trial.

    nice -n 10 .venv/bin/python bench/time_budget.py [--budget 60] [--trial 7] [--rounds 2]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import optuna
from overhead import REGEX

from hpo_flow.adapters.local import LocalAdapter
from hpo_flow.adapters.local.process import launch
from hpo_flow.adapters.local.state import END_ATTR, START_ATTR
from hpo_flow.adapters.local.storage import open_storage, storage_target
from hpo_flow.adapters.port import TrialStatus
from hpo_flow.adapters.spec import parse_config

TRIAL = 'import sys, time\ntime.sleep(float(sys.argv[sys.argv.index("--seconds") + 1]))\nprint("accuracy: 0.5")\n'
PARALLEL = 2


def ours(workdir: Path, budget: int, seconds: float, name: str) -> tuple[float, int, list[float]]:
    spec = parse_config(
        {
            "project": "budget",
            "training": {
                "entry_point": "trial.py",
                "source_dir": str(workdir),
                "hyperparameters": {"seconds": seconds},
                "metric_definitions": [{"Name": "accuracy", "Regex": REGEX}],
            },
            "tuning": {
                "strategy": "Random",
                "sweep_name": name,
                "max_jobs": 10_000,
                "max_parallel_jobs": PARALLEL,
                "max_runtime_seconds": budget,
                "objective_metric": "accuracy",
                "random_seed": 1,
                "hyperparameter_ranges": {"x": {"type": "continuous", "min": 0.0, "max": 1.0}},
            },
            "backends": {"local": {"gpus": [], "workdir": str(workdir / ".hpo")}},
        }
    )
    local = LocalAdapter()
    ref = local.submit(spec)
    while not (state := local.poll(ref)).status.is_terminal:
        time.sleep(0.2)
    storage = open_storage(storage_target(spec, Path(ref.workdir or "")))
    attrs = optuna.load_study(study_name=ref.name, storage=storage).user_attrs
    start, end = float(attrs[START_ATTR]), float(attrs[END_ATTR]["at"])
    ends = sorted((t.ended_at.timestamp() for t in state.trials if t.ended_at), reverse=True)[:PARALLEL]
    idle = [start + budget - e for e in ends]
    completed = sum(t.status == TrialStatus.COMPLETED for t in state.trials)
    return end - start, completed, idle


def optuna_timeout(workdir: Path, budget: int, seconds: float) -> tuple[float, int, list[float]]:
    env = dict(os.environ) | {"PYTHONUNBUFFERED": "1"}
    script = workdir / "trial.py"
    ends: list[float] = []

    def objective(trial: optuna.Trial) -> float:
        x = trial.suggest_float("x", 0, 1)
        proc = launch([sys.executable, str(script), "--seconds", str(seconds), "--x", str(x)], workdir, env)
        proc.communicate()
        ends.append(time.time())
        return 0.5

    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    start = time.time()
    study.optimize(objective, timeout=budget, n_jobs=PARALLEL)
    length = time.time() - start
    idle = [start + budget - e for e in sorted(ends, reverse=True)[:PARALLEL]]
    return length, len(study.trials), idle


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=int, default=60)
    parser.add_argument("--trial", type=float, default=7.0)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    rows: dict[str, list[tuple[float, int, list[float]]]] = {"hpo-flow": [], "optuna timeout": []}
    with tempfile.TemporaryDirectory(prefix="hpo-budget-") as tmp:
        workdir = Path(tmp)
        (workdir / "trial.py").write_text(TRIAL)
        for r in range(args.rounds):
            order = ["hpo-flow", "optuna timeout"] if r % 2 == 0 else ["optuna timeout", "hpo-flow"]
            for who in order:
                if who == "hpo-flow":
                    result = ours(workdir, args.budget, args.trial, f"budget-{r}")
                else:
                    result = optuna_timeout(workdir, args.budget, args.trial)
                rows[who].append(result)
                length, done, idle = result
                print(
                    f"round {r + 1} {who:<15} length/budget {length / args.budget:.3f} ({length - args.budget:+.1f} s)"
                    f"  completed {done:3d}  idle at end per slot {', '.join(f'{i:.1f}' for i in idle)} s",
                    flush=True,
                )
    print(
        f"\nbudget {args.budget} s, trials of {args.trial} s, {PARALLEL} slots, {args.rounds} rounds, medians; "
        f"goal: length/budget in [0.98, 1.00], idle <= {args.trial} s"
    )
    for who, results in rows.items():
        ratio = statistics.median(r[0] / args.budget for r in results)
        done = statistics.median(r[1] for r in results)
        idle = max(max(r[2]) for r in results)
        met = 0.98 <= ratio <= 1.0 and idle <= args.trial
        print(
            f"  {who:<15} length/budget {ratio:.3f}  completed {done:5.1f}  worst idle {idle:.1f} s  "
            f"{'met' if met else 'not met'}"
        )


if __name__ == "__main__":
    main()
