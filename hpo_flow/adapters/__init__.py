"""Backends behind one port. Cloud SDKs are imported only inside their own adapter, lazily."""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hpo_flow.adapters.port import SweepAdapter

# backend name -> "module:factory"; the module is imported only when that backend is chosen
_ADAPTERS: dict[str, str] = {
    "local": "hpo_flow.adapters.local:LocalAdapter",
    "sagemaker": "hpo_flow.adapters.sagemaker:SageMakerAdapter",
    "azure": "hpo_flow.adapters.azure:AzureMLAdapter",
}


def get_adapter(backend: str) -> SweepAdapter:
    """The adapter for a backend name (`local`, `sagemaker`, `azure`)."""
    from hpo_flow.adapters.errors import HpoFlowError

    try:
        target = _ADAPTERS[backend]
    except KeyError:
        raise HpoFlowError(f"unknown backend {backend!r}; use one of {', '.join(sorted(_ADAPTERS))}") from None
    module_name, _, factory = target.partition(":")
    try:
        module = import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith(module_name):
            raise HpoFlowError(f"the {backend} backend is not available in this version") from None
        extra = {"sagemaker": "sagemaker", "azure": "azure"}.get(backend)
        hint = f"; install it with: pip install 'hpo-flow[{extra}]'" if extra else ""
        raise HpoFlowError(f"the {backend} backend needs the package {exc.name!r}{hint}") from None
    return getattr(module, factory)()
