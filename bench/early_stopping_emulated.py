"""Early stopping on an in-process emulation of the digits sweep: for choosing settings quickly.

The same study as the runner's (the config's sampler and pruner from `hpo_flow.adapters.local.search`,
ask/report/should_prune/tell), and the same curves: each trial's accuracy curve is the demo
script's own training (examples/digits/train.py, one `partial_fit` per epoch, fixed split and
seed), computed in this process, only as far as the trial gets, and cached by its hyperparameters.

Time is emulated as the runner spends it: a trial starts when a slot frees, takes a start-up
(Python, scikit-learn, the data: most of a digits trial) and then one epoch time per step, which
depends on its batch size and hidden layer (`epoch_seconds`), each trial's pace scaled by a
seeded random factor. So trials of different speeds interleave, the study is asked for a new
trial when one ends, and a trial is judged against the peers that reached its step by then, as
in the runner. `--lockstep` is the earlier emulation (every running trial one epoch at a time,
no start-up), which was optimistic for asha (seeds 201-210: -0.28 points against the runner's
-0.47). Settings chosen here are then measured by bench/early_stopping.py on other seeds.

    nice -n 19 .venv/bin/python bench/early_stopping_emulated.py [--seeds 11 30] [--policies median asha]
        [--try LABEL=POLICY,KEY=VALUE,...] [--per-seed] [--lockstep] [--json runs.json]
"""

from __future__ import annotations

import argparse
import copy
import heapq
import json
import math
import os
import random
import statistics
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from early_stopping import GOAL_POINTS, POLICIES
from local_sweep import ROOT, digits_config, quality
from threadpoolctl import threadpool_limits

from hpo_flow.adapters.local.search import build_pruner, build_sampler, suggest_params
from hpo_flow.adapters.spec import HpoConfig

sys.path.insert(0, str(ROOT / "examples" / "digits"))
from train import load_split

CACHE = Path(tempfile.gettempdir()) / "hpo-digits-curves.json"
TRAIN_SIZE = 1257  # digits' training split (train.py: 70% of 1797, per class)
# epoch_seconds' terms, in start-ups: least squares over batch 16-128 x hidden 16-256 (32 timings,
# two rounds, load average 4.5 on 2 cores), divided by the mean start-up of `train.py --epochs 1`
# timed in the same rounds (5.2 s under that load: about 1 s on an idle machine).
EPOCH_BASE = 3.1e-3
BATCH_FIXED = 2.6e-4
BATCH_PER_UNIT = 4.1e-7
SAMPLE_PER_UNIT = 2.6e-5


def epoch_seconds(params: dict[str, Any]) -> float:
    """One epoch's time for these hyperparameters, relative to the trial's start-up (1.0).

    Fitted on in-process timings of train.py's epoch (one BLAS thread; partial_fit and predict)
    against the start-up of a trial process (Python, numpy, scikit-learn, the split): a minibatch
    costs a fixed overhead plus work that grows with the hidden layer, so a batch of 16 with 256
    units is about 6x slower per epoch than a batch of 128 with 16 units, and a 20-epoch trial
    takes 1.1 to 1.8 start-ups. Measured directly the
    timings wander with the machine's load; a formula keeps the emulation reproducible.
    """
    batches = math.ceil(TRAIN_SIZE / int(params["batch_size"]))
    hidden = int(params["hidden"])
    return EPOCH_BASE + batches * (BATCH_FIXED + BATCH_PER_UNIT * hidden) + SAMPLE_PER_UNIT * hidden


