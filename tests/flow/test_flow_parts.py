"""The flow's pure parts, without Prefect running: trial lines, the ranked table, the summary,
redaction, the CLI's report and its exit codes for configs that cannot run."""

from __future__ import annotations

import io
import logging
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hpo_flow.adapters.errors import ConfigError
from hpo_flow.adapters.port import SweepRef, SweepState, SweepStatus, Trial, TrialStatus
from hpo_flow.adapters.registry import registered
from hpo_flow.cli.run import EXIT_BAD_CONFIG, print_outcome, run_from_cli
from hpo_flow.flows.hpo_sweep import SweepOutcome
from hpo_flow.tasks.artifacts import artifact_key, summary_markdown, trials_table
from hpo_flow.tasks.result import SweepResult
from hpo_flow.tasks.runlog import RedactingLogger
from hpo_flow.tasks.sweep import describe_trial
from tests.helpers import ProcessesStarted, config_dict, in_process_backend, make_config, write_config

pytestmark = pytest.mark.unit

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _trial(i: int, status: TrialStatus, objective: float | None, reason: str | None = None) -> Trial:
    return Trial(
        id=f"t{i}",
        params={"lr": 0.01 * (i + 1), "batch_size": 16 * (i + 1)},
        status=status,
        objective=objective,
        started_at=T0,
        ended_at=T0 + timedelta(seconds=10 * (i + 1)),
        failure_reason=reason,
    )


STATE = SweepState(
    status=SweepStatus.COMPLETED,
    trials=[
        _trial(0, TrialStatus.COMPLETED, 0.80),
        _trial(1, TrialStatus.FAILED, None, "exit code 1: postgresql://bob:hunter2@db/x unreachable"),
        _trial(2, TrialStatus.PRUNED, 0.70, "pruned at step 3"),
        _trial(3, TrialStatus.COMPLETED, 0.90),
    ],
)
REF = SweepRef(backend="fake", name="Unit-Proj-1234abcd", cloud_id="fake://x")


def test_trials_table_ranks_by_the_objective_and_shows_every_trial() -> None:
    rows = trials_table(make_config(), STATE)
    assert [r["trial"] for r in rows] == ["t3", "t0", "t2", "t1"]
    assert [r["rank"] for r in rows] == [1, 2, 3, None]
    assert rows[0] == {
        "rank": 1,
        "trial": "t3",
        "status": "COMPLETED",
        "accuracy": 0.90,
        "lr": 0.04,
        "batch_size": 64,
        "seconds": 40.0,
        "note": None,
    }
    assert rows[-1]["note"] == "exit code 1: postgresql://bob:***@db/x unreachable"


def test_minimize_ranks_the_lowest_first() -> None:
    rows = trials_table(make_config({"tuning.objective_type": "Minimize"}), STATE)
    assert [r["trial"] for r in rows] == ["t2", "t0", "t3", "t1"]


def test_summary_names_the_winner_its_values_the_model_and_the_diff() -> None:
    from hpo_flow.tasks.tracking import RegisteredModel

    model = RegisteredModel(
        name="unit-proj", version="3", alias="challenger", source="/m", trial_id="t3", objective=0.9
    )
    diff = "--- a/config.yaml\n+++ b/config.yaml\n-  lr: 0.01\n+  lr: 0.04\n"
    result = SweepResult.of(make_config(), REF, STATE)
    text = summary_markdown(make_config(), replace(result, model=model, diff=diff, written=True), "config.yaml")
    assert "## Winner: trial `t3`" in text
    assert "**accuracy = 0.9**" in text
    assert "| lr | `0.04` |" in text and "| batch_size | `64` |" in text
    assert 'mlflow.pyfunc.load_model("models:/unit-proj@challenger")' in text
    assert "## Config diff: config.yaml updated" in text
    assert "```diff\n--- a/config.yaml\n+++ b/config.yaml\n-  lr: 0.01\n+  lr: 0.04\n```" in text
    assert "| trials | 4 (2 completed, 1 failed, 1 pruned) |" in text


