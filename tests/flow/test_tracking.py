"""MLflow review and registry against a real tracking server on loopback (the `mlflow_server` fixture).

One sweep from the FakeAdapter is recorded twice on its way (while a trial runs, then finished),
its best model registered, and then everything is recorded again: the tests read back what a
reviewer would see in the MLflow UI.
"""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from hpo_flow.adapters.port import SweepRef, SweepState, SweepStatus, Trial, TrialStatus, best_trial
from hpo_flow.adapters.spec import HpoConfig
from hpo_flow.tasks.result import SweepResult
from hpo_flow.tasks.tracking import (
    RegisteredModel,
    log_config_diff,
    record_sweep,
    register_best,
)
from tests.fakes import FakeAdapter
from tests.helpers import make_config

pytestmark = pytest.mark.integration

SECRETS = ("hunter2-url-pw", "env-secret-value", "plain-name-secret", "sk-hyper-leak", "pw-in-log")


@dataclass
class Recorded:
    uri: str
    config: HpoConfig
    ref: SweepRef
    state: SweepState
    parent_id: str
    model: RegisteredModel | None
    client: Any
    log_dir: Path


def _config(uri: str, project: str, **overrides: Any) -> HpoConfig:
    return make_config(
        {
            "project": project,
            "mlflow.tracking_uri": uri,
            "tuning.max_jobs": 6,
            "tuning.early_stopping": {"policy": "median", "delay_evaluation": 2},
            "backends.local.storage": "postgresql://hpo:hunter2-url-pw@db.example:5432/hpo",
            "training.environment": {
                "DB_PASSWORD": "env-secret-value",
                "SOME_SETTING": "plain-name-secret",
                "WANDB_KEY": "sk-hyper-leak",
            },
            "training.hyperparameters": {"epochs": 5, "lr": 0.01},
            **overrides,
        }
    )


def _client(uri: str) -> Any:
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def _save_model(target: Path) -> None:
    import mlflow.sklearn
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    x = np.random.RandomState(0).rand(40, 3)
    model = LogisticRegression().fit(x, (x[:, 0] > 0.5).astype(int))
    # Stated requirements: MLflow would otherwise infer them in a subprocess (a minute on a busy machine).
    mlflow.sklearn.save_model(model, str(target), pip_requirements=["scikit-learn"])


@pytest.fixture(scope="module")
def recorded(mlflow_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Recorded]:
    tmp = tmp_path_factory.mktemp("tracking")
    models = tmp / "models"
    config = _config(mlflow_server, "track-proj")
    _save_model(tmp / "model")
    for i in range(6):  # where the fake says each trial's model landed
        shutil.copytree(tmp / "model", models / f"trial-{i}")  # generation 1: no g<N> folder
    log_dir = tmp / "logs"
    log_dir.mkdir()

    adapter = FakeAdapter(per_poll=6, model_dir=models, fail_every=3)  # trials 2 and 5 fail
    ref = adapter.submit(config)
    final = adapter.poll(ref)
    trials = []
    for t in final.trials:
        log = log_dir / f"{t.id}.log"
        log.write_text(  # a trial that echoes its secrets: each one alone, not only inside a URL
            f"epoch 1 accuracy: 0.5\nconnecting to postgresql://u:pw-in-log@db/x\nthis is {t.id}\n"
            "password env-secret-value, key sk-hyper-leak, storage password hunter2-url-pw\n"
        )
        changes: dict[str, Any] = {"log_path": str(log)}
        if t.status == TrialStatus.FAILED:
            changes["failure_reason"] = "exit code 1: could not reach postgresql://u:pw-in-log@db/x"
        if t.id == "trial-4":  # stopped by the median rule after 3 steps
            curve = t.curves["accuracy"][:3]
            changes.update(status=TrialStatus.PRUNED, curves={"accuracy": curve}, objective=curve[-1][1], metrics={})
        trials.append(dataclasses.replace(t, **changes))
    state = SweepState(status=SweepStatus.COMPLETED, trials=trials)

    # First seen while trial-0 is halfway through its curve and nothing else has started.
    first = trials[0]
    running = dataclasses.replace(
        first,
        status=TrialStatus.RUNNING,
        curves={"accuracy": first.curves["accuracy"][:2]},
        metrics={},
        objective=None,
        ended_at=None,
    )
    early_parent = record_sweep(config, ref, SweepState(status=SweepStatus.RUNNING, trials=[running]))
    parent_id = record_sweep(config, ref, state)
    assert parent_id == early_parent
    model = register_best(config, SweepResult.of(config, ref, state), parent_id)
    yield Recorded(mlflow_server, config, ref, state, parent_id, model, _client(mlflow_server), log_dir)