class Curves:
    """Validation accuracy per epoch for a set of hyperparameters, as train.py computes it.

    Epochs are trained only when a trial reaches them (a stopped trial's later epochs are never
    needed), so emulating a policy that stops most trials early costs little more than it saves.
    """

    def __init__(self, epochs: int, fixed: dict[str, Any]) -> None:
        self.epochs = epochs
        self.fixed = fixed
        self.known: dict[str, list[float]] = json.loads(CACHE.read_text()) if CACHE.exists() else {}
        self.split = load_split()
        self.models: dict[str, Any] = {}  # key -> the model trained up to len(known[key]) epochs

    def key(self, params: dict[str, Any]) -> str:
        merged = self.fixed | params
        return json.dumps({k: merged[k] for k in ("lr", "batch_size", "hidden", "alpha")}, sort_keys=True)

    def value(self, key: str, epoch: int) -> float:
        """The accuracy after `epoch` epochs (from 1)."""
        curve = self.known.setdefault(key, [])
        if len(curve) < epoch:
            if key not in self.models:  # same seed, same calls: retraining repeats the cached epochs exactly
                self.models[key] = self._model(json.loads(key))
                curve.clear()
            x_train, y_train, x_val, y_val = self.split
            with threadpool_limits(1):  # as train.py runs; more threads only contend on a shared machine
                while len(curve) < epoch:
                    self.models[key].partial_fit(x_train, y_train, classes=np.arange(10))
                    curve.append(float(np.mean(self.models[key].predict(x_val) == y_val)))
        return curve[epoch - 1]

    def done(self, key: str) -> None:
        self.models.pop(key, None)

    @staticmethod
    def _model(p: dict[str, Any]) -> Any:
        from sklearn.neural_network import MLPClassifier

        return MLPClassifier(
            hidden_layer_sizes=(int(p["hidden"]),),
            learning_rate_init=float(p["lr"]),
            batch_size=int(p["batch_size"]),
            alpha=float(p["alpha"]),
            random_state=0,
        )

    def save(self) -> None:
        """Merged with what other runs saved meanwhile (the longer curve wins), then replaced in one rename."""
        known = json.loads(CACHE.read_text()) if CACHE.exists() else {}
        for key, curve in self.known.items():
            if len(curve) > len(known.get(key, [])):
                known[key] = curve
        tmp = CACHE.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(known))
        tmp.replace(CACHE)


@dataclass(frozen=True)
class Timing:
    """How trials take time: start-up 1.0, epochs from epoch_seconds, each trial's pace scaled by
    a factor drawn around 1 (a shared machine does not run two equal trials at one speed).
    `lockstep` advances every running trial one epoch at a time, all at one pace, with no start-up:
    the earlier emulation, optimistic against the runner."""

    lockstep: bool = False
    startup: float = 1.0
    jitter: float = 0.3


def emulate(
    spec: HpoConfig,
    pruner: optuna.pruners.BasePruner,
    curves: Curves,
    parallel: int,
    timing: Timing,
    rng: random.Random,
) -> Sweep:
    """One sweep, event by event in emulated time: a trial starts when a slot frees (the study is
    asked then, seeing every trial so far), reports epoch k at start + start-up + k x its epoch
    time, and is judged after each report; a stopped or finished trial frees its slot at once."""
    study = optuna.create_study(direction="maximize", sampler=build_sampler(spec), pruner=pruner)
    events: list[tuple[float, int, _Run]] = []  # (time of the next report, start order, trial)
    started = 0
    result = Sweep()

    def start(now: float) -> None:
        nonlocal started
        trial = study.ask()
        params = suggest_params(trial, spec)
        pace = 1.0 if timing.lockstep else math.exp(rng.gauss(0.0, timing.jitter))
        epoch = 1.0 if timing.lockstep else epoch_seconds(curves.fixed | params) * pace
        run = _Run(trial, curves.key(params), epoch, now + (0.0 if timing.lockstep else timing.startup * pace))
        heapq.heappush(events, (run.begin + epoch, started, run))
        started += 1

    for _ in range(min(parallel, spec.tuning.max_jobs)):
        start(0.0)
    while events:
        now, order, run = heapq.heappop(events)
        run.step += 1
        value = curves.value(run.key, run.step)
        run.trial.report(value, run.step)
        stop = run.trial.should_prune()
        if not stop and run.step < curves.epochs:
            heapq.heappush(events, (now + run.epoch, order, run))
            continue
        state = optuna.trial.TrialState.PRUNED if stop else optuna.trial.TrialState.COMPLETE
        study.tell(run.trial, None if stop else value, state=state)
        curves.done(run.key)
        result.epochs += run.step
        result.pruned += stop
        if value > result.best:
            result.best, result.best_key = value, run.key
        result.time = now
        if started < spec.tuning.max_jobs:
            start(now)
    return result


