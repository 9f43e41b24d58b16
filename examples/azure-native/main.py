"""An Azure ML-native training script, unchanged from the way azureml-examples write them
(jobs/single-step/scikit-learn/iris/src/main.py): argparse flags of its own (`--C`, `--iris-csv`
with a hyphen), metrics through MLflow only (autolog and `mlflow.log_metric`, never printed), the
model saved under ./outputs. It knows nothing of hpo-flow; config.yaml says how to call it.
"""

import argparse
import os

import mlflow
import mlflow.sklearn
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--iris-csv", type=str, required=True)
    parser.add_argument("--C", type=float, default=1.0)
    parser.add_argument("--max-iter", type=int, default=100)
    parser.add_argument("--test-size", type=float, default=0.3)
    args = parser.parse_args()

    mlflow.autolog(log_models=False, log_datasets=False, silent=True)
    with mlflow.start_run():  # the job's own run (MLFLOW_RUN_ID), as on Azure ML
        frame = pd.read_csv(args.iris_csv)
        features, species = frame.drop(columns=["species"]), frame["species"]
        x_train, x_test, y_train, y_test = train_test_split(
            features, species, test_size=args.test_size, random_state=42, stratify=species
        )
        model = LogisticRegression(C=args.C, max_iter=args.max_iter)
        model.fit(x_train, y_train)
        mlflow.log_metric("accuracy", float(model.score(x_test, y_test)))
        mlflow.sklearn.save_model(model, os.path.join("outputs", "model"))


if __name__ == "__main__":
    main()
