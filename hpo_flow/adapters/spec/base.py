"""Shared building blocks of the config model: the strict base model, scalar checks, and the
exception validators raise to report several problems under one node."""

from __future__ import annotations

import math
import re
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    ValidationInfo,
    field_validator,
)

from hpo_flow.adapters.errors import Problem

Scalar = bool | int | float | str


def _scalar_value(value: Any) -> Any:
    """One clear message for a value that must be a plain scalar (pydantic would give one per union member)."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"must be a finite number, not {value}; quote it ('{value}') if the script expects that text")
    if value is None or not isinstance(value, bool | int | float | str):
        fix = "; put it in quotes" if _kind(value).startswith("a date") else ""
        raise ValueError(f"is {_kind(value)}; must be a number, a string or true/false{fix}")
    return value


# A hyperparameter value or a categorical choice: what `--name value` can carry.
ScalarValue = Annotated[Scalar, BeforeValidator(_scalar_value)]


def _param_name(value: Any) -> Any:
    # Names become `--name` flags, MLflow params and cloud hyperparameter keys: keep them plain.
    if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.\-]*", value):
        raise ValueError(
            "not a usable hyperparameter name; use letters, digits, _ . and -, starting with a letter or _"
        )
    from hpo_flow.adapters.redact import is_secret_key

    if is_secret_key(value):
        # One rule on every backend: a hyperparameter is a command-line argument (seen in `ps` by
        # every user of the machine, shown in SageMaker's and Azure ML's consoles) and an MLflow param.
        raise ValueError(
            "looks like a secret, and a hyperparameter goes on the trial's command line (seen in ps and "
            "in the cloud consoles); put it in training.environment instead (masked wherever hpo-flow shows "
            "or uploads it) and read it with os.environ in the script"
        )
    return value


ParamName = Annotated[str, BeforeValidator(_param_name)]


class Strict(BaseModel):
    # allow_inf_nan=False: NaN or infinity as a bound, a slack or an interval is always a mistake.
    model_config = ConfigDict(extra="forbid", populate_by_name=True, validate_default=True, allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _yaml_leniency(cls, value: Any, info: ValidationInfo) -> Any:
        field = cls.model_fields.get(info.field_name or "")
        if field is None:
            return value
        # A section whose keys are all commented out reads as null in YAML: that means "the defaults".
        if value is None and not field.is_required() and _is_container(field.annotation):
            return field.get_default(call_default_factory=True)
        # pydantic would read `true` as 1; for a count or a bound that is always a slip.
        if isinstance(value, bool) and _numeric(field.annotation):
            raise ValueError(f"must be a number, not {str(value).lower()}; write the number itself")
        return value


def _numeric(annotation: Any) -> bool:
    import types
    import typing

    if annotation in (int, float):
        return True
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return bool(args) and all(a in (int, float) for a in args)
    return False


def _is_container(annotation: Any) -> bool:
    import types
    import typing

    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return False  # `X | None`: null is a value of its own there
    origin = typing.get_origin(annotation) or annotation
    return origin in (dict, list) or (isinstance(origin, type) and issubclass(origin, BaseModel))


class SubProblems(ValueError):
    """Raised inside a validator to report several problems under sub-keys of one node."""

    def __init__(self, items: list[tuple[str, Any, str]]) -> None:
        self.items = items
        super().__init__("; ".join(f"{k}: {m}" for k, _, m in items))


def _missing() -> Any:
    from hpo_flow.adapters.errors import MISSING

    return MISSING


def _masked(problems: list[Problem]) -> list[Problem]:
    """Problems whose values are safe to print: secret-looking keys masked, URL passwords removed."""
    from dataclasses import replace

    from hpo_flow.adapters.redact import MASK, is_secret_key

    out = []
    for p in problems:
        secret = any(is_secret_key(part) for part in p.path.split("."))
        value = MASK if secret and p.value is not _missing() else _safe_value(p.value)
        # One problem, one line: a key may hold a newline or another line separator.
        path = "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in p.path)
        out.append(replace(p, path=path, value=value, message=" ".join(p.message.split())))
    return out


def _safe_value(value: Any, depth: int = 0) -> Any:
    """`hpo_flow.adapters.redact.redact` for a value from YAML, which can be deep or even refer to itself (anchors)."""
    from hpo_flow.adapters.redact import MASK, is_secret_key, redact_text

    if depth > 3 and isinstance(value, dict | list | tuple):
        return "..."
    if isinstance(value, dict):
        return {k: MASK if is_secret_key(str(k)) else _safe_value(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_safe_value(v, depth + 1) for v in value]
    if isinstance(value, str):
        return redact_text(value)
    return value


def _kind(value: Any) -> str:
    import datetime

    if value is None:
        return "empty (null)"
    if isinstance(value, datetime.date):
        return "a date (YAML reads 2024-01-01 as one)"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, set):
        return "a set"
    if isinstance(value, bytes):
        return "binary data"
    return type(value).__name__


def _close(value: str, choices: list[str]) -> str | None:
    """The choice the user most likely meant: same letters ignoring case, a prefix, or a near spelling."""
    from difflib import get_close_matches

    lowered = {c.lower(): c for c in choices}
    text = value.strip().lower()
    if not text:
        return None
    if text in lowered:
        return lowered[text]
    prefixed = [c for low, c in lowered.items() if low.startswith(text) or text.startswith(low)]
    if len(prefixed) == 1:
        return prefixed[0]
    close = get_close_matches(text, list(lowered), n=1, cutoff=0.6)
    return lowered[close[0]] if close else None
