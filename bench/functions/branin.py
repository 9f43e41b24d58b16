"""Branin-Hoo as a trial script: `--x1 in [-5, 10] --x2 in [0, 15]`, prints `value: f(x)`.

The standard 2-D test function of Bayesian optimisation (three global minima, f* = 0.397887).
Pure Python, so a trial costs one interpreter start.
"""

from __future__ import annotations

import argparse
import math

MINIMUM = 0.397887


def branin(x1: float, x2: float) -> float:
    b = 5.1 / (4 * math.pi**2)
    c = 5 / math.pi
    t = 1 / (8 * math.pi)
    return (x2 - b * x1**2 + c * x1 - 6) ** 2 + 10 * (1 - t) * math.cos(x1) + 10


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--x1", type=float, required=True)
    parser.add_argument("--x2", type=float, required=True)
    args = parser.parse_args()
    print(f"value: {branin(args.x1, args.x2):.10g}", flush=True)


if __name__ == "__main__":
    main()