def _children(rec: Recorded) -> dict[str, Any]:
    runs = rec.client.search_runs(
        [rec.client.get_run(rec.parent_id).info.experiment_id], f"tags.`mlflow.parentRunId` = '{rec.parent_id}'"
    )
    return {r.data.tags["hpo.trial_id"]: r for r in runs}


def _artifact_paths(client: Any, run_id: str, path: str | None = None) -> list[str]:
    found = []
    for item in client.list_artifacts(run_id, path):
        found.extend(_artifact_paths(client, run_id, item.path) if item.is_dir else [item.path])
    return found


def test_one_experiment_one_parent_run_with_the_sweep_tags_params_and_best_metric(recorded: Recorded) -> None:
    client, config = recorded.client, recorded.config
    experiment = client.get_experiment_by_name("track-proj")
    assert experiment is not None
    # MLflow 3 opens an experiment of this kind in its runs view, not its GenAI (traces) view
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"
    parents = client.search_runs([experiment.experiment_id], "tags.`hpo.run_kind` = 'sweep'")
    assert [p.info.run_id for p in parents] == [recorded.parent_id]
    parent = parents[0]
    tags, params = parent.data.tags, parent.data.params
    assert tags["hpo.backend"] == "fake"
    assert tags["hpo.sweep_name"] == recorded.ref.name == config.sweep_name()
    assert tags["hpo.cloud_id"] == recorded.ref.cloud_id
    assert tags["hpo.strategy"] == "Random"
    assert tags["hpo.early_stopping"] == "median(evaluation_interval=1, delay_evaluation=2)"
    assert tags["hpo.config_hash"] == config.config_hash()
    assert tags["hpo.sweep_status"] == "COMPLETED"
    assert params["lr.range"] == "loguniform(0.0001, 0.1)"
    assert params["batch_size.range"] == "choice(16, 32, 64)"
    assert params["epochs"] == "5"  # fixed hyperparameters, as the trials received them
    assert "lr" not in params  # tuned: its range is recorded, not the config's current value
    best = best_trial(recorded.state.trials, config.objective)
    assert best is not None
    assert parent.data.metrics["best_accuracy"] == pytest.approx(best.objective)
    assert tags["hpo.best_trial_id"] == best.id
    assert parent.info.status == "FINISHED"
    assert best.id in tags["mlflow.note.content"]


def test_parent_carries_the_review_plots_and_the_redacted_config(recorded: Recorded) -> None:
    paths = _artifact_paths(recorded.client, recorded.parent_id)
    for plot in ("optimization_history", "parallel_coordinates", "param_importances", "learning_curves"):
        png = Path(recorded.client.download_artifacts(recorded.parent_id, f"plots/{plot}.png"))
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
    assert "hpo_config.json" in paths
    html = Path(recorded.client.download_artifacts(recorded.parent_id, "plots/sweep_plots.html")).read_text()
    for plot in ("optimization_history", "parallel_coordinates", "param_importances", "learning_curves"):
        assert f'id="{plot}"' in html


def test_no_logged_artifact_loads_a_script_from_the_network(recorded: Recorded) -> None:
    """Plots must render offline and behind a proxy: plotly.js travels inside the page, once."""
    client = recorded.client
    runs = [recorded.parent_id, *(run.info.run_id for run in _children(recorded).values())]
    pages = [(run_id, p) for run_id in runs for p in _artifact_paths(client, run_id) if p.endswith((".html", ".htm"))]
    assert pages, "no HTML artifact was logged"
    for run_id, path in pages:
        text = Path(client.download_artifacts(run_id, path)).read_text()
        assert not re.search(r"<script[^>]*\bsrc\s*=\s*[\"']?(https?:)?//", text, re.IGNORECASE), path
        assert text.count("plotly.js v") <= 1 and "Plotly.newPlot" in text