def test_a_model_pyfunc_cannot_load_gets_the_line_that_fetches_its_files() -> None:
    """A cloud model registered by its archive's URI (SageMaker's model.tar.gz holding no MLmodel):
    the printed line fetches the files and says why, instead of a load_model that fails."""
    from hpo_flow.tasks.tracking import RegisteredModel

    model = RegisteredModel(
        name="unit-proj", version="1", alias="challenger", source="s3://b/m/model.tar.gz", trial_id="t1", objective=0.9
    )
    assert model.load_hint == 'mlflow.pyfunc.load_model("models:/unit-proj@challenger")'  # not known: the usual line
    unloadable = replace(model, loadable=False)
    assert unloadable.load_hint.startswith('mlflow.artifacts.download_artifacts("models:/unit-proj@challenger")')
    assert "no MLmodel" in unloadable.load_hint
    assert replace(unloadable, promoted=False).load_hint.startswith("mlflow.pyfunc.load_model(")  # @alias is another's


def test_summary_without_a_winner_says_so() -> None:
    failed = SweepState(status=SweepStatus.FAILED, trials=[_trial(1, TrialStatus.FAILED, None, "boom")], message="x")
    text = summary_markdown(make_config(), SweepResult.of(make_config(), REF, failed), "config.yaml")
    assert "## No winner" in text and "Config diff" not in text and "| status | FAILED (x) |" in text


def test_a_failed_sweep_with_a_scored_trial_claims_no_winner() -> None:
    """The backend's FAILED verdict wins over a trial that scored: nothing registered, nothing written."""
    failed = SweepState(status=SweepStatus.FAILED, trials=STATE.trials, message="quota exceeded")
    result = SweepResult.of(make_config(), REF, failed)
    assert result.best is None
    text = summary_markdown(make_config(), result, "config.yaml")
    assert "## No winner" in text and "Winner:" not in text and "already holds" not in text
    assert "nothing was registered and the config was not changed" in text


def test_a_summary_of_a_kept_alias_says_so_and_why() -> None:
    from hpo_flow.tasks.tracking import RegisteredModel

    model = RegisteredModel(
        name="unit-proj",
        version="4",
        alias="challenger",
        source="/m",
        trial_id="t3",
        objective=0.9,
        promoted=False,
        reason="accuracy 0.9 does not beat 0.95 of version 3 (higher is better; mlflow.promote is better)",
        alias_version="3",
    )
    result = replace(SweepResult.of(make_config(), REF, STATE), model=model)
    text = summary_markdown(make_config(), result, "config.yaml")
    assert "**Not promoted**: version 4 registered, @challenger stays on version 3: accuracy 0.9 does not beat" in text
    assert "`@challenger` is version 3" in text
    assert "The config already holds the values of @challenger's version." in text


def test_artifact_keys_are_what_prefect_accepts() -> None:
    assert artifact_key("Digits_HPO.v2-1a2b", "trials") == "digits-hpo-v2-1a2b-trials"


def test_a_trial_line_has_status_objective_values_and_masks_secrets() -> None:
    trial = Trial(
        id="trial-7",
        params={"lr": 0.000123456789, "api_key": "abc", "dsn": "postgresql://u:pw@h/db"},
        status=TrialStatus.PRUNED,
        objective=0.5,
        failure_reason="pruned at step 2",
    )
    line = describe_trial(trial, "accuracy")
    assert (
        line
        == "trial trial-7 PRUNED (pruned at step 2): accuracy=0.5 [lr=0.000123457, api_key=***, dsn=postgresql://u:***@h/db]"
    )
    failed = describe_trial(_trial(1, TrialStatus.FAILED, None, "exit code 1"), "loss")
    assert failed.startswith("trial t1 FAILED (exit code 1): no loss [")


def test_the_run_logger_masks_secrets_in_the_message_and_its_arguments(caplog: pytest.LogCaptureFixture) -> None:
    log = RedactingLogger(logging.getLogger("test.redact"), {})
    with caplog.at_level(logging.INFO, logger="test.redact"):
        log.info("storage %s", "postgresql://bob:hunter2@db:5432/optuna")
        log.warning("inline postgresql://bob:hunter2@db/x and %(n)d", {"n": 3})
    assert [r.getMessage() for r in caplog.records] == [
        "storage postgresql://bob:***@db:5432/optuna",
        "inline postgresql://bob:***@db/x and 3",
    ]


