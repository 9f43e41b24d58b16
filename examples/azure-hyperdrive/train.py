"""Seed 004's trial on scikit-learn's digits: an MLP trained by SGD with momentum, epoch by epoch.

    python train.py --learning_rate 0.001 --momentum 0.9 --num_epochs 30 [--data_dir DIR]

Every epoch reports `accuracy` (validation accuracy) through hpo_flow.report: a printed line for
the local runner and SageMaker, an MLflow metric for Azure ML's Bandit policy (hpo-flow ships the
helper with the code, so it imports in any environment). The model is saved as an MLflow model into
hpo_flow.report.model_dir() ($HPO_MODEL_DIR; on Azure ML ./outputs/model, uploaded with the job).
`--data_dir` (the config's input `data_dir`, passed as a flag on every backend) is a folder holding
digits.csv (64 pixel columns, then the label); without it the digits of scikit-learn are used.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from hpo_flow.report import model_dir, report


def load(data_dir: str | None) -> tuple[np.ndarray, np.ndarray]:
    if data_dir:
        table = np.loadtxt(Path(data_dir) / "digits.csv", delimiter=",")
        return table[:, :-1], table[:, -1].astype(int)
    from sklearn.datasets import load_digits

    digits = load_digits()
    return digits.data, digits.target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--learning_rate", type=float, default=0.001)
    parser.add_argument("--momentum", type=float, default=0.9)
    parser.add_argument("--num_epochs", type=lambda v: int(float(v)), default=30)
    parser.add_argument("--data_dir", default=None)
    args = parser.parse_args()

    from sklearn.model_selection import train_test_split
    from sklearn.neural_network import MLPClassifier
    from sklearn.preprocessing import StandardScaler

    x, y = load(args.data_dir)
    x_train, x_val, y_train, y_val = train_test_split(x, y, test_size=0.3, random_state=0, stratify=y)
    scaler = StandardScaler().fit(x_train)
    x_train, x_val = scaler.transform(x_train), scaler.transform(x_val)
    model = MLPClassifier(
        hidden_layer_sizes=(64,),
        solver="sgd",
        learning_rate_init=args.learning_rate,
        momentum=args.momentum,
        batch_size=32,
        random_state=0,
    )
    classes = np.unique(y)
    for epoch in range(args.num_epochs):
        model.partial_fit(x_train, y_train, classes=classes)
        report(step=epoch, accuracy=float(model.score(x_val, y_val)))

    import mlflow.sklearn
    from sklearn.pipeline import make_pipeline

    # MLflow 3 stores sklearn models with skops, which refuses types it does not know: the fitted MLP
    # keeps its SGD optimizer's state (a plain scikit-learn class) for further partial_fit.
    trusted = ["sklearn.neural_network._stochastic_optimizers.SGDOptimizer"]
    mlflow.sklearn.save_model(make_pipeline(scaler, model), model_dir(), skops_trusted_types=trusted)


if __name__ == "__main__":
    main()
