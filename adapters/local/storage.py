"""Where a local sweep's study lives, and the lock that makes claiming a trial atomic.

Default: Optuna's journal storage in a file in the sweep's directory (durable, cheap per trial).
`backends.local.storage` may instead be an SQLAlchemy URL (PostgreSQL to share a sweep between
machines; SQLite works on one machine) or the path of a journal file on a shared file system.
The study's name is the sweep's name, so every worker that loads the same config joins the same study.

Claiming a trial (count the budget, then `ask`) must be atomic across every process of the sweep,
or two workers could both see 9 of 10 trials used and start two more. The claim lock is a
PostgreSQL advisory lock for a PostgreSQL study, and a file lock next to the storage otherwise.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from adapters.errors import BackendError
from adapters.redact import redact_text
from adapters.spec import HpoConfig, Objective

if TYPE_CHECKING:
    import optuna

JOURNAL_FILE = "study.journal"
# Heartbeats let a worker on another machine notice that a worker died with trials running.
HEARTBEAT_INTERVAL_S = 10
HEARTBEAT_GRACE_S = 60


@dataclass(frozen=True)
class StorageTarget:
    kind: str  # "journal" or "rdb"
    location: str  # journal file path, or SQLAlchemy URL

    def describe(self) -> str:
        return f"journal file {self.location}" if self.kind == "journal" else redact_text(self.location)


def storage_target(spec: HpoConfig, sweep_dir: Path) -> StorageTarget:
    configured = spec.backends.local.storage
    if not configured:
        return StorageTarget("journal", str(sweep_dir / JOURNAL_FILE))
    if "://" in configured:
        return StorageTarget("rdb", configured)
    return StorageTarget("journal", str(Path(configured).expanduser().resolve()))


def open_storage(
    target: StorageTarget,
    failed_trial_callback: Callable[[optuna.study.Study, optuna.trial.FrozenTrial], None] | None = None,
    heartbeat: bool = False,
) -> optuna.storages.BaseStorage:
    import optuna
    from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock

    if target.kind == "journal":
        Path(target.location).parent.mkdir(parents=True, exist_ok=True)
        # The open-lock (O_EXCL) costs one syscall less per write than the default symlink lock.
        backend = JournalFileBackend(target.location, lock_obj=JournalFileOpenLock(target.location))
        return optuna.storages.JournalStorage(backend)
    kwargs: dict[str, Any] = {}
    if heartbeat:
        kwargs = {
            "heartbeat_interval": HEARTBEAT_INTERVAL_S,
            "grace_period": HEARTBEAT_GRACE_S,
            "failed_trial_callback": failed_trial_callback,
        }
    engine_kwargs: dict[str, Any] = {"pool_pre_ping": True}
    try:
        return optuna.storages.RDBStorage(target.location, engine_kwargs=engine_kwargs, **kwargs)
    except Exception as exc:  # SQLAlchemy/driver errors: name the (redacted) URL and keep the cause
        raise BackendError(
            f"cannot open backends.local.storage {redact_text(target.location)}: {redact_text(str(exc))}"
        ) from exc


def direction(spec: HpoConfig) -> str:
    return "maximize" if spec.objective == Objective.Maximize else "minimize"


def open_study(
    storage: optuna.storages.BaseStorage,
    spec: HpoConfig,
    sampler: optuna.samplers.BaseSampler | None = None,
    pruner: optuna.pruners.BasePruner | None = None,
) -> optuna.Study:
    """Create the sweep's study, or load it when it exists (another worker, or a resumed runner)."""
    import optuna

    study = optuna.create_study(
        storage=storage,
        study_name=spec.sweep_name(),
        direction=direction(spec),  # type: ignore[arg-type]
        sampler=sampler,
        pruner=pruner,
        load_if_exists=True,
    )
    if study.direction.name.lower() != direction(spec):
        raise BackendError(
            f"the study {spec.sweep_name()!r} in the storage optimizes in the other direction; "
            "change tuning.objective_type back, or use a new tuning.sweep_name"
        )
    return study


def find_study(storage: optuna.storages.BaseStorage, name: str) -> optuna.Study | None:
    """The study if it exists; never creates one."""
    import optuna

    try:
        storage.get_study_id_from_name(name)
    except KeyError:
        return None
    return optuna.load_study(study_name=name, storage=storage)


class ClaimLock:
    """Mutual exclusion between every process that claims trials of one study."""

    def __init__(self, target: StorageTarget, study_name: str, fallback_dir: Path) -> None:
        self._conn: Any = None
        self._file: Any = None
        self._key = int.from_bytes(hashlib.sha256(study_name.encode()).digest()[:8], "big", signed=True)
        self.scope = "this machine"
        if target.kind == "rdb" and target.location.startswith(("postgresql", "postgres")):
            import sqlalchemy
            from sqlalchemy.pool import NullPool

            engine = sqlalchemy.create_engine(target.location, poolclass=NullPool)
            self._conn = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            self._text = sqlalchemy.text
            self.scope = "every machine sharing the database"
        else:
            from filelock import FileLock

            if target.kind == "journal":
                path = target.location + ".claim.lock"
                self.scope = "every machine that sees the journal file"
            elif target.location.startswith("sqlite"):
                from sqlalchemy.engine import make_url

                database = make_url(target.location).database or str(fallback_dir / "sqlite")
                path = database + ".claim.lock"
            else:
                path = str(fallback_dir / "claim.lock")
            self._file = FileLock(path)

    def __enter__(self) -> ClaimLock:
        if self._conn is not None:
            self._conn.execute(self._text("SELECT pg_advisory_lock(:k)"), {"k": self._key})
        else:
            self._file.acquire()
        return self

    def __exit__(self, *exc: tuple[type[BaseException] | None, BaseException | None, TracebackType | None]) -> None:
        if self._conn is not None:
            self._conn.execute(self._text("SELECT pg_advisory_unlock(:k)"), {"k": self._key})
        else:
            self._file.release()

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def hostname() -> str:
    return os.uname().nodename if hasattr(os, "uname") else "localhost"
