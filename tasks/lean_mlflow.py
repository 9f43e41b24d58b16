"""MLflow imported without the cloud extras' plugins where no backend needs them.

MLflow loads every installed plugin's entry points when it is imported; `sagemaker-mlflow` (the
sagemaker extra) imports boto3 and `azureml-mlflow` the Azure SDK (0.3-1 s), even when the tracking
URI is a local SQLite file. The hook (`adapters.lean_imports.on_first_import`) changes only that
first import and keeps a plugin whose URI scheme the tracking URI uses.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

from adapters.lean_imports import on_first_import

# The cloud extras' MLflow plugins, and the tracking URI scheme each one serves.
CLOUD_PLUGINS = {"sagemaker-mlflow": "arn:", "azureml-mlflow": "azureml:"}


def _filter_plugins(drop: frozenset[str]) -> Callable[[Callable[[], None], ModuleType], None]:
    def around(run: Callable[[], None], module: ModuleType) -> None:
        run()
        find_all = module._get_entry_points

        def kept(group: str) -> list[Any]:
            return [ep for ep in find_all(group) if getattr(ep.dist, "name", None) not in drop]

        module._get_entry_points = kept

    return around


def mlflow_without_plugins(tracking_uri: str | None, plugins: tuple[str, ...] = tuple(CLOUD_PLUGINS)) -> None:
    """MLflow's first import skips these cloud plugins, except one whose scheme `tracking_uri` uses.

    Every MLflow plugin registry asks `mlflow.utils.plugins._get_entry_points`; the hook filters
    what it returns for the life of the process. Call before MLflow is imported; once it is, or
    once a hook waits, this changes nothing. Only a process that knows every MLflow URI it will
    open may drop a plugin: the Azure adapter reads the workspace's `azureml:` URI itself.
    """
    uri = str(tracking_uri or "")
    drop = frozenset(name for name in plugins if not uri.startswith(CLOUD_PLUGINS[name]))
    if drop:
        on_first_import("mlflow.utils.plugins", _filter_plugins(drop))


def mlflow_without_sagemaker_plugin(tracking_uri: str | None) -> None:
    """No backend opens an `arn:` MLflow URI but the tracking URI itself, so any process may skip it."""
    mlflow_without_plugins(tracking_uri, ("sagemaker-mlflow",))
