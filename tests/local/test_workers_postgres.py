"""Scale-out: a `hpo-flow worker` and the runner `submit` starts share one sweep through PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest

from adapters.local import LocalAdapter
from adapters.local.state import RUN_ATTR, SweepPaths
from adapters.local.storage import open_storage, storage_target
from adapters.port import SweepRef, SweepStatus, TrialStatus
from tests.helpers import write_config
from tests.local.sweep_helpers import finish, local_config, local_config_dict, wait_for, write_trial_script

pytestmark = [pytest.mark.integration, pytest.mark.timeout(150)]

PG = "postgresql://postgres@127.0.0.1:5432"


@pytest.fixture
def database() -> Iterator[str]:
    psycopg2 = pytest.importorskip("psycopg2")
    name = f"hpo_local_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg2.connect(f"{PG}/postgres")
    except psycopg2.OperationalError as exc:
        pytest.skip(f"no PostgreSQL at 127.0.0.1:5432: {exc}")
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{PG}/{name}"
    finally:
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def test_a_worker_and_the_runner_share_one_sweep_without_repeating_a_configuration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, database: str
) -> None:
    monkeypatch.chdir(tmp_path)
    write_trial_script(tmp_path)
    overrides = {
        "tuning.max_jobs": 6,
        "tuning.max_parallel_jobs": 1,
        "backends.local.storage": database,
        "training.hyperparameters": {"steps": 3, "sleep": 0.1, "gate": str(tmp_path / "gate")},
    }
    config = write_config(tmp_path / "config.yaml", local_config_dict(tmp_path, overrides))
    spec = local_config(tmp_path, overrides)
    adapter = LocalAdapter()
    ref = SweepRef(backend="local", name=spec.sweep_name(), workdir=str(SweepPaths.for_spec(spec).root))
    with open(tmp_path / "worker.log", "wb") as log:
        worker = subprocess.Popen(
            [sys.executable, "-m", "hpo_flow.cli", "worker", str(config)], cwd=tmp_path, stdout=log, stderr=log
        )
    try:
        # Trials wait at the gate until the worker and the runner hold one each, so both surely take part.
        assert adapter.submit(spec) == ref
        wait_for(adapter, ref, lambda s: sum(t.status == TrialStatus.RUNNING for t in s.trials) == 2, timeout=90)
        (tmp_path / "gate").touch()
        state = finish(adapter, ref)
        assert worker.wait(timeout=60) == 0, (tmp_path / "worker.log").read_text()[-2000:]
    finally:
        if worker.poll() is None:
            worker.kill()
        adapter.cancel(ref)
    assert state.status == SweepStatus.COMPLETED, state.message
    assert [t.status for t in state.trials] == [TrialStatus.COMPLETED] * 6  # max_jobs, never more
    configurations = [tuple(sorted(t.params.items())) for t in state.trials]
    assert len(set(configurations)) == 6
    storage = open_storage(storage_target(spec, Path(ref.workdir)))  # type: ignore[arg-type]
    study = optuna.load_study(study_name=spec.sweep_name(), storage=storage)
    workers = {t.user_attrs[RUN_ATTR]["worker"] for t in study.trials}
    assert len(workers) == 2  # both took part
