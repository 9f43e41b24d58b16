"""More standard test functions, in process, for checking a sampler change beyond Branin and Hartmann-6.

They span what a tuning objective can look like: smooth valleys (Rosenbrock, Styblinski-Tang),
rugged many-minima surfaces (Ackley, Levy), few-minima bumps (Hartmann-3) and parameters that do
nothing (Hartmann-6 in 10 dimensions, x7..x10 ignored). Domains and minima as in the usual
benchmark suites (e.g. the Virtual Library of Simulation Experiments).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from functions.hartmann6 import hartmann6

H3_ALPHA = (1.0, 1.2, 3.0, 3.2)
H3_A = ((3.0, 10, 30), (0.1, 10, 35), (3.0, 10, 30), (0.1, 10, 35))
H3_P = ((0.3689, 0.1170, 0.2673), (0.4699, 0.4387, 0.7470), (0.1091, 0.8732, 0.5547), (0.0381, 0.5743, 0.8828))


def hartmann3(x: list[float]) -> float:
    return -sum(H3_ALPHA[i] * math.exp(-sum(H3_A[i][j] * (x[j] - H3_P[i][j]) ** 2 for j in range(3))) for i in range(4))


def rosenbrock(x: list[float]) -> float:
    return sum(100 * (x[i + 1] - x[i] ** 2) ** 2 + (1 - x[i]) ** 2 for i in range(len(x) - 1))


def ackley(x: list[float]) -> float:
    d = len(x)
    return (
        -20 * math.exp(-0.2 * math.sqrt(sum(v * v for v in x) / d))
        - math.exp(sum(math.cos(2 * math.pi * v) for v in x) / d)
        + 20
        + math.e
    )


def levy(x: list[float]) -> float:
    w = [1 + (v - 1) / 4 for v in x]
    middle = sum((wi - 1) ** 2 * (1 + 10 * math.sin(math.pi * wi + 1) ** 2) for wi in w[:-1])
    last = (w[-1] - 1) ** 2 * (1 + math.sin(2 * math.pi * w[-1]) ** 2)
    return math.sin(math.pi * w[0]) ** 2 + middle + last


def styblinski_tang(x: list[float]) -> float:
    return sum(v**4 - 16 * v * v + 5 * v for v in x) / 2


def _box(dim: int, low: float, high: float) -> dict[str, dict[str, Any]]:
    return {f"x{j}": {"type": "continuous", "min": low, "max": high} for j in range(1, dim + 1)}


def _vector(dim: int, f: Callable[[list[float]], float]) -> Callable[[dict[str, float]], float]:
    return lambda p: f([p[f"x{j}"] for j in range(1, dim + 1)])


# name: (objective over the params dict, f*, ranges)
SUITE: dict[str, tuple[Callable[[dict[str, float]], float], float, dict[str, dict[str, Any]]]] = {
    "hartmann3": (_vector(3, hartmann3), -3.86278, _box(3, 0, 1)),
    "rosenbrock4": (_vector(4, rosenbrock), 0.0, _box(4, -5, 10)),
    "ackley5": (_vector(5, ackley), 0.0, _box(5, -32.768, 32.768)),
    "levy4": (_vector(4, levy), 0.0, _box(4, -10, 10)),
    "styblinski4": (_vector(4, styblinski_tang), -39.16599 * 4, _box(4, -5, 5)),
    "hartmann6in10": (_vector(6, hartmann6), -3.32237, _box(10, 0, 1)),
}
