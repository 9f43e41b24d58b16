"""Config builders shared by the tests."""

from __future__ import annotations

import copy
import dataclasses
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from hpo_flow.adapters import registry
from hpo_flow.adapters.registry import BackendInfo
from hpo_flow.adapters.spec import HpoConfig, Strict, apply_overrides, parse_config

BASE: dict[str, Any] = {
    "project": "unit-proj",
    "training": {
        "entry_point": "train.py",
        "source_dir": ".",
        "hyperparameters": {"epochs": 5, "lr": 0.01},
        "metric_definitions": [
            {"Name": "accuracy", "Regex": "accuracy: ([0-9.]+)"},
            {"Name": "loss", "Regex": "loss: ([0-9.eE+-]+)"},
        ],
    },
    "tuning": {
        "strategy": "Random",
        "max_jobs": 4,
        "max_parallel_jobs": 2,
        "objective_metric": "accuracy",
        "objective_type": "Maximize",
        "random_seed": 1,
        "hyperparameter_ranges": {
            "lr": {"type": "continuous", "min": 0.0001, "max": 0.1, "scaling_type": "Logarithmic"},
            "batch_size": {"type": "categorical", "values": [16, 32, 64]},
        },
    },
}


def config_dict(overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """A valid config as a YAML tree, with dotted-key overrides applied."""
    data = copy.deepcopy(BASE)
    return apply_overrides(data, overrides) if overrides else data


def make_config(overrides: dict[str, Any] | None = None) -> HpoConfig:
    return parse_config(config_dict(overrides))


def write_config(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def key_paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key path in a tree (dict keys and list indexes): where a mutation can land."""
    found: list[tuple[Any, ...]] = []
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else []
    for key, child in items:
        found.append((*prefix, key))
        found.extend(key_paths(child, (*prefix, key)))
    return found


def start_hpo_flow(args: list[str], cwd: Path, env: dict[str, str], **popen: Any) -> subprocess.Popen[str]:
    """`hpo-flow ARGS` from this interpreter's venv, started as from a terminal: with Ctrl-C live.

    A shell without job control (`make test &`, some CI runners) starts its background commands
    with SIGINT ignored, and an ignore is inherited; a handler set here is reset to the default in
    the child when it execs.
    """
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        return subprocess.Popen(
            [str(Path(sys.executable).with_name("hpo-flow")), *args], cwd=cwd, env=env, text=True, **popen
        )
    finally:
        signal.signal(signal.SIGINT, previous)


class NoSection(Strict):
    """The `backends.<name>` section of a backend registered by a test: nothing to set."""


def in_process_backend(name: str, adapter: Any) -> BackendInfo:
    """A backend of this process only, whose adapter is `adapter` (an instance, returned as it is,
    or a class): `with registered(in_process_backend("fake", FakeAdapter()))`. An installed backend's
    name keeps what it declares (its `backends.<name>` section model above all): only the adapter is
    the test's, so a config written for that backend validates as it does for a user."""
    factory = adapter if isinstance(adapter, type) else (lambda: adapter)
    installed = registry.backends().get(name)
    if installed is not None:
        return dataclasses.replace(installed, adapter=factory)
    return BackendInfo(name=name, adapter=factory, section=NoSection, data_input="anything")


class ProcessesStarted:
    """Every process this interpreter starts, seen through the `subprocess.Popen` audit event (the
    real start, whoever asks for it). Audit hooks cannot be removed: one records for all instances."""

    _recording: list[list[str]] | None = None
    _hooked = False

    def __enter__(self) -> list[list[str]]:
        if not ProcessesStarted._hooked:
            sys.addaudithook(ProcessesStarted._hook)
            ProcessesStarted._hooked = True
        ProcessesStarted._recording = []
        return ProcessesStarted._recording

    def __exit__(self, *exc: object) -> None:
        ProcessesStarted._recording = None

    @staticmethod
    def _hook(event: str, args: tuple[Any, ...]) -> None:
        if event == "subprocess.Popen" and ProcessesStarted._recording is not None:
            ProcessesStarted._recording.append([str(a) for a in (args[1] or [args[0]])])


PLUGIN_DIST = Path(__file__).resolve().parent / "plugin_dist"  # a distribution of its own: hpo-flow-inmemory


class PluginInstalled:
    """tests/plugin_dist on this process's path, as `pip install hpo-flow-inmemory` would put it,
    for as long as the block runs; the registry looks again on the way in and out."""

    def __enter__(self) -> Path:
        import importlib

        from hpo_flow.adapters import registry

        sys.path.insert(0, str(PLUGIN_DIST))
        importlib.invalidate_caches()
        registry.refresh()
        return PLUGIN_DIST

    def __exit__(self, *exc: object) -> None:
        from hpo_flow.adapters import registry

        sys.path.remove(str(PLUGIN_DIST))
        registry.refresh()


def azure_job_run(folder: Path, experiment: str) -> tuple[Any, str, dict[str, str]]:
    """An MLflow run as Azure ML gives a job (a store of the test's own): its client, its id, and
    the variables the job's process finds it by."""
    import mlflow

    uri = f"sqlite:///{folder / 'workspace-mlflow.db'}"
    client = mlflow.MlflowClient(uri)
    run_id = client.create_run(client.create_experiment(experiment)).info.run_id
    return client, run_id, {"MLFLOW_TRACKING_URI": uri, "MLFLOW_RUN_ID": run_id}