def test_one_child_run_per_trial_with_params_curve_status_and_log(recorded: Recorded) -> None:
    children = _children(recorded)
    assert sorted(children) == [f"trial-{i}" for i in range(6)]
    client = recorded.client
    for trial in recorded.state.trials:
        run = children[trial.id]
        assert run.data.tags["mlflow.parentRunId"] == recorded.parent_id
        assert run.data.tags["hpo.trial_status"] == trial.status.value
        assert run.data.params["lr"] == str(trial.params["lr"])
        assert run.data.params["batch_size"] == str(trial.params["batch_size"])
        assert f"logs/{trial.id}.log" in _artifact_paths(client, run.info.run_id)
        history = client.get_metric_history(run.info.run_id, "accuracy") if trial.curves else []
        # trial-0 was recorded while running and again when done: its curve is whole, no step twice
        assert [(m.step, m.value) for m in sorted(history, key=lambda m: m.step)] == [
            (s, pytest.approx(v)) for s, v in trial.curves.get("accuracy", [])
        ]
    assert children["trial-0"].info.status == "FINISHED"
    assert children["trial-4"].info.status == "KILLED"
    assert children["trial-4"].data.tags["hpo.pruned_reason"].startswith("stopped early by the median")
    for failed in ("trial-2", "trial-5"):
        run = children[failed]
        assert run.info.status == "FAILED"
        assert run.data.tags["hpo.trial_status"] == "FAILED"
        assert "exit code 1" in run.data.tags["hpo.failure_reason"]


def test_best_child_is_tagged_and_its_model_registered_with_alias_and_links(recorded: Recorded) -> None:
    client, config, model = recorded.client, recorded.config, recorded.model
    best = best_trial(recorded.state.trials, config.objective)
    assert best is not None and model is not None
    children = _children(recorded)
    assert [t for t, r in children.items() if r.data.tags.get("hpo.best") == "true"] == [best.id]
    assert (model.name, model.alias, model.trial_id) == ("track-proj", "challenger", best.id)
    assert model.objective == pytest.approx(best.objective)
    version = client.get_model_version_by_alias("track-proj", "challenger")
    assert version.version == model.version
    assert version.run_id == children[best.id].info.run_id
    assert version.source == f"runs:/{children[best.id].info.run_id}/model"
    assert version.tags["hpo.sweep_name"] == recorded.ref.name
    assert version.tags["hpo.trial_id"] == best.id
    assert version.tags["hpo.parent_run_id"] == recorded.parent_id
    assert f"{best.objective:.6g}" in version.description


def test_the_registered_model_loads_by_alias_and_predicts(recorded: Recorded, monkeypatch: pytest.MonkeyPatch) -> None:
    import mlflow
    import numpy as np
    from mlflow.tracking._tracking_service.utils import _use_tracking_uri

    # As a user would: point MLflow at the server, load by alias. The registry follows the
    # tracking URI when none is set; the context restores the process's URI for other tests.
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)
    with _use_tracking_uri(recorded.uri):
        assert mlflow.get_registry_uri() == recorded.uri
        loaded = mlflow.pyfunc.load_model("models:/track-proj@challenger")
        predictions = loaded.predict(np.array([[0.9, 0.1, 0.1], [0.1, 0.5, 0.5]]))
    assert list(predictions) == [1, 0]


def test_recording_and_registering_again_adds_nothing(recorded: Recorded) -> None:
    client = recorded.client
    experiment_id = client.get_run(recorded.parent_id).info.experiment_id

    def snapshot() -> tuple[Any, ...]:
        runs = client.search_runs([experiment_id], "")
        versions = client.search_model_versions("name = 'track-proj'")
        points = sum(len(client.get_metric_history(r.info.run_id, "accuracy")) for r in runs)
        return len(runs), len(versions), points, sorted(len(r.data.params) for r in runs)

    before = snapshot()
    assert record_sweep(recorded.config, recorded.ref, recorded.state) == recorded.parent_id
    again = register_best(
        recorded.config, SweepResult.of(recorded.config, recorded.ref, recorded.state), recorded.parent_id
    )
    assert again == recorded.model
    assert snapshot() == before
    assert before[:2] == (7, 1)


