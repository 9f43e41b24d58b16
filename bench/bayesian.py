"""Bayesian search against Optuna's default TPE: median regret after 25 and 50 trials, and suggestion time.

Branin (2-D) and Hartmann-6 (6-D) over 20 seeds. "ours" is exactly the sampler the local runner
builds for the Bayesian strategy (`build_sampler`: hpo_flow/adapters/local/marginal_gp.py's GPSampler with
its kernel integrated out when torch is importable, multivariate TPE otherwise; printed), with the
config's ranges drawn by `suggest_params`; the baseline is `optuna.samplers.TPESampler(seed=seed)`,
Optuna's defaults. Both run in this process, ask/tell, the objective computed inline, so the time
measured is the sampler's alone. Rounds are interleaved (per seed, both samplers, the order
alternating), and ratios are printed from them.
`--parallel 2` keeps two trials running at once, as a sweep with max_parallel_jobs 2 does.

Goal: ours' median regret at 25 and at 50 trials <= half of the baseline's on both functions.

    nice -n 10 .venv/bin/python bench/bayesian.py [--seeds 20] [--trials 50] [--parallel 1]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import optuna
from efficiency import FUNCTIONS, function_spec
from functions.branin import branin
from functions.hartmann6 import hartmann6

from hpo_flow.adapters.local.search import bayesian_model, build_sampler, suggest_params
from hpo_flow.adapters.spec import HpoConfig

OBJECTIVES: dict[str, Callable[[dict[str, float]], float]] = {
    "branin": lambda p: branin(p["x1"], p["x2"]),
    "hartmann6": lambda p: hartmann6([p[f"x{j}"] for j in range(1, 7)]),
}
CHECKPOINTS = (25, 50)
GOAL_RATIO = 0.5


@dataclass
class Run:
    values: list[float] = field(default_factory=list)  # in the order trials were asked
    ask_seconds: list[float] = field(default_factory=list)

    def regret_after(self, n: int, minimum: float) -> float:
        return min(self.values[:n]) - minimum


def run(spec: HpoConfig, sampler: optuna.samplers.BaseSampler, objective: str, trials: int, parallel: int) -> Run:
    study = optuna.create_study(direction="minimize", sampler=sampler)
    out = Run()
    running: deque[tuple[optuna.trial.Trial, float]] = deque()
    for _ in range(trials):
        start = time.perf_counter()
        trial = study.ask()
        params = suggest_params(trial, spec)
        out.ask_seconds.append(time.perf_counter() - start)
        value = OBJECTIVES[objective](params)
        out.values.append(value)
        running.append((trial, value))
        if len(running) >= parallel:  # the oldest running trial finishes before the next is asked
            study.tell(*running.popleft())
    for trial, value in running:
        study.tell(trial, value)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--first-seed", type=int, default=1)
    parser.add_argument("--trials", type=int, default=max(CHECKPOINTS))
    parser.add_argument("--parallel", type=int, default=1)
    parser.add_argument("--problems", nargs="+", default=list(OBJECTIVES), choices=list(OBJECTIVES))
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    checkpoints = [n for n in CHECKPOINTS if n <= args.trials]
    runs: dict[tuple[str, str], list[Run]] = {}
    began, load_before = time.perf_counter(), os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="hpo-bayesian-") as tmp:
        for problem in args.problems:
            for i, seed in enumerate(range(args.first_seed, args.first_seed + args.seeds)):
                spec = function_spec(problem, Path(tmp), "Bayesian", seed, args.trials)
                spec = spec.model_copy(update={"tuning": spec.tuning.model_copy(update={"max_parallel_jobs": 1})})
                contenders = {
                    "ours": lambda s=spec: build_sampler(s),
                    "tpe": lambda s=seed: optuna.samplers.TPESampler(seed=s),
                }
                order = list(contenders) if i % 2 == 0 else list(reversed(contenders))
                for name in order:
                    result = run(spec, contenders[name](), problem, args.trials, args.parallel)
                    runs.setdefault((problem, name), []).append(result)
                minimum = FUNCTIONS[problem]["minimum"]
                shown = "  ".join(
                    f"@{n} ours {runs[(problem, 'ours')][-1].regret_after(n, minimum):.4f} "
                    f"tpe {runs[(problem, 'tpe')][-1].regret_after(n, minimum):.4f}"
                    for n in checkpoints
                )
                print(f"{problem:<10} seed {seed:2d}  {shown}", flush=True)
    model = bayesian_model(spec)
    print(
        f"\nours: {model.name} ({model.reason}); baseline: TPESampler(seed) with Optuna's defaults\n"
        f"{args.seeds} seeds from {args.first_seed}, {args.trials} trials, {args.parallel} running at once; "
        f"median over seeds; {time.perf_counter() - began:.0f} s in all; "
        f"load average {load_before:.1f} at the start, {os.getloadavg()[0]:.1f} at the end"
    )
    header = "".join(f"{'ours @' + str(n):>11}{'tpe @' + str(n):>10}{'ratio':>7}" for n in checkpoints)
    print(f"{'problem':<11}{header}{'ask ours':>10}{'ask tpe':>9}{'ratio':>7}  goal (ratio <= {GOAL_RATIO})")
    for problem in args.problems:
        minimum = FUNCTIONS[problem]["minimum"]
        ours, tpe = runs[(problem, "ours")], runs[(problem, "tpe")]
        cells, met = "", bool(checkpoints)  # no checkpoint within --trials: nothing was judged
        for n in checkpoints:
            a = statistics.median(r.regret_after(n, minimum) for r in ours)
            b = statistics.median(r.regret_after(n, minimum) for r in tpe)
            ratio = a / b if b > 0 else float("inf") if a > 0 else 1.0
            met = met and ratio <= GOAL_RATIO
            cells += f"{a:11.4f}{b:10.4f}{ratio:7.2f}"
        # Per round: the mean time of one suggestion; the ratio is ours over the baseline's in the same round.
        ask_a = statistics.median(statistics.fmean(r.ask_seconds) for r in ours)
        ask_b = statistics.median(statistics.fmean(r.ask_seconds) for r in tpe)
        ask_ratio = statistics.median(
            statistics.fmean(a.ask_seconds) / statistics.fmean(b.ask_seconds) for a, b in zip(ours, tpe, strict=True)
        )
        print(f"{problem:<11}{cells}{ask_a:9.3f}s{ask_b:8.3f}s{ask_ratio:7.1f}  {'met' if met else 'not met'}")
    print("(regret = best value found - f*; ask = mean seconds per suggestion over a sweep, startup trials included)")


if __name__ == "__main__":
    main()
