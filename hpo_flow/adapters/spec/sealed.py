"""Secret `--set` values, kept in the process that was given them.

`hpo-flow run --set backends.local.storage=postgresql://u:pw@db/hpo` runs the flow in its own
process, and a flow's parameters are stored in Prefect's database and shown in its UI. So a value
that is a secret (its key looks secret, or it is a URL with a password) is sealed before it becomes
a parameter: the parameter holds a handle, and the value stays in this process's memory, where
`apply_overrides` finds it. A handle read in another process (a deployment run with a parameter
copied from the UI) is an error that says to give the value again, never a silent wrong value.
"""

from __future__ import annotations

import re
import secrets

from hpo_flow.adapters.errors import ConfigError, Problem
from hpo_flow.adapters.redact import is_secret_key, url_passwords

_KEPT: dict[str, str] = {}
_SHOWN = "<secret kept by hpo-flow run: {}>"  # what Prefect stores and shows in the value's place
_HANDLE = re.compile(re.escape(_SHOWN).replace(r"\{\}", "([0-9a-f]{16})"))


def is_secret_override(key: str, raw: str) -> bool:
    return any(is_secret_key(part) for part in key.split(".")) or bool(url_passwords(raw))


def seal(overrides: list[str]) -> list[str]:
    """`KEY=VALUE` items as they may be stored and shown: each secret value replaced by a handle."""
    shown = []
    for item in overrides:
        key, sep, raw = item.partition("=")
        if sep and is_secret_override(key.strip(), raw):
            handle = secrets.token_hex(8)
            _KEPT[handle] = raw
            item = f"{key}={_SHOWN.format(handle)}"
        shown.append(item)
    return shown


def unseal(key: str, raw: str) -> str:
    """The value a sealed `raw` stands for; `raw` itself when it is not sealed."""
    found = _HANDLE.fullmatch(raw.strip())
    if found is None:
        return raw
    if found[1] not in _KEPT:
        raise ConfigError(
            [
                Problem(
                    f"--set {key}",
                    "***",
                    "is a secret sealed by another `hpo-flow run` process (the value never leaves it); "
                    "give the value itself, or better, put it in the config's environment or a Prefect Secret block",
                )
            ]
        )
    return _KEPT[found[1]]
