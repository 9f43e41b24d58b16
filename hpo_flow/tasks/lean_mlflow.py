"""MLflow imported without the cloud extras' plugins where no backend needs them, and a new SQLite
store made without running MLflow's migrations again.

MLflow loads every installed plugin's entry points when it is imported; `sagemaker-mlflow` (the
sagemaker extra) imports boto3 and `azureml-mlflow` the Azure SDK (0.3-1 s), even when the tracking
URI is a local SQLite file. The hook (`hpo_flow.adapters.lean_imports.on_first_import`) changes only that
first import and keeps a plugin whose URI scheme the tracking URI uses.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

from hpo_flow.adapters.lean_imports import on_first_import
from hpo_flow.tasks import mlflow_access

# The cloud extras' MLflow plugins, and the tracking URI scheme each one serves.
CLOUD_PLUGINS = {"sagemaker-mlflow": "arn:", "azureml-mlflow": "azureml:"}


def _filter_plugins(drop: frozenset[str]) -> Callable[[Callable[[], None], ModuleType], None]:
    def around(run: Callable[[], None], module: ModuleType) -> None:
        run()
        # Where this MLflow has no such lookup, nothing is filtered: every plugin loads, as without us.
        mlflow_access.filter_entry_points(module, lambda ep: getattr(ep.dist, "name", None) not in drop)

    return around


def mlflow_without_plugins(tracking_uri: str | None, plugins: tuple[str, ...] = tuple(CLOUD_PLUGINS)) -> None:
    """MLflow's first import skips these cloud plugins, except one whose scheme `tracking_uri` uses.

    Every MLflow plugin registry asks `mlflow.utils.plugins._get_entry_points` (mlflow_access); the hook filters
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


# --------------------------------------------------------------------------- a new SQLite store

# What decides an empty store's bytes: MLflow's migrations, and the SQLAlchemy that runs them.
_SCHEMA_OF = ("mlflow", "sqlalchemy")


def new_sqlite_store_from_template(tracking_uri: str | None, cache_dir: Path | None = None) -> bool:
    """Create the SQLite file of a `sqlite:///` tracking store that does not exist yet as a copy of
    an empty store MLflow created once, for this MLflow and SQLAlchemy, in a cache folder.

    MLflow creates a new store by running every migration since its first schema (69 in 3.17):
    two seconds of CPU for each new project's `mlflow.db`, and MLflow's own test suite copies a
    store it created once for the same reason. The template is made by MLflow's own
    `_initialize_tables`, so a copy holds what MLflow would have written; MLflow then opens it as
    an existing store (it checks the schema is at its head, and adds its Default experiment).
    Returns whether the store was made from the template; best effort: when anything fails,
    MLflow creates the store as usual.
    """
    path = _sqlite_file(tracking_uri)
    if path is None or path.exists():
        return False
    try:
        template = _template(cache_dir or _cache_dir())
        if template is None:
            return False
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        shutil.copyfile(template, tmp)
        try:
            os.link(tmp, path)  # never over a store another process has created meanwhile
        except FileExistsError:
            return False
        finally:
            tmp.unlink()
    except Exception:  # the usual path creates the store, and reports what is wrong with it
        return False
    return True


def _sqlite_file(tracking_uri: str | None) -> Path | None:
    uri = str(tracking_uri or "")
    if not uri.startswith("sqlite:///") or "?" in uri:
        return None
    name = uri.removeprefix("sqlite:///")
    return Path(name) if name and name != ":memory:" else None


def _cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "hpo-flow"


def _template(cache_dir: Path) -> Path | None:
    """The empty store for the installed MLflow and SQLAlchemy, made now when it is not there yet."""
    from importlib.metadata import version

    key = "-".join(f"{name}{version(name)}" for name in _SCHEMA_OF)
    template = cache_dir / f"mlflow-store-{key}.db"
    if template.exists():
        return template
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = cache_dir / f".{template.name}.{os.getpid()}.tmp"
    tmp.unlink(missing_ok=True)
    from mlflow.store.db.utils import create_sqlalchemy_engine

    engine = create_sqlalchemy_engine(f"sqlite:///{tmp}")
    try:
        if not mlflow_access.initialize_empty_store(engine):
            return None
    finally:
        engine.dispose()
    os.replace(tmp, template)  # whole or not at all: a concurrent maker writes the same bytes
    return template
