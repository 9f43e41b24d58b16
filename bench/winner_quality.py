"""Early-stopping policies judged by what their winners are worth, from `early_stopping.py --json`.

`early_stopping.py` compares each policy's best validation accuracy with `off`'s on the same seed.
That best is the top of many noisy draws (the demo's curves swing 1-3 points an epoch), and `off`
lets every trial draw to the end: it wins on that figure partly by luck. Here each sweep's winning
trial (the product's rule, `hpo_flow.adapters.port.best_trial`) is judged by its configuration instead:
trained anew on `--splits` other splits of digits, as train.py trains it (`local_sweep.quality`),
and compared with `off`'s winner on the same seed, in accuracy points.

    .venv/bin/python bench/winner_quality.py runs.json [more.json ...] [--splits 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path
from typing import Any

from local_sweep import quality

from hpo_flow.adapters.port import Trial, TrialStatus, best_trial
from hpo_flow.adapters.spec import Objective


def winner(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The recorded trial the product would register: hpo_flow.adapters.port.best_trial on the rows (maximize)."""
    trials = [
        Trial(id=r["id"], params=r["params"], status=TrialStatus(r["status"]), objective=r["objective"]) for r in rows
    ]
    best = best_trial(trials, Objective.Maximize)
    if best is None:
        raise SystemExit("a sweep in the JSON has no trial with an objective")
    return best.params


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", type=Path, nargs="+")
    parser.add_argument("--splits", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=20)
    args = parser.parse_args()
    missing = [str(path) for path in args.runs if not path.is_file()]
    if missing:
        parser.error(f"no such file: {', '.join(missing)} (bench/early_stopping.py --json writes one)")
    rows = [r for path in args.runs for r in json.loads(path.read_text())]
    off = {r["seed"]: r for r in rows if r["policy"] == "off"}
    if not off:
        # every figure here is a difference from off's winner on the same seed
        parser.error("no `off` runs in the JSON: run bench/early_stopping.py with off among its policies")
    cache: dict[str, float] = {}
    for policy in sorted({r["policy"] for r in rows} - {"off"}):
        mine = sorted((r for r in rows if r["policy"] == policy and r["seed"] in off), key=lambda r: r["seed"])
        if not mine:
            continue
        by_value = [(r["best"] - off[r["seed"]]["best"]) * 100 for r in mine]
        by_quality = [
            (
                quality(winner(r["trial_runs"]), args.splits, args.epochs, cache)
                - quality(winner(off[r["seed"]]["trial_runs"]), args.splits, args.epochs, cache)
            )
            * 100
            for r in mine
        ]
        saved = [1 - r["epochs"] / off[r["seed"]]["epochs"] for r in mine]
        seeds = f"{mine[0]['seed']}..{mine[-1]['seed']}"
        print(f"{policy} {mine[0]['settings']}, seeds {seeds} ({len(mine)}), saved {statistics.median(saved):.0%}:")
        print(f"  winner's own validation accuracy vs off: median {statistics.median(by_value):+.2f} points")
        print(
            f"  winner retrained on {args.splits} other splits vs off's: median {statistics.median(by_quality):+.2f}, "
            f"mean {statistics.mean(by_quality):+.2f}, worst {min(by_quality):+.2f} points, "
            f"{sum(p < -1e-9 for p in by_quality)} seeds lose"
        )
        print("    per seed " + " ".join(f"{p:+.2f}" for p in by_quality))


if __name__ == "__main__":
    main()
