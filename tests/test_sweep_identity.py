"""A sweep's identity is what the config says and the code, never hpo-flow's own defaults: a new
hpo-flow version that adds a setting or changes a default re-attaches to a sweep the old one
started (issue 22), and a spec written for the runner and read back names the same sweep."""

from __future__ import annotations

import json

import pytest

from hpo_flow.adapters.lifecycle import Decision, for_generation
from hpo_flow.adapters.spec import HpoConfig, parse_config
from tests.helpers import make_config

pytestmark = pytest.mark.unit

# Written out in full here, not taken from the tests' helpers: it must never change.
REFERENCE = {
    "project": "reference",
    "training": {
        "entry_point": "train.py",
        "hyperparameters": {"epochs": 5, "lr": 0.01},
        "metric_definitions": [{"Name": "accuracy", "Regex": "accuracy: ([0-9.]+)"}],
        "environment": {"MODE": "fast"},
    },
    "tuning": {
        "strategy": "Random",
        "max_jobs": 8,
        "max_parallel_jobs": 2,
        "objective_metric": "accuracy",
        "objective_type": "Maximize",
        "hyperparameter_ranges": {
            "lr": {"type": "continuous", "min": 0.0001, "max": 0.1, "scaling_type": "Logarithmic"},
            "batch_size": {"type": "categorical", "values": [16, 32, 64]},
        },
        "early_stopping": {"policy": "median", "delay_evaluation": 2},
    },
    "backends": {"local": {"gpus": [], "kill_grace_seconds": 5}},
}


def test_the_reference_configs_sweep_name_is_pinned() -> None:
    # If this fails, a change made every existing sweep look new: each user's next run would pay
    # for a second sweep instead of attaching. Hash only what the config says (config_hash).
    assert parse_config(REFERENCE).sweep_name() == "reference-7342977c"


def test_values_equal_to_the_defaults_are_no_part_of_the_identity() -> None:
    written = parse_config(REFERENCE)
    assert "output_log_mb" not in json.dumps(REFERENCE)  # a setting this config predates
    spelled = json.loads(json.dumps(REFERENCE))
    spelled["backends"]["local"]["output_log_mb"] = 64  # the default, written out
    spelled["tuning"]["max_failed_trials"] = None
    assert parse_config(spelled).sweep_name() == written.sweep_name()
    spelled["backends"]["local"]["output_log_mb"] = 32  # what the user changes does count
    assert parse_config(spelled).sweep_name() != written.sweep_name()


@pytest.mark.parametrize(
    "config",
    [
        parse_config(REFERENCE),
        make_config({"training.inputs": {"data": {"local": "/data", "sagemaker": "s3://b/d"}}}),
        for_generation(make_config(), Decision(3, False, "test", ["x"]), [{"lr": 0.01, "batch_size": 32}]),
    ],
    ids=["reference", "inputs", "generation-3-warm"],
)
def test_a_spec_read_back_from_its_dump_names_the_same_sweep(config: HpoConfig) -> None:
    # The local runner reads the spec from spec.json in another process (state.write_spec).
    again = parse_config(json.loads(json.dumps(config.model_dump(mode="json", by_alias=True))))
    assert again.sweep_name() == config.sweep_name()
    assert again.model_dump() == config.model_dump()
