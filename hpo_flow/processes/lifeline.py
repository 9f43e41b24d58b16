"""Servers that die with the process that started them, even on `kill -9`.

`start(argv)` runs a server in a session of its own (so Ctrl-C in the terminal reaches the flow
alone) under a small keeper, `python -m hpo_flow.processes.lifeline run FD -- argv...`, which holds the read end
of a pipe whose write end only this process holds. However this process ends, the kernel closes
its end; the keeper reads EOF and stops the server's whole process group (a server's own children
included, which a death signal alone would miss). `watch(pid)` does the same for a server that
someone else started (Prefect's test harness). The keeper imports nothing heavy: it starts in
tens of milliseconds.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

STOP_GRACE_S = 5.0
_PR_SET_PDEATHSIG = 1
_WRITE_ENDS: list[int] = []  # held open for the life of this process; never inherited (O_CLOEXEC)


def start(argv: list[str], **popen: Any) -> subprocess.Popen[bytes]:
    """Start `argv` in a new session that is stopped when this process ends; stop it with `stop_session`."""
    read_end = _lifeline()
    try:
        return subprocess.Popen(
            [sys.executable, "-P", "-m", "hpo_flow.processes.lifeline", "run", str(read_end), "--", *argv],
            pass_fds=(read_end,),
            start_new_session=True,
            stdin=subprocess.DEVNULL,
            **popen,
        )
    finally:
        os.close(read_end)


def watch(pid: int) -> None:
    """Kill process `pid` (and its group, when it leads one) once this process ends."""
    read_end = _lifeline()
    try:
        subprocess.Popen(
            [
                sys.executable,
                "-P",
                "-m",
                "hpo_flow.processes.lifeline",
                "watch",
                str(read_end),
                str(pid),
                _start_time(pid) or "?",
            ],
            pass_fds=(read_end,),
            start_new_session=True,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    finally:
        os.close(read_end)


def _lifeline() -> int:
    read_end, write_end = os.pipe()
    _WRITE_ENDS.append(write_end)
    return read_end


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot: with the pid, it names one process for good."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat[stat.rfind(")") + 2 :].split()[19]


def _parent_gone(fd: int, timeout: float | None) -> bool:
    """Wait up to `timeout` for EOF on the lifeline; True once the process that holds the other end is gone."""
    ready, _, _ = select.select([fd], [], [], timeout)
    if not ready:
        return False
    try:
        return os.read(fd, 1) == b""
    except OSError:
        return True


def _stop_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_S
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except (ProcessLookupError, PermissionError):
            return
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def _die_with_keeper() -> None:
    """In the server, between fork and exec: a `kill -9` of the keeper itself takes the server along."""
    import ctypes

    ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def _run(fd: int, argv: list[str]) -> int:
    # In this keeper's process group, the one stop_session signals. The keeper has one thread here,
    # so a preexec_fn is safe.
    linux = sys.platform.startswith("linux")
    child = subprocess.Popen(argv, preexec_fn=_die_with_keeper if linux else None)
    # stop_session's SIGTERM reaches the server too: outlive it, so that the caller's wait on this
    # keeper means the server is gone.
    signal.signal(signal.SIGTERM, lambda *_: None)

    def guard() -> None:
        _parent_gone(fd, None)
        if child.poll() is None:
            _stop_group(os.getpgrp())

    threading.Thread(target=guard, daemon=True).start()
    while True:
        try:
            return child.wait()
        except InterruptedError:  # pragma: no cover - PEP 475 retries; kept for clarity
            continue


def _watch(fd: int, pid: int, started: str) -> int:
    while not _parent_gone(fd, 1.0):
        if _start_time(pid) != started:  # it ended by itself (and its pid may be reused): nothing to do
            return 0
    if _start_time(pid) == started:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if os.getpgid(pid) == pid:
                _stop_group(pid)
                return 0
            os.kill(pid, signal.SIGTERM)
            time.sleep(STOP_GRACE_S if _start_time(pid) == started else 0)
            if _start_time(pid) == started:
                os.kill(pid, signal.SIGKILL)
    return 0


def main(argv: list[str]) -> int:
    mode, fd = argv[0], int(argv[1])
    if mode == "run":
        return _run(fd, argv[3:])
    return _watch(fd, int(argv[2]), argv[3])


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
