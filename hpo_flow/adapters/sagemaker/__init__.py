"""AWS SageMaker backend: a sweep as a HyperparameterTuner job. The SDK and boto3 load on first use."""

from hpo_flow.adapters.sagemaker.adapter import SageMakerAdapter

__all__ = ["SageMakerAdapter"]
