"""The logger every task uses: Prefect's run logger, with secrets masked in each line it sends.

Prefect ships run logs to its API and UI, where anyone with access reads them, so a storage URL
with a password must be masked before it leaves the process, not after.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from hpo_flow.adapters.redact import redact_text


class RedactingLogger(logging.LoggerAdapter):  # type: ignore[type-arg]
    """Formats the message first, then masks it, so secrets passed as %-arguments are caught too."""

    def log(self, level: int, msg: object, *args: Any, **kwargs: Any) -> None:
        if not self.isEnabledFor(level):
            return
        values: Any = args
        if len(args) == 1 and isinstance(args[0], Mapping) and args[0]:
            values = args[0]  # logging's own rule: a single mapping argument feeds %(name)s
        text = str(msg) % values if args else str(msg)
        self.logger.log(level, redact_text(text), **kwargs)


def run_logger(fallback: str = "hpo_flow") -> RedactingLogger:
    """The current flow or task run's logger; a plain logger when called outside a run (unit tests)."""
    from prefect import get_run_logger
    from prefect.exceptions import MissingContextError

    try:
        base: logging.Logger | logging.LoggerAdapter[Any] = get_run_logger()
    except MissingContextError:
        base = logging.getLogger(fallback)
    return RedactingLogger(base, {})


def hook_logger(flow: Any, flow_run: Any) -> RedactingLogger:
    """A logger for state hooks, which may run in a worker's process outside any run context."""
    from prefect.logging.loggers import flow_run_logger

    return RedactingLogger(flow_run_logger(flow_run, flow), {})
