"""A trial small enough for the flow's tests: a 3-step accuracy curve from its hyperparameters, then
an MLflow model whose prediction is that final accuracy - so loading the registered model shows
which trial it came from.

    python trial_script.py --lr 0.01 --batch_size 32 [--epochs 3] [--step_seconds 0.3]

The model is a pyfunc model with a custom loader module (MLflow's `loader_module` convention):
an `MLmodel` file and a value file, written without importing MLflow, which would cost a trial
seconds on a busy test machine. `mlflow.pyfunc.load_model` loads it through `_load_pyfunc` below.
The demo's trial (examples/digits/train.py) saves a real scikit-learn model instead.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import sys
import time
from pathlib import Path

LOADER_MODULE = "tests.flow.trial_script"
MLMODEL = f"""\
flavors:
  python_function:
    loader_module: {LOADER_MODULE}
    data: value.txt
    python_version: {sys.version_info.major}.{sys.version_info.minor}.{sys.version_info.micro}
"""


class ConstantModel:
    """Predicts the trial's final accuracy for every input row."""

    def __init__(self, value: float) -> None:
        self.value = value

    def predict(self, model_input: object, params: dict[str, object] | None = None) -> list[float]:
        return [self.value] * len(model_input)  # type: ignore[arg-type]


def _load_pyfunc(data_path: str) -> ConstantModel:
    """MLflow's hook for a `loader_module`: build the model from the model's data path."""
    return ConstantModel(float(Path(data_path).read_text()))


def accuracy(lr: float, batch_size: int) -> float:
    """Smooth in both values, best near lr = 0.01 and batch_size = 32; rounded as it is printed."""
    return round(0.95 - 0.1 * abs(math.log10(lr) + 2) - 0.001 * abs(batch_size - 32), 6)


def save_model(path: Path, value: float) -> None:
    """An MLflow model predicting `value`, into `path` (replaced if it exists)."""
    if path.is_dir():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    (path / "value.txt").write_text(repr(value))
    (path / "MLmodel").write_text(MLMODEL)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lr", type=float, required=True)
    parser.add_argument("--batch_size", type=lambda s: int(float(s)), required=True)
    parser.add_argument("--epochs", type=lambda s: int(float(s)), default=3)
    parser.add_argument("--step_seconds", type=float, default=0.0, help="time an epoch takes (a cancel can land)")
    args, _ = parser.parse_known_args(argv)
    final = accuracy(args.lr, args.batch_size)
    for step in range(1, args.epochs + 1):
        time.sleep(args.step_seconds)
        print(f"accuracy: {final * step / args.epochs:.6f}", flush=True)
        print(f"loss: {1 - final * step / args.epochs:.6f}", flush=True)
    save_model(Path(os.environ.get("HPO_MODEL_DIR") or "model"), final)
    return 0


if __name__ == "__main__":
    sys.exit(main())
