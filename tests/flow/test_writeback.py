"""Writing the winners back into config.yaml: only their tokens change, types hold, and a kill -9
at any moment leaves the old file or the new one."""

from __future__ import annotations

import multiprocessing
import os
import random
import re
import signal
import time
from pathlib import Path
from typing import Any

import numpy
import pytest
import yaml

from hpo_flow.adapters.spec import load_config
from hpo_flow.tasks import writeback
from hpo_flow.tasks.writeback import format_float, typed_value, write_back
from tests.helpers import make_config

# Marked test by test: most are unit, and a few are integration (a module mark would make them both).

REPO_CONFIG = Path(__file__).resolve().parents[2] / "config.yaml"
WINNERS = {"lr": 0.0023456789012345, "batch_size": 64, "hidden": 128.0, "alpha": 2.5e-05}
ORIGINAL = {"lr": 0.001, "batch_size": 32, "hidden": 64, "alpha": 0.0001}


def as_shipped(text: str) -> str:
    """The demo config with its tuned values as committed (ORIGINAL).

    `make demo` writes its winners into the repository's config.yaml, and the README's next command
    is `make test`: these tests must not depend on whether the demo ran first.
    """
    for key, value in ORIGINAL.items():
        text, found = re.subn(rf"(?m)^(    {key}: )[-+0-9.eE]+$", rf"\g<1>{value}", text)
        assert found == 1, f"training.hyperparameters.{key} is not one plain number in {REPO_CONFIG}"
    return text


@pytest.fixture
def config(tmp_path: Path) -> Path:
    target = tmp_path / "config.yaml"
    target.write_bytes(as_shipped(REPO_CONFIG.read_bytes().decode()).encode())
    return target


@pytest.mark.unit
def test_only_the_winners_tokens_change(config: Path) -> None:
    old = config.read_text()
    diff = write_back(config, WINNERS)
    expected = (
        old.replace("    lr: 0.001\n", "    lr: 0.00234568\n")
        .replace("    batch_size: 32\n", "    batch_size: 64\n")
        .replace("    hidden: 64\n", "    hidden: 128\n")
        .replace("    alpha: 0.0001\n", "    alpha: 2.5e-05\n")
    )
    assert config.read_text() == expected  # every comment, quote, alignment and flow map as it was
    changed = [line for line in diff.splitlines() if line[:1] in "+-" and not line.startswith(("+++", "---"))]
    assert changed == [
        "-    lr: 0.001",
        "-    batch_size: 32",
        "-    hidden: 64",
        "-    alpha: 0.0001",
        "+    lr: 0.00234568",
        "+    batch_size: 64",
        "+    hidden: 128",
        "+    alpha: 2.5e-05",
    ]


@pytest.mark.unit
def test_types_hold_and_the_config_still_loads(config: Path) -> None:
    write_back(config, WINNERS)
    hyper = load_config(config).training.hyperparameters
    assert hyper == {"epochs": 20, "lr": 0.00234568, "batch_size": 64, "hidden": 128, "alpha": 2.5e-05}
    assert [type(hyper[k]) for k in ("epochs", "lr", "batch_size", "hidden", "alpha")] == [int, float, int, int, float]