def _outcome(**changes: object) -> SweepOutcome:
    base = dict(
        config_path="config.yaml",
        status="COMPLETED",
        sweep="digits-hpo-1234abcd",
        backend="local",
        trials=4,
        trial_counts="3 completed, 1 pruned",
        objective_metric="accuracy",
        best_trial="trial-2",
        best_objective=0.9722,
        best_params={"lr": 0.0031, "batch_size": 32},
        tracking_uri="sqlite:///mlflow.db",
        experiment="digits-mlp",
        model_name="digits-mlp",
        model_version="2",
        model_alias="challenger",
        promoted=True,
        promotion="version 2 holds @challenger: accuracy 0.9722 beats 0.95 of version 1 (higher is better)",
        alias_version="2",
        diff="-  lr: 0.001\n+  lr: 0.0031\n",
        config_written=True,
    )
    base.update(changes)
    return SweepOutcome(**base)  # type: ignore[arg-type]


def test_the_report_says_where_to_look() -> None:
    out = io.StringIO()
    print_outcome(_outcome(), dry_run=False, out=out)
    text = out.getvalue()
    assert f"mlflow ui --backend-store-uri sqlite:///{Path('mlflow.db').resolve()}" in text
    assert "digits-mlp version 2 registered" in text
    assert "promoted: version 2 holds @challenger: accuracy 0.9722 beats 0.95 of version 1" in text
    assert 'mlflow.pyfunc.load_model("models:/digits-mlp@challenger")' in text
    assert "config.yaml updated with the winning values:\n    -  lr: 0.001\n    +  lr: 0.0031" in text


def test_the_report_of_a_kept_alias_says_the_config_follows_it() -> None:
    out = io.StringIO()
    kept = "version 2 registered, @challenger stays on version 1: accuracy 0.9 does not beat 0.95 of version 1"
    print_outcome(_outcome(promoted=False, promotion=kept, alias_version="1", diff=""), dry_run=False, out=out)
    text = out.getvalue()
    assert f"not promoted: {kept}" in text
    assert "config.yaml already holds the values of @challenger" in text


def test_the_report_of_a_dry_run_shows_the_diff_it_did_not_write() -> None:
    out = io.StringIO()
    print_outcome(_outcome(config_written=False, tracking_uri="http://127.0.0.1:5000"), dry_run=True, out=out)
    text = out.getvalue()
    assert "open http://127.0.0.1:5000" in text
    assert "config.yaml not changed (--dry-run); write-back would make this change:" in text


def test_a_bad_config_exits_2_before_prefect_starts(tmp_path: Path) -> None:
    from hpo_flow.adapters.errors import ConfigError

    path = write_config(tmp_path / "config.yaml", config_dict({"tuning.max_jobs": 0}))
    with pytest.raises(ConfigError, match=r"tuning\.max_jobs"):  # hpo_flow.cli turns it into exit 2
        run_from_cli(str(path))
    from hpo_flow.cli import main

    assert main(["run", str(path)]) == EXIT_BAD_CONFIG


class _Unplannable:
    backend = "unplannable"

    def plan(self, spec: object) -> dict[str, object]:
        from hpo_flow.adapters.errors import PlanError, Problem

        raise PlanError(self.backend, [Problem("tuning.strategy", "Bayesian", "not offered here; use Random")])


def _prefect_servers(started: list[list[str]]) -> list[list[str]]:
    return [argv for argv in started if any("prefect" in part or "server_process" in part for part in argv)]


def test_a_sweep_the_backend_cannot_express_exits_2_before_prefect_starts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_config(tmp_path / "config.yaml", config_dict())
    with registered(in_process_backend("unplannable", _Unplannable)), ProcessesStarted() as started:
        assert run_from_cli(str(path), backend="unplannable") == EXIT_BAD_CONFIG
    assert "tuning.strategy: 'Bayesian': not offered here; use Random" in capsys.readouterr().err
    assert _prefect_servers(started) == []


def test_a_config_that_fails_validation_starts_no_prefect(tmp_path: Path) -> None:
    path = write_config(tmp_path / "config.yaml", config_dict({"tuning.max_jobs": 0}))
    with ProcessesStarted() as started, pytest.raises(ConfigError):
        run_from_cli(str(path))
    assert _prefect_servers(started) == []


def test_a_disabled_config_runs_no_sweep_and_starts_no_prefect(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PREFECT_API_URL", raising=False)  # what a terminal has: run would start its own server
    path = write_config(tmp_path / "config.yaml", config_dict({"tuning.enabled": False}))
    out = io.StringIO()
    with ProcessesStarted() as started:
        assert run_from_cli(str(path), out=out) == 0
    assert "tuning.enabled is false; no sweep was run" in out.getvalue()
    assert _prefect_servers(started) == []
