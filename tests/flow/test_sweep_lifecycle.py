"""A sweep's life through the flow (issue 9), on the fake adapter with Prefect's harness and a real
MLflow server: what names a new sweep and what does not (check 3), the promotion gate (check 4),
and the choices a user makes by hand (--new-sweep, --attach)."""

from __future__ import annotations

import dataclasses
import io
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from hpo_flow.adapters.errors import HpoFlowError
from hpo_flow.adapters.port import Trial
from hpo_flow.adapters.registry import registered
from hpo_flow.cli.run import EXIT_OK, run_from_cli
from tests.fakes import FakeAdapter, _Sweep
from tests.flow import flow_contract
from tests.flow.flow_contract import HEADER, _artifacts, _client, _runs, _versions, first_generation
from tests.flow.trial_script import save_model
from tests.helpers import config_dict, in_process_backend

pytestmark = pytest.mark.integration


class Declining(FakeAdapter):
    """The fake with an MLflow model per trial, whose later generations score half of what the first
    did: their best never beats the version the first generation promoted."""

    def _trial(self, sweep: _Sweep, index: int) -> Trial:
        trial = super()._trial(sweep, index)
        if trial.objective is not None and sweep.spec.generation > 1:
            halved = trial.objective / 2
            metric = sweep.spec.tuning.objective_metric
            trial = dataclasses.replace(
                trial,
                objective=halved,
                metrics={metric: halved},
                curves={metric: [(s, v / 2) for s, v in trial.curves[metric]]},
            )
        if trial.model_uri and trial.objective is not None:
            save_model(Path(trial.model_uri), trial.objective)
        return trial


@pytest.fixture(autouse=True)
def _prefect(prefect_harness: None) -> None:
    """Every test here runs its flows against Prefect's test harness."""


@pytest.fixture
def fake(tmp_path: Path) -> Iterator[Declining]:
    adapter = Declining(per_poll=2, model_dir=tmp_path / "models")
    with registered(in_process_backend("fake", adapter)):
        yield adapter


@pytest.fixture
def config_path(tmp_path: Path, mlflow_server: str, request: pytest.FixtureRequest) -> Path:
    unique = f"{request.node.name.removeprefix('test_')[:30]}-{time.time_ns() % 10**8}".replace("_", "-")
    code = tmp_path / "code"
    code.mkdir()
    (code / "train.py").write_text("print('accuracy: 0.5')\n")
    data = config_dict(
        {
            "project": f"life-{unique}"[:63],
            "training.source_dir": str(code),
            "tuning.max_jobs": 4,
            "tuning.poll_interval_seconds": 0.05,
            "tuning.update_config": True,
            "mlflow": {"tracking_uri": mlflow_server},
        }
    )
    path = tmp_path / "config.yaml"
    path.write_text(HEADER + yaml.safe_dump(data, sort_keys=False))
    return path


def run(config_path: Path, **kwargs: Any) -> Any:
    from hpo_flow.flows.hpo_sweep import hpo_sweep

    return hpo_sweep(config_path=str(config_path), backend="fake", **kwargs)


def test_an_edited_training_script_names_a_new_sweep_and_an_edited_comment_does_not(
    config_path: Path, fake: Declining
) -> None:
    """Issue 9, check 3."""
    first = run(config_path)
    config_path.write_text(config_path.read_text().replace(HEADER, "# reviewed by the on-call engineer\n"))
    second = run(config_path)
    assert second.sweep == f"{first.sweep}-g2", "a comment is no new config: the same sweep's next generation"

    script = Path(yaml.safe_load(config_path.read_text())["training"]["source_dir"]) / "train.py"
    script.write_text("print('accuracy: 0.6')  # a better model\n")
    third = run(config_path)
    assert third.generation == 1 and third.sweep not in (first.sweep, second.sweep)
    assert third.sweep.rsplit("-", 1)[0] == first.sweep.rsplit("-", 1)[0], "same base name, another hash"
    assert "first sweep of this config and training code" in (third.sweep_choice or "")
    assert len(fake.sweeps) == 3


