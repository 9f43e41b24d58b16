"""A sweep's identity, its generations and the one rule that picks the sweep a flow run drives
(hpo_flow.adapters.lifecycle), the promotion gate, and the code digest's ignore rule."""

from __future__ import annotations

from pathlib import Path

import pytest

from hpo_flow.adapters.code import code_digest
from hpo_flow.adapters.errors import ConfigError, HpoFlowError
from hpo_flow.adapters.lifecycle import Decision, Generation, check_attached, coerce, decide, for_generation, identify
from hpo_flow.adapters.lifecycle import warm_points as best_points
from hpo_flow.adapters.port import Trial, TrialStatus
from hpo_flow.adapters.spec import Objective, load_config
from hpo_flow.tasks.tracking.registry import Holder, decide_promotion, explain
from tests.helpers import config_dict, make_config, write_config

pytestmark = pytest.mark.unit


def _code(tmp_path: Path) -> Path:
    code = tmp_path / "code"
    code.mkdir()
    (code / "train.py").write_text("print('accuracy: 0.5')\n")
    return code


# --------------------------------------------------------------------------- identity


def test_the_sweep_name_covers_the_training_code_but_not_caches_or_the_config(tmp_path: Path) -> None:
    code = _code(tmp_path)
    path = write_config(code / "config.yaml", config_dict({"training.source_dir": str(code)}))
    name = identify(load_config(path), path).sweep_name()

    (code / "__pycache__").mkdir()
    (code / "__pycache__" / "train.cpython-311.pyc").write_bytes(b"\0")
    (code / ".hpo").mkdir()
    path.write_text("# a comment\n" + path.read_text())  # the config sits in source_dir: its text is not code
    assert identify(load_config(path), path).sweep_name() == name

    (code / "train.py").write_text("print('accuracy: 0.6')\n")
    assert identify(load_config(path), path).sweep_name() != name
    assert load_config(path).sweep_name() == make_config({"training.source_dir": str(code)}).sweep_name()


