"""The detached runner of one local sweep: `python -m hpo_flow.adapters.local.runner SWEEP_DIR`.

`LocalAdapter.submit` starts it in its own session (`--backend NAME` from an adapter that reuses
the local runner and places its trials itself, such as Ray's), so the sweep outlives the flow that started
it and a crashed flow can re-attach. It holds `runner.lock` for its whole life (the kernel drops
the lock if it is killed, which is how everyone else knows it is gone), reads the spec from the
sweep directory and runs the sweep loop. SIGTERM after a cancel (the STOP file exists) stops the
sweep; SIGTERM or SIGINT without one only stops this runner: its trials are retried on resume.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    backend = "local"
    if len(args) == 3 and args[1] == "--backend":  # a backend that places this runner's trials (Ray)
        args, backend = args[:1], args[2]
    if len(args) != 1:
        print("usage: python -m hpo_flow.adapters.local.runner SWEEP_DIR [--backend NAME]", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr, force=True
    )
    from hpo_flow.adapters.local.state import HeldLock, SweepPaths, read_spec, write_runner_pid

    paths = SweepPaths(Path(args[0]).resolve())
    lock = HeldLock(paths.runner_lock)
    if not lock.acquire(wait=5.0):
        logging.info("another runner holds %s; this one exits", paths.runner_lock)
        return 0
    try:
        write_runner_pid(paths, os.getpid())
        spec, cwd = read_spec(paths)
        os.chdir(cwd)
        from hpo_flow.adapters.local.loop import SweepLoop

        loop = SweepLoop(spec, paths, cwd, role="runner", backend=backend)
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, lambda n, _f: loop.request(n))
        status = loop.run()
        return 0 if status is not None else 3
    except Exception as exc:
        from hpo_flow.adapters.local.outages import is_transient, outage_error

        if is_transient(exc):  # said in one line: it is what `poll` quotes from runner.log
            logging.error("runner stopped: %s", outage_error(exc, "the study's storage"))
        else:
            logging.exception("runner failed")
        return 1
    finally:
        lock.release()


if __name__ == "__main__":
    raise SystemExit(main())
