"""Transient storage and file-system faults are waited out, for a bounded time.

A PostgreSQL restart, a failover, a network blip or a disk that fills for a while must not end a
sweep that hours of trials went into: every call a local sweep makes to its study's storage is
retried with back-off while the fault looks transient (a dropped or refused connection, a full
disk, an I/O error), for up to `OUTAGE_S` seconds in all. Longer, and the error goes on: the runner
then exits and the sweep is interrupted, which the flow resumes (SweepState.interrupted).

Only faults of the infrastructure are retried. A query the database refuses for what it says (a
constraint, a bad value) fails at once, as before.
"""

from __future__ import annotations

import errno
import functools
import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

log = logging.getLogger("hpo_flow.local")

# How long one storage call may wait for the storage to come back; HPO_FLOW_STORAGE_OUTAGE_S
# shortens it for the tests and the chaos suite, which stage outages on purpose.
OUTAGE_S = float(os.environ.get("HPO_FLOW_STORAGE_OUTAGE_S") or 120)
_FIRST_PAUSE_S, _MAX_PAUSE_S = 0.2, 5.0
_TRANSIENT_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.ESTALE, errno.EAGAIN, errno.EINTR}

# Private storage methods hpo-flow calls itself (hpo_flow.adapters.local.optuna_access): retried too.
_PRIVATE_CALLS = frozenset({"_get_stale_trial_ids"})

T = TypeVar("T")
_inside = threading.local()  # a retried call that makes storage calls of its own retries once, outside


def is_transient(exc: BaseException) -> bool:
    """Whether `exc` is a fault of the infrastructure that may pass: worth waiting out."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:  # Optuna wraps SQLAlchemy's errors
        seen.add(id(current))
        if isinstance(current, ConnectionError | TimeoutError):
            return True
        if isinstance(current, OSError) and current.errno in _TRANSIENT_ERRNOS:
            return True
        if _sqlalchemy_transient(current):
            return True
        current = current.__cause__ or current.__context__
    return False


def _sqlalchemy_transient(exc: BaseException) -> bool:
    import sys

    if "sqlalchemy" not in sys.modules:  # a journal-only process never imports it
        return False
    from sqlalchemy import exc as sa

    if isinstance(exc, sa.DBAPIError) and exc.connection_invalidated:
        return True
    # PendingRollbackError: a session whose connection broke mid-transaction, refused until rolled back.
    return isinstance(
        exc, sa.OperationalError | sa.InterfaceError | sa.TimeoutError | sa.DisconnectionError | sa.PendingRollbackError
    )


def retry_call(call: Callable[[], T], what: str, patience: float | None = None) -> T:
    """`call()`, retried with back-off while it fails transiently, for up to `patience` seconds."""
    if getattr(_inside, "active", False):
        return call()
    patience = OUTAGE_S if patience is None else patience
    deadline = time.monotonic() + patience
    pause = _FIRST_PAUSE_S
    started: float | None = None
    _inside.active = True
    try:
        while True:
            try:
                result = call()
            except Exception as exc:
                if not is_transient(exc) or time.monotonic() + pause > deadline:
                    if started is not None:
                        log.error(
                            "%s: still failing after %.0f s (%s); giving up", what, time.monotonic() - started, exc
                        )
                    raise
                if started is None:
                    started = time.monotonic()
                    log.warning("%s failed (%s); retrying for up to %.0f s", what, _one_line(exc), patience)
                time.sleep(pause)
                pause = min(pause * 2, _MAX_PAUSE_S)
                continue
            if started is not None:
                log.warning("%s: back after %.1f s", what, time.monotonic() - started)
            return result
    finally:
        _inside.active = False


def outage_error(exc: BaseException, what: str) -> BaseException:
    """The one-line error for a transient fault that outlasted the patience; `exc` itself otherwise."""
    from hpo_flow.adapters.errors import BackendError

    if not is_transient(exc):
        return exc
    return BackendError(
        f"{what} was unreachable for more than {OUTAGE_S:.0f} s ({_one_line(exc)}); the sweep and its finished "
        "trials are kept: run the same command again once it is back, and the sweep resumes"
    )


def with_retries(storage: T) -> T:
    """The same storage object, whose every public method waits out transient faults (`retry_call`)."""
    base = type(storage)
    if getattr(base, "_hpo_retrying", False):
        return storage
    retrying = _RETRYING.get(base)
    if retrying is None:
        methods = {
            name: _retrying(getattr(base, name), name)
            for name in dir(base)
            if (not name.startswith("_") or name in _PRIVATE_CALLS) and callable(getattr(base, name, None))
        }
        retrying = _RETRYING[base] = type(f"Retrying{base.__name__}", (base,), {**methods, "_hpo_retrying": True})
    storage.__class__ = retrying  # same state, same isinstance answers: Optuna sees its own storage
    return storage


_RETRYING: dict[type, type] = {}  # one retrying class per storage class, made once


def _retrying(method: Callable[..., Any], name: str) -> Callable[..., Any]:
    @functools.wraps(method)
    def call(self: Any, *args: Any, **kwargs: Any) -> Any:
        return retry_call(lambda: method(self, *args, **kwargs), f"study storage ({name})")

    return call


def _one_line(exc: BaseException) -> str:
    from hpo_flow.adapters.redact import redact_text

    text = str(exc).strip().splitlines()
    return redact_text(f"{type(exc).__name__}: {text[0] if text else ''}")[:300]
