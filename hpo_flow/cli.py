"""The `hpo-flow` command line. Fast to start: Prefect, MLflow and cloud SDKs load only when needed."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from typing import Any

from adapters.errors import ConfigError, HpoFlowError

EXIT_OK, EXIT_FAILED, EXIT_BAD_CONFIG = 0, 1, 2


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_BAD_CONFIG
    try:
        return int(args.func(args) or 0)
    except ConfigError as exc:
        _print_problems(exc)
        return EXIT_BAD_CONFIG
    except HpoFlowError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hpo-flow",
        description="Tune hyperparameters on SageMaker, Azure ML or local GPUs from one config.yaml.",
    )
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")

    def command(name: str, func: Callable[[argparse.Namespace], int], help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help)
        p.add_argument("config", nargs="?", default="config.yaml", help="path of config.yaml (default: %(default)s)")
        p.set_defaults(func=func)
        return p

    command("validate", cmd_validate, "check config.yaml and report every problem at once (exit 2 if any)")

    plan = command("plan", cmd_plan, "show the exact request a backend would send; no network, no credentials")
    plan.add_argument("--backend", choices=["local", "sagemaker", "azure"], help="default: tuning.backend")
    plan.add_argument("--format", choices=["text", "json", "yaml"], default="text")
    plan.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config key, e.g. --set tuning.max_jobs=4 (repeatable)",
    )

    run = command("run", cmd_run, "run the sweep flow: submit, poll, record in MLflow, register, write back")
    run.add_argument("--backend", choices=["local", "sagemaker", "azure"], help="default: tuning.backend")
    run.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config key, e.g. --set tuning.max_jobs=4 (repeatable)",
    )
    run.add_argument("--dry-run", action="store_true", help="show the config diff write-back would make; write nothing")

    worker = command("worker", cmd_worker, "join a running local sweep that shares its storage (scale-out)")
    worker.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    return parser


def cmd_validate(args: argparse.Namespace) -> int:
    from adapters.spec import load_config

    config = load_config(args.config)
    for warning in config.warnings():
        print(f"warning: {warning}", file=sys.stderr)
    t = config.tuning
    ranges = ", ".join(f"{name} ({_describe(r)})" for name, r in t.hyperparameter_ranges.items())
    print(f"{args.config}: OK")
    print(
        f"  sweep     {config.sweep_name()} on {t.backend.value}, {t.strategy.value}, "
        f"{t.max_jobs} trials, {t.max_parallel_jobs} at a time"
    )
    print(
        f"  objective {t.objective_type.value.lower()} {t.objective_metric}, "
        f"early stopping {t.early_stopping.policy.value}"
    )
    print(f"  tunes     {ranges}")
    fixed = config.fixed_hyperparameters()
    if fixed:
        print(f"  fixed     {', '.join(f'{k}={v}' for k, v in fixed.items())}")
    print(f"  mlflow    {config.experiment_name} -> model {config.registered_model_name}@{config.mlflow.alias}")
    return EXIT_OK


def cmd_plan(args: argparse.Namespace) -> int:
    from adapters import get_adapter
    from adapters.redact import redact
    from adapters.spec import load_config

    config = load_config(args.config, args.overrides)
    backend = args.backend or config.tuning.backend.value
    plan = redact(get_adapter(backend).plan(config))
    print(_render(plan, args.format))
    return EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    from flows.cli import run_from_cli

    return run_from_cli(args.config, backend=args.backend, overrides=args.overrides, dry_run=args.dry_run)


def cmd_worker(args: argparse.Namespace) -> int:
    from adapters.local.worker import run_worker

    from adapters.spec import load_config

    return run_worker(load_config(args.config, args.overrides))


def _describe(r: Any) -> str:
    kind = r.written_as or r.type.value
    return kind if r.scaling_type.value == "Auto" else f"{kind}, {r.scaling_type.value}"


def _render(data: Any, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(data, indent=2, sort_keys=False, default=str)
    import yaml

    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False, width=100).rstrip()


def _print_problems(exc: ConfigError) -> None:
    count = len(exc.problems)
    print(f"config has {count} problem{'s' if count != 1 else ''}:", file=sys.stderr)
    for problem in exc.problems:
        print(f"  {problem}", file=sys.stderr)


if __name__ == "__main__":
    raise SystemExit(main())
