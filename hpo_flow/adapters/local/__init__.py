"""The local backend: sweeps on this machine's GPUs (or CPU slots), searched by Optuna, kept in durable storage.

Modules: `backend` (what the registry knows of it), `adapter` (the port), `plan`, `loop` (the sweep
loop) and `stopping` (its stop decisions), `hosts` (where its trials run: this machine, or a
backend's own placement), `runner` (the detached process `submit` starts), `worker` (scale-out), `slots`, `process`,
`metrics`, `limits`, `storage`, `state`; `search` and `pruners` map the config's strategy, ranges and
early stopping onto Optuna. Optuna is imported only when a sweep is planned, submitted or polled,
and without redis. Importing this package imports neither: the registry reads `backend` on every
validate.
"""

from typing import Any

from hpo_flow.adapters.lean_imports import optuna_without_redis

optuna_without_redis()

__all__ = ["LocalAdapter"]


def __getattr__(name: str) -> Any:
    if name == "LocalAdapter":
        from hpo_flow.adapters.local.adapter import LocalAdapter

        return LocalAdapter
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
