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
    uvicorn.Server(config).run()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
