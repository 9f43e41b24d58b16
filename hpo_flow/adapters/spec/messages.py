"""Pydantic's validation errors as one-line problems: the key path, the bad value, and the fix."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ValidationError,
)

from hpo_flow.adapters.errors import ConfigError, Problem
from hpo_flow.adapters.spec.base import SubProblems, _close

# Keys users bring from the tools in seeds/ (Azure HyperDrive, OpenVINO, Syne Tune, SageMaker's
# Python arguments), mapped to the key that means the same here.
_FOREIGN_KEYS: dict[str, str] = {
    "max_total_runs": "max_jobs",
    "max_trials": "max_jobs",
    "n_trials": "max_jobs",
    "num_samples": "max_jobs",
    "max_concurrent_runs": "max_parallel_jobs",
    "max_concurrent_trials": "max_parallel_jobs",
    "n_workers": "max_parallel_jobs",
    "primary_metric_name": "objective_metric",
    "objective_metric_name": "objective_metric",
    "metric": "objective_metric",
    "primary_metric_goal": "objective_type",
    "mode": "objective_type",
    "goal": "objective_type",
    "hp_space": "hyperparameter_ranges",
    "search_space": "hyperparameter_ranges",
    "config_space": "hyperparameter_ranges",
    "search_algorithm": "strategy",
    "sampling_algorithm": "strategy",
    "sampler": "strategy",
    "early_termination_policy": "early_stopping",
    "early_termination": "early_stopping",
    "pruner": "early_stopping",
    "max_wallclock_time": "max_runtime_seconds",
    "max_duration_minutes": "max_runtime_seconds",
    "timeout": "max_runtime_seconds",
    "time_budget": "max_runtime_seconds",
    "base_job_name": "base_tuning_job_name",
    "metrics": "metric_definitions",
    "minimum_resource": "min_resource",
    "maximum_resource": "max_resource",
    "choices": "values",
    "param_type": "type",
    "categories": "values",
    "lower": "min",
    "upper": "max",
    "low": "min",
    "high": "max",
    "minimum": "min",
    "maximum": "max",
    "base": "log_base",
    "scaling": "scaling_type",
    "scale": "scaling_type",
    "mean": "mu",
    "std": "sigma",
    "stddev": "sigma",
}

# What to write when a required key is missing.
_REQUIRED_EXAMPLES: dict[str, str] = {
    "project": "project: my-model",
    "training": "training: {entry_point: train.py, metric_definitions: [...]}",
    "tuning": "tuning: {objective_metric: accuracy, hyperparameter_ranges: {...}}",
    "entry_point": "entry_point: train.py",
    "objective_metric": "objective_metric: accuracy",
    "hyperparameter_ranges": "hyperparameter_ranges: {lr: {type: continuous, min: 0.0001, max: 0.1}}",
    "type": "type: continuous (or integer, categorical, uniform, choice, ...)",
    "Name": "Name: accuracy",
    "Regex": 'Regex: "accuracy: ([0-9.]+)"',
    "parents": "parents: [previous-sweep-name]",
}

# What a pattern-checked string may contain, by field name.
_PATTERN_RULES: dict[str, str] = {
    "project": "use letters, digits, _ . and -, starting with a letter or digit, e.g. digits-mlp",
    "alias": "use letters, digits, _ and -, starting with a letter or _, e.g. challenger",
    "sweep_name": "use letters, digits and hyphens, starting and ending with a letter or digit, e.g. digits-hpo-1",
    "base_tuning_job_name": "use letters, digits, _ . and -, starting with a letter or digit, e.g. digits-hpo",
}

_UNION_TAG_WORDS: dict[str, str] = {
    "bool": "true/false",
    "int": "a whole number",
    "float": "a number",
    "str": "a string",
    "none": "null",
}


def translate_errors(exc: ValidationError, model: type[BaseModel], data: Any = None) -> list[Problem]:
    """Turn pydantic's errors into one-line problems: key path, bad value, and the fix.

    `data` is the raw tree that was validated; with it, the errors pydantic reports once per member
    of a union (`int`, `str`, ...) are folded into one problem at the key the user wrote.
    """
    from hpo_flow.adapters.errors import MISSING

    problems: list[Problem] = []
    unions: dict[str, list[str]] = {}
    union_values: dict[str, Any] = {}
    for err in exc.errors(include_url=False):
        loc: list[Any] = list(err["loc"])
        kind = err["type"]
        value = err.get("input", MISSING)
        ctx = err.get("ctx") or {}
        # A bad mapping key: report it at the key itself (a key the user named "[key]" is just unknown).
        if loc and loc[-1] == "[key]" and kind != "extra_forbidden":
            loc = loc[:-1]
        cut = _union_tag_index(model, loc, data)
        if cut is not None:
            path = _dotted(loc[:cut])
            unions.setdefault(path, []).append(str(loc[cut]))
            union_values.setdefault(path, _value_at(data, loc[:cut], value))
            continue
        path = _dotted(loc)
        original = ctx.get("error")
        if isinstance(original, SubProblems):
            for key, val, message in original.items:
                problems.append(Problem(f"{path}.{key}" if path else key, val, message))
            continue
        if isinstance(original, ConfigError):
            problems.extend(original.problems)
            continue
        field = _field_at(model, [str(p) for p in loc])
        if kind == "extra_forbidden":
            problems.append(Problem(path, value, _unknown_key_message(model, [str(p) for p in loc])))
        elif kind == "missing":
            example = _REQUIRED_EXAMPLES.get(str(loc[-1]) if loc else "")
            fix = f"add `{example}`" if example else "add it"
            problems.append(Problem(path, MISSING, f"required key is missing; {fix}"))
        elif value is None and kind not in ("value_error", "assertion_error"):
            problems.append(Problem(path, None, _null_message(kind, ctx, field, str(loc[-1]) if loc else "")))
        else:
            problems.append(Problem(path, value, _message(kind, ctx, err["msg"], field, loc, value)))
    for path, tags in unions.items():
        words = list(dict.fromkeys(_UNION_TAG_WORDS.get(t, _tag_words(t)) for t in tags))
        problems.append(Problem(path, union_values[path], f"has the wrong type; must be {' or '.join(words)}"))
    return problems


def _dotted(loc: list[Any]) -> str:
    return ".".join(str(p) for p in loc)


def _union_tag_index(model: type[BaseModel], loc: list[Any], data: Any) -> int | None:
    """Index of the first union-member tag in `loc` (pydantic's `int`, `list[int]`, ...), or None.

    A tag is a loc element that is not a key of the input at that point, not a field name there,
    and looks like a type.
    """
    if data is None:
        return None
    node = data
    for index, part in enumerate(loc):
        if isinstance(node, dict) and part in node:
            node = node[part]
            continue
        if isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
            continue
        looks_like_type = isinstance(part, str) and (part in _UNION_TAG_WORDS or "[" in part or part[:1].isupper())
        if looks_like_type and part not in (_fields_at(model, [str(p) for p in loc[:index]]) or []):
            return index
        return None
    return None


def _value_at(data: Any, loc: list[Any], fallback: Any) -> Any:
    node = data
    for part in loc:
        found = (isinstance(node, dict) and part in node) or (
            isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        )
        if not found:
            return fallback
        node = node[part]
    return node


def _tag_words(tag: str) -> str:
    if tag.startswith("literal["):
        return " or ".join(re.findall(r"'([^']*)'", tag)) or "a fixed value"
    if tag.startswith(("list[", "tuple[", "set[")):
        return "a list"
    if tag.startswith("dict[") or tag[:1].isupper():
        return "a mapping"
    return tag


def _message(kind: str, ctx: dict[str, Any], raw: str, field: Any, loc: list[Any], value: Any) -> str:
    """The `what is wrong; what to do` half of a problem line, for one pydantic error."""
    example = _example(field)
    name = str(loc[-1]) if loc else ""
    if kind in ("enum", "literal_error"):
        choices = re.findall(r"'([^']*)'", str(ctx.get("expected", "")))
        close = _close(value, choices) if isinstance(value, str) else None
        hint = f"; did you mean '{close}'?" if close else ""
        return f"must be one of {', '.join(choices)}{hint}"
    if kind == "int_parsing_size":
        return f"is far too large for this setting; write a realistic whole number, e.g. {example or 10}"
    if kind in ("int_type", "int_parsing"):
        return f"must be a whole number; write it without quotes, e.g. {example or 10}"
    if kind == "int_from_float":
        return "must be a whole number; drop the fraction"
    if kind in ("float_type", "float_parsing"):
        return f"must be a number; write it without quotes, e.g. {example or 0.01}"
    if kind == "finite_number":
        return "must be a finite number; NaN and infinity are not allowed, write a real bound"
    if kind in ("bool_type", "bool_parsing"):
        return "must be true or false"
    if kind == "string_type":
        return "must be a string; put it in quotes"
    if kind in ("dict_type", "model_type", "model_attributes_type", "mapping_type"):
        return "must be a mapping (indented `key: value` lines or {key: value}); see the config reference in README.md"
    if kind in ("list_type", "tuple_type", "set_type"):
        return "must be a list, e.g. [a, b] or one `- item` per line"
    if kind == "string_too_short":
        return "must not be empty; give a value or remove the key"
    if kind == "string_too_long":
        return f"is too long; use at most {ctx.get('max_length')} characters"
    if kind == "too_short":
        least = ctx.get("min_length", 1)
        return f"needs at least {least} entr{'y' if least == 1 else 'ies'}; add {'one' if least == 1 else least}"
    if kind == "too_long":
        return f"has too many entries; use at most {ctx.get('max_length')}"
    if kind == "string_pattern_mismatch":
        return f"is not allowed here; {_PATTERN_RULES.get(name, 'match the pattern ' + str(ctx.get('pattern')))}"
    bounds = {
        "greater_than_equal": ("ge", ">=", "or more"),
        "greater_than": ("gt", ">", "a larger value"),
        "less_than_equal": ("le", "<=", "or less"),
        "less_than": ("lt", "<", "a smaller value"),
    }
    if kind in bounds:
        key, op, more = bounds[kind]
        limit = ctx.get(key)
        fix = f"set it to {limit} {more}" if more.startswith("or") else f"use {more}"
        return f"must be {op} {limit}; {fix}"
    msg = raw.removeprefix("Value error, ").removeprefix("Assertion failed, ")
    return msg.replace("Input should be", "must be")


_NOUNS: dict[str, str] = {
    "int_type": "a whole number",
    "float_type": "a number",
    "bool_type": "true or false",
    "string_type": "a string",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "list_type": "a list",
}


def _null_message(kind: str, ctx: dict[str, Any], field: Any, name: str) -> str:
    if kind in ("enum", "literal_error"):
        noun = "one of " + ", ".join(re.findall(r"'([^']*)'", str(ctx.get("expected", ""))))
    else:
        noun = _NOUNS.get(kind, "a value")
    default = _example(field)
    if default is not None:
        return f"is empty (null); give {noun}, or remove the key to use the default ({default})"
    example = _REQUIRED_EXAMPLES.get(name)
    return f"is empty (null); give {noun}" + (f", e.g. `{example}`" if example else "")


def _example(field: Any) -> Any:
    from pydantic_core import PydanticUndefined

    if field is None:
        return None
    default = field.default
    if default is PydanticUndefined or default is None or isinstance(default, BaseModel | dict | list):
        return None
    return default.value if isinstance(default, StrEnum) else default


def _unknown_key_message(model: type[BaseModel], loc: list[str]) -> str:
    fields = _fields_at(model, loc[:-1])
    if fields is None:
        return "unknown key; remove it"
    fields = [f for f in fields if f not in ("written_as", "lineage")]  # set by hpo-flow, not to suggest
    key = loc[-1]
    if key == "range" and "min" in fields:
        return "unknown key; write OpenVINO's range: [min, max, step] as min:, max: and step: (values: for choice)"
    foreign = _FOREIGN_KEYS.get(key.lower()) if isinstance(key, str) else None
    if foreign in fields:
        return f"unknown key; hpo-flow calls this '{foreign}'"
    close = _close(key, fields) if isinstance(key, str) else None
    if close:
        return f"unknown key; did you mean '{close}'?"
    return f"unknown key; use one of: {', '.join(sorted(fields))}"


def _field_at(model: type[BaseModel], loc: list[str]) -> Any:
    """The pydantic FieldInfo at `loc` (walking models, dict values and list items), or None."""
    if not loc:
        return None
    parent = _type_at(model, loc[:-1])
    if not (isinstance(parent, type) and issubclass(parent, BaseModel)):
        return None
    return _lookup(parent, loc[-1])


def _fields_at(model: type[BaseModel], loc: list[str]) -> list[str] | None:
    """Field names of the model found by walking `loc` from the root, or None."""
    current = _type_at(model, loc)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return [f.alias or n for n, f in current.model_fields.items()]
    return None


def _type_at(model: type[BaseModel], loc: list[str]) -> Any:
    import typing

    current: Any = model
    for part in loc:
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = _lookup(current, part)
            if field is None:
                return None
            current = _unwrap(field.annotation)
            continue
        # dict[str, X] or list[X]: skip the key or index, descend into X
        origin, args = typing.get_origin(current), typing.get_args(current)
        if origin is dict and len(args) == 2:
            current = _unwrap(args[1])
        elif origin is list and args:
            current = _unwrap(args[0])
        else:
            return None
    return current


def _lookup(model: type[BaseModel], name: str) -> Any:
    return model.model_fields.get(name) or next((f for f in model.model_fields.values() if f.alias == name), None)


def _unwrap(annotation: Any) -> Any:
    import types
    import typing

    origin = typing.get_origin(annotation)
    if origin is Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            if isinstance(arg, type) and issubclass(arg, BaseModel):
                return arg
            if typing.get_origin(arg) in (dict, list):
                return arg
    return annotation