def test_a_worse_second_sweep_leaves_the_alias_and_the_config_and_says_so(
    config_path: Path, fake: Declining, mlflow_server: str
) -> None:
    """Issue 9, check 4: every best is registered, the alias moves only to a better one, write-back
    follows the alias, and the outcome, the Prefect summary and the MLflow description say why."""
    first = run(config_path)
    assert first.promoted and first.model_version == "1" and first.config_written
    after_first = config_path.read_text()

    second = run(config_path)
    assert second.generation == 2 and second.best_objective < first.best_objective
    assert second.model_version == "2" and second.promoted is False and second.alias_version == "1"
    assert "does not beat" in second.promotion and "mlflow.promote is better" in second.promotion
    assert config_path.read_text() == after_first and not second.config_written and second.diff == ""

    config = first_generation(config_path)
    assert [v.version for v in _versions(mlflow_server, config.registered_model_name)] == ["1", "2"]
    client = _client(mlflow_server)
    assert client.get_model_version_by_alias(config.registered_model_name, "challenger").version == "1"
    version = client.get_model_version(config.registered_model_name, "2")
    assert version.tags["hpo.promotion"].startswith("Not promoted to @challenger: accuracy")
    assert "Not promoted to @challenger" in version.description

    summary = _artifacts(second.sweep)["summary"].data
    assert "**Not promoted**" in summary and "`@challenger` is version 1" in summary
    assert "The config already holds the values of @challenger's version." in summary
    parent = client.get_run(second.parent_run_id)
    assert (
        "**Promotion**: version 2 registered, @challenger stays on version 1" in parent.data.tags["mlflow.note.content"]
    )

    out = io.StringIO()
    assert run_from_cli(str(config_path), backend="fake", new_sweep=True, out=out) == EXIT_OK
    assert "not promoted: version 3 registered, @challenger stays on version 1" in out.getvalue()


def test_promote_always_moves_the_alias_and_the_config_follows(config_path: Path, fake: Declining) -> None:
    data = yaml.safe_load(config_path.read_text())
    data["mlflow"]["promote"] = "always"
    config_path.write_text(yaml.safe_dump(data, sort_keys=False))
    first = run(config_path)
    second = run(config_path)
    assert second.promoted and second.alias_version == "2" and "mlflow.promote is always" in second.promotion
    written = yaml.safe_load(config_path.read_text())["training"]["hyperparameters"]
    assert written["batch_size"] == second.best_params["batch_size"]
    assert first.promoted and first.alias_version == "1"


def test_new_sweep_starts_a_generation_and_attach_names_one(config_path: Path, fake: Declining) -> None:
    first = run(config_path)
    forced = run(config_path, new_sweep=True)
    assert forced.sweep == f"{first.sweep}-g2" and "--new-sweep" in (forced.sweep_choice or "")
    again = run(config_path, attach=first.sweep)
    assert again.sweep == first.sweep and again.generation == 1 and len(fake.sweeps) == 2
    with pytest.raises(HpoFlowError, match="not a sweep of this config"):
        run(config_path, attach="someone-elses-sweep")
    assert len(fake.sweeps) == 2, "a refused --attach starts nothing"


def test_a_run_that_died_before_recording_is_attached_to_not_paid_twice(
    config_path: Path, fake: Declining, mlflow_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A flow that recorded its sweep but died before closing the record (the crash or retry case):
    the next run attaches to that sweep instead of starting the next generation."""
    import hpo_flow.flows.hpo_sweep

    def die(*args: Any, **kwargs: Any) -> None:
        raise flow_contract.FlowKilled("killed before the record was closed")

    monkeypatch.setattr(hpo_flow.flows.hpo_sweep, "mark_recorded_task", die)
    with pytest.raises(flow_contract.FlowKilled):
        run(config_path)
    monkeypatch.undo()
    again = run(config_path)
    assert again.generation == 1 and "attaching to it" in (again.sweep_choice or "")
    assert len(fake.sweeps) == 1 and fake.submits == 2
    config = first_generation(config_path)
    parents = [r for r in _runs(mlflow_server, config.experiment_name) if "mlflow.parentRunId" not in r.data.tags]
    assert len(parents) == 1 and parents[0].data.tags["hpo.recorded"] == "true"
