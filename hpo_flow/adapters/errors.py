"""The one exception family of hpo-flow: everything we raise on purpose derives from HpoFlowError."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class HpoFlowError(Exception):
    """Base of every error hpo-flow raises on purpose; the CLI prints these without a traceback."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a config: where, what was found, and what would be right."""

    path: str
    value: Any
    message: str
    warning: bool = False

    def __str__(self) -> str:
        from hpo_flow.adapters.redact import redact_text

        shown = _show(self.value)
        where = self.path or "<config>"
        line = f"{where}: {shown}: {self.message}" if shown is not None else f"{where}: {self.message}"
        # A URL with a password can sit under any key (a metric name, a path), and the message may
        # quote the value back in its fix: mask the whole line, wherever the problem is shown.
        return redact_text(line)


def _show(value: Any) -> str | None:
    if value is _MISSING:
        return None
    text = _SHORT.repr(value)  # bounded: a full repr of an expanded YAML alias bomb never ends
    return text if len(text) <= 80 else text[:77] + "..."


def _short_repr() -> Any:
    import reprlib

    short = reprlib.Repr()
    short.maxlevel, short.maxlist, short.maxtuple, short.maxdict, short.maxset = 3, 8, 8, 6, 6
    short.maxstring, short.maxlong, short.maxother = 80, 40, 80
    return short


_SHORT = _short_repr()


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


_MISSING: Any = _Missing()
MISSING = _MISSING


class ConfigError(HpoFlowError):
    """A config that cannot be used; carries every problem found, not just the first."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class PlanError(HpoFlowError):
    """A valid config that this backend cannot express (say, a normal distribution on SageMaker)."""

    def __init__(self, backend: str, problems: list[Problem]) -> None:
        self.backend = backend
        self.problems = problems
        lines = "\n".join(str(p) for p in problems)
        super().__init__(f"{backend} cannot run this sweep as configured:\n{lines}")


class BackendError(HpoFlowError):
    """The backend refused or failed a call (credentials, quota, a job that is gone)."""


class CredentialsError(BackendError):
    """Credentials or workspace missing; the message says where to set them."""
