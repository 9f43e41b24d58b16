"""How big a config may be, checked on the YAML before anything is built from it.

Every limit here is far beyond any real config and well below what would take hpo-flow more than
a moment: a config file is read, validated, planned, hashed and written back many times a sweep.
A YAML alias bomb (1 kB of anchors that expand to billions of values), a 5,000-digit number or a
multi-megabyte string is refused with one line naming the key, before it is expanded or built.
"""

from __future__ import annotations

from typing import Any

from hpo_flow.adapters.errors import MISSING, Problem

MAX_CONFIG_BYTES = 100_000  # a config file: ten times the largest real one we know; bigger takes seconds to read
MAX_NODES = 10_000  # values in the document once every alias is expanded (SageMaker takes 30 per categorical)
MAX_DEPTH = 64  # nesting of mappings and lists
MAX_TEXT = 10_000  # characters in one key or value (a regex, a path, a URL)
MAX_DIGITS = 30  # digits in one integer: more than any count, seed or size hpo-flow takes
MAX_JOBS = 1_000_000  # tuning.max_jobs on any backend
MAX_PARALLEL_JOBS = 10_000  # tuning.max_parallel_jobs on any backend

_INT_TAG = "tag:yaml.org,2002:int"


def size_problem(where: str, size: int) -> Problem | None:
    if size <= MAX_CONFIG_BYTES:
        return None
    return Problem(
        where,
        MISSING,
        f"is {size:,} bytes; a config is at most {MAX_CONFIG_BYTES:,} bytes: keep data, logs and code in files "
        "the config names",
    )


def node_problems(node: Any, where: str = "") -> list[Problem]:
    """Problems of a composed YAML node graph, found without expanding its aliases.

    Each distinct node is looked at once; an alias adds the size of what it refers to.
    """
    import yaml

    sizes: dict[int, int] = {}
    problems: list[Problem] = []
    unbounded: list[bool] = []  # a self-reference or a nesting too deep: reported already
    on_path: set[int] = set()

    def label(path: str) -> str:
        return path or where or "<config>"

    def walk(n: Any, path: str, depth: int) -> int:
        key = id(n)
        if key in sizes:
            return sizes[key]
        if key in on_path:
            problems.append(Problem(label(path), MISSING, "refers to itself through an alias; write the value out"))
            unbounded.append(True)
            sizes[key] = MAX_NODES + 1
            return sizes[key]
        if depth > MAX_DEPTH:
            problems.append(Problem(label(path), MISSING, f"is nested more than {MAX_DEPTH} levels deep"))
            unbounded.append(True)
            sizes[key] = MAX_NODES + 1
            return sizes[key]
        total = 1
        if isinstance(n, yaml.ScalarNode):
            text = str(n.value)
            if len(text) > MAX_TEXT:
                problems.append(
                    Problem(
                        label(path),
                        MISSING,
                        f"is {len(text):,} characters long; a value is at most {MAX_TEXT:,}: put long text in a file",
                    )
                )
            elif n.tag == _INT_TAG and sum(c.isdigit() for c in text) > MAX_DIGITS:
                problems.append(
                    Problem(label(path), MISSING, f"is a {len(text)}-digit number; no setting takes one that large")
                )
        else:
            on_path.add(key)
            if isinstance(n, yaml.MappingNode):
                for k, v in n.value:
                    name = str(k.value)[:60] if isinstance(k, yaml.ScalarNode) else "?"
                    child = f"{path}.{name}" if path else name
                    total += walk(k, child, depth + 1) + walk(v, child, depth + 1)
                    if total > MAX_NODES:
                        break
            elif isinstance(n, yaml.SequenceNode):
                for index, item in enumerate(n.value):
                    total += walk(item, f"{path}.{index}" if path else str(index), depth + 1)
                    if total > MAX_NODES:
                        break
            on_path.discard(key)
        sizes[key] = total
        return total

    if node is not None and walk(node, "", 0) > MAX_NODES and not unbounded:
        problems.append(
            Problem(
                where or "<config>",
                MISSING,
                f"expands to more than {MAX_NODES:,} values (YAML aliases repeat what they refer to); "
                "a config lists far fewer: write the values out",
            )
        )
    return problems
