"""The Ray backend as the registry knows it (entry point `ray`)."""

from hpo_flow.adapters.registry import BackendInfo

BACKEND = BackendInfo(
    name="ray",
    adapter="hpo_flow.adapters.ray.adapter:RayAdapter",
    section="hpo_flow.adapters.ray.settings:RayBackend",
    data_input="a file or folder at the same path on every Ray node (a shared file system), or a URI the script reads",
    max_name_length=63,  # the local runner's sweep directory and study name
    extra="hpo-flow[ray]",
    # Not written, `backends.ray` is None and its defaults apply (settings.ray_settings): a default
    # section would join every config's identity and rename every sweep already started.
    needs_mlflow_plugins=False,
    summary="the local runner's trials placed by Ray on a cluster's GPUs",
    trial_placement="hpo_flow.adapters.ray.cluster:RayPlacement",
)
