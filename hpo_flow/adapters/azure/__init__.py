"""Azure ML backend: the config's sweep as an azure-ai-ml (v2) sweep job.

`import hpo_flow.adapters.azure` imports no Azure SDK and not even the adapter (the registry reads
`backend` on every validate): the SDK is loaded inside the functions that talk to the service, so
`hpo-flow plan --backend azure` and local sweeps stay fast.
"""

from typing import Any

__all__ = ["AzureMLAdapter"]


def __getattr__(name: str) -> Any:
    if name == "AzureMLAdapter":
        from hpo_flow.adapters.azure.adapter import AzureMLAdapter

        return AzureMLAdapter
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
