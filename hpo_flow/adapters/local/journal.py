"""The study's journal file: Optuna's journal storage, appended cheaply and repaired when torn.

Optuna's own file backend opens the file, takes a lock file, writes and fsyncs on every record:
six records per trivial trial cost 60 ms of fsync here, more than the trial. `journal_file`'s
backend appends each batch of records with one O_APPEND write under an flock on the journal itself
(so records of concurrent writers never interleave) and fsyncs at most once a second (`sync`,
called by the runner's loop) and when a sweep ends. A killed process loses nothing (the kernel has
the writes); a power cut loses at most the last second of records.

A power cut inside that second, or a disk that fills mid-write, can leave the last record torn.
Optuna's reader skips a torn last line only while it is last: a record appended after it glues
onto it, and the whole journal then fails to parse. So every process that opens the journal first
cuts a torn last record off (`repair_torn_tail`, under the same lock), and a write that fails part
way is cut back before the error leaves `append_logs`. Every hpo-flow process opens the journal
through this module, so they agree on the lock.
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path
from typing import Any

from hpo_flow.adapters.errors import BackendError

_log = logging.getLogger("hpo_flow.local")


def journal_file(path: str) -> Any:
    """Optuna's journal file backend for the journal at `path` (see the module's docstring)."""
    import fcntl
    import json

    from optuna.storages.journal import JournalFileBackend

    class JournalFile(JournalFileBackend):
        def __init__(self, file_path: str) -> None:
            Path(file_path).parent.mkdir(parents=True, exist_ok=True)
            super().__init__(file_path)
            self._fd = os.open(file_path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
            self._unsynced = False
            fcntl.flock(self._fd, fcntl.LOCK_EX)  # no writer is mid-record while the tail is looked at
            try:
                repair_torn_tail(self._fd, Path(file_path))
            finally:
                fcntl.flock(self._fd, fcntl.LOCK_UN)

        def append_logs(self, logs: list[dict[str, Any]]) -> None:
            data = memoryview(("\n".join(json.dumps(log, separators=(",", ":")) for log in logs) + "\n").encode())
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            try:
                end = os.lseek(self._fd, 0, os.SEEK_END)
                try:
                    while data:
                        data = data[os.write(self._fd, data) :]
                except OSError:
                    # A full disk took part of the batch: cut it back, so that the retry (or the
                    # next writer) starts on a fresh line instead of gluing onto a torn record.
                    with contextlib.suppress(OSError):
                        os.ftruncate(self._fd, end)
                    raise
            finally:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
            self._unsynced = True

        def sync(self) -> None:
            if self._unsynced:
                self._unsynced = False
                os.fsync(self._fd)

        def __del__(self) -> None:
            # try, not contextlib: a journal kept alive to interpreter exit (Ray's atexit hooks hold
            # the runner's frames) is finalized after module globals such as contextlib are gone.
            try:
                self.sync()
                os.close(self._fd)
            except (OSError, AttributeError, TypeError):
                pass

    return JournalFile(path)


TORN_SUFFIX = ".torn"  # study.journal.torn: the bytes cut off a torn tail, appended, for a person to read


def repair_torn_tail(fd: int, path: Path) -> int:
    """Cut a torn last record off the journal open as `fd` (held under its flock); returns the bytes cut.

    A record is torn when the file does not end with a newline (a write cut short), or when its
    last line is not JSON (a power cut can leave a block of zeros where the record was). Only the
    last line can be torn: every record is written whole by one write under the lock, so one that
    was followed by another was complete. The cut bytes go to `<journal>.torn`, and the trial they
    described is whatever the records before them say (a RUNNING one is failed and re-run by
    recovery, as after any kill).
    """
    import json

    size = os.fstat(fd).st_size
    if size == 0:
        return 0
    tail_start = max(0, size - _TAIL_WINDOW)
    tail = os.pread(fd, size - tail_start, tail_start)
    body = tail[:-1] if tail.endswith(b"\n") else tail
    newline = body.rfind(b"\n")
    if newline < 0 and tail_start > 0:
        return 0  # a last record longer than the window: never one of ours; leave it to the reader
    last = body[newline + 1 :]
    if tail.endswith(b"\n"):
        try:
            json.loads(last)
            return 0
        except ValueError:
            pass
    keep = tail_start + newline + 1
    torn = tail[newline + 1 :]
    with open(str(path) + TORN_SUFFIX, "ab") as aside:
        aside.write(torn + (b"" if torn.endswith(b"\n") else b"\n"))
        aside.flush()
        os.fsync(aside.fileno())
    os.ftruncate(fd, keep)
    os.fsync(fd)
    _log.warning(
        "%s: cut a torn last record of %d bytes (a write cut short by a crash or a full disk; kept in %s); "
        "the sweep goes on from the records before it",
        path,
        len(torn),
        path.name + TORN_SUFFIX,
    )
    return len(torn)


# The journal's end that is read to find a torn record: far longer than any record we write.
_TAIL_WINDOW = 1 << 20


def damaged_journal(path: Path) -> BackendError:
    """The one-line error for a journal whose damage is not a torn end: name the record and the way out."""
    import json

    line_number = 0
    with contextlib.suppress(OSError), path.open("rb") as journal:
        for line_number, line in enumerate(journal, start=1):  # noqa: B007 - the number is the answer
            try:
                json.loads(line)
            except ValueError:
                break
    return BackendError(
        f"the study journal {path} has a damaged record on line {line_number} with records after it, so it is "
        "not a torn end that can be cut: restore the file from a backup, or move it aside to start this sweep "
        "again (the trials already recorded in MLflow stay there); lines before it are intact"
    )
