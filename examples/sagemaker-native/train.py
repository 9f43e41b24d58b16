"""A training script written for SageMaker, in the style of amazon-sagemaker-examples' scikit-learn
scripts: it knows nothing of hpo-flow. Its hyperparameters come as arguments (`-C 0.5 --max_iter 200`,
as the SageMaker training toolkit passes them), and everything else from the toolkit's environment:
SM_HOSTS, SM_CURRENT_HOST, SM_NUM_GPUS, SM_CHANNEL_TRAINING, SM_MODEL_DIR and SM_OUTPUT_DATA_DIR.
hpo-flow gives a trial the same environment on every backend, so it runs there unchanged.
"""

import argparse
import json
import os

import joblib
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

if __name__ == "__main__":
    parser = argparse.ArgumentParser()

    # Hyperparameters sent by the client are passed as command-line arguments to the script.
    parser.add_argument("-C", type=float, default=1.0)
    parser.add_argument("--max_iter", type=int, default=100)

    # Data, model, and output directories: SageMaker's environment variables, no defaults.
    parser.add_argument("--hosts", type=list, default=json.loads(os.environ["SM_HOSTS"]))
    parser.add_argument("--current-host", type=str, default=os.environ["SM_CURRENT_HOST"])
    parser.add_argument("--num-gpus", type=int, default=int(os.environ["SM_NUM_GPUS"]))
    parser.add_argument("--output-data-dir", type=str, default=os.environ["SM_OUTPUT_DATA_DIR"])
    parser.add_argument("--model-dir", type=str, default=os.environ["SM_MODEL_DIR"])
    parser.add_argument("--train", type=str, default=os.environ["SM_CHANNEL_TRAINING"])
    args, _ = parser.parse_known_args()

    table = np.loadtxt(os.path.join(args.train, "digits.csv"), delimiter=",")
    x, y = table[:, :-1] / 16.0, table[:, -1].astype(int)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.3, random_state=0)
    print(f"host {args.current_host} of {args.hosts}, {args.num_gpus} GPU(s), {len(y_train)} training rows")

    model = LogisticRegression(C=args.C, max_iter=args.max_iter)
    model.fit(x_train, y_train)
    accuracy = model.score(x_test, y_test)
    print(f"validation accuracy: {accuracy:.6f}")  # read by the config's metric_definitions

    joblib.dump(model, os.path.join(args.model_dir, "model.joblib"))
    with open(os.path.join(args.output_data_dir, "evaluation.json"), "w") as report:
        json.dump({"accuracy": accuracy, "C": args.C, "max_iter": args.max_iter}, report)
