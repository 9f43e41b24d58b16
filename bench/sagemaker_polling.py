"""How many SageMaker API calls following a tuning job costs: a 2-hour sweep of 50 training jobs.

The service is the tests' served SageMaker (tests/sagemaker/served.py) on a simulated clock, behind
botocore itself: every call below is a real boto3 call, validated, serialized and parsed, answered
with a body shaped as the API documents it. Nothing waits in real time.

Compared, for the same sweep (50 jobs, 4 at a time, 9 to 13 minutes each):
- a notebook's loop: DescribeHyperParameterTuningJob and every page of
  ListTrainingJobsForHyperParameterTuningJob at boto3's default page size (10), every 5 s;
- the adapter polled every 5 s without its trial cache (every poll lists every job);
- the adapter polled every 5 s with its cache (it lists only when the describe shows a change);
- the adapter under the flow's backoff (hpo_flow.adapters.polling.Backoff: 5 s, growing 1.5x while nothing
  changes, up to 50 s, which is what the flow uses for poll_interval_seconds: 5), with its cache;
- the same with the backoff allowed up to 300 s.

Run: .venv/bin/python bench/sagemaker_polling.py
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hpo_flow.adapters.polling import Backoff  # noqa: E402
from hpo_flow.adapters.port import SweepRef  # noqa: E402
from hpo_flow.adapters.sagemaker import SageMakerAdapter  # noqa: E402
from hpo_flow.adapters.spec import parse_config  # noqa: E402
from tests.sagemaker.served import ServedSageMaker  # noqa: E402

INTERVAL_S = 5.0
JOBS, PARALLEL = 50, 4
CONFIG: dict[str, Any] = {
    "project": "polling-bench",
    "training": {
        "entry_point": "train.py",
        "hyperparameters": {"epochs": 10},
        "metric_definitions": [{"Name": "accuracy", "Regex": "accuracy: ([0-9.]+)"}],
    },
    "tuning": {
        "backend": "sagemaker",
        "strategy": "Bayesian",
        "max_jobs": JOBS,
        "max_parallel_jobs": PARALLEL,
        "objective_metric": "accuracy",
        "early_stopping": "auto",
        "hyperparameter_ranges": {
            "lr": {"type": "loguniform", "min": 1e-4, "max": 1e-1},
            "batch_size": {"type": "categorical", "values": [16, 32, 64, 128]},
        },
    },
    "backends": {
        "sagemaker": {
            "role": "arn:aws:iam::123456789012:role/SageMakerExecutionRole",
            "image_uri": "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3",
            "output_path": "s3://bench-bucket/sweeps",
            "region": "us-east-1",
        }
    },
}


def session_for(served: ServedSageMaker, loader: Any) -> Any:
    import boto3
    import botocore.session

    core = botocore.session.get_session()
    core.register_component("data_loader", loader)
    session = boto3.Session(
        botocore_session=core, aws_access_key_id="bench", aws_secret_access_key="bench", region_name="us-east-1"
    )
    served.attach(session)
    return session


def notebook_loop(served: ServedSageMaker, loader: Any, name: str) -> float:
    """What a notebook does: describe, then list every training job with boto3's defaults."""
    client = session_for(served, loader).client("sagemaker")
    while True:
        status = client.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
        paginator = client.get_paginator("list_training_jobs_for_hyper_parameter_tuning_job")
        for _page in paginator.paginate(HyperParameterTuningJobName=name):
            pass
        if status["HyperParameterTuningJobStatus"] in ("Completed", "Failed", "Stopped"):
            return served.clock.now
        served.advance(INTERVAL_S)


def adapter_loop(
    served: ServedSageMaker, loader: Any, name: str, arn: str, cache: bool, backoff: Backoff | None
) -> float:
    adapter = SageMakerAdapter(lambda region, block: session_for(served, loader), cache_trials=cache)
    ref = SweepRef(backend="sagemaker", name=name, cloud_id=arn)
    last: tuple[Any, ...] | None = None
    while True:
        state = adapter.poll(ref)
        if state.status.is_terminal:
            return served.clock.now
        seen = (state.status, tuple((t.id, t.status) for t in state.trials))
        served.advance(backoff.next(changed=seen != last) if backoff else INTERVAL_S)
        last = seen


Loop = Callable[[ServedSageMaker, Any, str, str], float]  # (served, loader, name, arn) -> when the end was seen


def run(request: dict[str, Any], loader: Any, loop: Loop) -> dict[str, Any]:
    served = ServedSageMaker()
    arn = served.create(request)
    name = request["HyperParameterTuningJobName"]
    started = time.perf_counter()
    noticed = loop(served, loader, name, arn)
    ended = served.jobs[name].end_time(served.clock.now) or noticed
    return {
        "calls": Counter({k: v for k, v in served.calls.items()}),
        "hours": noticed / 3600,
        "late_s": noticed - ended,
        "wall_s": time.perf_counter() - started,
    }


def main() -> None:
    from botocore.loaders import create_loader

    request = SageMakerAdapter().plan(parse_config(CONFIG))
    loader = create_loader()
    strategies: list[tuple[str, Loop]] = [
        ("notebook: describe + list (10/page), every 5 s", lambda s, ld, n, a: notebook_loop(s, ld, n)),
        ("adapter, every 5 s, no trial cache", lambda s, ld, n, a: adapter_loop(s, ld, n, a, False, None)),
        ("adapter, every 5 s, trial cache", lambda s, ld, n, a: adapter_loop(s, ld, n, a, True, None)),
        (
            "adapter, backoff 5->50 s (the flow's), cache",
            lambda s, ld, n, a: adapter_loop(s, ld, n, a, True, Backoff(initial=INTERVAL_S, maximum=50)),
        ),
        (
            "adapter, backoff 5->300 s, cache",
            lambda s, ld, n, a: adapter_loop(s, ld, n, a, True, Backoff(initial=INTERVAL_S, maximum=300)),
        ),
    ]
    print(f"A {JOBS}-job SageMaker sweep, {PARALLEL} at a time, on a simulated clock (calls are real boto3 calls)\n")
    header = f"{'strategy':48} {'calls/h':>8} {'total':>6} {'describe':>8} {'list':>6} {'train':>5} {'end seen':>9}"
    print(header)
    print("-" * len(header))
    for label, loop in strategies:
        result = run(request, loader, loop)
        calls = result["calls"]
        total = sum(calls.values())
        print(
            f"{label:48} {total / result['hours']:8.0f} {total:6d} "
            f"{calls['DescribeHyperParameterTuningJob']:8d} "
            f"{calls['ListTrainingJobsForHyperParameterTuningJob']:6d} "
            f"{calls['DescribeTrainingJob']:5d} {result['late_s']:8.0f}s"
        )
    print(
        f"\nsweep length {result['hours']:.2f} h; 'train' = DescribeTrainingJob (the best model's artifact, "
        "fetched once per new best); 'end seen' = how long after the last job ended the poller noticed"
    )


if __name__ == "__main__":
    main()
