"""Fit a line to data/points.csv by gradient descent with momentum; the team's training script.

    python train.py --lr 0.05 --momentum 0.5 [--epochs 30] [--batch_size 8]

Every epoch prints `loss: X`, the mean squared error on the held-out quarter of the points, which
config.yaml's metric_definitions read. The model (line_model.py) is saved into $HPO_MODEL_DIR.
The same arguments give the same curve: the points are visited in a fixed order.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

from line_model import LineModel

from hpo_flow.report import input_path, model_dir, report  # shipped with the code on every backend


def load(folder: str) -> list[tuple[float, float]]:
    with (Path(folder) / "points.csv").open(newline="") as f:
        return [(float(row["x"]), float(row["y"])) for row in csv.DictReader(f)]


def mse(model: LineModel, points: list[tuple[float, float]]) -> float:
    return sum((model.slope * x + model.intercept - y) ** 2 for x, y in points) / len(points)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lr", type=float, required=True)
    parser.add_argument("--momentum", type=float, default=0.0)
    parser.add_argument("--epochs", type=lambda s: int(float(s)), default=30)
    parser.add_argument("--batch_size", type=lambda s: int(float(s)), default=8)
    args, _ = parser.parse_known_args(argv)

    points = load(input_path("training", "data") or "data")
    cut = len(points) * 3 // 4
    train, held_out = points[:cut], points[cut:]
    model, velocity = LineModel(0.0, 0.0), [0.0, 0.0]
    for epoch in range(1, args.epochs + 1):
        for start in range(0, len(train), args.batch_size):
            batch = train[start : start + args.batch_size]
            errors = [(model.slope * x + model.intercept - y, x) for x, y in batch]
            grads = (2 * sum(e * x for e, x in errors) / len(batch), 2 * sum(e for e, _ in errors) / len(batch))
            velocity = [args.momentum * v - args.lr * g for v, g in zip(velocity, grads, strict=True)]
            model.slope += velocity[0]
            model.intercept += velocity[1]
        report(step=epoch, loss=min(mse(model, held_out), 1e6))  # capped: a diverging lr still prints a number
    model.save(Path(model_dir()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