class Smoothed(optuna.pruners.BasePruner):
    """A pruner that judges a trial by a smoothed value at its step rather than the step's own:
    `judge=best` (its best so far, as the median rule judges), `judge=meanN` (the mean of its last
    N values). An experiment on how much of an early rung's ranking is one epoch's noise: for asha
    it made no consistent difference (docs/search.md)."""

    def __init__(self, inner: optuna.pruners.BasePruner, judge: str) -> None:
        self.inner, self.judge = inner, judge

    def prune(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
        step = trial.last_step
        if step is None:
            return False
        values = [trial.intermediate_values[s] for s in sorted(trial.intermediate_values)]
        smoothed = max(values) if self.judge == "best" else statistics.fmean(values[-int(self.judge[4:]) :])
        seen = copy.copy(trial)
        seen.intermediate_values = {**trial.intermediate_values, step: smoothed}
        return self.inner.prune(study, seen)


@dataclass
class _Run:
    trial: optuna.trial.Trial
    key: str  # its hyperparameters, for Curves
    epoch: float
    begin: float
    step: int = 0


@dataclass
class Sweep:
    epochs: int = 0
    best: float = float("-inf")
    best_key: str = ""  # the winning trial's hyperparameters (Curves.key)
    pruned: int = 0
    time: float = 0.0


def parse_arm(text: str) -> tuple[str, dict[str, Any]]:
    """`label=policy,key=value,...` (yaml values): one setting to emulate besides --policies."""
    import yaml

    label, _, body = text.partition("=")
    policy, *pairs = body.split(",")
    return label, {"policy": policy} | {k: yaml.safe_load(v) for k, v in (pair.split("=", 1) for pair in pairs)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs=2, default=(11, 60), metavar=("FIRST", "LAST"))
    parser.add_argument("--policies", nargs="*", default=list(POLICIES), choices=list(POLICIES))
    parser.add_argument("--parallel", type=int, default=2)
    parser.add_argument(
        "--try",
        dest="arms",
        nargs="*",
        default=[],
        metavar="LABEL=POLICY,KEY=VALUE,...",
        help="more settings to emulate, e.g. median5=median,delay_evaluation=5; "
        "a key pruner.NAME sets the built pruner's attribute NAME (a setting with no config field); "
        "judge=best or judge=meanN judges by a smoothed value (Smoothed; maximize only)",
    )
    parser.add_argument("--lockstep", action="store_true", help="the earlier emulation: no start-up, equal epochs")
    parser.add_argument("--jitter", type=float, default=Timing.jitter, help="spread of each trial's pace (log)")
    parser.add_argument("--startup", type=float, default=Timing.startup, help="a trial's start-up, in start-ups")
    parser.add_argument("--per-seed", action="store_true", help="also print every seed's figures")
    parser.add_argument("--json", type=Path, default=None, help="also write every run's figures here")
    parser.add_argument(
        "--retrain",
        type=int,
        default=0,
        metavar="K",
        help="also judge each winner by its mean accuracy retrained on K other splits (quality)",
    )
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    arms = {p: POLICIES[p] for p in ["off", *[p for p in args.policies if p != "off"]]}
    arms |= dict(parse_arm(a) for a in args.arms)
    timing = Timing(args.lockstep, args.startup, args.jitter)
    seeds = range(args.seeds[0], args.seeds[1] + 1)
    base = digits_config(Path(tempfile.gettempdir()), {})
    hp = base.training.hyperparameters
    curves = Curves(int(hp["epochs"]), {"alpha": hp["alpha"]})
    rows: dict[str, list[Sweep]] = {label: [] for label in arms}
    try:
        for seed in seeds:
            for label, settings in arms.items():
                fields = {k: v for k, v in settings.items() if not k.startswith(("pruner.", "judge"))}
                spec = digits_config(
                    Path(tempfile.gettempdir()), {"tuning.random_seed": seed, "tuning.early_stopping": fields}
                )
                pruner = build_pruner(spec)
                for key, value in settings.items():
                    if key.startswith("pruner."):
                        setattr(pruner, key.removeprefix("pruner."), value)
                if "judge" in settings:
                    pruner = Smoothed(pruner, settings["judge"])
                # the same paces for every setting on a seed: what differs is the setting alone
                rows[label].append(emulate(spec, pruner, curves, args.parallel, timing, random.Random(seed)))
            curves.save()  # a long run interrupted keeps what it trained
            print(
                f"seed {seed}: " + " ".join(f"{k} {v[-1].epochs}/{v[-1].best:.4f}" for k, v in rows.items()), flush=True
            )
    finally:
        curves.save()
    off = rows["off"]
    how = "lockstep" if timing.lockstep else f"timed, start-up {timing.startup}, pace jitter {timing.jitter}"
    print(f"emulated digits sweep, seeds {seeds[0]}..{seeds[-1]}, {args.parallel} in parallel, {how}")
    print(
        f"{'setting':<14}{'saved':>7}{'vs off':>8}{'mean':>7}{'worst':>8}{'lose':>6}{'gain':>6}{'pruned':>8}  settings"
    )
    for label, settings in arms.items():
        saved = [1 - r.epochs / o.epochs for r, o in zip(rows[label], off, strict=True)]
        points = [(r.best - o.best) * 100 for r, o in zip(rows[label], off, strict=True)]
        lose = sum(p < -1e-9 for p in points)
        gain = sum(p > 1e-9 for p in points)
        pruned = statistics.median(r.pruned for r in rows[label])
        shown = {k: v for k, v in settings.items() if k != "policy"}
        print(
            f"{label:<14}{statistics.median(saved):7.0%}{statistics.median(points):+8.2f}"
            f"{statistics.mean(points):+7.2f}{min(points):+8.2f}{lose:6d}{gain:6d}{pruned:8.0f}  "
            f"{settings['policy']} {shown or ''}"
        )
        if args.per_seed and label != "off":
            print("    points " + " ".join(f"{p:+.2f}" for p in points))
            print("    saved  " + " ".join(f"{s:.0%}" for s in saved))
    if args.retrain:
        cache: dict[str, float] = {}
        epochs = curves.epochs
        print(f"winners retrained on {args.retrain} other splits (mean final accuracy), against off's winner:")
        for label in arms:
            if label == "off":
                continue
            points = [
                (
                    quality(json.loads(r.best_key), args.retrain, epochs, cache)
                    - quality(json.loads(o.best_key), args.retrain, epochs, cache)
                )
                * 100
                for r, o in zip(rows[label], off, strict=True)
            ]
            print(
                f"  {label:<14} median {statistics.median(points):+.2f}, mean {statistics.mean(points):+.2f}, "
                f"worst {min(points):+.2f} points; " + " ".join(f"{p:+.2f}" for p in points)
            )
    print(f"(medians over seeds; vs off: the best accuracy's difference in points, goal within {GOAL_POINTS};")
    print(" lose / gain: seeds whose best accuracy is below / above off's)", flush=True)
    if args.json:
        args.json.write_text(
            json.dumps(
                [
                    {"setting": label, "settings": arms[label], "seed": seed}
                    | {"epochs": r.epochs, "best": r.best, "pruned": r.pruned}
                    for label in arms
                    for seed, r in zip(seeds, rows[label], strict=True)
                ],
                indent=1,
            )
        )


if __name__ == "__main__":
    main()
