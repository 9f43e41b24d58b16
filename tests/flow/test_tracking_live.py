"""Recording while the sweep runs, against an embedded SQLite MLflow store (the demo's default):
what this process wrote is not read back, yet what another writer did is never overwritten or
doubled; the experiment opens as model training; the plots a reviewer opens render offline and
stay readable with many trials."""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from hpo_flow.adapters.port import SweepRef, SweepState, SweepStatus, Trial, TrialStatus
from hpo_flow.adapters.spec import HpoConfig, Objective
from hpo_flow.tasks.plots import CURVES, PAGE, write_plots
from hpo_flow.tasks.tracking import record_sweep
from hpo_flow.tasks.tracking.live import LiveRecorder
from hpo_flow.tasks.tracking.schema import RECORDER
from hpo_flow.tasks.tracking.store import client_for, ensure_experiment, runs_view_path
from tests.helpers import make_config

# Marked test by test: most are integration, and a few are unit (a module mark would make them both).

START = datetime(2026, 1, 1, tzinfo=UTC)


def _config(tmp_path: Path, max_jobs: int = 4) -> HpoConfig:
    return make_config({"mlflow.tracking_uri": f"sqlite:///{tmp_path / 'mlflow.db'}", "tuning.max_jobs": max_jobs})


def _trial(i: int, steps: int = 5, status: TrialStatus = TrialStatus.COMPLETED) -> Trial:
    curve = [(s, 0.5 + 0.01 * i + 0.02 * s) for s in range(steps)]
    done = status.is_terminal
    return Trial(
        id=f"trial-{i}",
        params={"lr": 0.001 * (i + 1), "batch_size": 32},
        status=status,
        objective=curve[-1][1] if done else None,
        metrics={"accuracy": curve[-1][1]} if done else {},
        curves={"accuracy": curve},
        started_at=START + timedelta(minutes=i),
        ended_at=START + timedelta(minutes=i + 1) if done else None,
    )


def _children(client: Any, parent_id: str) -> dict[str, Any]:
    experiment = client.get_run(parent_id).info.experiment_id
    runs = client.search_runs([experiment], f"tags.`mlflow.parentRunId` = '{parent_id}'")
    return {r.data.tags["hpo.trial_id"]: r for r in runs}


def _steps(client: Any, run_id: str) -> list[int]:
    return sorted(m.step for m in client.get_metric_history(run_id, "accuracy"))


@pytest.mark.integration
def test_a_sweep_recorded_poll_by_poll_has_one_run_per_trial_and_each_step_once(tmp_path: Path) -> None:
    config, ref = _config(tmp_path), SweepRef(backend="fake", name="poll-by-poll")
    running = dataclasses.replace(_trial(0, steps=2, status=TrialStatus.RUNNING))
    states = [
        [running],
        [dataclasses.replace(_trial(0, steps=4, status=TrialStatus.RUNNING)), _trial(1)],
        [_trial(0), _trial(1), _trial(2, status=TrialStatus.FAILED)],
    ]
    parents = {record_sweep(config, ref, SweepState(SweepStatus.RUNNING, t), plots=False) for t in states}
    final = [_trial(0), _trial(1), _trial(2, status=TrialStatus.FAILED), _trial(3)]
    parents.add(record_sweep(config, ref, SweepState(SweepStatus.COMPLETED, final)))
    record_sweep(config, ref, SweepState(SweepStatus.COMPLETED, final))  # again: adds nothing

    assert len(parents) == 1
    client = client_for(config.mlflow.tracking_uri)
    parent_id = parents.pop()
    children = _children(client, parent_id)
    assert sorted(children) == ["trial-0", "trial-1", "trial-2", "trial-3"]
    assert _steps(client, children["trial-0"].info.run_id) == [0, 1, 2, 3, 4]
    assert {t: r.info.status for t, r in children.items()} == {
        "trial-0": "FINISHED",
        "trial-1": "FINISHED",
        "trial-2": "FAILED",
        "trial-3": "FINISHED",
    }
    assert [t for t, r in children.items() if r.data.tags.get("hpo.best") == "true"] == ["trial-3"]
    assert client.get_run(parent_id).info.status == "FINISHED"


