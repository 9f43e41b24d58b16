"""How long hostile input takes to be refused, against a valid config read the same way.

Each case is `hpo-flow validate` run in this process (loader, limits, model, messages); rounds
alternate a valid config and the hostile one so a busy machine hurts both alike; the medians and
their ratio are printed. Goal: every hostile case refused in well under a second. Also secret
masking of one long log line (it runs on every uploaded trial log line). Before issue 12 the alias
bomb, the 1e20 slots and the 40 kB line did not finish.
Run: `.venv/bin/python bench/hardening.py [--rounds 5]`.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import statistics
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hpo_flow.adapters.redact import redact_text
from hpo_flow.cli import main
from tests.helpers import config_dict


def _bomb(levels: int) -> str:
    lines = ['a0: &a0 ["x","x","x","x","x","x","x","x","x"]']
    lines += [f"a{i}: &a{i} [{','.join([f'*a{i - 1}'] * 9)}]" for i in range(1, levels)]
    return "\n".join(lines) + f"\nproject: *a{levels - 1}\n"


def _timed(argv: list[str]) -> float:
    started = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        main(argv)
    return time.perf_counter() - started


def main_bench() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        valid = root / "valid.yaml"
        valid.write_text(yaml.safe_dump(config_dict()))
        cases = {
            "alias bomb (1 kB, 9 levels)": _bomb(9),
            "20,000-value categorical": yaml.safe_dump(
                config_dict({"tuning.hyperparameter_ranges.b": {"type": "categorical", "values": list(range(20_000))}})
            ),
            "max_parallel_jobs 1e20": yaml.safe_dump(config_dict({"tuning.max_parallel_jobs": 10**20})),
            "10 MB config": "project: p\n" + "# padding padding padding\n" * 400_000,
            "5,000-digit max_jobs": "project: p\ntuning: {max_jobs: " + "9" * 5000 + "}\n",
        }
        print(f"{'validate':<32} {'valid ms':>9} {'hostile ms':>11} {'ratio':>6}")
        for name, text in cases.items():
            hostile = root / "hostile.yaml"
            hostile.write_text(text)
            base, bad = [], []
            for _ in range(args.rounds):
                base.append(_timed(["validate", str(valid)]))
                bad.append(_timed(["validate", str(hostile)]))
            b, h = statistics.median(base), statistics.median(bad)
            print(f"{name:<32} {b * 1000:>9.1f} {h * 1000:>11.1f} {h / b:>6.2f}")
        line = "connecting " + "a" * 40_000 + " postgresql://u:pw@db/x"
        times = []
        for _ in range(args.rounds):
            started = time.perf_counter()
            redact_text(line)
            times.append(time.perf_counter() - started)
        print(f"{'redact_text, one 40 kB line':<32} {statistics.median(times) * 1000:>21.2f} ms")


if __name__ == "__main__":
    main_bench()
