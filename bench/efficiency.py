"""Bayesian (TPE) against Random search: median best value after 10, 20 and 40 trials.

Three problems, every trial a real process started by the LocalAdapter:
- digits: the demo sweep of config.yaml (accuracy, maximize), early stopping off, no model saved;
- Branin (2-D) and Hartmann-6 (6-D), the standard test functions, as trial scripts in
  bench/functions/ (value, minimize; their known minima give the regret).
Each (problem, strategy, seed) is one sweep of 40 trials, 2 in parallel; the best value among the
first n trials started is read from it. Digits trials cost an interpreter plus scikit-learn each,
so digits gets fewer seeds by default (printed).

    .venv/bin/python bench/efficiency.py [--seeds 10] [--digits-seeds 5] [--trials 40]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from local_sweep import ROOT, SweepResult, digits_config, run_sweep

from hpo_flow.adapters.spec import parse_config

FUNCTIONS: dict[str, dict[str, Any]] = {
    "branin": {
        "minimum": 0.397887,
        "ranges": {
            "x1": {"type": "continuous", "min": -5, "max": 10},
            "x2": {"type": "continuous", "min": 0, "max": 15},
        },
    },
    "hartmann6": {
        "minimum": -3.32237,
        "ranges": {f"x{j}": {"type": "continuous", "min": 0, "max": 1} for j in range(1, 7)},
    },
}
STRATEGIES = ("Bayesian", "Random")
CHECKPOINTS = (10, 20, 40)


def function_spec(
    name: str, workdir: Path, strategy: str, seed: int, trials: int, ranges: dict[str, Any] | None = None
) -> Any:
    """The sweep of one test function; `ranges` for a function other than FUNCTIONS' (in-process benches)."""
    return parse_config(
        {
            "project": f"bench-{name}",
            "training": {
                "entry_point": f"{name}.py",
                "source_dir": str(ROOT / "bench" / "functions"),
                "metric_definitions": [{"Name": "value", "Regex": r"value: ([-+0-9.eE]+)"}],
            },
            "tuning": {
                "strategy": strategy,
                "sweep_name": f"eff-{name}-{strategy}-{seed}",
                "max_jobs": trials,
                "max_parallel_jobs": 2,
                "objective_metric": "value",
                "objective_type": "Minimize",
                "random_seed": seed,
                "hyperparameter_ranges": ranges or FUNCTIONS[name]["ranges"],
            },
            "backends": {"local": {"gpus": [], "workdir": str(workdir)}},
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--digits-seeds", type=int, default=5)
    parser.add_argument("--trials", type=int, default=max(CHECKPOINTS))
    parser.add_argument("--problems", nargs="+", default=["branin", "hartmann6", "digits"])
    args = parser.parse_args()
    checkpoints = [n for n in CHECKPOINTS if n <= args.trials]
    results: dict[tuple[str, str], list[SweepResult]] = {}
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="hpo-efficiency-") as tmp:
        for problem in args.problems:
            seeds = range(1, 1 + (args.digits_seeds if problem == "digits" else args.seeds))
            for seed in seeds:
                for strategy in STRATEGIES:
                    if problem == "digits":
                        spec = digits_config(
                            Path(tmp),
                            {
                                "tuning.strategy": strategy,
                                "tuning.random_seed": seed,
                                "tuning.max_jobs": args.trials,
                                "tuning.early_stopping": "off",
                                "tuning.sweep_name": f"eff-digits-{strategy}-{seed}",
                                "training.hyperparameters.save_model": False,
                            },
                        )
                    else:
                        spec = function_spec(problem, Path(tmp), strategy, seed, args.trials)
                    result = run_sweep(spec, poll_seconds=0.2)
                    results.setdefault((problem, strategy), []).append(result)
                    shown = "  ".join(f"@{n} {result.best_after(n):.4f}" for n in checkpoints)
                    print(f"{problem:<10} {strategy:<9} seed {seed:2d}  {shown}  {result.seconds:5.1f} s", flush=True)
    print(f"\nmedian best value after n trials ({time.perf_counter() - start:.0f} s in all; 2 trials in parallel)")
    header = "".join(f"{'@' + str(n):>10}" for n in checkpoints)
    print(f"{'problem':<11}{'strategy':<10}{'seeds':>6}{header}   goal")
    for problem in args.problems:
        for strategy in STRATEGIES:
            runs = results[(problem, strategy)]
            medians = [statistics.median(r.best_after(n) for r in runs) for n in checkpoints]
            goal = "max accuracy" if problem == "digits" else f"min, f* = {FUNCTIONS[problem]['minimum']}"
            cells = "".join(f"{m:10.4f}" for m in medians)
            print(f"{problem:<11}{strategy:<10}{len(runs):>6}{cells}   {goal}")
    print("(digits: 20 epochs per trial, early stopping off; functions: TPE startup is 10 random trials)")


if __name__ == "__main__":
    main()
