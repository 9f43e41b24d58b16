"""The Azure ML backend as the registry knows it (entry point `azure`)."""

from hpo_flow.adapters.registry import BackendInfo

BACKEND = BackendInfo(
    name="azure",
    adapter="hpo_flow.adapters.azure.adapter:AzureMLAdapter",
    section="hpo_flow.adapters.spec.backends:AzureBackend",
    data_input="azureml:<asset>:<version>, a URI or a path: the job input of the same name",
    max_name_length=63,  # the sweep's display name; azure/plan.py derives the job name (255 at most) itself
    extra="hpo-flow[azure]",
    warm_start=False,  # Azure ML sweeps have no warm start: a later generation starts cold (azure/plan.py)
    summary="an Azure ML sweep job",
)
