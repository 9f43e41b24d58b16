"""MLflow's internals, reached only through hpo_flow.tasks.mlflow_access: there, and fallen back from where not."""

from __future__ import annotations

import types
from pathlib import Path

import pytest

from hpo_flow.tasks import mlflow_access

pytestmark = pytest.mark.unit


def test_the_mlflow_internals_we_use_still_exist(tmp_path: Path) -> None:
    import mlflow.utils.plugins as plugins
    from mlflow.store.db.utils import create_sqlalchemy_engine

    assert callable(getattr(plugins, mlflow_access.PLUGIN_LOOKUP))
    engine = create_sqlalchemy_engine(f"sqlite:///{tmp_path / 'store.db'}")
    try:
        assert mlflow_access.initialize_empty_store(engine)
    finally:
        engine.dispose()


def test_an_mlflow_without_the_plugin_lookup_is_left_as_it_is() -> None:
    bare = types.ModuleType("plugins")
    assert not mlflow_access.filter_entry_points(bare, lambda ep: True)
    assert not hasattr(bare, mlflow_access.PLUGIN_LOOKUP)

    found = types.ModuleType("plugins")
    setattr(found, mlflow_access.PLUGIN_LOOKUP, lambda group: [f"{group}:a", f"{group}:b"])
    assert mlflow_access.filter_entry_points(found, lambda ep: ep.endswith("b"))
    assert getattr(found, mlflow_access.PLUGIN_LOOKUP)("g") == ["g:b"]
