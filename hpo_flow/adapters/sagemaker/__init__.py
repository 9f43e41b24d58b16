"""AWS SageMaker backend: a sweep as a HyperparameterTuner job. The SDK and boto3 load on first use;
importing this package loads nothing but `backend`, which the registry reads on every validate."""

from typing import Any

__all__ = ["SageMakerAdapter"]


def __getattr__(name: str) -> Any:
    if name == "SageMakerAdapter":
        from hpo_flow.adapters.sagemaker.adapter import SageMakerAdapter

        return SageMakerAdapter
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
