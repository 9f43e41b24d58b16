"""Names a package exports without importing what defines them until they are first used.

`import hpo_flow` must stay as cheap as the standard library (a training script imports
`hpo_flow.report`), and `import hpo_flow.tasks.writeback` must not pull in every other task.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module
from typing import Any

Exports = tuple[Callable[[str], Any], Callable[[], list[str]]]


def lazy_exports(namespace: dict[str, Any], exports: dict[str, str]) -> Exports:
    """The module-level `__getattr__` and `__dir__` for the package whose `globals()` is `namespace`.

    `exports` maps each name to the module that defines it (to the module itself when that is the
    package's own submodule of that name); a name is imported on first access and kept.
    """
    package = namespace["__name__"]

    def __getattr__(name: str) -> Any:
        try:
            where = exports[name]
        except KeyError:
            # AttributeError, not KeyError: `from package import submodule` falls back to importing it
            raise AttributeError(f"module {package!r} has no attribute {name!r}") from None
        module = import_module(where)
        value = module if where == f"{package}.{name}" else getattr(module, name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted({*namespace, *exports})

    return __getattr__, __dir__
