"""Every use of MLflow internals, in one place: the one compat module for MLflow.

hpo-flow uses two MLflow privates, both to make MLflow cheaper, never to make it work:
- `mlflow.utils.plugins._get_entry_points`, the one lookup every MLflow plugin registry asks
  (lean_mlflow.py filters the cloud extras' plugins out of it);
- `mlflow.store.db.utils._initialize_tables` and `_all_tables_exist`, which create an empty store
  (lean_mlflow.py copies one made once instead of running every migration for each new store).
This module cannot look at import: importing it must not import MLflow (that is the point of the
first). Each name is checked where it is first needed, and where it is missing the fallback is
MLflow's own way (every plugin loads; the store is created by its migrations), never a failure.
pyproject.toml holds MLflow to the minor release the suite ran with.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

PLUGIN_LOOKUP = "_get_entry_points"  # in mlflow.utils.plugins


def filter_entry_points(plugins: ModuleType, keep: Callable[[Any], bool]) -> bool:
    """Make mlflow.utils.plugins' entry-point lookup return only those `keep` accepts; False (and
    nothing changed) where this MLflow has no such lookup."""
    find_all = getattr(plugins, PLUGIN_LOOKUP, None)
    if not callable(find_all):
        return False

    def kept(group: str) -> list[Any]:
        return [ep for ep in find_all(group) if keep(ep)]

    setattr(plugins, PLUGIN_LOOKUP, kept)
    return True


def initialize_empty_store(engine: Any) -> bool:
    """Create MLflow's tables in an empty database, as MLflow does for a new store; False where this
    MLflow lacks the functions (the caller then leaves the store to MLflow) or the tables are not all there."""
    try:
        from mlflow.store.db.utils import _all_tables_exist, _initialize_tables
    except ImportError:
        return False
    _initialize_tables(engine)
    return bool(_all_tables_exist(engine))