def test_no_secret_reaches_params_tags_notes_artifacts_or_the_registry(recorded: Recorded) -> None:
    client = recorded.client
    experiment_id = client.get_run(recorded.parent_id).info.experiment_id
    seen: list[str] = []
    for run in client.search_runs([experiment_id], ""):
        seen += [f"{k}={v}" for k, v in {**run.data.params, **run.data.tags}.items()]
        for path in _artifact_paths(client, run.info.run_id):
            if path.endswith((".json", ".log", ".diff", ".md")):
                seen.append(Path(client.download_artifacts(run.info.run_id, path)).read_text())
    for version in client.search_model_versions("name = 'track-proj'"):
        seen += [version.description or "", json.dumps(version.tags)]
    text = "\n".join(seen)
    assert "password ***, key ***, storage password ***" in text  # the trial's log is uploaded, masked
    leaks = [s for s in SECRETS if s in text]
    assert not leaks, f"secrets found in MLflow: {leaks}"
    snapshot = json.loads(Path(client.download_artifacts(recorded.parent_id, "hpo_config.json")).read_text())
    assert snapshot["training"]["environment"] == {"DB_PASSWORD": "***", "SOME_SETTING": "***", "WANDB_KEY": "***"}


def test_config_diff_is_attached_to_the_parent_run_redacted(recorded: Recorded) -> None:
    diff = "--- a/config.yaml\n+++ b/config.yaml\n@@ -1,2 +1,2 @@\n-  lr: 0.001\n+  lr: 0.002\n   api_token: abc123\n"
    log_config_diff(recorded.parent_id, diff, tracking_uri=recorded.uri)
    text = Path(recorded.client.download_artifacts(recorded.parent_id, "config/config.diff")).read_text()
    assert "+  lr: 0.002" in text and "abc123" not in text and "api_token: ***" in text
    assert recorded.client.get_run(recorded.parent_id).data.tags["hpo.config_diff"] == "config/config.diff"


def test_batches_beyond_mlflow_limits_arrive_whole(mlflow_server: str) -> None:
    config = _config(mlflow_server, "chunky-proj")
    params = {f"p{i:03d}": i for i in range(150)}  # > 100 params per call
    curve = [(step, step / 2500) for step in range(2500)]  # > 1000 metrics per call
    trial = Trial(id="big", params=params, status=TrialStatus.RUNNING, curves={"accuracy": curve})
    ref = SweepRef(backend="fake", name="chunky")
    parent = record_sweep(config, ref, SweepState(status=SweepStatus.RUNNING, trials=[trial]))
    client = _client(mlflow_server)
    (child,) = client.search_runs([client.get_run(parent).info.experiment_id], "tags.`hpo.trial_id` = 'big'")
    assert len(child.data.params) == 150
    assert len(client.get_metric_history(child.info.run_id, "accuracy")) == 2500
    assert child.info.status == "RUNNING"


def test_a_cloud_model_uri_becomes_the_version_source(mlflow_server: str) -> None:
    config = _config(mlflow_server, "cloud-proj", **{"mlflow.registered_model": "cloud-model"})
    adapter = FakeAdapter(per_poll=6)
    ref = adapter.submit(config)
    state = adapter.poll(ref)
    best = best_trial(state.trials, config.objective)
    assert best is not None
    uri = f"s3://models-bucket/sweeps/{best.id}/output/model.tar.gz"
    trials = [dataclasses.replace(t, model_uri=uri) if t.id == best.id else t for t in state.trials]
    state = SweepState(status=state.status, trials=trials)
    parent = record_sweep(config, ref, state)
    model = register_best(config, SweepResult.of(config, ref, state), parent)
    assert model is not None and model.source == uri
    version = _client(mlflow_server).get_model_version_by_alias("cloud-model", "challenger")
    assert version.source == uri and version.tags["hpo.trial_id"] == best.id


