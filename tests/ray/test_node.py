"""The node's side of a Ray trial (hpo_flow.adapters.ray.node.TrialSlot), run in this process without
Ray: a node that does not see the sweep's folder keeps the trial's files and hands the model back."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest

from hpo_flow.adapters.ray.node import NODE_ROOT_VAR, TrialSlot, unpack_model
from tests.ray.sweeps import ray_config, write_script

pytestmark = pytest.mark.integration


def _read_to_end(slot: TrialSlot, timeout: float = 30) -> tuple[bytes, int]:
    out = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = slot.read(0.5)
        out += got["stdout"]
        if got["exit"] is not None:
            return out, int(got["exit"])
    raise AssertionError(f"the trial did not end: {out!r}")


@pytest.fixture
def node(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[TrialSlot, str, Path]:
    code = tmp_path / "ray-working-dir"  # Ray's copy of training.source_dir on a node
    code.mkdir()
    write_script(code)
    monkeypatch.chdir(code)
    monkeypatch.setenv(NODE_ROOT_VAR, str(tmp_path / "node"))
    spec = ray_config(code, None, {"training.hyperparameters": {"seconds": 0.4}})
    slot = TrialSlot(spec.sweep_name(), str(tmp_path / "head" / "sweep"))  # a folder this node does not see
    return slot, spec.model_dump_json(), tmp_path


def test_a_node_without_the_sweeps_folder_hands_the_model_back_and_keeps_nothing(
    node: tuple[TrialSlot, str, Path],
) -> None:
    slot, spec_json, tmp_path = node
    assert not slot.shared
    slot.start(spec_json, 7, {"x": 0.5, "k": 2}, {"EXTRA": "from the runner"})
    out, code = _read_to_end(slot)
    assert code == 0 and out.decode().splitlines()[-1] == "accuracy: 0.500000"
    archive = slot.collect()
    assert archive
    head_model = tmp_path / "head-model"
    unpack_model(archive, head_model)
    seen = json.loads((head_model / "trial.json").read_text())
    assert seen["model_dir"].startswith(str(tmp_path / "node")) and seen["sm_model_dir"] == seen["model_dir"]
    assert seen["cwd"].endswith("/trials/trial-0007/code")  # a folder of its own, linking to the code
    assert not Path(seen["model_dir"]).exists()  # the node's copy of the trial folder is gone


def test_a_signal_reaches_the_trials_process_group_on_the_node(node: tuple[TrialSlot, str, Path]) -> None:
    slot, spec_json, _ = node
    spec = json.loads(spec_json)
    spec["training"]["hyperparameters"]["seconds"] = 60
    slot.start(json.dumps(spec), 1, {"x": 0.5, "k": 2}, {})
    started = time.monotonic()
    assert slot.signal(signal.SIGTERM)
    _, code = _read_to_end(slot)
    assert code == -signal.SIGTERM and time.monotonic() - started < 10
    assert slot.collect() is None  # it saved nothing


def test_a_trial_that_floods_its_output_waits_on_its_pipe_not_in_the_actors_memory(
    node: tuple[TrialSlot, str, Path],
) -> None:
    from hpo_flow.adapters.ray.node import BUFFER_CAP

    slot, spec_json, _ = node
    (Path.cwd() / "flood.py").write_text("import sys\nfor _ in range(40):\n    sys.stdout.write('x' * 2**20)\n")
    spec = json.loads(spec_json)
    spec["training"]["entry_point"] = "flood.py"
    slot.start(json.dumps(spec), 2, {"x": 0.5, "k": 2}, {})
    deadline = time.monotonic() + 30
    while len(slot._out["stdout"]) < BUFFER_CAP and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)  # nobody reads: a trial not held back would have printed all 40 MiB by now
    assert BUFFER_CAP <= len(slot._out["stdout"]) <= BUFFER_CAP + 65536
    assert slot._proc.poll() is None  # waiting on its pipe
    out, code = _read_to_end(slot)
    assert code == 0 and len(out) == 40 * 2**20
