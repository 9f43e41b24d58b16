"""What the Ray tests share: a trial script that says where and when it ran, configs, the study's records."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hpo_flow.adapters.local.state import RUN_ATTR, SweepPaths
from hpo_flow.adapters.port import SweepRef, SweepState
from hpo_flow.adapters.ray.adapter import RayAdapter
from hpo_flow.adapters.spec import HpoConfig, parse_config
from tests.helpers import config_dict
from tests.local.sweep_helpers import finish
from tests.ray.cluster import LocalRayCluster

# Prints its accuracy step by step over --seconds, then saves where and when it ran as its model.
SCRIPT = r"""
import argparse, json, os, time
start = time.time()
p = argparse.ArgumentParser()
p.add_argument("--x", type=float, default=0.5)
p.add_argument("--k", type=int, default=1)
p.add_argument("--seconds", type=float, default=1.0)
p.add_argument("--steps", type=int, default=4)
a, _ = p.parse_known_args()
for step in range(1, a.steps + 1):
    time.sleep(a.seconds / a.steps)
    print(f"accuracy: {a.x * step / a.steps:.6f}", flush=True)
seen = {"start": start, "end": time.time(), "cuda": os.environ.get("CUDA_VISIBLE_DEVICES"), "pid": os.getpid(),
        "cwd": os.getcwd(), "sm_model_dir": os.environ.get("SM_MODEL_DIR"), "model_dir": os.environ["HPO_MODEL_DIR"]}
with open(os.path.join(os.environ["HPO_MODEL_DIR"], "trial.json"), "w") as f:
    json.dump(seen, f)
"""


def write_script(directory: Path) -> None:
    (directory / "train.py").write_text(SCRIPT)


def ray_config(source_dir: Path, cluster: LocalRayCluster | None, overrides: dict[str, Any] | None = None) -> HpoConfig:
    """A sweep of SCRIPT on `cluster` (None: a Ray instance of the sweep's own), half a GPU per trial."""
    base: dict[str, Any] = {
        "project": "raytest",
        "training.entry_point": "train.py",
        "training.source_dir": str(source_dir),
        "training.hyperparameters": {"seconds": 1.0},
        "tuning.backend": "ray",
        "tuning.strategy": "Random",
        "tuning.max_jobs": 4,
        "tuning.max_parallel_jobs": 4,
        "tuning.random_seed": 3,
        "tuning.hyperparameter_ranges": {
            "x": {"type": "continuous", "min": 0.0, "max": 1.0},
            "k": {"type": "integer", "min": 1, "max": 4},
        },
        "backends.local.kill_grace_seconds": 1,
        "backends.ray": {
            "address": cluster.address if cluster else None,
            "gpus_per_trial": 0.5 if cluster else 0,
            "cpus_per_trial": 0 if cluster else 1,
        },
    }
    base.update(overrides or {})
    return parse_config(config_dict(base))


def run_to_end(spec: HpoConfig, timeout: float = 240) -> tuple[RayAdapter, SweepRef, SweepState]:
    """Submit `spec` on Ray and wait for its end; whatever happens, nothing of it is left running."""
    adapter = RayAdapter()
    ref = adapter.submit(spec)
    try:
        state = finish(adapter, ref, timeout=timeout)
    finally:
        adapter.cancel(ref)
    return adapter, ref, state


def run_records(adapter: RayAdapter, ref: SweepRef, spec: HpoConfig) -> dict[int, dict[str, Any]]:
    """Each trial's record as the study holds it: where it ran (`hpo.run`), its state, its retry."""
    study = adapter._study(SweepPaths(Path(ref.workdir or "")), spec)
    assert study is not None
    return {
        t.number: {
            "run": t.user_attrs.get(RUN_ATTR) or {},
            "state": t.state.name,
            "attrs": t.user_attrs,
            "params": t.params,
        }
        for t in study.get_trials(deepcopy=False)
    }


def trial_seen(ref: SweepRef, number: int) -> dict[str, Any]:
    """What the trial script saved as its model (it reached the sweep's folder, from wherever it ran)."""
    path = SweepPaths(Path(ref.workdir or "")).trial_dir(number) / "model" / "trial.json"
    return dict(json.loads(path.read_text()))


def most_at_once(spans: list[tuple[float, float]]) -> int:
    events = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans])
    top = now = 0
    for _, step in events:
        now += step
        top = max(top, now)
    return top
