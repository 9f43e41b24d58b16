"""The Ray backend on a two-node Ray cluster of this machine: slot use with 1 s trials, and the time
per trivial trial against the local backend, from interleaved rounds.

The cluster is the tests' (tests/ray/cluster.py): a head and a worker, each `ray start` declaring
one GPU, so `gpus_per_trial: 0.5` gives 4 slots. Slot use = busy trial-seconds / (4 x wall time),
a trial busy from its start to its end as the study records them, over two spans:
- trials: first trial start -> last trial end, what placement loses between trials (goal >= 0.95);
- sweep: submit -> COMPLETED, which also pays for the runner connecting to Ray and Ray placing its slots.
Overhead: `--trivial` trials that only print their metric, run 4 at a time on each backend (the local
one on 4 CPU slots), the local and the Ray sweep alternating round by round; printed as the ratio of
the time per trial over the trials' span, Ray / local, for each round and their median.

    nice -n 10 .venv/bin/python bench/ray_slots.py [--trials 80] [--trivial 80] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from overhead import sweep_spec  # noqa: E402

from hpo_flow.adapters.local import LocalAdapter  # noqa: E402
from hpo_flow.adapters.port import SweepState  # noqa: E402
from hpo_flow.adapters.ray.adapter import RayAdapter  # noqa: E402
from hpo_flow.adapters.spec import HpoConfig, apply_overrides, parse_config  # noqa: E402
from tests.ray.cluster import LocalRayCluster, ray_env, start_cluster  # noqa: E402

TRIAL = 'import time\ntime.sleep({seconds})\nprint("accuracy: 0.5")\n'
SLOTS = 4  # two nodes x one GPU / 0.5 GPU per trial
GOAL = 0.95


def on_ray(spec: HpoConfig, cluster: LocalRayCluster) -> HpoConfig:
    data = spec.model_dump(mode="json", by_alias=True)
    overrides = {
        "tuning.backend": "ray",
        "backends.ray": {"address": cluster.address, "gpus_per_trial": 0.5, "cpus_per_trial": 0},
    }
    return parse_config(apply_overrides(data, overrides))


def run(adapter: LocalAdapter, spec: HpoConfig) -> tuple[SweepState, float]:
    start = time.perf_counter()
    ref = adapter.submit(spec)
    while not (state := adapter.poll(ref)).status.is_terminal:
        time.sleep(0.05)
    took = time.perf_counter() - start
    assert state.status.value == "COMPLETED", state.message
    assert len(state.trials) == spec.tuning.max_jobs and all(t.objective == 0.5 for t in state.trials)
    return state, took


def spans(state: SweepState) -> list[tuple[float, float]]:
    return [(t.started_at.timestamp(), t.ended_at.timestamp()) for t in state.trials]  # type: ignore[union-attr]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=80)
    parser.add_argument("--trivial", type=int, default=80)
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    os.environ.update({k: v for k, v in ray_env().items() if k.startswith("RAY_")})
    with tempfile.TemporaryDirectory(prefix="hpo-ray-bench-") as tmp:
        cluster = start_cluster(Path(tmp) / "cluster")
        try:
            use_trials, use_sweep, ratios = [], [], []
            for r in range(args.rounds):
                slow = Path(tmp) / f"slow-{r}"
                slow.mkdir()
                (slow / "trial.py").write_text(TRIAL.format(seconds=args.seconds))
                state, took = run(RayAdapter(), on_ray(sweep_spec(slow, args.trials, SLOTS, f"slots-{r}"), cluster))
                busy = sum(end - begin for begin, end in spans(state))
                first = min(b for b, _ in spans(state))
                last = max(e for _, e in spans(state))
                use_trials.append(busy / (SLOTS * (last - first)))
                use_sweep.append(busy / (SLOTS * took))

                per_trial = {}
                for backend in ("local", "ray"):  # interleaved: the same machine state for both
                    fast = Path(tmp) / f"fast-{backend}-{r}"
                    fast.mkdir()
                    (fast / "trial.py").write_text(TRIAL.format(seconds=0))
                    spec = sweep_spec(fast, args.trivial, SLOTS, f"trivial-{backend}-{r}")
                    adapter = LocalAdapter() if backend == "local" else RayAdapter()
                    state, _ = run(adapter, spec if backend == "local" else on_ray(spec, cluster))
                    window = max(e for _, e in spans(state)) - min(b for b, _ in spans(state))
                    per_trial[backend] = window / args.trivial
                ratios.append(per_trial["ray"] / per_trial["local"])
                print(
                    f"round {r + 1}: slot use {use_trials[-1]:.3f} (trials), {use_sweep[-1]:.3f} (sweep); "
                    f"trivial trial {per_trial['local'] * 1000:.0f} ms local, {per_trial['ray'] * 1000:.0f} ms Ray "
                    f"(ratio {ratios[-1]:.2f})",
                    flush=True,
                )
        finally:
            cluster.stop()
    use = statistics.median(use_trials)
    print(
        f"\n{args.trials} trials of {args.seconds:g} s on {SLOTS} Ray slots (2 nodes x 1 GPU, 0.5 per trial), "
        f"{os.cpu_count()} CPUs, median of {args.rounds} rounds"
    )
    print(
        f"  slot use over the trials (first start -> last end): {use:.3f}   goal >= {GOAL}: "
        + ("met" if use >= GOAL else "not met")
    )
    print(
        f"  slot use over the sweep (submit -> COMPLETED, Ray connection included): {statistics.median(use_sweep):.3f}"
    )
    print(f"  time per trivial trial, Ray / local (4 at a time, interleaved rounds): {statistics.median(ratios):.2f}")


if __name__ == "__main__":
    main()
