"""Slot use of a local sweep of 1 s trials: busy slot-seconds / (slots x sweep wall time).

Each trial is a child Python that sleeps `--seconds` and prints one metric line; the sweep runs
`--trials` of them, `--parallel` at a time, through `LocalAdapter.submit` + `poll` (Random
sampling, the default journal storage). A trial is busy from its start to its end as the study
records them. Two figures per round:
- sweep: over submit to COMPLETED, so it pays for starting the runner process once;
- trials: over first trial start to last trial end, what the scheduler itself loses between trials.
Rounds run one after the other; the median of the rounds is printed. Goal: sweep >= 0.97.

    nice -n 10 .venv/bin/python bench/slot_use.py [--trials 60] [--parallel 2] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
from pathlib import Path

from overhead import run_to_end, sweep_spec

TRIAL = 'import time\ntime.sleep({seconds})\nprint("accuracy: 0.5")\n'
GOAL = 0.97


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=60)
    parser.add_argument("--parallel", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    sweep_use: list[float] = []
    trial_use: list[float] = []
    starts: list[float] = []
    with tempfile.TemporaryDirectory(prefix="hpo-slots-") as tmp:
        workdir = Path(tmp)
        (workdir / "trial.py").write_text(TRIAL.format(seconds=args.seconds))
        for r in range(args.rounds):
            spec = sweep_spec(workdir, args.trials, args.parallel, f"slots-{r}")
            state, total, wall_start = run_to_end(spec)
            spans = [(t.started_at.timestamp(), t.ended_at.timestamp()) for t in state.trials]  # type: ignore[union-attr]
            busy = sum(end - begin for begin, end in spans)
            first = min(begin for begin, _ in spans)
            last = max(end for _, end in spans)
            sweep_use.append(busy / (args.parallel * total))
            trial_use.append(busy / (args.parallel * (last - first)))
            starts.append(first - wall_start)
            print(
                f"round {r + 1}: slot use {sweep_use[-1]:.3f} (sweep), {trial_use[-1]:.3f} (trials); "
                f"runner start {starts[-1]:.2f} s, sweep {total:.1f} s",
                flush=True,
            )
    use = statistics.median(sweep_use)
    print(
        f"\n{args.trials} trials of {args.seconds:g} s, {args.parallel} slots, {os.cpu_count()} CPUs, "
        f"median of {args.rounds} rounds"
    )
    verdict = "met" if use >= GOAL else "not met"
    print(f"  slot use over the sweep (submit -> COMPLETED): {use:.3f}   goal >= {GOAL}: {verdict}")
    print(f"  slot use over the trials (first start -> last end): {statistics.median(trial_use):.3f}")
    print(f"  runner start (submit -> first trial): {statistics.median(starts):.2f} s")


if __name__ == "__main__":
    main()
