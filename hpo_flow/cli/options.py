"""What every `hpo-flow` command shares, defined once: exit statuses, the config argument, `--set`,
`--backend` (the registry's backends), `--tracking-uri`, and how a command is added."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

EXIT_OK, EXIT_FAILED, EXIT_BAD_CONFIG, EXIT_INTERRUPTED = 0, 1, 2, 130
EXIT_STATUSES = "Exit status: 0 done, 1 failed, 2 bad config (each problem printed on one line), 130 interrupted."
DEFAULT_CONFIG = "config.yaml"

Command = Callable[[argparse.Namespace], int]


def add_command(sub: Any, name: str, func: Command, help: str, details: str = "") -> argparse.ArgumentParser:
    """A subcommand with its one-line help, its longer description and the function that runs it."""
    description = f"{help[:1].upper()}{help[1:]}.\n\n{details}" if details else help
    parser: argparse.ArgumentParser = sub.add_parser(
        name, help=help, description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.set_defaults(func=func)
    return parser


def add_config(parser: argparse.ArgumentParser, dest: str = "config", help: str | None = None) -> None:
    parser.add_argument(
        dest, nargs="?", default=DEFAULT_CONFIG, help=help or "path of config.yaml (default: %(default)s)"
    )


def add_overrides(parser: argparse.ArgumentParser, example: str = "tuning.max_jobs=4") -> None:
    """`--set KEY=VALUE`: the same overrides `run` takes, so that validate, plan and status show what it runs."""
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help=f"override a config key, e.g. --set {example} (repeatable; as `hpo-flow run --set` does)",
    )


def add_backend(parser: argparse.ArgumentParser, verb: str) -> None:
    """`--backend NAME`, one of the installed backends (hpo_flow.adapters.registry)."""
    from hpo_flow.adapters import registry
    from hpo_flow.adapters.errors import HpoFlowError

    try:
        choices: list[str] | None = registry.names()
    except HpoFlowError:  # no backend registered: `--help` still works, and the command says why
        choices = None
    parser.add_argument("--backend", choices=choices, help=f"backend to {verb} (default: tuning.backend)")


def add_tracking_uri(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--tracking-uri",
        help="MLflow tracking store to look in (default: mlflow.tracking_uri of the config, or of ./config.yaml)",
    )
