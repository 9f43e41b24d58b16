"""The local backend as the registry knows it (entry point `local`)."""

from hpo_flow.adapters.registry import BackendInfo

BACKEND = BackendInfo(
    name="local",
    adapter="hpo_flow.adapters.local.adapter:LocalAdapter",
    section="hpo_flow.adapters.spec.backends:LocalBackend",
    data_input="a file or folder on this machine, relative to where hpo-flow runs",
    max_name_length=63,  # a directory and an Optuna study name: ours to choose; 63 reads well everywhere
    section_by_default=True,
    needs_mlflow_plugins=False,
    summary="trials as processes on this machine's GPUs or CPU slots, searched by Optuna",
)
