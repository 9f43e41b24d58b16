"""Seed 003's MNIST trial for SageMaker, in scikit-learn: an MLP trained one epoch at a time.

    python mnist.py --epochs 5 --learning_rate 0.05 --batch_size 64 --optimizer sgd

Every epoch reports `loss = X` (validation log loss) and `accuracy = Y` with hpo_flow.report, the
lines the config's metric_definitions read, as the seed's TensorFlow script printed `loss = ...`
(and MLflow metrics where a run is active, as on Azure ML). The data is the input `training`'s
mnist.npz (x_train, y_train, x_test, y_test: Keras's layout), found with input_path("training") on
every backend; with no input (a quick local run) it is scikit-learn's 8x8 digits. The model goes
to model_dir() ($HPO_MODEL_DIR; SageMaker's /opt/ml/model).
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import joblib
import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score, log_loss
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier

from hpo_flow.report import input_path, model_dir, report


def whole(text: str) -> int:
    """An int that also accepts "64.0": the tuner hands integers over as text."""
    value = float(text)
    if not value.is_integer():
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text}")
    return int(value)


def load(channel: str | None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    if channel and (Path(channel) / "mnist.npz").is_file():
        with np.load(Path(channel) / "mnist.npz") as data:
            x_train, x_test = data["x_train"], data["x_test"]
            train = x_train.reshape(len(x_train), -1) / 255.0, data["y_train"]
            test = x_test.reshape(len(x_test), -1) / 255.0, data["y_test"]
        return train[0], test[0], train[1], test[1]
    from sklearn.datasets import load_digits

    digits = load_digits()
    x_train, x_test, y_train, y_test = train_test_split(
        digits.data / 16.0, digits.target, test_size=0.3, random_state=0, stratify=digits.target
    )
    return x_train, x_test, y_train, y_test


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=whole, default=5)
    parser.add_argument("--learning_rate", type=float, default=0.05)
    parser.add_argument("--batch_size", type=whole, default=64)
    parser.add_argument("--optimizer", choices=["sgd", "adam"], default="sgd")
    parser.add_argument("--hidden", type=whole, default=128)
    args, _ = parser.parse_known_args()  # SageMaker may pass more than these

    x_train, x_test, y_train, y_test = load(input_path("training"))
    model = MLPClassifier(
        hidden_layer_sizes=(args.hidden,),
        solver=args.optimizer,
        learning_rate_init=args.learning_rate,
        batch_size=args.batch_size,
        max_iter=1,
        warm_start=True,  # each fit() call is one more epoch
        random_state=0,
    )
    classes = np.unique(y_train)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # one epoch per fit, on purpose
        for epoch in range(args.epochs):
            model.fit(x_train, y_train)
            proba = model.predict_proba(x_test)
            loss = log_loss(y_test, proba, labels=classes)
            report(step=epoch, sep=" = ", loss=loss, accuracy=accuracy_score(y_test, model.predict(x_test)))

    joblib.dump(model, Path(model_dir()) / "model.joblib")


if __name__ == "__main__":
    main()
