"""Where a local sweep's study lives, and the lock that makes claiming a trial atomic.

Default: Optuna's journal storage in a file in the sweep's directory (durable, cheap per trial).
`backends.local.storage` may instead be an SQLAlchemy URL (PostgreSQL to share a sweep between
machines; SQLite works on one machine) or the path of a journal file on a shared file system.
The study's name is the sweep's name, so every worker that loads the same config joins the same study.

Claiming a trial (count the budget, then `ask`) must be atomic across every process of the sweep,
or two workers could both see 9 of 10 trials used and start two more. The claim lock is a
PostgreSQL advisory lock for a PostgreSQL study, and an flock on a file next to the storage otherwise.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hpo_flow.adapters.errors import BackendError
from hpo_flow.adapters.local.journal import damaged_journal, journal_file
from hpo_flow.adapters.local.outages import is_transient, retry_call, with_retries
from hpo_flow.adapters.redact import redact_text
from hpo_flow.adapters.spec import HpoConfig, Objective

if TYPE_CHECKING:
    import optuna

_log = logging.getLogger("hpo_flow.local")

JOURNAL_FILE = "study.journal"
# Heartbeats let a worker on another machine notice that a worker died with trials running.
HEARTBEAT_INTERVAL_S = 10
# How long a silent worker's trials stay its own; HPO_FLOW_HEARTBEAT_GRACE_S shortens it for the
# scale-out tests and the chaos suite, which kill workers on purpose.
HEARTBEAT_GRACE_S = int(os.environ.get("HPO_FLOW_HEARTBEAT_GRACE_S") or 60)


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
        return StorageTarget("rdb", _with_installed_driver(configured))
    return StorageTarget("journal", str(Path(configured).expanduser().resolve()))


def _with_installed_driver(url: str) -> str:
    """`postgresql://` means psycopg 3 to SQLAlchemy 2.1; use psycopg2 when that is the driver installed."""
    import importlib.util

    scheme, sep, rest = url.partition("://")
    postgres = scheme in ("postgresql", "postgres")
    if postgres and importlib.util.find_spec("psycopg") is None and importlib.util.find_spec("psycopg2") is not None:
        return f"postgresql+psycopg2{sep}{rest}"
    return url


def open_storage(target: StorageTarget, heartbeat: bool = False) -> optuna.storages.BaseStorage:
    """The study's storage; `heartbeat` turns on the heartbeats that runners record and recovery reads
    (hpo_flow.adapters.local.recovery fails stale trials itself: Optuna gets no stale-trial callback)."""
    import optuna

    if target.kind == "journal":
        try:
            return with_retries(optuna.storages.JournalStorage(journal_file(target.location)))
        except ValueError as exc:  # json.JSONDecodeError is one: a record the reader cannot parse
            raise damaged_journal(Path(target.location)) from exc
    kwargs: dict[str, Any] = {}
    if heartbeat:
        kwargs = {
            "heartbeat_interval": HEARTBEAT_INTERVAL_S,
            "grace_period": HEARTBEAT_GRACE_S,
        }
    engine_kwargs: dict[str, Any] = {"pool_pre_ping": True}
    try:
        with warnings.catch_warnings(), _schema_lock(target.location):
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            storage = optuna.storages.RDBStorage(target.location, engine_kwargs=engine_kwargs, **kwargs)
        return with_retries(storage)
    except Exception as exc:  # SQLAlchemy/driver errors: name the (redacted) URL and keep the cause
        raise BackendError(
            f"cannot open backends.local.storage {redact_text(target.location)}: {redact_text(str(exc))}"
        ) from exc


@contextlib.contextmanager
def _schema_lock(url: str) -> Iterator[None]:
    """Optuna creates its tables when a storage first opens; two workers doing it at once on a fresh
    PostgreSQL database collide (duplicate CREATE TYPE), so they take turns."""
    if not url.startswith(("postgresql", "postgres")):
        yield
        return
    import sqlalchemy
    from sqlalchemy.pool import NullPool

    engine = sqlalchemy.create_engine(url, poolclass=NullPool)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sqlalchemy.text("SELECT pg_advisory_lock(:k)"), {"k": _SCHEMA_LOCK_KEY})
        try:
            yield
        finally:
            conn.execute(sqlalchemy.text("SELECT pg_advisory_unlock(:k)"), {"k": _SCHEMA_LOCK_KEY})
    engine.dispose()


_SCHEMA_LOCK_KEY = int.from_bytes(hashlib.sha256(b"hpo-flow optuna schema").digest()[:8], "big", signed=True)


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
    _retrying_study(study)
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
    return _retrying_study(optuna.load_study(study_name=name, storage=storage))


def _retrying_study(study: optuna.Study) -> optuna.Study:
    # Optuna puts a cache in front of a database storage: its calls reach the database through the
    # storage's private methods, so the retries go on the layer the study calls, too.
    from hpo_flow.adapters.local.optuna_access import storage_of

    with_retries(storage_of(study))
    return study


def sync_storage(storage: Any) -> None:
    """Make what the journal file holds durable now (a no-op for a database)."""
    from hpo_flow.adapters.local.optuna_access import journal_backend

    backend = journal_backend(storage)
    if backend is not None and hasattr(backend, "sync"):
        backend.sync()


class ClaimLock:
    """Mutual exclusion between every process that claims trials of one study."""

    def __init__(self, target: StorageTarget, study_name: str, fallback_dir: Path) -> None:
        self._conn: Any = None
        self._engine: Any = None
        self._fd: int | None = None
        self._key = int.from_bytes(hashlib.sha256(study_name.encode()).digest()[:8], "big", signed=True)
        if target.kind == "rdb" and target.location.startswith(("postgresql", "postgres")):
            import sqlalchemy
            from sqlalchemy.pool import NullPool

            self._engine = sqlalchemy.create_engine(target.location, poolclass=NullPool)
            self._conn = retry_call(self._connect, "claim lock (connect)")
            self._text = sqlalchemy.text
            return
        if target.kind == "journal":
            path = target.location + ".claim.lock"
        elif target.location.startswith("sqlite"):
            from sqlalchemy.engine import make_url

            path = (make_url(target.location).database or str(fallback_dir / "sqlite")) + ".claim.lock"
        else:  # another database: atomic between the processes of this machine only
            path = str(fallback_dir / "claim.lock")
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)

    def __enter__(self) -> ClaimLock:
        import fcntl

        if self._conn is not None:
            retry_call(self._lock, "claim lock")
        elif self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc: object) -> None:
        import fcntl

        if self._conn is not None:
            try:
                self._conn.execute(self._text("SELECT pg_advisory_unlock(:k)"), {"k": self._key})
            except Exception as error:  # a lock whose connection died was released with it
                if not is_transient(error):
                    raise
                self._drop_connection()
        elif self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def _connect(self) -> Any:
        return self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")

    def _lock(self) -> None:
        # A database restart drops the session and its advisory lock with it: take a new one.
        if self._conn is None:
            self._conn = self._connect()
        try:
            self._conn.execute(self._text("SELECT pg_advisory_lock(:k)"), {"k": self._key})
        except Exception:
            self._drop_connection()
            raise

    def _drop_connection(self) -> None:
        with contextlib.suppress(Exception):
            self._conn.close()
        self._conn = None

    def close(self) -> None:
        if self._engine is not None:
            self._drop_connection()
            self._engine.dispose()
            self._engine = None
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def hostname() -> str:
    return os.uname().nodename if hasattr(os, "uname") else "localhost"
