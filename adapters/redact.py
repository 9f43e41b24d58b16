"""Keep secrets out of logs, MLflow params, Prefect artifacts and exception messages."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

_SECRET_KEY = re.compile(r"(pass(word)?|secret|token|api[_-]?key|credential|auth|private|sas|conn(ection)?_?str)", re.I)
_URL_PASSWORD = re.compile(r"(?P<scheme>[a-z][a-z0-9+.\-]*://)(?P<user>[^:/@\s]+):(?P<pw>[^@/\s]+)@", re.I)
MASK = "***"


def is_secret_key(name: str) -> bool:
    return bool(_SECRET_KEY.search(name))


def redact_text(text: str) -> str:
    """Mask passwords embedded in URLs (postgresql://user:pw@host/db -> user:***@)."""
    return _URL_PASSWORD.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@", text)


def redact(value: Any, key: str = "") -> Any:
    """A copy of `value` with secret-looking keys masked and URL passwords removed, recursively."""
    if key and is_secret_key(key):
        return MASK
    if isinstance(value, Mapping):
        return {k: redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(redact(v) for v in value)
    if isinstance(value, str):
        return redact_text(value)
    return value
