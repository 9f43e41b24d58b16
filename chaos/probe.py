"""What the chaos suite looks for: canary secrets, processes left behind, tracebacks, hangs."""

from __future__ import annotations

import contextlib
import io
import os
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Canaries: secrets that must never be seen outside the places meant to hold them.
CANARIES = ("cnry-url-pw-51f0", "cnry-env-9b2d", "cnry-hyper-77e1", "cnry-log-pw-c3a4", "cnry-set-pw-0d9e")
TAG_VAR = "HPO_CHAOS_TAG"  # every process the suite starts carries it: how orphans are found
HANG_S = 10.0


@dataclass
class Tally:
    """Counts of one section; `bad` lists what failed, each in one line."""

    name: str
    cases: int = 0
    bad: list[str] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)

    def fail(self, what: str) -> None:
        self.bad.append(what[:400])


def leaks(text: str | bytes) -> list[str]:
    raw = text.encode(errors="replace") if isinstance(text, str) else text
    return [c for c in CANARIES if c.encode() in raw]


def grep_tree(root: Path, skip: Callable[[Path], bool] = lambda _p: False) -> list[str]:
    """Files under `root` holding a canary: `path: canary`."""
    found = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        if skip(path):
            continue
        with contextlib.suppress(OSError):
            for canary in leaks(path.read_bytes()):
                found.append(f"{path}: {canary}")
    return found


def tagged(tag: str) -> list[tuple[int, str]]:
    """Live processes whose environment carries this tag: (pid, command line)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if f"{TAG_VAR}={tag}".encode() not in environ.split(b"\0"):
            continue
        if stat[stat.rfind(")") + 2] in "ZX":
            continue
        with contextlib.suppress(OSError):
            argv = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            found.append((int(entry.name), argv[:160]))
    return found


def wait_untagged(tag: str, within: float) -> list[tuple[int, str]]:
    deadline = time.monotonic() + within
    while (left := tagged(tag)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return left


def kill_tagged(tag: str) -> None:
    for pid, _ in tagged(tag):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


class Hang(Exception):
    pass


@contextlib.contextmanager
def deadline(seconds: float = HANG_S) -> Iterator[None]:
    def alarm(*_: Any) -> None:
        raise Hang(f"no answer within {seconds:.0f} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@dataclass
class CliResult:
    code: int | None
    out: str
    err: str
    seconds: float
    crash: str | None  # an exception that escaped main(): what a user sees as a traceback


def run_cli(argv: list[str]) -> CliResult:
    """`hpo-flow ARGV` in this process, output captured, under the hang deadline."""
    from hpo_flow.cli import main

    out, err = io.StringIO(), io.StringIO()
    started = time.perf_counter()
    code: int | None = None
    crash = None
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), deadline():
            code = main(argv)
    except Hang as exc:
        crash = f"hang: {exc}"
    except SystemExit as exc:  # argparse
        code = int(exc.code or 0)
    except BaseException as exc:
        crash = f"traceback: {type(exc).__name__}: {str(exc)[:200]}"
    return CliResult(code, out.getvalue(), err.getvalue(), time.perf_counter() - started, crash)
