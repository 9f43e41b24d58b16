"""Train a small MLP on scikit-learn's digits, one epoch at a time; the demo trial of hpo-flow.

    python train.py --epochs 20 --lr 0.001 --batch_size 32 --hidden 64 --alpha 0.0001

Every epoch prints `accuracy: X` (validation accuracy, 0..1) and `loss: Y` (validation log loss),
which config.yaml's metric_definitions read; early stopping judges those lines while the script
runs. The final model is saved as an MLflow model into $HPO_MODEL_DIR (the local runner),
$SM_MODEL_DIR (SageMaker) or ./model. The same seed gives the same curve and the same model.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path
from typing import Any

# One BLAS thread per trial: trials run side by side, and more threads would only fight over cores
# (and make sums, hence curves, depend on the machine's core count).
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

from hpo_flow.report import report  # noqa: E402  (shipped with the code on every backend)

VALIDATION_FRACTION = 0.3
SPLIT_SEED = 0  # the split is the same for every trial, so trials are judged on the same digits


def whole(text: str) -> int:
    """An int that also accepts "64.0": a tuner may hand a whole number over as a float."""
    value = float(text)
    if not value.is_integer():
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text}")
    return int(value)


def flag(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=whole, default=20, help="passes over the training set")
    parser.add_argument("--lr", type=float, default=0.001, help="Adam's initial learning rate")
    parser.add_argument("--batch_size", type=whole, default=32)
    parser.add_argument("--hidden", type=whole, default=64, help="units in the hidden layer")
    parser.add_argument("--alpha", type=float, default=0.0001, help="L2 penalty")
    parser.add_argument("--seed", type=whole, default=0, help="weights and shuffling; the split is fixed")
    parser.add_argument("--save_model", type=flag, default=True, help="false: skip the MLflow model (benchmarks)")
    args = parser.parse_args(argv)
    for name in ("epochs", "batch_size", "hidden"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be >= 1, got {getattr(args, name)}")
    if args.lr <= 0 or args.alpha < 0:
        parser.error(f"--lr must be > 0 and --alpha >= 0, got lr={args.lr} alpha={args.alpha}")
    return args


def load_split(seed: int = SPLIT_SEED) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Digits (1797 8x8 images, shipped inside scikit-learn), scaled to [0, 1], split per class.

    Trials all use SPLIT_SEED; another seed is another split (bench/local_sweep.py's `quality`).
    """
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    x = x / 16.0
    rng = np.random.default_rng(seed)
    val = np.zeros(len(y), dtype=bool)
    for label in np.unique(y):
        members = rng.permutation(np.flatnonzero(y == label))
        val[members[: round(len(members) * VALIDATION_FRACTION)]] = True
    return x[~val], y[~val], x[val], y[val]


def model_dir() -> Path:
    return Path(os.environ.get("HPO_MODEL_DIR") or os.environ.get("SM_MODEL_DIR") or "model")


def save(model: object, x_example: np.ndarray, path: Path) -> None:
    """Save an MLflow model (pyfunc-loadable, with signature and input example) into `path`.

    MLflow wants an empty or missing directory: the runner's is empty; a previous model of ours
    left in ./model is replaced; anything else is refused rather than deleted.
    """
    if path.is_dir() and any(path.iterdir()):
        if not (path / "MLmodel").is_file():
            sys.exit(f"model directory {path} is not empty and holds no MLflow model; empty it or set HPO_MODEL_DIR")
        shutil.rmtree(path)
    import logging
    from importlib.metadata import version

    import mlflow.sklearn  # late: importing MLflow costs seconds that the epochs should not wait for
    from mlflow.models import infer_signature

    logging.getLogger("mlflow.utils.environment").setLevel(logging.ERROR)  # "pip not found" under uv
    example = x_example[:5]
    signature = infer_signature(example, model.predict(example))  # type: ignore[attr-defined]
    # Listing the requirements skips MLflow's inference, which re-imports the model in a subprocess (seconds).
    requirements = [f"{name}=={version(name)}" for name in ("scikit-learn", "numpy", "skops")]
    # MLflow stores sklearn models with skops, which refuses types it does not know; the fitted
    # MLP keeps its Adam optimizer's state (a plain scikit-learn class) for further partial_fit.
    trusted = ["sklearn.neural_network._stochastic_optimizers.AdamOptimizer"]
    mlflow.sklearn.save_model(
        model,
        str(path),
        signature=signature,
        input_example=example,
        pip_requirements=requirements,
        skops_trusted_types=trusted,
    )


def build_model(hidden: int, lr: float, batch_size: int, alpha: float, seed: int) -> Any:
    """The MLP a trial trains, one partial_fit per epoch."""
    from sklearn.neural_network import MLPClassifier

    return MLPClassifier(
        hidden_layer_sizes=(hidden,), learning_rate_init=lr, batch_size=batch_size, alpha=alpha, random_state=seed
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    x_train, y_train, x_val, y_val = load_split()
    classes = np.arange(10)
    model = build_model(args.hidden, args.lr, args.batch_size, args.alpha, args.seed)
    for epoch in range(1, args.epochs + 1):
        model.partial_fit(x_train, y_train, classes=classes)  # one shuffled pass of Adam minibatches
        proba = np.clip(model.predict_proba(x_val), 1e-15, 1.0)
        accuracy = float(np.mean(classes[proba.argmax(axis=1)] == y_val))
        loss = float(-np.mean(np.log(proba[np.arange(len(y_val)), y_val])))
        report(step=epoch, accuracy=accuracy, loss=loss)
    if args.save_model:
        save(model, x_val, model_dir())
    return 0


if __name__ == "__main__":
    sys.exit(main())
