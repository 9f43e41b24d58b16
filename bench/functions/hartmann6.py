"""Hartmann-6 as a trial script: `--x1 .. --x6 in [0, 1]`, prints `value: f(x)`.

The standard 6-D test function of Bayesian optimisation (six local minima, f* = -3.32237 at
x = (0.20169, 0.150011, 0.476874, 0.275332, 0.311652, 0.6573)). Pure Python.
"""

from __future__ import annotations

import argparse
import math

MINIMUM = -3.32237

ALPHA = (1.0, 1.2, 3.0, 3.2)
A = (
    (10, 3, 17, 3.5, 1.7, 8),
    (0.05, 10, 17, 0.1, 8, 14),
    (3, 3.5, 1.7, 10, 17, 8),
    (17, 8, 0.05, 10, 0.1, 14),
)
P = (
    (0.1312, 0.1696, 0.5569, 0.0124, 0.8283, 0.5886),
    (0.2329, 0.4135, 0.8307, 0.3736, 0.1004, 0.9991),
    (0.2348, 0.1451, 0.3522, 0.2883, 0.3047, 0.6650),
    (0.4047, 0.8828, 0.8732, 0.5743, 0.1091, 0.0381),
)


def hartmann6(x: list[float]) -> float:
    return -sum(ALPHA[i] * math.exp(-sum(A[i][j] * (x[j] - P[i][j]) ** 2 for j in range(6))) for i in range(4))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for j in range(1, 7):
        parser.add_argument(f"--x{j}", type=float, required=True)
    args = parser.parse_args()
    print(f"value: {hartmann6([getattr(args, f'x{j}') for j in range(1, 7)]):.10g}", flush=True)


if __name__ == "__main__":
    main()