def test_no_successful_trial_records_the_failures_and_registers_nothing(mlflow_server: str) -> None:
    config = _config(mlflow_server, "failing-proj", **{"tuning.max_jobs": 2})
    adapter = FakeAdapter(per_poll=2, fail_every=1)
    ref = adapter.submit(config)
    state = adapter.poll(ref)
    parent = record_sweep(config, ref, state)
    assert register_best(config, SweepResult.of(config, ref, state), parent) is None
    client = _client(mlflow_server)
    assert client.search_registered_models("name = 'failing-proj'") == []
    run = client.get_run(parent)
    assert "best_accuracy" not in run.data.metrics
    assert "No trial has produced an objective yet." in run.data.tags["mlflow.note.content"]
    notes = Path(client.download_artifacts(parent, "plots/NOTES.md")).read_text()
    assert "no completed trial" in notes


def test_ranges_read_as_people_write_them() -> None:
    config = make_config(
        {
            "tuning.hyperparameter_ranges": {
                "a": {"type": "qloguniform", "min": 0.001, "max": 1, "q": 0.001},
                "b": {"type": "integer", "min": 1, "max": 9, "step": 2},
                "c": {"type": "normal", "mu": 0, "sigma": 1.5},
                "d": {"type": "choice", "values": ["relu", "tanh", True]},
                "e": {"type": "continuous", "min": 0, "max": 0.99, "scaling_type": "ReverseLogarithmic"},
            }
        }
    )
    r = config.tuning.hyperparameter_ranges
    assert r["a"].describe() == "qloguniform(0.001, 1, q=0.001)"
    assert r["b"].describe() == "integer(1, 9, step=2)"
    assert r["c"].describe() == "normal(0, 1.5)"
    assert r["d"].describe() == "choice('relu', 'tanh', True)"
    assert r["e"].describe() == "reverse_loguniform(0, 0.99)"


def test_plots_skip_importances_with_a_note_when_one_trial_finished(tmp_path: Path) -> None:
    from hpo_flow.tasks.plots import write_plots

    config = make_config()
    adapter = FakeAdapter(per_poll=1)
    ref = adapter.submit(config)
    trials = adapter.poll(ref).trials
    plots = write_plots(trials, config.objective, "accuracy", tmp_path, config.tuning.hyperparameter_ranges)
    assert sorted(p.name for p in plots.files) == [
        "learning_curves.png",
        "optimization_history.png",
        "parallel_coordinates.png",
        "sweep_plots.html",
    ]
    assert any("at least 2 completed trials" in n for n in plots.notes)


def test_a_failed_sweep_records_no_best_trial_and_registers_nothing(mlflow_server: str, tmp_path: Path) -> None:
    """The result is computed before recording: a FAILED sweep with completed trials has no winner, in
    the result and in MLflow, even where a record made while it ran had marked one."""
    from hpo_flow.tasks.tracking import record_result
    from hpo_flow.tasks.tracking.schema import BEST

    config = _config(mlflow_server, "failed-proj", **{"tuning.max_jobs": 4})
    adapter = FakeAdapter(per_poll=4, model_dir=tmp_path, fail_every=2)  # t0, t2 complete; t1, t3 fail
    ref = adapter.submit(config)
    trials = adapter.poll(ref).trials
    assert best_trial(trials, config.objective) is not None  # there would be a winner by objective alone
    running = record_sweep(config, ref, SweepState(status=SweepStatus.RUNNING, trials=trials[:1]), plots=False)

    result = SweepResult.of(config, ref, SweepState(status=SweepStatus.FAILED, trials=trials, message="quota"))
    assert result.best is None
    parent_id = record_result(config, result, plots=False)
    assert parent_id == running

    client = _client(mlflow_server)
    parent = client.get_run(parent_id)
    assert parent.data.tags["hpo.sweep_status"] == "FAILED"
    assert "hpo.best_trial_id" not in parent.data.tags  # the running record's best is taken back
    # (the best_accuracy metric the running record logged stays: MLflow cannot delete a metric)
    children = client.search_runs([parent.info.experiment_id], f"tags.mlflow.parentRunId = '{parent_id}'")
    assert len(children) == 4 and not [c for c in children if c.data.tags.get(BEST) == "true"]
    assert register_best(config, result, parent_id) is None
    assert not client.search_model_versions(f"name = '{config.registered_model_name}'")


