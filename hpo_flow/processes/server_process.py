"""The temporary Prefect server's process: `python -P -m hpo_flow.processes.server_process --port PORT`.

It serves Prefect's own app, built by Prefect's own factory with the settings Prefect gives its
temporary server (hpo_flow.processes.server sets them), under uvicorn, as `prefect server start` would. What
differs is only how the process loads: with the collector paused and the loaded modules frozen
(hpo_flow.processes.heap), which takes a quarter off the seconds the server needs before it answers.
"""

from __future__ import annotations

import sys
from typing import Any

from hpo_flow.processes import heap


def create_app() -> Any:
    from prefect.server.api.server import create_app as prefect_app

    return prefect_app()


def main(argv: list[str]) -> int:
    with heap.loading() as load:
        import uvicorn

        server_class = _one_start_at_a_time(uvicorn.Server)

        config = uvicorn.Config(
            create_app,
            factory=True,
            host="127.0.0.1",
            port=int(argv[argv.index("--port") + 1]),
            log_level="error",
            lifespan="on",
        )
        config.load()  # imports Prefect's server and builds the app; the database comes next, in serve
        load.keep()
    heap.skip_exit_collection()
    server_class(config).run()
    return 0


def _start_lock() -> str:
    import os
    from pathlib import Path

    home = Path(os.environ.get("PREFECT_HOME") or "~/.prefect").expanduser()
    home.mkdir(parents=True, exist_ok=True)
    return str(home / ".hpo-flow-server-start.lock")


def _one_start_at_a_time(server_class: Any) -> Any:
    class OneStartAtATime(server_class):  # type: ignore[misc,valid-type]
        """Two `hpo-flow run` at once (a schedule and an event) start two temporary servers on one
        Prefect database: both migrating a fresh one at the same moment, one fails with a traceback
        on the user's terminal. Start-up, migrations included, takes turns; serving does not."""

        async def startup(self, sockets: Any = None) -> None:
            from filelock import FileLock

            with FileLock(_start_lock(), timeout=600):
                await super().startup(sockets=sockets)

    return OneStartAtATime


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
