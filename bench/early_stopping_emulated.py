"""Early stopping on an in-process emulation of the digits sweep: for choosing settings quickly.

The same study as the runner's (the config's sampler and pruner from `adapters.local.search`,
ask/report/should_prune/tell), and the same curves: each trial's accuracy curve is the demo
script's own training (examples/digits/train.py, one `partial_fit` per epoch, fixed split and
seed), computed in this process and cached by its hyperparameters. `--parallel 2` advances two
trials epoch by epoch side by side, as the runner's two slots do when trials take equal time.
What it leaves out is timing: trials of different speeds interleave differently in a real sweep,
so settings chosen here are then measured by bench/early_stopping.py on other seeds.

    nice -n 10 .venv/bin/python bench/early_stopping_emulated.py [--seeds 1 10] [--policies median ...]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from early_stopping import GOAL_POINTS, POLICIES
from local_sweep import ROOT, digits_config

from adapters.local.search import build_pruner, build_sampler, suggest_params
from adapters.spec import HpoConfig

sys.path.insert(0, str(ROOT / "examples" / "digits"))
from train import load_split

CACHE = Path(tempfile.gettempdir()) / "hpo-digits-curves.json"


class Curves:
    """Validation accuracy per epoch for a set of hyperparameters, as train.py computes it."""

    def __init__(self, epochs: int, fixed: dict[str, Any]) -> None:
        self.epochs = epochs
        self.fixed = fixed
        self.known: dict[str, list[float]] = json.loads(CACHE.read_text()) if CACHE.exists() else {}
        self.split = load_split()

    def __call__(self, params: dict[str, Any]) -> list[float]:
        merged = self.fixed | params
        key = json.dumps({k: merged[k] for k in ("lr", "batch_size", "hidden", "alpha")}, sort_keys=True)
        if key not in self.known or len(self.known[key]) < self.epochs:
            self.known[key] = self._train(merged)
        return self.known[key][: self.epochs]

    def _train(self, p: dict[str, Any]) -> list[float]:
        from sklearn.neural_network import MLPClassifier

        x_train, y_train, x_val, y_val = self.split
        classes = np.arange(10)
        model = MLPClassifier(
            hidden_layer_sizes=(int(p["hidden"]),),
            learning_rate_init=float(p["lr"]),
            batch_size=int(p["batch_size"]),
            alpha=float(p["alpha"]),
            random_state=0,
        )
        out = []
        for _ in range(self.epochs):
            model.partial_fit(x_train, y_train, classes=classes)
            out.append(float(np.mean(model.predict(x_val) == y_val)))
        return out

    def save(self) -> None:
        """Merged with what other runs saved meanwhile, then replaced in one rename."""
        known = json.loads(CACHE.read_text()) if CACHE.exists() else {}
        known |= self.known
        tmp = CACHE.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(known))
        tmp.replace(CACHE)


def emulate(spec: HpoConfig, curves: Curves, parallel: int) -> tuple[int, float, int]:
    """One sweep: (epochs consumed, best accuracy, trials stopped)."""
    study = optuna.create_study(direction="maximize", sampler=build_sampler(spec), pruner=build_pruner(spec))
    running: list[dict[str, Any]] = []
    started = epochs = pruned = 0
    best = float("-inf")
    while started < spec.tuning.max_jobs or running:
        while len(running) < parallel and started < spec.tuning.max_jobs:
            trial = study.ask()
            running.append({"trial": trial, "curve": curves(suggest_params(trial, spec)), "step": 0})
            started += 1
        for r in list(running):
            r["step"] += 1
            value = r["curve"][r["step"] - 1]
            r["trial"].report(value, r["step"])
            stop = r["trial"].should_prune()
            if stop or r["step"] == len(r["curve"]):
                state = optuna.trial.TrialState.PRUNED if stop else optuna.trial.TrialState.COMPLETE
                study.tell(r["trial"], None if stop else value, state=state)
                running.remove(r)
                epochs += r["step"]
                pruned += stop
                best = max(best, value)
    return epochs, best, pruned


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs=2, default=(1, 10), metavar=("FIRST", "LAST"))
    parser.add_argument("--policies", nargs="+", default=list(POLICIES), choices=list(POLICIES))
    parser.add_argument("--parallel", type=int, default=2)
    parser.add_argument("--set", nargs="*", default=[], help="extra early_stopping fields, KEY=VALUE (yaml values)")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    import yaml

    extra = {k: yaml.safe_load(v) for k, v in (item.split("=", 1) for item in args.set)}
    seeds = range(args.seeds[0], args.seeds[1] + 1)
    policies = ["off", *[p for p in args.policies if p != "off"]]
    base = digits_config(Path(tempfile.gettempdir()), {})
    hp = base.training.hyperparameters
    curves = Curves(int(hp["epochs"]), {"alpha": hp["alpha"]})
    rows: dict[str, list[tuple[int, float, int]]] = {p: [] for p in policies}
    try:
        for seed in seeds:
            for policy in policies:
                settings = POLICIES[policy] | (extra if policy != "off" else {})
                spec = digits_config(
                    Path(tempfile.gettempdir()), {"tuning.random_seed": seed, "tuning.early_stopping": settings}
                )
                rows[policy].append(emulate(spec, curves, args.parallel))
            curves.save()  # a long run interrupted keeps what it trained
    finally:
        curves.save()
    off = rows["off"]
    print(f"emulated digits sweep, seeds {seeds[0]}..{seeds[-1]}, {args.parallel} in parallel; medians over seeds")
    print(f"{'policy':<11}{'saved':>7}{'vs off':>8}{'worst':>8}{'pruned':>8}  settings")
    for policy in policies:
        saved = statistics.median(1 - e / o[0] for (e, _, _), o in zip(rows[policy], off, strict=True))
        points = [(b - o[1]) * 100 for (_, b, _), o in zip(rows[policy], off, strict=True)]
        pruned = statistics.median(p for _, _, p in rows[policy])
        settings = {k: v for k, v in (POLICIES[policy] | extra).items() if k != "policy"} if policy != "off" else ""
        print(f"{policy:<11}{saved:7.0%}{statistics.median(points):+8.2f}{min(points):+8.2f}{pruned:8.0f}  {settings}")
    print(f"(vs off: median difference of the best accuracy in points; goal: within {GOAL_POINTS})")


if __name__ == "__main__":
    main()
