"""A backend from another distribution (tests/plugin_dist: hpo-flow-inmemory), found through its
entry point alone: it is a `--backend` choice, its `backends.inmemory` section is checked by its
own model, and its adapter passes the adapter contract (tests/flow/test_flow_plugin.py: the flow's).
Nothing in hpo-flow names it."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from hpo_flow.adapters import registry
from hpo_flow.adapters.errors import ConfigError
from hpo_flow.adapters.port import SweepRef, SweepState
from hpo_flow.adapters.spec import HpoConfig
from tests.contract import AdapterContract
from tests.helpers import PLUGIN_DIST, PluginInstalled, config_dict, make_config, write_config

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _installed() -> Iterator[None]:
    with PluginInstalled():
        yield


def _hpo_flow(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """`hpo-flow ARGS` in a process of its own whose path holds the distribution, as a venv would."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(PLUGIN_DIST), str(REPO)])}
    command = [sys.executable, "-m", "hpo_flow.cli", *args]
    return subprocess.run(command, capture_output=True, text=True, cwd=cwd, env=env, timeout=120)


def test_the_installed_backend_is_found_and_offered_by_the_cli(tmp_path: Path) -> None:
    assert "inmemory" in registry.names()
    assert registry.get("inmemory").extra == "hpo-flow-inmemory"
    shown = _hpo_flow("plan", "--help", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert "{azure,inmemory,local,ray,sagemaker}" in shown.stdout.replace("\n", "").replace(" ", "")

    path = write_config(tmp_path / "config.yaml", config_dict({"tuning.backend": "inmemory"}))
    planned = _hpo_flow("plan", str(path), "--format", "json", cwd=tmp_path)
    assert planned.returncode == 0, planned.stderr
    assert '"max_jobs": ' in planned.stdout


def test_without_the_distribution_the_backend_is_unknown_and_the_message_says_what_is_installed(
    tmp_path: Path,
) -> None:
    path = write_config(tmp_path / "config.yaml", config_dict({"tuning.backend": "inmemory"}))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run(
        [sys.executable, "-m", "hpo_flow.cli", "validate", str(path)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=120,
    )
    assert done.returncode == 2
    installed = "azure, local, ray, sagemaker"
    assert f"tuning.backend: 'inmemory': is not an installed backend; installed backends: {installed}" in done.stderr


def test_its_section_is_checked_by_its_own_model(tmp_path: Path) -> None:
    good = make_config({"tuning.backend": "inmemory", "backends.inmemory": {"per_poll": 3}})
    section = good.backends.section("inmemory")
    assert section is not None and section.model_dump() == {"per_poll": 3, "model_dir": None}
    with pytest.raises(ConfigError) as bad:
        make_config({"tuning.backend": "inmemory", "backends.inmemory": {"per_poll": 0, "modle_dir": "x"}})
    shown = [str(p) for p in bad.value.problems]
    assert any(p.startswith("backends.inmemory.per_poll: 0:") for p in shown), shown
    assert any(p.startswith("backends.inmemory.modle_dir:") and "model_dir" in p for p in shown), shown

    path = write_config(
        tmp_path / "config.yaml", config_dict({"tuning.backend": "inmemory", "backends.inmemory": {"per_poll": 0}})
    )
    refused = _hpo_flow("validate", str(path), cwd=tmp_path)
    assert refused.returncode == 2 and "backends.inmemory.per_poll: 0:" in refused.stderr, refused.stderr


def test_a_data_input_names_its_place_on_the_new_backend() -> None:
    config = make_config({"training.inputs": {"train": {"local": "data", "inmemory": "mem://train"}}})
    assert config.training.inputs["train"].on("inmemory") == "mem://train"
    assert config.training.inputs["train"].on("local") == "data"


class TestTheInstalledBackendKeepsTheAdapterContract(AdapterContract):
    @pytest.fixture
    def adapter(self) -> Any:
        return registry.get_adapter("inmemory")

    @pytest.fixture
    def spec(self, tmp_path: Path) -> HpoConfig:
        return make_config(
            {
                "tuning.backend": "inmemory",
                "backends.inmemory": {"model_dir": str(tmp_path / "models")},
                "project": f"plugin-{tmp_path.name}"[-40:],
            }
        )

    @pytest.fixture
    def finish(self, adapter: Any) -> Callable[[SweepRef], None]:
        def drive(ref: SweepRef) -> None:
            state: SweepState = adapter.poll(ref)
            while not state.status.is_terminal:
                state = adapter.poll(ref)

        return drive

    @pytest.fixture
    def faulty(self, adapter: Any, spec: HpoConfig, finish: Callable[[SweepRef], None]) -> Callable[[], SweepRef]:
        def run() -> SweepRef:
            faulty_spec = spec.model_copy(update={"project": f"{spec.project}-faulty"[-50:]})
            fake = registry.get_adapter("inmemory")
            fake.fail_every, fake.prune_every = 3, 2  # type: ignore[attr-defined]
            ref = fake.submit(faulty_spec)
            while not fake.poll(ref).status.is_terminal:
                pass
            return ref

        return run

    @pytest.fixture
    def unknown_ref(self) -> SweepRef:
        return SweepRef(backend="inmemory", name="no-such-sweep", cloud_id="fake://no-such-sweep")

    @pytest.fixture
    def unsupported(self) -> tuple[HpoConfig, list[str]]:
        config = make_config(
            {
                "tuning.backend": "inmemory",
                "tuning.hyperparameter_ranges.noise": {"type": "normal", "mu": 0, "sigma": 1},
                "tuning.warm_start": {"parents": ["old-sweep"]},
            }
        )
        return config, ["tuning.hyperparameter_ranges.noise", "tuning.warm_start"]