@pytest.mark.integration
def test_another_writer_of_the_same_sweep_is_read_back_not_doubled(tmp_path: Path) -> None:
    """A second flow attached to the same sweep records it from another process: this process's
    memory of what it wrote is stale then, and its next record reads the store back."""
    config, ref = _config(tmp_path), SweepRef(backend="fake", name="two-writers")
    parent_id = record_sweep(
        config, ref, SweepState(SweepStatus.RUNNING, [_trial(0, steps=2, status=TrialStatus.RUNNING)]), plots=False
    )
    client = client_for(config.mlflow.tracking_uri)
    child = _children(client, parent_id)["trial-0"].info.run_id
    from mlflow.entities import Metric, RunTag

    # the other process logs steps 2 and 3 and marks the parent as recorded by it
    client.log_batch(child, metrics=[Metric("accuracy", 0.5 + 0.02 * s, 0, s) for s in (2, 3)])
    client.log_batch(parent_id, tags=[RunTag(RECORDER, "other-process:7")])

    record_sweep(config, ref, SweepState(SweepStatus.COMPLETED, [_trial(0, steps=5)]))
    assert _steps(client, child) == [0, 1, 2, 3, 4]
    assert list(_children(client, parent_id)) == ["trial-0"]


@pytest.mark.integration
def test_a_run_deleted_by_hand_is_recorded_again(tmp_path: Path) -> None:
    config, ref = _config(tmp_path), SweepRef(backend="fake", name="deleted")
    first = record_sweep(config, ref, SweepState(SweepStatus.RUNNING, [_trial(0)]), plots=False)
    client = client_for(config.mlflow.tracking_uri)
    client.delete_run(first)
    second = record_sweep(config, ref, SweepState(SweepStatus.COMPLETED, [_trial(0), _trial(1)]), plots=False)
    assert second != first
    assert sorted(_children(client, second)) == ["trial-0", "trial-1"]


@pytest.mark.integration
def test_live_recording_draws_the_plots_once_every_budgeted_trial_has_finished(tmp_path: Path) -> None:
    """A cloud service takes a while to call a sweep done after its last trial: the plots are drawn
    meanwhile, and the final record finds them current."""
    config, ref = _config(tmp_path, max_jobs=3), SweepRef(backend="fake", name="budget-spent")
    recorder = LiveRecorder(config, ref)
    recorder.offer(SweepState(SweepStatus.RUNNING, [_trial(0), _trial(1), _trial(2)]))
    recorder.close()
    client = client_for(config.mlflow.tracking_uri)
    assert recorder.parent_run_id is not None
    plotted = client.get_run(recorder.parent_run_id).data.tags.get("hpo.plots_for")
    assert plotted
    assert f"{PAGE}.html" in [a.path.split("/")[-1] for a in client.list_artifacts(recorder.parent_run_id, "plots")]
    record_sweep(config, ref, SweepState(SweepStatus.COMPLETED, [_trial(0), _trial(1), _trial(2)]))
    assert client.get_run(recorder.parent_run_id).data.tags["hpo.plots_for"] == plotted


@pytest.mark.integration
def test_the_experiment_is_tagged_as_model_training_and_its_link_opens_the_runs(tmp_path: Path) -> None:
    """MLflow 3.17's UI chooses GenAI or model training from its own switch (the link's
    `workflowType`); earlier MLflow 3 releases read the experiment's `mlflow.experimentKind`."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = client_for(uri)
    experiment_id = ensure_experiment(client, "kinds", "proj")
    assert client.get_experiment(experiment_id).tags["mlflow.experimentKind"] == "custom_model_development"
    assert runs_view_path(uri, "kinds") == f"/#/experiments/{experiment_id}?workflowType=machine_learning"

    client.set_experiment_tag(experiment_id, "mlflow.experimentKind", "genai_development")
    ensure_experiment(client, "kinds", "proj")
    assert client.get_experiment(experiment_id).tags["mlflow.experimentKind"] == "genai_development"


@pytest.mark.unit
def test_plots_of_many_trials_render_offline_and_stay_readable(tmp_path: Path) -> None:
    trials = [_trial(i, steps=10) for i in range(30)]
    plots = write_plots(trials, Objective.Maximize, "accuracy", tmp_path)
    assert not plots.notes
    html = (tmp_path / f"{PAGE}.html").read_text()
    # MLflow's artifact viewer shows an HTML artifact in a sandboxed iframe (`allow-scripts`) of
    # a blob URL: inline scripts run there, network ones are blank offline.
    assert not re.search(r"<script[^>]*\bsrc\s*=", html, re.IGNORECASE)
    assert html.count("plotly.js v") == 1 and html.count("Plotly.newPlot") == 4
    # The iframe is as tall as the viewer: a plot sized by percentage would be squeezed to nothing.
    assert 'style="height:520px; width:100%;"' in html
    from PIL import Image

    # One legend entry per trial would make the learning curves taller than the figure
    width, height = Image.open(tmp_path / f"{CURVES}.png").size
    assert width <= 1000 and height <= 620
