"""What this process has written to MLflow for each sweep, so a record writes only what is new.

Without it every record read all of a sweep's child runs back (one search loading every run's
params, tags and latest metrics), so a live record grew with the trials and lagged behind a busy
sweep: at 200 trials the last live record still re-read 200 runs after the last trial had ended.

The tracking store stays the truth. A sweep's ledger is trusted only while the parent run's
`hpo.recorder` stamp is the one this process wrote last (a second flow attached to the same
sweep, recording from another process, writes its own), and is dropped whenever a write fails;
then the next record reads the runs back from the store, as before.
"""

from __future__ import annotations

import hashlib
import os
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from filelock import FileLock

from hpo_flow.tasks.tracking.schema import RECORDER

if TYPE_CHECKING:
    from mlflow.entities import Run

_PROCESS = uuid.uuid4().hex[:12]


@dataclass
class RunLedger:
    """What one run holds, as far as recording needs to know."""

    run_id: str
    artifact_uri: str
    status: str
    params: set[str] = field(default_factory=set)
    tags: dict[str, str] = field(default_factory=dict)
    latest: dict[str, float] = field(default_factory=dict)  # each metric's latest value, as Run.data.metrics
    last_step: dict[str, int] = field(default_factory=dict)  # unknown for a run read back: ask its history

    @classmethod
    def of(cls, run: Run) -> RunLedger:
        return cls(
            run_id=run.info.run_id,
            artifact_uri=run.info.artifact_uri,
            status=run.info.status,
            params=set(run.data.params),
            tags=dict(run.data.tags),
            latest=dict(run.data.metrics),
        )


@dataclass
class SweepLedger:
    """A sweep's child runs by trial id, and the stamp that says they are current."""

    children: dict[str, RunLedger]
    stamp: str | None = None
    records: int = 0

    def next_stamp(self) -> str:
        self.records += 1
        return f"{_PROCESS}:{self.records}"


_LEDGERS: dict[tuple[str | None, str], SweepLedger] = {}
_LOCKS: dict[tuple[str | None, str, str], threading.Lock] = {}
_GUARD = threading.Lock()


@contextmanager
def one_record_at_a_time(tracking_uri: str | None, sweep_name: str, config_hash: str) -> Iterator[None]:
    """Records of one sweep take turns, in this process (the live thread and the flow's exit hook)
    and across the processes of this machine (two `hpo-flow run` of one config fired together, a
    deployment run beside a CLI run): at once, each would create a child run for the same trial.
    What another process wrote meanwhile is read back (`current`), so each trial keeps one run."""
    with _GUARD:
        lock = _LOCKS.setdefault((tracking_uri, sweep_name, config_hash), threading.Lock())
    with lock, FileLock(_lock_path(tracking_uri, sweep_name, config_hash)):
        yield


def _lock_path(tracking_uri: str | None, sweep_name: str, config_hash: str) -> str:
    # Named by a digest: the URI may hold a password, and a sweep name need not be a file name.
    digest = hashlib.sha256(f"{tracking_uri}\0{sweep_name}\0{config_hash}".encode()).hexdigest()[:32]
    folder = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "hpo-flow" / "record-locks"
    folder.mkdir(parents=True, exist_ok=True)
    return str(folder / f"{digest}.lock")


def current(tracking_uri: str | None, parent: Run) -> SweepLedger | None:
    """The sweep's ledger if nobody else has recorded it since this process did."""
    ledger = _LEDGERS.get((tracking_uri, parent.info.run_id))
    if ledger is None or ledger.stamp is None or parent.data.tags.get(RECORDER) != ledger.stamp:
        return None
    return ledger


def keep(tracking_uri: str | None, parent_id: str, ledger: SweepLedger) -> None:
    _LEDGERS[(tracking_uri, parent_id)] = ledger


def forget(tracking_uri: str | None, parent_id: str) -> None:
    _LEDGERS.pop((tracking_uri, parent_id), None)
