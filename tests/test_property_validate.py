"""Property test: whatever YAML a user writes, `hpo-flow validate` answers with exit 0 or 2, never a traceback.

Two kinds of input: fully random YAML trees, and a valid config mutated at random (a value replaced
by a random scalar, list or mapping, a key deleted, an unknown key added). Both go through the real
command, `main(["validate", path])`, so the loader, the model and the summary printer are all covered.
"""

from __future__ import annotations

import contextlib
import copy
import io
import math
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from hpo_flow.adapters.spec import load_config
from hpo_flow.cli import main
from tests.helpers import config_dict, key_paths

pytestmark = pytest.mark.unit

# Names our model uses, so random trees and mutations hit real fields, not only unknown keys.
_FIELD_NAMES = [
    "project", "training", "tuning", "backends", "mlflow", "entry_point", "source_dir", "hyperparameters",
    "metric_definitions", "Name", "Regex", "enabled", "update_config", "backend", "strategy", "max_jobs",
    "max_parallel_jobs", "objective_metric", "objective_type", "hyperparameter_ranges", "early_stopping",
    "policy", "slack_factor", "slack_amount", "type", "min", "max", "step", "q", "values", "scaling_type",
    "log_base", "mu", "sigma", "local", "sagemaker", "azure", "gpus", "warm_start", "parents",
    "completion_criteria", "hyperband", "tuning_config", "range", "param_type",
]  # fmt: skip

_WORDS = [
    "continuous", "integer", "categorical", "quniform", "qloguniform", "normal", "Grid", "bandit",
    "Logarithmic", "ReverseLogarithmic", "max", "([0-9.]+)", "[", "accuracy", "auto", "off", "1e-3",
]  # fmt: skip

_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(10**400), max_value=10**400),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(_WORDS),
)
_keys = st.one_of(st.sampled_from(_FIELD_NAMES), st.text(max_size=8), st.integers(), st.booleans(), st.none())


def _trees(leaves: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.recursive(
        leaves,
        lambda children: st.one_of(
            st.lists(children, max_size=4),
            st.dictionaries(_keys, children, max_size=5),
        ),
        max_leaves=25,
    )


_values = _trees(_scalars)


_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def _validate(data: Any = None, text: str | None = None) -> tuple[int, str, Any]:
    out, err = io.StringIO(), io.StringIO()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "config.yaml"
        path.write_text(text if text is not None else yaml.dump(data, Dumper=_DUMPER, allow_unicode=True))
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(["validate", str(path)])
        accepted = load_config(path).model_dump(mode="python") if code == 0 else None
    return code, out.getvalue() + err.getvalue(), accepted


def _floats(node: Any) -> list[float]:
    if isinstance(node, float):
        return [node]
    children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else []
    return [f for child in children for f in _floats(child)]


def _check(code: int, output: str, accepted: Any) -> None:
    event(f"exit {code}")
    assert code in (0, 2), output
    assert "Traceback" not in output
    if code == 2:
        header, *problems = output.splitlines()
        count = int(header.split()[2])  # "config has N problem(s):"
        assert header == f"config has {count} problem{'s' if count != 1 else ''}:"
        assert len(problems) == count >= 1  # each problem exactly one line
        assert all(line.startswith("  ") and ": " in line for line in problems)
    else:
        assert ": OK" in output
        assert all(math.isfinite(f) for f in _floats(accepted))  # NaN or infinity never gets through


_SETTINGS = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
)


@_SETTINGS
@given(_values)
def test_random_yaml_trees_never_crash(tree: Any) -> None:
    _check(*_validate(tree))


@_SETTINGS
@given(st.text(alphabet=st.sampled_from(list("ab:-[]{},'\"\n #&*!|>?%@`\t0.1")), max_size=60))
def test_random_yaml_text_never_crashes(text: str) -> None:
    _check(*_validate(text=text))


def _rich_valid() -> dict[str, Any]:
    """A valid config that uses most sections, so mutations reach deep fields."""
    return config_dict(
        {
            "tuning.early_stopping": {"policy": "bandit", "slack_factor": 0.1, "delay_evaluation": 2},
            "tuning.completion_criteria": {"target_objective_value": 0.99, "max_jobs_not_improving": 3},
            "tuning.warm_start": {"parents": ["old-sweep"]},
            "tuning.hyperparameter_ranges.hidden": {"type": "integer", "min": 8, "max": 64, "step": 8},
            "tuning.hyperparameter_ranges.wd": {"type": "qloguniform", "min": 1e-5, "max": 1e-2, "q": 1e-5},
            "tuning.hyperparameter_ranges.noise": {"type": "normal", "mu": 0.0, "sigma": 1.0},
            "backends.local": {"gpus": [0, 1], "gpus_per_trial": 1},
            "backends.sagemaker": {"role": "arn:aws:iam::1:role/r", "instance_type": "ml.m5.xlarge"},
            "backends.azure": {"compute": "cpu", "inputs": {"train": "azureml:d:1"}},
            "mlflow": {"tracking_uri": "sqlite:///m.db", "alias": "challenger"},
        }
    )


_mutations = st.lists(
    st.tuples(st.sampled_from(["replace", "delete", "add"]), st.integers(min_value=0), _keys, _values),
    min_size=1,
    max_size=4,
)


@_SETTINGS
@given(_mutations)
def test_mutated_valid_config_never_crashes(mutations: list[tuple[str, int, Any, Any]]) -> None:
    data = copy.deepcopy(_rich_valid())
    for action, index, key, value in mutations:
        paths = key_paths(data)
        if not paths:
            break
        path = paths[index % len(paths)]
        parent: Any = data
        for part in path[:-1]:
            parent = parent[part]
        if action == "replace":
            parent[path[-1]] = value
        elif action == "delete":
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent.setdefault(key, value)
        else:
            parent.append(value)
    _check(*_validate(data))
