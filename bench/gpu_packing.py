"""How busy the local runner keeps a GPU: one trial per GPU against trials packed onto it.

Each round is a local sweep through `LocalAdapter.submit` + `poll` (the runner as `hpo-flow run`
starts it: its own process, slots from `nvidia-smi`, `CUDA_VISIBLE_DEVICES` per slot) of a small
PyTorch training script (bench/functions/gpu_trial.py): a model too small to fill a GPU alone,
which is what `trials_per_gpu` is for. While the sweep runs, `nvidia-smi` samples the GPU's
utilisation (the share of time a kernel was running) every 200 ms; the figure is its mean from the
first trial's start to the last one's end, and over the whole sweep (submit to COMPLETED, the
runner's own start and the trials' CUDA start-up included). Settings alternate round by round.
Goal (issue 13): packed trials keep the GPU >= 90% busy.

    python3 bench/gpu_packing.py [--packing 1 4] [--trials 8] [--seconds 10] [--rounds 2]
    python3 bench/gpu_packing.py --fake-gpu --seconds 2 --trials 4   # a dry run without a GPU

On a machine where the project's venv cannot be made (the lent GPU machine: Python 3.12 with
PyTorch, no network), bench/gpu_wheels.sh downloads the wheels the runner needs beside what that
machine has; see its header for the command that installs them there and runs this.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hpo_flow.adapters.local import LocalAdapter
from hpo_flow.adapters.port import SweepState
from hpo_flow.adapters.spec import HpoConfig, parse_config

TRIAL = Path(__file__).resolve().parent / "functions" / "gpu_trial.py"
GOAL = 0.90
FAKE_SMI = """#!/bin/sh
# a one-GPU nvidia-smi for a dry run: index 0, and a utilisation of 0 (nothing is measured)
case "$*" in
  *-lms*) while true; do echo 0; sleep 0.2; done ;;
  *name*) echo "a fake GPU (dry run)" ;;
  *) echo 0 ;;
esac
"""


def spec(workdir: Path, trials: int, packing: int, seconds: float, name: str) -> HpoConfig:
    return parse_config(
        {
            "project": "gpu-packing",
            "training": {
                "entry_point": TRIAL.name,
                "source_dir": str(TRIAL.parent),
                "hyperparameters": {"seconds": seconds},
                "metric_definitions": [{"Name": "accuracy", "Regex": "accuracy: ([0-9.eE+-]+)"}],
            },
            "tuning": {
                "strategy": "Random",
                "sweep_name": name,
                "max_jobs": trials,
                "max_parallel_jobs": 256,  # the slots decide: trials_per_gpu per GPU
                "objective_metric": "accuracy",
                "random_seed": 1,
                "hyperparameter_ranges": {
                    "lr": {"type": "continuous", "min": 1e-4, "max": 1e-1, "scaling_type": "Logarithmic"},
                    "width": {"type": "categorical", "values": [256, 512, 1024]},
                },
            },
            "backends": {"local": {"gpus": "auto", "trials_per_gpu": packing, "workdir": str(workdir / ".hpo")}},
        }
    )


class Sampler:
    """`nvidia-smi` utilisation samples of every GPU, time-stamped, in a thread."""

    def __init__(self) -> None:
        self.samples: list[tuple[float, float]] = []  # (time, mean utilisation over the GPUs, 0-1)
        self._proc = subprocess.Popen(
            ["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits", "-lms", "200"],
            stdout=subprocess.PIPE,
            text=True,
        )
        self._gpus = max(1, _gpu_count())
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        batch: list[float] = []
        for line in self._proc.stdout or []:
            batch.append(float(line.strip() or 0) / 100)
            if len(batch) == self._gpus:
                self.samples.append((time.time(), statistics.fmean(batch)))
                batch = []

    def mean(self, start: float, end: float) -> float:
        window = [u for t, u in self.samples if start <= t <= end]
        return statistics.fmean(window) if window else float("nan")

    def stop(self) -> None:
        self._proc.terminate()
        self._proc.wait(10)


def _gpu_count() -> int:
    out = subprocess.run(["nvidia-smi", "--query-gpu=index", "--format=csv,noheader"], capture_output=True, text=True)
    return len([line for line in out.stdout.splitlines() if line.strip()])


def one_round(workdir: Path, trials: int, packing: int, seconds: float, name: str) -> dict[str, float]:
    sampler = Sampler()
    try:
        local = LocalAdapter()
        submitted = time.time()
        ref = local.submit(spec(workdir, trials, packing, seconds, name))
        state: SweepState = local.poll(ref)
        while not state.status.is_terminal:
            time.sleep(0.2)
            state = local.poll(ref)
        ended = time.time()
    finally:
        sampler.stop()
    if state.status.value != "COMPLETED":
        raise SystemExit(f"sweep {name} ended {state.status.value}: {state.message}")
    failed = [t for t in state.trials if t.status.value != "COMPLETED"]
    if failed:
        raise SystemExit(
            f"{len(failed)} trials did not complete, e.g. {failed[0].failure_reason} ({failed[0].log_path})"
        )
    first = min(t.started_at.timestamp() for t in state.trials if t.started_at)
    last = max(t.ended_at.timestamp() for t in state.trials if t.ended_at)
    return {
        "busy (trials)": sampler.mean(first, last),
        "busy (sweep)": sampler.mean(submitted, ended),
        "sweep s": ended - submitted,
        "trials/min": 60 * trials / (ended - submitted),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packing", type=int, nargs="+", default=[1, 4], help="trials_per_gpu settings to compare")
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10.0, help="each trial's training time")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument(
        "--fake-gpu", action="store_true", help="a fake one-GPU nvidia-smi: checks the bench, measures nothing"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="hpo-gpu-") as tmp:
        workdir = Path(tmp)
        if args.fake_gpu:
            (workdir / "bin").mkdir()
            (workdir / "bin" / "nvidia-smi").write_text(FAKE_SMI)
            (workdir / "bin" / "nvidia-smi").chmod(0o755)
            os.environ["PATH"] = f"{workdir / 'bin'}{os.pathsep}{os.environ['PATH']}"
        if not shutil.which("nvidia-smi"):
            # `make bench` runs every bench: on a machine without a GPU this one has nothing to measure.
            print("gpu_packing: no nvidia-smi, no GPU to measure (--fake-gpu for a dry run)")
            return
        smi = subprocess.run(
            ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True, text=True
        )
        print(f"GPUs: {smi.stdout.strip() or '?'}; {args.trials} trials of {args.seconds:g} s per round", flush=True)
        rows: dict[int, list[dict[str, float]]] = {p: [] for p in args.packing}
        for r in range(args.rounds):
            order = args.packing if r % 2 == 0 else list(reversed(args.packing))
            for packing in order:
                row = one_round(workdir, args.trials, packing, args.seconds, f"gpu-{packing}-{r}")
                rows[packing].append(row)
                print(
                    f"round {r + 1} trials_per_gpu {packing}: " + ", ".join(f"{k} {v:.2f}" for k, v in row.items()),
                    flush=True,
                )
    print(f"\nmedians of {args.rounds} rounds (goal: packed trials keep the GPU >= {GOAL:.0%} busy)")
    for packing, got in rows.items():
        print(
            f"  trials_per_gpu {packing}: "
            + ", ".join(f"{k} {statistics.median(r[k] for r in got):.2f}" for k in got[0])
        )


if __name__ == "__main__":
    main()