@pytest.mark.unit
def test_categorical_values_keep_their_yaml_type_and_quoting(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(
        "project: typed\n"
        "training:\n"
        "  entry_point: train.py\n"
        "  hyperparameters:\n"
        "    activation: 'relu'   # quoted on purpose\n"
        "    use_bn: true\n"
        "    width: 32\n"
        '    tag: "v1"\n'
        "  metric_definitions: [{Name: acc, Regex: 'acc: ([0-9.]+)'}]\n"
        "tuning:\n"
        "  objective_metric: acc\n"
        "  hyperparameter_ranges:\n"
        "    activation: {type: categorical, values: [relu, tanh]}\n"
        "    use_bn: {type: categorical, values: [true, false]}\n"
        "    width: {type: categorical, values: [32, 64]}\n"
        "    tag: {type: categorical, values: ['v1', '2']}\n"
    )
    # Services that report every value as a string still get the range's own types written.
    write_back(path, {"activation": "tanh", "use_bn": "False", "width": "64", "tag": "2"})
    text = path.read_text()
    assert "    activation: 'tanh'   # quoted on purpose\n" in text
    assert "    use_bn: false\n" in text and "    width: 64\n" in text and '    tag: "2"\n' in text
    hyper = load_config(path).training.hyperparameters
    assert hyper == {"activation": "tanh", "use_bn": False, "width": 64, "tag": "2"}
    assert [type(v) for v in hyper.values()] == [str, bool, int, str]


@pytest.mark.unit
def test_flow_style_stays_flow_style_and_a_missing_tuned_key_is_appended(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(
        "project: flowy\n"
        "training:\n"
        "  entry_point: train.py\n"
        "  hyperparameters: {epochs: 5, lr: 0.01}   # current values\n"
        "  metric_definitions: [{Name: accuracy, Regex: 'accuracy: ([0-9.]+)'}]\n"
        "tuning:\n"
        "  objective_metric: accuracy\n"
        "  hyperparameter_ranges:\n"
        "    lr: {type: loguniform, min: 0.0001, max: 0.1}\n"
        "    batch_size: {type: categorical, values: [16, 32]}\n"
    )
    write_back(path, {"lr": 0.003, "batch_size": 16})
    assert "  hyperparameters: {epochs: 5, lr: 0.003, batch_size: 16}   # current values\n" in path.read_text()


@pytest.mark.unit
def test_a_missing_tuned_key_goes_at_the_end_of_the_block_mapping(config: Path) -> None:
    config.write_text(config.read_text().replace("    alpha: 0.0001\n", ""))
    write_back(config, {"alpha": 0.0005})
    assert "    hidden: 64\n    alpha: 0.0005\n  metric_definitions:" in config.read_text()
    assert load_config(config).training.hyperparameters["alpha"] == 0.0005


@pytest.mark.unit
def test_keys_that_are_not_tuned_are_left_alone(config: Path) -> None:
    before = config.read_bytes()
    assert write_back(config, {"epochs": 99, "unknown": 1}) == ""
    assert config.read_bytes() == before


@pytest.mark.unit
def test_writing_the_same_winners_again_changes_nothing(config: Path) -> None:
    assert write_back(config, WINNERS)
    written = config.read_bytes()
    inode = config.stat().st_ino
    assert write_back(config, WINNERS) == ""
    assert config.read_bytes() == written and config.stat().st_ino == inode  # not even rewritten


@pytest.mark.unit
def test_dry_run_shows_the_diff_and_writes_nothing(config: Path) -> None:
    before = config.read_bytes()
    diff = write_back(config, WINNERS, dry_run=True)
    assert "+    lr: 0.00234568" in diff
    assert config.read_bytes() == before
    assert not config.with_name("config.yaml.bak").exists()


@pytest.mark.unit
def test_the_previous_file_is_kept_as_a_backup(config: Path) -> None:
    before = config.read_bytes()
    write_back(config, WINNERS)
    backup = config.with_name("config.yaml.bak")
    assert backup.read_bytes() == before
    first = config.read_bytes()
    write_back(config, ORIGINAL)
    assert backup.read_bytes() == first
    assert config.read_bytes() == before  # back where it started, byte for byte


@pytest.mark.unit
def test_windows_line_endings_are_kept(config: Path) -> None:
    config.write_bytes(config.read_bytes().replace(b"\n", b"\r\n"))
    config.write_bytes(config.read_bytes().replace(b"    alpha: 0.0001\r\n", b""))
    write_back(config, WINNERS)
    data = config.read_bytes()
    assert b"    lr: 0.00234568\r\n" in data and b"    alpha: 2.5e-05\r\n" in data
    assert data.count(b"\n") == data.count(b"\r\n")


@pytest.mark.unit
def test_secret_values_in_the_diff_are_masked(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(
        "project: secretive\n"
        "training:\n"
        "  entry_point: train.py\n"
        "  hyperparameters:\n"
        "    lr: 0.01\n"
        "  environment:\n"
        "    API_TOKEN: tok-123-secret\n"
        "    DB_URL: postgresql://app:pw-456-secret@db/app\n"
        "  metric_definitions: [{Name: accuracy, Regex: 'accuracy: ([0-9.]+)'}]\n"
        "tuning:\n"
        "  objective_metric: accuracy\n"
        "  hyperparameter_ranges:\n"
        "    lr: {type: loguniform, min: 0.0001, max: 0.1}\n"
    )
    diff = write_back(path, {"lr": 0.002})
    assert "+    lr: 0.002" in diff and "API_TOKEN: ***" in diff
    assert "tok-123-secret" not in diff and "pw-456-secret" not in diff
    assert "tok-123-secret" in path.read_text()  # masked in the diff only, never in the file


@pytest.mark.unit
def test_an_invalid_config_is_refused_and_left_as_it_was(config: Path) -> None:
    broken = config.read_text().replace("objective_metric: accuracy", "objective_metric: acuracy")
    config.write_text(broken)
    done = writeback.write_back_checked(config, WINNERS)  # broken by hand during the sweep, say
    assert config.read_text() == broken and not done.written and done.diff == ""
    assert done.note is not None and "no longer validates" in done.note and "objective_metric" in done.note


@pytest.mark.unit
def test_floats_are_rounded_to_six_significant_digits_and_read_back_as_floats() -> None:
    lr = make_config().tuning.hyperparameter_ranges["lr"]
    assert typed_value(0.0023456789012345, lr) == 0.00234568
    assert typed_value(0.30000000000000004, lr) == 0.3
    assert typed_value(0.001, lr) == 0.001  # short values are kept exactly
    assert typed_value("0.05", lr) == 0.05
    assert type(typed_value(numpy.float32(0.25), lr)) is float
    hidden = make_config({"tuning.hyperparameter_ranges.hidden": {"type": "integer", "min": 1, "max": 9}})
    assert typed_value(numpy.int64(7), hidden.tuning.hyperparameter_ranges["hidden"]) == 7
    for value, token in [(1e-06, "1.0e-06"), (2.5e-07, "2.5e-07"), (1e16, "1.0e+16"), (0.001, "0.001"), (3.0, "3.0")]:
        assert format_float(value) == token
        assert yaml.safe_load(f"x: {token}") == {"x": value}  # YAML 1.1 (load_config) reads a float


# --------------------------------------------------------------------------- kill -9


def _write_forever(path: str, start: int) -> None:
    i = start
    while True:
        write_back(path, WINNERS if i % 2 == 0 else ORIGINAL)
        i += 1


def _pause_at(path: str, point: int, ready: Any) -> None:
    """Write once, stopping for good at the `point`-th fsync/replace: the parent kills us there."""
    calls = {"n": 0}
    real_fsync, real_replace = os.fsync, os.replace

    def hook(real: Any) -> Any:
        def wrapped(*args: Any) -> Any:
            calls["n"] += 1
            if calls["n"] == point:
                ready.send(point)
                time.sleep(60)
            return real(*args)

        return wrapped

    writeback.os.fsync = hook(real_fsync)  # type: ignore[assignment]
    writeback.os.replace = hook(real_replace)  # type: ignore[assignment]
    write_back(path, WINNERS)
    ready.send(0)
    time.sleep(60)


def _assert_whole(path: Path, old: bytes, new: bytes) -> bytes:
    data = path.read_bytes()
    assert data in (old, new), "torn config after kill -9"
    yaml.safe_load(data)
    load_config(path)
    backup = path.with_name(path.name + ".bak")
    if backup.exists():
        assert backup.read_bytes() in (old, new)
    return data


@pytest.mark.integration
def test_kill_9_at_random_moments_never_tears_the_config(config: Path) -> None:
    original = config.read_bytes()
    write_back(config, WINNERS)
    tuned = config.read_bytes()
    write_back(config, ORIGINAL)
    assert config.read_bytes() == original
    ctx = multiprocessing.get_context("fork")  # the child shares our imports: it writes at once
    rng = random.Random(4)
    seen = set()
    for _ in range(30):
        current = config.read_bytes()
        child = ctx.Process(target=_write_forever, args=(str(config), 0 if current == original else 1))
        child.start()
        time.sleep(rng.uniform(0.0, 0.25))
        os.kill(child.pid, signal.SIGKILL)  # type: ignore[arg-type]
        child.join()
        assert child.exitcode == -signal.SIGKILL
        seen.add(_assert_whole(config, original, tuned))
    assert seen <= {original, tuned}
    write_back(config, ORIGINAL)
    write_back(config, WINNERS)
    assert config.read_bytes() == tuned
    assert not list(config.parent.glob(".config.yaml.*"))  # a killed writer's temp files are cleared


@pytest.mark.integration
def test_kill_9_at_every_step_of_the_write_leaves_old_or_new(config: Path) -> None:
    original = config.read_bytes()
    new = writeback.apply_winners(original.decode(), WINNERS).encode()
    ctx = multiprocessing.get_context("fork")
    # A write makes 6 such calls: fsync and rename of the backup's temp file, fsync of the
    # directory, then the same for the config. Stopping before each in turn (7: not at all)
    # puts a crash into every window there is.
    for point in range(1, 8):
        config.write_bytes(original)
        config.with_name("config.yaml.bak").unlink(missing_ok=True)
        parent_end, child_end = ctx.Pipe()
        child = ctx.Process(target=_pause_at, args=(str(config), point, child_end))
        child.start()
        reached = parent_end.recv()
        os.kill(child.pid, signal.SIGKILL)  # type: ignore[arg-type]
        child.join()
        assert reached == (point if point <= 6 else 0)
        assert _assert_whole(config, original, new) == (original if point <= 5 else new)
        backup = config.with_name("config.yaml.bak")
        assert backup.exists() == (point >= 3)
        assert not backup.exists() or backup.read_bytes() == original


# --------------------------------------------------------------------------- the user's side


@pytest.mark.unit
def test_a_tuned_value_changed_during_the_sweep_is_kept_and_named(config: Path) -> None:
    started = writeback.tuned_values(config)
    config.write_text(config.read_text().replace("    lr: 0.001\n", "    lr: 0.05  # my pick\n"))  # the user, mid-sweep
    done = writeback.write_back_checked(config, WINNERS, started_from=started)
    hyper = load_config(config).training.hyperparameters
    assert hyper["lr"] == 0.05 and "    lr: 0.05  # my pick\n" in config.read_text()
    assert (hyper["batch_size"], hyper["hidden"], hyper["alpha"]) == (64, 128, 2.5e-05)  # the rest went in
    assert done.written and done.kept == ("lr",)
    assert done.note is not None and "kept your value of lr" in done.note and "config.yaml" in done.note


@pytest.mark.unit
def test_with_no_edit_since_the_start_every_winner_goes_in(config: Path) -> None:
    done = writeback.write_back_checked(config, WINNERS, started_from=writeback.tuned_values(config))
    assert done.written and done.kept == () and done.note is None
    assert load_config(config).training.hyperparameters["lr"] == 0.00234568


@pytest.mark.unit
def test_a_read_only_config_is_not_rewritten_and_the_note_says_so(config: Path) -> None:
    before = config.read_bytes()
    config.chmod(0o444)
    try:
        done = writeback.write_back_checked(config, WINNERS)
        assert config.read_bytes() == before and not config.with_name("config.yaml.bak").exists()
        assert not done.written and "+    lr: 0.00234568" in done.diff  # what it would have written
        assert done.note is not None and "read-only" in done.note
    finally:
        config.chmod(0o644)


@pytest.mark.unit
def test_a_config_removed_during_the_sweep_is_a_note_not_a_traceback(config: Path) -> None:
    started = writeback.tuned_values(config)
    config.unlink()
    done = writeback.write_back_checked(config, WINNERS, started_from=started)
    assert not done.written and done.diff == "" and done.note is not None and "gone" in done.note
    assert not config.exists(), "nothing was written in its place"