def test_what_runs_write_beside_the_code_does_not_make_a_new_sweep(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A run started from the code folder: its tracking store, SQLite's journal, a log, write-back's
    # backup and lock appear and change as runs go; hashed, a crashed run's successor (or a second
    # trigger) would name a new sweep and pay for it again instead of attaching.
    code = _code(tmp_path)
    monkeypatch.chdir(code)
    data = config_dict({"training.source_dir": ".", "mlflow.tracking_uri": "sqlite:///tracking.db"})
    path = write_config(code / "config.yaml", data)
    name = identify(load_config(path), path).sweep_name()
    for written in ("tracking.db", "tracking.db-journal", "run.log", "config.yaml.bak", "config.yaml.lock"):
        (code / written).write_bytes(b"changing")
    assert identify(load_config(path), path).sweep_name() == name
    (code / "helpers.py").write_text("X = 1\n")  # code is still code
    assert identify(load_config(path), path).sweep_name() != name


def test_the_code_digest_hashes_paths_and_contents(tmp_path: Path) -> None:
    code = _code(tmp_path)
    before = code_digest(code)
    (code / "train.py").rename(code / "main.py")
    assert code_digest(code) != before
    assert code_digest(tmp_path / "missing") == "no-code"


def test_generations_are_named_within_every_backend_limit() -> None:
    config = make_config({"project": "a-rather-long-project-name-for-sagemaker"})
    second = for_generation(config, Decision(2, False, "", ["x"]))
    assert second.sweep_name() == f"{config.sweep_name()}-g2"
    short = second.sweep_name(32)
    assert len(short) <= 32 and short.endswith(f"-{config.config_hash()[:8]}-g2")
    assert second.config_hash() == config.config_hash(), "a generation is the same config"
    fixed = for_generation(make_config({"tuning.sweep_name": "nightly"}), Decision(3, False, "", ["nightly"]))
    assert fixed.sweep_name() == "nightly-g3"


def test_a_config_file_cannot_set_its_own_lineage(tmp_path: Path) -> None:
    path = write_config(tmp_path / "config.yaml", {**config_dict(), "lineage": {"generation": 4}})
    with pytest.raises(ConfigError, match="lineage: is set by hpo-flow"):
        load_config(path)


# --------------------------------------------------------------------------- the rule


def test_the_first_run_is_generation_one() -> None:
    assert decide([]) == Decision(1, False, "the first sweep of this config and training code")


def test_a_running_or_unrecorded_latest_sweep_is_attached_to() -> None:
    history = [Generation(1, "s", True), Generation(2, "s-g2", False)]
    decision = decide(history)
    assert (decision.generation, decision.attach, decision.parents) == (2, True, ["s"])
    assert "attaching to it" in decision.reason


def test_a_recorded_latest_sweep_starts_the_next_generation_with_every_earlier_one_as_parent() -> None:
    history = [Generation(2, "s-g2", True), Generation(1, "s", True)]
    decision = decide(history)
    assert (decision.generation, decision.attach, decision.parents) == (3, False, ["s-g2", "s"])


def test_new_sweep_and_attach_override_the_rule() -> None:
    history = [Generation(1, "s", True), Generation(2, "s-g2", False)]
    forced = decide(history, new_sweep=True)
    assert (forced.generation, forced.parents) == (3, ["s"]), "a sweep still running seeds nothing"
    assert decide(history, attach="s") == Decision(1, True, "--attach s", [])
    assert decide([], attach="s-g4").generation == 4


def test_attach_refuses_a_name_of_another_config() -> None:
    spec = for_generation(make_config(), Decision(2, True, "", ["p"]))
    check_attached(spec.sweep_name(), spec)
    check_attached(spec.sweep_name(32), spec)
    with pytest.raises(HpoFlowError, match="not a sweep of this config"):
        check_attached("other-sweep", spec)


# --------------------------------------------------------------------------- warm start


def _trial(i: int, objective: float | None, lr: str, batch: str, status: TrialStatus = TrialStatus.COMPLETED) -> Trial:
    return Trial(id=f"t{i}", params={"lr": lr, "batch_size": batch}, status=status, objective=objective)


def test_warm_points_are_the_best_distinct_recorded_values_in_their_own_types() -> None:
    config = make_config({"tuning.max_jobs": 9})
    trials = [
        _trial(0, 0.7, "0.01", "32"),
        _trial(1, 0.9, "0.001", "64"),
        _trial(2, 0.9, "0.001", "64"),  # the same values again
        _trial(3, 0.95, "0.5", "64"),  # outside today's range: cannot be tried
        _trial(4, 0.99, "0.02", "16", TrialStatus.FAILED),
        _trial(5, 0.8, "0.05", "16"),
    ]
    assert best_points(trials, config) == [
        {"lr": 0.001, "batch_size": 64},
        {"lr": 0.05, "batch_size": 16},
        {"lr": 0.01, "batch_size": 32},
    ]
    assert len(best_points(trials, make_config({"tuning.max_jobs": 2}))) == 1


def test_coerce_reads_mlflow_text_back_into_the_range() -> None:
    ranges = make_config({"tuning.hyperparameter_ranges.layers": {"type": "integer", "min": 1, "max": 4}})
    r = ranges.tuning.hyperparameter_ranges
    assert coerce("3", r["layers"]) == 3 and coerce("9", r["layers"]) is None
    assert coerce("32", r["batch_size"]) == 32 and coerce("31", r["batch_size"]) is None
    assert coerce("nan", r["lr"]) is None and coerce("0.01", r["lr"]) == 0.01


def test_a_local_study_tries_the_warm_points_first(tmp_path: Path) -> None:
    import optuna

    from hpo_flow.adapters.local.search import suggest_params
    from hpo_flow.adapters.local.warm import WARM_ATTR, enqueue_warm_points

    config = make_config(
        {
            "tuning.hyperparameter_ranges.keep": {
                "type": "continuous",
                "min": 0.5,
                "max": 0.99,
                "scaling_type": "ReverseLogarithmic",
            },
            "tuning.hyperparameter_ranges.noise": {"type": "normal", "mu": 0, "sigma": 1},
        }
    )
    point = {"lr": 0.003, "batch_size": 16, "keep": 0.9, "noise": 0.25}
    spec = for_generation(config, Decision(2, False, "", ["first"]), [point])
    study = optuna.create_study(direction="maximize")
    assert enqueue_warm_points(study, spec) == 1
    trial = study.ask()
    assert trial.user_attrs[WARM_ATTR] == "first"
    drawn = suggest_params(trial, spec)
    assert drawn == pytest.approx(point, rel=1e-6)


# --------------------------------------------------------------------------- promotion gate


@pytest.mark.parametrize(
    ("policy", "objective", "value", "promoted", "why"),
    [
        ("better", Objective.Maximize, 0.95, True, "beats 0.9 of version 1 (higher is better)"),
        ("better", Objective.Maximize, 0.85, False, "does not beat 0.9 of version 1"),
        ("better", Objective.Minimize, 0.85, True, "beats 0.9 of version 1 (lower is better)"),
        ("better", Objective.Maximize, 0.9, False, "does not beat"),  # a tie keeps the holder
        ("always", Objective.Maximize, 0.1, True, "mlflow.promote is always"),
        ("never", Objective.Maximize, 0.99, False, "mlflow.promote is never"),
    ],
)
def test_the_promotion_gate(policy: str, objective: Objective, value: float, promoted: bool, why: str) -> None:
    holder = Holder(version="1", metric="accuracy", objective=0.9, run_id=None)
    verdict = decide_promotion(policy, objective, "accuracy", value, "2", holder, "challenger")
    assert verdict.promoted is promoted and why in explain(verdict, objective, "accuracy", value)
    assert verdict.rule == policy and verdict.compared_version == "1" and verdict.compared_objective == 0.9


def test_the_promotion_gate_edges() -> None:
    first = decide_promotion("better", Objective.Maximize, "accuracy", 0.1, "1", None)  # nobody holds it
    assert first.promoted and first.compared_version is None and first.compared_objective is None
    other = Holder(version="1", metric="loss", objective=0.2, run_id=None)
    apart = decide_promotion("better", Objective.Maximize, "accuracy", 0.1, "2", other)
    assert apart.promoted and apart.compared_version == "1" and apart.compared_objective is None  # not of accuracy
    assert "no recorded accuracy" in explain(apart, Objective.Maximize, "accuracy", 0.1)
    newer = Holder(version="5", metric="accuracy", objective=0.1, run_id=None)
    assert not decide_promotion("always", Objective.Maximize, "accuracy", 0.9, "2", newer).promoted
    itself = Holder(version="2", metric="accuracy", objective=0.9, run_id=None)
    assert decide_promotion("never", Objective.Maximize, "accuracy", 0.9, "2", itself).promoted
