"""Keep secrets out of logs, MLflow params, Prefect artifacts and exception messages."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from collections.abc import Set as AbstractSet
from typing import Any

# A name that holds a secret: *PASSWORD*, *SECRET*, *TOKEN*, *_KEY (WANDB_KEY, access_key, KEY), a
# credential, a connection string. One rule for config keys, environment variables, hyperparameters.
_SECRET_KEY = re.compile(
    r"(pass(word)?|secret|token|api[_-]?key|(^|[_.\-])key$|credential|auth|private|sas|conn(ection)?_?str)", re.I
)
# The user:password@ after a URL's "://". A scheme is letters, digits and + . - that start with a letter.
_USERINFO = re.compile(r"(?P<user>[^:/@\s]+):(?P<pw>[^@/\s]+)@")
_SCHEME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+.-")
MASK = "***"


def is_secret_key(name: str) -> bool:
    return bool(_SECRET_KEY.search(name))


def redact_text(text: str) -> str:
    """Mask passwords embedded in URLs (postgresql://user:pw@host/db -> user:***@).

    Linear in the text: it runs on every trial log line that is uploaded. A single regex that
    searches for the scheme first retries it from every letter of a long word (40 kB: a minute);
    this looks only where a "://" is, and each look ends at the next "/" or space.
    """
    if "://" not in text:
        return text
    out: list[str] = []
    done = 0
    for found in _url_credentials(text):
        out += [text[done : found.start("pw")], MASK]
        done = found.end("pw")
    return "".join(out) + text[done:]


def _url_credentials(text: str) -> Iterator[re.Match[str]]:
    """Each `user:password@` right after a URL's scheme, in order; the one rule for what is a URL password."""
    done = pos = 0
    while (sep := text.find("://", pos)) != -1:
        pos = sep + 3
        found = _USERINFO.match(text, pos)
        if found is None:
            continue
        start = sep
        while start > done and text[start - 1] in _SCHEME_CHARS:
            start -= 1
        if not any(c.isalpha() for c in text[start:sep]):
            continue
        yield found
        done = pos = found.end("pw")


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


def secret_values(tree: Any, key: str = "", secret: bool = False) -> set[str]:
    """Every text a config tree holds under a secret-looking key, the values of a categorical range
    named `api_token` included: what must not be printed even where it is not under that key."""
    secret = secret or (bool(key) and is_secret_key(key))
    if isinstance(tree, Mapping):
        return set().union(*(secret_values(v, str(k), secret) for k, v in tree.items()))
    if isinstance(tree, list | tuple):
        return set().union(*(secret_values(v, "", secret) for v in tree))
    if secret and tree is not None and not isinstance(tree, bool):
        text = str(tree)
        return {text} if len(text) >= 4 else set()  # shorter: masking it would mangle the rest of the text
    return set()


def url_passwords(tree: Any) -> set[str]:
    """The passwords of every URL with credentials a config tree holds, wherever it is: a trial that
    prints the password alone (a driver's error message) must not show it either."""
    if isinstance(tree, Mapping):
        return set().union(*(url_passwords(v) for v in tree.values()))
    if isinstance(tree, list | tuple):
        return set().union(*(url_passwords(v) for v in tree))
    if not isinstance(tree, str):
        return set()
    return {found["pw"] for found in _url_credentials(tree) if len(found["pw"]) >= 4}


def environment_secrets(environ: Mapping[str, str]) -> set[str]:
    """The values of secret-named variables (HF_TOKEN, WANDB_KEY, DB_PASSWORD) of an environment."""
    return {value for name, value in environ.items() if is_secret_key(name) and len(value) >= 4}


def known_secrets(config_tree: Any, environ: Mapping[str, str] | None = None) -> set[str]:
    """Everything to mask in text hpo-flow did not write itself (a trial's output, a service's
    message) before it is uploaded or stored: the config's secret values (its `--set` overrides
    included), its URL passwords, and the secret-named variables of `environ`, which trials inherit."""
    return secret_values(config_tree) | url_passwords(config_tree) | environment_secrets(environ or {})


def mask_values(text: str, secrets: AbstractSet[str]) -> str:
    """`text` with every one of `secrets` masked, longest first, and URL passwords removed."""
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return redact_text(text)