def _one_trial_sweep(config: HpoConfig, name: str, objective: float) -> tuple[SweepResult, str]:
    trial = Trial(
        id="t0",
        params={"lr": 0.01},
        status=TrialStatus.COMPLETED,
        objective=objective,
        metrics={"accuracy": objective},
        model_uri=f"s3://models-bucket/{name}/model.tar.gz",
    )
    result = SweepResult.of(config, SweepRef(backend="fake", name=name), SweepState(SweepStatus.COMPLETED, [trial]))
    return result, record_sweep(config, result.ref, result.state)


def test_the_promotion_verdict_is_stored_as_data_and_an_old_objective_tag_still_compares(mlflow_server: str) -> None:
    """The verdict is in tags of fixed values on the version and read back from them; a holder
    registered by an earlier release, whose `hpo.objective` is `metric=value`, is still compared with."""
    from hpo_flow.tasks.tracking.schema import PromotionBasis, PromotionVerdict

    config = _config(mlflow_server, "verdict-proj", **{"mlflow.registered_model": "verdict-model"})
    client = _client(mlflow_server)
    first, first_parent = _one_trial_sweep(config, "verdict-a", 0.9)
    one = register_best(config, first, first_parent)
    assert one is not None and one.promoted and one.version == "1"
    tags = client.get_model_version("verdict-model", "1").tags
    assert tags["hpo.objective"] == "0.9" and tags["hpo.objective_metric"] == "accuracy"
    assert tags["hpo.promoted"] == "true" and tags["hpo.promotion_rule"] == "better"
    assert tags["hpo.promotion_basis"] == "no_holder" and tags["hpo.promotion_alias"] == "challenger"
    assert "hpo.compared_version" not in tags and "hpo.compared_objective" not in tags
    assert PromotionVerdict.from_tags(tags) == one.verdict

    # Version 1 as an earlier release left it: the objective as `metric=value`, the verdict in words only.
    newer = ("hpo.objective_metric", "hpo.objective_type", "hpo.promoted", "hpo.promotion_rule", "hpo.promotion_basis")
    for key in (*newer, "hpo.promotion_alias"):
        client.delete_model_version_tag("verdict-model", "1", key)
    client.set_model_version_tag("verdict-model", "1", "hpo.objective", "accuracy=0.9")
    client.set_model_version_tag("verdict-model", "1", "hpo.promotion", "Promoted to @challenger: it was best.")

    second, parent = _one_trial_sweep(config, "verdict-b", 0.8)
    two = register_best(config, second, parent)
    assert two is not None and not two.promoted and two.alias_version == "1"
    assert "does not beat 0.9 of version 1" in two.reason
    tags = client.get_model_version("verdict-model", "2").tags
    assert tags["hpo.promoted"] == "false" and tags["hpo.promotion_basis"] == "does_not_beat"
    assert (tags["hpo.compared_version"], tags["hpo.compared_objective"]) == ("1", "0.9")
    assert PromotionVerdict.from_tags(tags) == two.verdict
    assert two.verdict == PromotionVerdict(False, "better", PromotionBasis.DOES_NOT_BEAT, "challenger", "1", 0.9)

    # A re-run of the first sweep keeps the alias; its verdict is decided again from data, never read from the words.
    again = register_best(config, first, first_parent)
    assert again is not None and again.promoted and again.verdict is not None
    assert again.verdict.basis == PromotionBasis.HOLDS_ALREADY
    assert client.get_model_version("verdict-model", "1").tags["hpo.promotion_basis"] == "holds_already"
    assert client.get_model_version_by_alias("verdict-model", "challenger").version == "1"
