"""Reading config.yaml: YAML with line numbers, seed-style files, `--set` overrides, and every
problem collected before anything is submitted."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import (
    ValidationError,
)

from hpo_flow.adapters.errors import ConfigError, Problem
from hpo_flow.adapters.spec import limits, sealed
from hpo_flow.adapters.spec.base import _kind, _masked, _missing
from hpo_flow.adapters.spec.config import HpoConfig, cross_problems
from hpo_flow.adapters.spec.messages import _unknown_key_message, translate_errors

_SEED_STYLE_TOP = {"tuning_config"}


def parse_config(data: Any) -> HpoConfig:
    """Validate a YAML tree; raise ConfigError with every problem found."""
    if data is None:
        raise ConfigError([Problem("", _missing(), "the config is empty; it needs project, training and tuning")])
    if not isinstance(data, dict):
        raise ConfigError(
            [
                Problem(
                    "",
                    data,
                    f"the config is {_kind(data)}; it must be a YAML mapping with project, training and tuning keys",
                )
            ]
        )
    data, unwrap_problems = _unwrap_seed_style(data)
    try:
        config = HpoConfig.model_validate(data)
    except ValidationError as exc:
        problems = unwrap_problems + translate_errors(exc, HpoConfig, data) + cross_problems(data)
        raise ConfigError(_masked(_dedupe(problems))) from None
    if unwrap_problems:
        raise ConfigError(_masked(unwrap_problems))
    return config


def _unwrap_seed_style(data: dict[Any, Any]) -> tuple[dict[Any, Any], list[Problem]]:
    """Seed 000 keeps its tuning block as `tuning_config: {tuning: {...}}`; lift what it holds to the top."""
    if "tuning_config" not in data:
        return data, []
    inner = data["tuning_config"]
    if not isinstance(inner, dict):
        return {k: v for k, v in data.items() if k != "tuning_config"}, [
            Problem("tuning_config", inner, "must be a mapping that holds `tuning:`, as in seed 000")
        ]
    problems: list[Problem] = []
    merged = {k: v for k, v in data.items() if k != "tuning_config"}
    for key, value in inner.items():
        if key in merged:
            problems.append(
                Problem(f"tuning_config.{key}", _missing(), f"'{key}' is also given at the top level; keep one of them")
            )
        elif key not in HpoConfig.model_fields:
            problems.append(Problem(f"tuning_config.{key}", value, _unknown_key_message(HpoConfig, [str(key)])))
        else:
            merged[key] = value
    return merged, problems


def load_config(path: str | Path, overrides: dict[str, Any] | list[str] | None = None) -> HpoConfig:
    """Read and validate config.yaml; every failure is a ConfigError naming the file and key.

    `overrides` are dotted keys (`tuning.max_jobs=4` strings, or a mapping) applied before validation.
    """
    data, duplicates = _read_yaml_checked(path)
    if overrides:
        data = apply_overrides(data, overrides)
    if isinstance(data, dict) and "lineage" in data:
        # A sweep's generation and warm start are hpo-flow's to decide (hpo_flow.adapters.lifecycle).
        duplicates = [
            *duplicates,
            Problem(
                "lineage",
                _missing(),
                "is set by hpo-flow, not in config.yaml; remove it (hpo-flow run "
                "--new-sweep starts a new generation, --attach NAME attaches to a named sweep)",
            ),
        ]
        data = {k: v for k, v in data.items() if k != "lineage"}
    try:
        config = parse_config(data)
    except ConfigError as exc:
        raise ConfigError(duplicates + exc.problems) from None
    if duplicates:
        raise ConfigError(duplicates)
    return config


def apply_overrides(data: Any, overrides: dict[str, Any] | list[str]) -> Any:
    """Set dotted keys in a YAML tree; string values are read as YAML scalars (`4` is an int)."""
    import copy

    if isinstance(overrides, list):
        pairs: dict[str, Any] = {}
        for item in overrides:
            key, sep, raw = item.partition("=")
            if not sep or not key.strip():
                raise ConfigError([Problem("--set", _shown(item), "expected KEY=VALUE, e.g. tuning.max_jobs=4")])
            pairs[key.strip()] = _override_value(key.strip(), sealed.unseal(key.strip(), raw))
        overrides = pairs
    if not isinstance(data, dict):
        return data
    data = copy.deepcopy(data)
    for dotted, value in overrides.items():
        node = data
        parts = dotted.split(".")
        for part in parts[:-1]:
            if not isinstance(node.get(part), dict):
                node[part] = {}
            node = node[part]
        node[parts[-1]] = value
    return data


def _shown(text: str) -> str:
    """Text from the command line as it can be printed: undecodable bytes as escapes, cut short."""
    safe = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return safe if len(safe) <= 80 else safe[:77] + "..."


def _override_value(key: str, raw: str) -> Any:
    """One `--set` value, read as a YAML scalar with the same limits as a config file."""
    import yaml

    where = f"--set {_shown(key)}"
    try:
        (key + raw).encode("utf-8")
    except UnicodeEncodeError:
        raise ConfigError(
            [Problem(where, _shown(raw), "holds bytes that are not UTF-8 text; pass the value as UTF-8")]
        ) from None
    if not raw.strip():
        return ""
    if len(raw) > limits.MAX_TEXT:
        raise ConfigError(limits.node_problems(yaml.ScalarNode("tag:yaml.org,2002:str", raw), where))
    loader = _loader()(raw)
    try:
        node = loader.get_single_node()
        oversized = limits.node_problems(node, where)
        if oversized:
            raise ConfigError(oversized)
        return loader.construct_document(node) if node is not None else None
    except (yaml.YAMLError, ValueError, RecursionError):
        return raw  # not YAML: the text as written
    finally:
        loader.dispose()


def read_yaml(path: str | Path) -> Any:
    """The YAML tree of a config file; a ConfigError (with the line) for anything that is not valid YAML."""
    data, duplicates = _read_yaml_checked(path)
    if duplicates:
        raise ConfigError(duplicates)
    return data


def _read_yaml_checked(path: str | Path) -> tuple[Any, list[Problem]]:
    """Parse a config file; also return its duplicate keys (YAML would silently keep the last one)."""
    import yaml

    p = Path(path)
    if p.is_dir():
        raise ConfigError([Problem(str(p), _missing(), "is a directory; pass the path of the config.yaml file in it")])
    if not p.is_file():
        raise ConfigError([Problem(str(p), _missing(), "file not found; pass the path of your config.yaml")])
    try:
        too_big = limits.size_problem(str(p), p.stat().st_size)
        if too_big:
            raise ConfigError([too_big])
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        problem = Problem(str(p), _missing(), f"cannot read the file ({exc}); save it as UTF-8 text")
        raise ConfigError([problem]) from None
    loader = _loader()(text)
    try:
        node = loader.get_single_node()
        oversized = limits.node_problems(node, str(p))
        if oversized:
            raise ConfigError(_masked(oversized))
        duplicates = _duplicate_keys(node, p)
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        where = f"line {line}, column {mark.column + 1}" if mark else "an unknown position"
        what = exc.problem or exc.context or "invalid YAML"
        hint = _yaml_hint(text) if "constructor" not in what else "remove the !!tag; a config is plain YAML"
        raise ConfigError(
            [Problem(f"{p}:{line or '?'}", _missing(), f"YAML syntax error at {where}: {what}; {hint}")]
        ) from None
    except (yaml.YAMLError, ValueError, RecursionError) as exc:
        what = " ".join(str(exc).split())  # one line, whatever the parser's message looks like
        raise ConfigError([Problem(str(p), _missing(), f"not valid YAML ({what}); check the file's syntax")]) from None
    finally:
        loader.dispose()
    return data, duplicates


def _yaml_hint(text: str) -> str:
    assignment = re.search(r"^\s*([A-Za-z_]\w*)\s*=\s*[{\[]", text, re.MULTILINE)
    if assignment:
        name = assignment.group(1)
        return f"this looks like Python (`{name} = ...`); write `{name}:` and keep the rest, or use plain YAML keys"
    if "\t" in text:
        return "YAML does not allow tabs for indentation; indent with spaces"
    return "check the indentation and quoting on that line"


def load_yaml(text: str) -> Any:
    """YAML text read exactly as `load_config` reads a config file (YAML 1.2 numbers: `1e-3` is a float)."""
    import yaml

    return yaml.load(text, Loader=_loader())  # _loader() is a SafeLoader subclass: no arbitrary objects


_LOADER: Any = None


def _loader() -> Any:
    """PyYAML's safe loader, reading numbers as YAML 1.2 does (`1e-3` is a float, not a string)."""
    global _LOADER
    if _LOADER is None:
        import yaml

        # libyaml's parser when PyYAML has it (about 10x faster); the same safe constructor either way.
        class ConfigLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
            pass

        ConfigLoader.add_implicit_resolver(
            "tag:yaml.org,2002:float",
            re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
            list("-+0123456789"),
        )
        _LOADER = ConfigLoader
    return _LOADER


def _duplicate_keys(node: Any, path: Path, prefix: str = "", visited: set[int] | None = None) -> list[Problem]:
    import yaml

    visited = set() if visited is None else visited
    if id(node) in visited:  # an alias: its anchor was checked already (and this stops self-references)
        return []
    visited.add(id(node))
    found: list[Problem] = []
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
            dotted = f"{prefix}.{key}" if prefix else str(key)
            if key is not None and key_node.tag != "tag:yaml.org,2002:merge":
                line = key_node.start_mark.line + 1
                if key in seen:
                    found.append(
                        Problem(
                            dotted,
                            _missing(),
                            f"given twice ({path.name} lines {seen[key]} and {line}); YAML keeps only the last one, "
                            "so delete one of them",
                        )
                    )
                else:
                    seen[key] = line
            found.extend(_duplicate_keys(value_node, path, dotted, visited))
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            found.extend(_duplicate_keys(item, path, f"{prefix}.{index}" if prefix else str(index), visited))
    return found


def _dedupe(problems: list[Problem]) -> list[Problem]:
    seen: set[str] = set()
    out: list[Problem] = []
    for p in problems:
        if str(p) not in seen:
            seen.add(str(p))
            out.append(p)
    return out
