"""Backends behind one port, found through the registry (`hpo_flow.adapters.registry`). Cloud SDKs
are imported only inside their own adapter, lazily."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hpo_flow.adapters.port import SweepAdapter


def get_adapter(backend: str) -> SweepAdapter:
    """A new adapter for an installed backend (`hpo_flow.adapters.registry.names()`)."""
    from hpo_flow.adapters import registry

    return registry.get_adapter(backend)
