"""`make demo` on a fresh clone: how long until the first trial starts, set-up included.

Clones this repository's HEAD into a temporary directory (nothing of this checkout's .venv or
.tools travels), runs `make demo` there as a new user would, time-stamps its output lines as
they arrive, and stops the demo (SIGTERM to its process group: the CLI cancels the sweep) once
the progress line shows a trial running. The package cache (uv's and pip's) is whatever this
machine has: warm after any earlier `make`. Prints: uv installed, set-up done (the line the
Makefile prints), first trial running. Goal: set-up <= 60 s before the first trial starts.
Run: `.venv/bin/python bench/demo_setup.py` (minutes: it installs a whole environment).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MARKS = {
    "uv installed": re.compile(r"== Setting up"),
    "set-up done": re.compile(r"== Set-up done"),
    "demo started": re.compile(r"== Running a local sweep"),
    "first trial running": re.compile(r"\| [1-9]\d* running|[1-9]\d*/\d+ done"),
}


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-demo-") as name:
        clone = Path(name) / "hpo-flow"
        subprocess.run(["git", "clone", "--quiet", "--no-hardlinks", str(REPO), str(clone)], check=True)
        env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PREFECT_API_URL")}
        start = time.perf_counter()
        proc = subprocess.Popen(
            ["make", "demo"],
            cwd=clone,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        seen: dict[str, float] = {}
        tail: list[str] = []
        assert proc.stdout is not None
        try:
            for line in proc.stdout:
                tail = [*tail[-20:], line]
                now = time.perf_counter() - start
                for key, pattern in MARKS.items():
                    if key not in seen and pattern.search(line):
                        seen[key] = now
                        print(f"{now:7.1f} s  {key}: {line.strip()[:100]}", flush=True)
                if "first trial running" in seen:
                    break
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)  # the CLI stops its sweep on SIGTERM
            proc.wait(timeout=120)
        if "first trial running" not in seen:
            raise SystemExit("the demo never showed a running trial; its output ended with:\n" + "".join(tail))
    setup = seen.get("set-up done", 0.0)
    first = seen["first trial running"]
    print(f"\n`make demo` on a fresh clone: set-up {setup:.1f} s, first trial running at {first:.1f} s")
    print(f"after set-up, `hpo-flow run` took {first - setup:.1f} s to start a trial   (goal: set-up <= 60 s)")


if __name__ == "__main__":
    main()
