"""Python's cyclic garbage collector in a process that loads Prefect, MLflow and their dependencies.

Loading them creates about half a million objects that live as long as the process. With the
default thresholds the collector scans them again and again while they are being created (a
quarter of the import time of `hpo-flow run` and of Prefect's server), then on every full
collection of the run, and once more when the interpreter exits (2 s), and never finds garbage
among them (a few thousand objects of start-up garbage, measured). So: the collector is off while
a process loads (`loading`), what was loaded is then frozen (`gc.freeze`: left out of every later
collection) and the collector is back on for what the run itself creates. `skip_exit_collection`
leaves the interpreter's collections at exit nothing to scan; atexit handlers and finalizers run
as before.
"""

from __future__ import annotations

import atexit
import gc
from types import TracebackType


class loading:
    """`with loading() as load: ...; load.keep()`: the collector is off inside the block.

    `keep()` freezes what exists, for a process that goes on to use it; without it (an early
    return, an error) nothing is frozen. Either way the collector is as it was when the block ends.
    """

    def __enter__(self) -> loading:
        self._was_enabled = gc.isenabled()
        self._keep = False
        gc.disable()
        return self

    def keep(self) -> None:
        self._keep = True

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self._keep and kind is None:
            # Before enabling: the objects allocated meanwhile all count towards the next young
            # collection, which would otherwise scan every one of them.
            gc.freeze()
        if self._was_enabled:
            gc.enable()


_EXIT_HOOK: list[bool] = []


def skip_exit_collection() -> None:
    """At exit, freeze everything before the interpreter's own collections: the process is ending,
    and the OS takes the memory back at once. Registered late, so it runs before the atexit
    handlers registered while loading; they still run, and so does every finalizer of an object
    freed by reference counting."""
    if not _EXIT_HOOK:
        _EXIT_HOOK.append(True)
        atexit.register(gc.freeze)
