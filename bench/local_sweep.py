"""What bench/early_stopping.py and bench/efficiency.py share: run one sweep through the real
LocalAdapter (submit, poll to the end) and read what it did."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hpo_flow.adapters.local import LocalAdapter
from hpo_flow.adapters.port import SweepState, TrialStatus, best_trial
from hpo_flow.adapters.spec import HpoConfig, Objective, apply_overrides, parse_config, read_yaml

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class SweepResult:
    state: SweepState
    metric: str
    objective: Objective
    seconds: float

    @property
    def steps(self) -> int:
        """Steps (epochs) the trials consumed: every reported point of every objective curve."""
        return sum(len(t.curves.get(self.metric, [])) for t in self.state.trials)

    @property
    def pruned(self) -> int:
        return sum(t.status == TrialStatus.PRUNED for t in self.state.trials)

    @property
    def best(self) -> float:
        top = best_trial(self.state.trials, self.objective)
        return top.objective if top is not None and top.objective is not None else math.nan

    def best_after(self, n: int) -> float:
        """Best objective among the first n trials, in the order they were started."""
        first = sorted(self.state.trials, key=lambda t: t.id)[:n]
        top = best_trial(first, self.objective)
        return top.objective if top is not None and top.objective is not None else math.nan


def digits_config(workdir: Path, overrides: dict[str, Any]) -> HpoConfig:
    """config.yaml (the demo sweep) with its paths pointed here and the given dotted overrides."""
    data = read_yaml(ROOT / "config.yaml")
    base = {
        "training.source_dir": str(ROOT / "examples" / "digits"),
        "backends.local.workdir": str(workdir),
        "backends.local.gpus": [],
        "tuning.max_runtime_seconds": None,  # a busy machine must not cut a benchmark sweep short
    }
    return parse_config(apply_overrides(data, base | overrides))


def run_sweep(spec: HpoConfig, poll_seconds: float = 0.5) -> SweepResult:
    """Submit, poll to the end. A sweep whose runner stopped early is submitted again once, as the
    adapter's message says to (it resumes with every finished trial kept); that is printed."""
    adapter = LocalAdapter()
    start = time.perf_counter()
    for attempt in (1, 2):
        ref = adapter.submit(spec)
        while not (state := adapter.poll(ref)).status.is_terminal:
            time.sleep(poll_seconds)
        if state.status.value == "COMPLETED":
            break
        finished = sum(t.status.is_terminal for t in state.trials)
        print(
            f"  note: sweep {ref.name} ended {state.status.value} after {finished} trials: {state.message}", flush=True
        )
        if attempt == 2:
            raise RuntimeError(f"sweep {ref.name} ended {state.status.value}: {state.message}")
    return SweepResult(state, spec.tuning.objective_metric, spec.tuning.objective_type, time.perf_counter() - start)


def quality(params: dict[str, Any], splits: int, epochs: int, cache: dict[str, float] | None = None) -> float:
    """What a digits configuration is worth beyond the validation set it was chosen on: its mean
    final accuracy trained anew on `splits` other splits of digits (train.py's split rule with
    other seeds, other initialisations), as train.py trains it. A sweep's best validation accuracy
    is the best of many noisy draws, so it overstates the winning configuration, and the more so
    the more trials ran to the end: comparing early-stopping policies by it favours `off`."""
    import json
    import sys

    import numpy as np
    from threadpoolctl import threadpool_limits

    sys.path.insert(0, str(ROOT / "examples" / "digits"))
    import train  # the demo's own split rule and model

    fixed = read_yaml(ROOT / "config.yaml")["training"]["hyperparameters"]
    p = {k: params.get(k, fixed.get(k)) for k in ("lr", "batch_size", "hidden", "alpha")}
    key = json.dumps({**p, "splits": splits, "epochs": epochs}, sort_keys=True)
    if cache is not None and key in cache:
        return cache[key]
    scores = []
    for split in range(splits):
        x_train, y_train, x_val, y_val = train.load_split(seed=10_000 + split)
        model = train.build_model(int(p["hidden"]), float(p["lr"]), int(p["batch_size"]), float(p["alpha"]), split + 1)
        with threadpool_limits(1):
            for _ in range(epochs):
                model.partial_fit(x_train, y_train, classes=np.arange(10))
        scores.append(float(np.mean(model.predict(x_val) == y_val)))
    result = sum(scores) / len(scores)
    if cache is not None:
        cache[key] = result
    return result
