"""What `hpo-flow run` does to start fast (issue 11) keeps the behaviour it had: the collector is
paused only while a process loads, and a new MLflow store made from the template is the store
MLflow makes itself."""

from __future__ import annotations

import gc
import os
import re
import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hpo_flow.processes import heap
from hpo_flow.tasks.lean_mlflow import new_sqlite_store_from_template
from tests.flow.test_flow_local import local_config
from tests.flow.test_lifeline import _pids_with
from tests.helpers import start_hpo_flow, write_config
from tests.local.sweep_helpers import alive

pytestmark = pytest.mark.integration


@pytest.fixture
def unfrozen() -> Iterator[None]:
    was_enabled = gc.isenabled()
    yield
    gc.unfreeze()
    if was_enabled:
        gc.enable()


def test_loading_pauses_the_collector_and_freezes_only_what_is_kept(unfrozen: None) -> None:
    gc.unfreeze()
    gc.enable()
    with heap.loading():
        assert not gc.isenabled()
    assert gc.isenabled() and gc.get_freeze_count() == 0, "nothing kept: nothing frozen"

    with pytest.raises(ValueError), heap.loading() as load:
        load.keep()
        raise ValueError("a bad config")
    assert gc.isenabled() and gc.get_freeze_count() == 0, "a failed start freezes nothing"

    loaded = [object() for _ in range(10)]  # noqa: F841 - alive while the block ends
    with heap.loading() as load:
        load.keep()
    assert gc.isenabled() and gc.get_freeze_count() > 0

    gc.disable()
    with heap.loading():
        pass
    assert not gc.isenabled(), "a collector that was off stays off"


def _schema(path: Path) -> list[tuple[str, str, Any]]:
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY name")
        # Clauses as a set: alembic's batch migrations rebuild a table with its constraints in set
        # order, which changes from one interpreter to the next (hash randomisation).
        schema = [(kind, name, sorted(_clauses(sql or ""))) for kind, name, sql in rows]
        schema.append(("alembic", "version", db.execute("SELECT version_num FROM alembic_version").fetchone()[0]))
    return schema


def _clauses(sql: str) -> list[str]:
    return [line.strip().rstrip(",").strip() for line in sql.splitlines()]


def _use(uri: str, tmp_path: Path) -> tuple[str, list[str]]:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    experiment = client.create_experiment("e", artifact_location=str(tmp_path / "artifacts"))
    run = client.create_run(experiment)
    client.log_metric(run.info.run_id, "accuracy", 0.5)
    client.set_terminated(run.info.run_id)
    names = sorted(e.name for e in client.search_experiments())
    return client.get_run(run.info.run_id).info.status, names


def test_a_store_made_from_the_template_is_the_store_mlflow_makes(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    ours, mlflows = tmp_path / "ours" / "mlflow.db", tmp_path / "mlflow" / "mlflow.db"
    assert new_sqlite_store_from_template(f"sqlite:///{ours}", cache)
    (template,) = cache.glob("mlflow-store-*.db")
    mlflows.parent.mkdir()
    assert _use(f"sqlite:///{mlflows}", tmp_path / "mlflow") == ("FINISHED", ["Default", "e"])
    assert _use(f"sqlite:///{ours}", tmp_path / "ours") == ("FINISHED", ["Default", "e"])
    assert _schema(ours) == _schema(mlflows)

    made = template.stat().st_mtime_ns
    again = tmp_path / "again.db"
    assert new_sqlite_store_from_template(f"sqlite:///{again}", cache)
    assert template.stat().st_mtime_ns == made, "the template is made once"
    assert not list(cache.glob(".*")) and not list(tmp_path.glob(".*.tmp")), "no temporary file left"


def test_the_template_leaves_existing_stores_and_other_uris_alone(tmp_path: Path) -> None:
    existing = tmp_path / "mlflow.db"
    existing.write_bytes(b"someone's store")
    cache = tmp_path / "cache"
    for uri in (f"sqlite:///{existing}", "http://127.0.0.1:5000", "sqlite:///:memory:", None):
        assert not new_sqlite_store_from_template(uri, cache)
    assert existing.read_bytes() == b"someone's store"
    assert not cache.exists(), "no template made for nothing"


@pytest.mark.e2e
@pytest.mark.timeout(600)
def test_hpo_flow_run_leaves_its_runs_recorded_in_prefect_and_no_server_behind(tmp_path: Path) -> None:
    """`hpo-flow run` with a temporary Prefect server of its own (as `make demo` runs it): once it
    has exited, the server is gone, and Prefect's database holds the flow run and every task run
    in their final state - the server was stopped only after it had recorded them."""
    config = local_config(tmp_path)
    config["training"]["hyperparameters"] |= {"epochs": 1, "step_seconds": 0.05}
    config["tuning"] |= {"max_jobs": 2}
    config["mlflow"] = {"tracking_uri": f"sqlite:///{tmp_path / 'mlflow.db'}"}
    write_config(tmp_path / "config.yaml", config)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "MLFLOW_"))}
    env.update(DO_NOT_TRACK="1", PREFECT_HOME=str(tmp_path / "ph"), XDG_CACHE_HOME=str(tmp_path / "cache"))
    proc = start_hpo_flow(["run", "config.yaml"], tmp_path, env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    lines: list[str] = []
    servers: set[int] = set()

    def read() -> None:
        for line in proc.stdout or []:
            lines.append(line)
            if found := re.search(r"temporary Prefect server on http://127\.0\.0\.1:(\d+)/api", line):
                deadline = time.monotonic() + 60
                while len(servers) < 2 and time.monotonic() < deadline:  # its keeper, then the server
                    servers.update(_pids_with(f"--port {found[1]}"))
                    time.sleep(0.05)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert proc.wait(540) == 0, "".join(lines)[-3000:]
    finally:
        if proc.poll() is None:
            proc.kill()
    reader.join(10)
    assert servers, "".join(lines)[-3000:]
    assert not [pid for pid in servers if alive(pid)], "the temporary Prefect server outlived hpo-flow run"

    with sqlite3.connect(tmp_path / "ph" / "prefect.db") as db:
        flow_runs = db.execute("SELECT id, state_type FROM flow_run").fetchall()
        assert [state for _, state in flow_runs] == ["COMPLETED"]
        tasks = dict(db.execute("SELECT name, state_type FROM task_run WHERE flow_run_id = ?", (flow_runs[0][0],)))
        events = dict(db.execute("SELECT event, count(*) FROM events GROUP BY event"))
    # No heartbeats for a server that dies with the run: the flow's exit would wait for them.
    assert events.get("prefect.flow-run.Running") == 1, events
    assert "prefect.flow-run.heartbeat" not in events, events
    names = {name.rsplit("-", 1)[0] for name in tasks}
    assert {"submit-sweep", "wait-for-sweep", "record-sweep-in-mlflow", "close-sweep-record"} <= names, tasks
    assert set(tasks.values()) == {"COMPLETED"}, tasks
