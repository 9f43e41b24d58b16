"""The SageMaker backend as the registry knows it (entry point `sagemaker`)."""

from hpo_flow.adapters.registry import BackendInfo

BACKEND = BackendInfo(
    name="sagemaker",
    adapter="hpo_flow.adapters.sagemaker.adapter:SageMakerAdapter",
    section="hpo_flow.adapters.spec.backends:SageMakerBackend",
    data_input="an s3:// prefix, the training channel of the same name",
    max_name_length=32,  # HyperParameterTuningJobName: at most 32 characters
    extra="hpo-flow[sagemaker]",
    summary="a HyperparameterTuner job on AWS SageMaker",
)
