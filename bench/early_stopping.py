"""Early stopping on the digits sweep: epochs consumed and best accuracy, `off` against each policy.

The demo sweep (config.yaml: 20 trials, 2 in parallel, 20 epochs each) runs through the real
LocalAdapter once per policy and seed; the medians over seeds are printed. Trials skip saving
their MLflow model (`save_model: false`): that costs the same with or without early stopping and
is not what is measured. Goals: `median` saves at least 35% of the epochs at no loss of best
accuracy; the aggressive setting (`asha` here) saves at least 70% within 0.5 points of `off`.

    .venv/bin/python bench/early_stopping.py [--seeds 5] [--policies off bandit median truncation asha]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from local_sweep import SweepResult, digits_config, run_sweep

# What each policy runs with. Azure's documented examples (bandit slack_factor 0.1, truncation 20%,
# both with delay 5) and the config model's asha defaults (min_resource 1, reduction_factor 3)
# were measured first: bandit saved 9% of the epochs, median 15%, truncation 4%, all with the same
# best accuracy as off; asha saved 78% and lost 1.1 points. The settings below were then chosen on
# an in-process emulation of this sweep (bench/early_stopping_emulated.py, seeds 1-10) and are
# measured on seeds that played no part in choosing them (201 on). See docs/search.md.
POLICIES: dict[str, dict[str, Any]] = {
    "off": {"policy": "off"},
    "bandit": {"policy": "bandit", "slack_amount": 0.03, "evaluation_interval": 1, "delay_evaluation": 2},
    # judged from step 2, once 3 trials completed: chosen on the emulation's seeds 1-10
    "median": {"policy": "median", "delay_evaluation": 2},
    "truncation": {
        "policy": "truncation",
        "truncation_percentage": 50,
        "evaluation_interval": 1,
        "delay_evaluation": 5,
    },
    "asha": {"policy": "asha", "min_resource": 2, "reduction_factor": 4},  # the documented aggressive setting
}
# policy -> (least share of epochs saved, most accuracy points lost); 0.5 points = 0.005 of accuracy
GOALS = {"median": (0.35, 0.0), "asha": (0.70, 0.5)}
GOAL_POINTS = 0.5


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--first-seed", type=int, default=11)
    parser.add_argument("--policies", nargs="+", default=list(POLICIES), choices=list(POLICIES))
    parser.add_argument("--strategy", default=None, help="override config.yaml's strategy (Bayesian)")
    parser.add_argument("--json", type=Path, default=None, help="also write every run's figures here")
    args = parser.parse_args()
    if "off" not in args.policies:
        args.policies.insert(0, "off")
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    runs: dict[str, list[SweepResult]] = {p: [] for p in args.policies}
    rows: list[dict[str, Any]] = []
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="hpo-early-") as tmp:
        for seed in seeds:  # seed-major, so a machine that gets busier slows every policy alike
            for policy in args.policies:
                overrides: dict[str, Any] = {
                    "tuning.random_seed": seed,
                    "tuning.early_stopping": POLICIES[policy],
                    "tuning.sweep_name": f"early-{policy}-{seed}",
                    "training.hyperparameters.save_model": False,
                }
                if args.strategy:
                    overrides["tuning.strategy"] = args.strategy
                spec = digits_config(Path(tmp), overrides)
                result = run_sweep(spec)
                runs[policy].append(result)
                rows.append(
                    {"policy": policy, "seed": seed, "epochs": result.steps, "best": result.best}
                    | {"pruned": result.pruned, "trials": len(result.state.trials), "seconds": round(result.seconds, 1)}
                )
                print(
                    f"seed {seed} {policy:<10} epochs {result.steps:4d}  best {result.best:.4f}  "
                    f"pruned {result.pruned:2d}/{len(result.state.trials)}  {result.seconds:5.1f} s",
                    flush=True,
                )
    spec = digits_config(Path(tempfile.gettempdir()), {})
    epochs_full = int(spec.training.hyperparameters["epochs"]) * spec.tuning.max_jobs
    print(
        f"\ndigits sweep: {spec.tuning.max_jobs} trials x {epochs_full // spec.tuning.max_jobs} epochs, "
        f"{spec.tuning.max_parallel_jobs} in parallel, strategy {args.strategy or spec.tuning.strategy.value}, "
        f"seeds {seeds[0]}..{seeds[-1]}; medians over seeds; {time.perf_counter() - start:.0f} s in all"
    )
    off_epochs = statistics.median(r.steps for r in runs["off"])
    off_best = statistics.median(r.best for r in runs["off"])
    print(f"{'policy':<11}{'epochs':>8}{'saved':>8}{'best acc':>10}{'vs off':>9}{'pruned':>8}  settings")
    met = []
    for policy in args.policies:
        epochs = statistics.median(r.steps for r in runs[policy])
        best = statistics.median(r.best for r in runs[policy])
        saved = 1 - epochs / off_epochs
        points = (best - off_best) * 100
        pruned = statistics.median(r.pruned for r in runs[policy])
        settings = {k: v for k, v in POLICIES[policy].items() if k != "policy"}
        print(f"{policy:<11}{epochs:8.0f}{saved:8.0%}{best:10.4f}{points:+9.2f}{pruned:8.0f}  {settings or ''}")
        if policy in GOALS:
            least, lost = GOALS[policy]
            verdict = "met" if saved >= least and points >= -lost else "not met"
            met.append(f"{policy} (>= {least:.0%} saved, <= {lost} points lost): {verdict}")
    for line in met:
        print(f"goal {line}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
