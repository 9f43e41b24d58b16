"""Optuna imported without redis, and the import hook that does it.

Optuna imports redis whenever it is installed (Prefect's pydocket installs it), for a journal
backend the local runner never uses: 0.7 s of every `plan`, runner start and poll. The hook
changes only the import of one module, the first time it happens in the process, and leaves the
package otherwise as it is: redis stays importable by anyone else. `hpo_flow.tasks.lean_mlflow` uses the
same hook for MLflow's cloud plugins (MLflow is the tasks layer's business, not the adapters').
Nothing here imports the packages it trims.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
from collections.abc import Callable
from types import ModuleType
from typing import Any


class _AroundExec(importlib.abc.Loader):
    """A module's own loader, with `around(run)` wrapped around the execution of its code."""

    def __init__(self, inner: Any, around: Callable[[Callable[[], None], ModuleType], None]) -> None:
        self._inner = inner
        self._around = around

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self._inner.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self._around(lambda: self._inner.exec_module(module), module)

    def __getattr__(self, name: str) -> Any:  # get_resource_reader, get_data, ...: the real loader's
        return getattr(self._inner, name)


class _OnFirstImport(importlib.abc.MetaPathFinder):
    """Finds `name` with the finders after it and wraps its loader; removes itself once used."""

    def __init__(self, name: str, around: Callable[[Callable[[], None], ModuleType], None]) -> None:
        self.name = name
        self.around = around

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        if fullname != self.name:
            return None
        _uninstall(self)
        for finder in sys.meta_path:
            find = getattr(finder, "find_spec", None)
            spec = find(fullname, path, target) if find else None
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _AroundExec(spec.loader, self.around)
                return spec
        return None


def _uninstall(hook: _OnFirstImport) -> None:
    if hook in sys.meta_path:
        sys.meta_path.remove(hook)


def on_first_import(name: str, around: Callable[[Callable[[], None], ModuleType], None]) -> _OnFirstImport | None:
    """Install the hook unless `name` is imported already or a hook for it waits."""
    if name in sys.modules or any(isinstance(f, _OnFirstImport) and f.name == name for f in sys.meta_path):
        return None
    hook = _OnFirstImport(name, around)
    sys.meta_path.insert(0, hook)
    return hook


# --------------------------------------------------------------------------- Optuna


def _without_redis(run: Callable[[], None], _module: ModuleType) -> None:
    if "redis" in sys.modules:  # imported already by someone who uses it: Optuna costs nothing more
        run()
        return
    sys.modules["redis"] = None  # type: ignore[assignment]  # `import redis` raises ImportError
    try:
        run()  # Optuna defers the ImportError to the day a JournalRedisBackend is built
    finally:
        if sys.modules.get("redis", 0) is None:
            del sys.modules["redis"]


def optuna_without_redis() -> None:
    """When Optuna is first imported, it does not import redis. Call before any `import optuna`."""
    on_first_import("optuna", _without_redis)


__all__ = ["on_first_import", "optuna_without_redis"]
