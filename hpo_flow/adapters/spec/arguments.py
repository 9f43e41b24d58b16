"""`training.arguments`: the trial's command line the way an Azure ML `command:` writes it.

By default a script gets SageMaker's convention (`--name value` for every hyperparameter, `-C` for a
one-letter name). A script written for Azure ML expects the line its author wrote instead:

    training:
      entry_point: main.py
      arguments: --C ${{search_space.C}} --iris-csv ${{inputs.iris_csv}} --max-iter ${{inputs.max_iter}}

`${{search_space.NAME}}` is a tuned hyperparameter (tuning.hyperparameter_ranges); `${{inputs.NAME}}`
a data input's path or a fixed hyperparameter (Azure ML calls both inputs). The template is split
into arguments once, here, with shell quoting rules and no shell: each placeholder is replaced inside
its own argument, so a value with a space or a quote stays one argument on every backend.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from typing import Any

PLACEHOLDER = re.compile(r"\$\{\{\s*(search_space|inputs)\.([A-Za-z_][A-Za-z0-9_.\-]*)\s*\}\}")
SEARCH_SPACE = "search_space"
INPUTS = "inputs"


def split(value: Any) -> Any:
    """A template written as one string becomes its arguments (shell quoting, no shell)."""
    if isinstance(value, str):
        try:
            return shlex.split(value)
        except ValueError as exc:
            raise ValueError(f"cannot split into arguments ({exc}); close the quote") from None
    return value


def placeholders(arguments: list[str]) -> list[tuple[str, str]]:
    """(kind, name) of every placeholder, in order."""
    return [(m[1], m[2]) for argument in arguments for m in PLACEHOLDER.finditer(argument)]


def render(arguments: list[str], values: Mapping[tuple[str, str], str]) -> list[str]:
    """The arguments with each placeholder replaced by its value ((kind, name) -> text)."""
    return [PLACEHOLDER.sub(lambda m: values[(m[1], m[2])], argument) for argument in arguments]


def problems(arguments: list[str], tuned: list[str], fixed: list[str], inputs: list[str]) -> list[tuple[str, Any, str]]:
    """(config path, value, message) for a template that would not give the script every value."""
    from hpo_flow.adapters.spec.base import _close

    found: list[tuple[str, Any, str]] = []
    used = placeholders(arguments)
    known = {(SEARCH_SPACE, n) for n in tuned} | {(INPUTS, n) for n in [*fixed, *inputs]}
    for kind, name in used:
        if (kind, name) in known:
            continue
        text = "${{" + f"{kind}.{name}" + "}}"
        if kind == SEARCH_SPACE and name in fixed:
            fix = f"{name} is a fixed hyperparameter, not tuned; write ${{{{inputs.{name}}}}}"
        elif kind == INPUTS and name in tuned:
            fix = f"{name} is tuned; write ${{{{search_space.{name}}}}}"
        else:
            names = tuned if kind == SEARCH_SPACE else [*fixed, *inputs]
            close = _close(name, names)
            where = (
                "tuning.hyperparameter_ranges"
                if kind == SEARCH_SPACE
                else "training.hyperparameters or training.inputs"
            )
            fix = f"did you mean '{close}'?" if close else f"no such name in {where}"
        found.append(("training.arguments", text, fix))
    missing = [
        *((n, f"${{{{search_space.{n}}}}}", "tuned") for n in tuned if (SEARCH_SPACE, n) not in used),
        *((n, f"${{{{inputs.{n}}}}}", "a data input") for n in inputs if (INPUTS, n) not in used),
        *((n, f"${{{{inputs.{n}}}}}", "a fixed hyperparameter") for n in fixed if (INPUTS, n) not in used),
    ]
    for name, text, what in missing:
        found.append(
            (
                "training.arguments",
                " ".join(arguments),
                f"{name} is {what} but never reaches the script; add its flag and {text}"
                + (", or remove it from training.hyperparameters" if what.startswith("a fixed") else ""),
            )
        )
    return found
