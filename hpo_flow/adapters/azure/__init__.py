"""Azure ML backend: the config's sweep as an azure-ai-ml (v2) sweep job.

`import hpo_flow.adapters.azure` imports no Azure SDK: the SDK is loaded inside the functions that talk
to the service, so `hpo-flow plan --backend azure` and local sweeps stay fast.
"""

from hpo_flow.adapters.azure.adapter import AzureMLAdapter

__all__ = ["AzureMLAdapter"]
