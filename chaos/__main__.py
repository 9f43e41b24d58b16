"""`python -m chaos [--quick]`: run every section, print the figures, exit 1 on any failure."""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chaos", description=__doc__)
    parser.add_argument("--seed", type=int, default=int(time.time()) % 100_000)
    parser.add_argument("--mutants", type=int, default=400, help="property-based mutated configs")
    parser.add_argument("--runner-rounds", type=int, default=10, help="sweeps whose runner is killed twice")
    parser.add_argument("--cli-rounds", type=int, default=3)
    sections = ["configs", "runner", "cli", "worker", "faulty", "night", "tests"]
    parser.add_argument("--only", choices=sections, action="append")
    args = parser.parse_args(argv)
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    from chaos import corpus, kills, night
    from chaos.probe import Tally

    rng = random.Random(args.seed)
    wanted = set(args.only or sections)
    print(f"chaos: seed {args.seed}, sections {', '.join(sorted(wanted))}", flush=True)
    tallies: list[Tally] = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="hpo-chaos-") as tmp:
        base = Path(tmp)
        if "configs" in wanted:
            tallies += corpus.corpus_sections(args.mutants)
        if "faulty" in wanted:
            tallies.append(kills.faulty_trials(base))
        if "runner" in wanted:
            tallies.append(kills.runner_kills(base, args.runner_rounds, rng))
        if "worker" in wanted:
            tallies.append(kills.worker_kills(base))
        if "cli" in wanted:
            tallies.append(kills.cli_kills(base, args.cli_rounds, rng))
        if "night" in wanted:
            tallies.append(night.night_faults(base))
        if "tests" in wanted:
            tallies.append(kills.test_run_kills(base))
        for tally in tallies:
            print(f"  {tally.name:<28} {tally.cases:>5} checks  {len(tally.bad):>3} failures  {tally.figures}")
            for bad in tally.bad[:20]:
                print(f"      FAIL {bad}")
    every = [bad.lower() for t in tallies for bad in t.bad]
    kinds = {
        "lost": ("lost", "missing from mlflow", "of 8 trials", "of 4 trials", "of 6 trials"),
        "paid twice": ("paid twice", "new generation paid", "beyond the budget"),
        "duplicates": ("recorded twice", "completed twice"),
        "stuck runs": ("stuck running",),
        "orphans": ("orphans", "left running", "servers left"),
        "leaks": ("canary", "cnry-"),
        "hangs": ("hang",),
        "tracebacks": ("traceback",),
    }
    counts = {kind: sum(any(word in bad for word in words) for bad in every) for kind, words in kinds.items()}
    print("  " + ", ".join(f"{n} {kind}" for kind, n in counts.items()))
    failures = sum(len(t.bad) for t in tallies)
    print(
        f"chaos: {sum(t.cases for t in tallies)} checks, {failures} failures in {time.perf_counter() - started:.0f} s"
    )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
