"""The `hpo-flow` command line. Fast to start: Prefect, MLflow and cloud SDKs load only when needed."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hpo_flow.adapters.errors import ConfigError, HpoFlowError, PlanError
from hpo_flow.cli.options import (
    EXIT_BAD_CONFIG,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_STATUSES,
    add_backend,
    add_command,
    add_config,
    add_overrides,
)


def main(argv: Sequence[str] | None = None) -> int:
    for stream in (sys.stdout, sys.stderr):
        # A path or value given as bytes that are not UTF-8 is printed as escapes, not a traceback.
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="backslashreplace")
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
    except PlanError as exc:
        # A backend that cannot express the config is a config problem, as `hpo-flow run` reports it.
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_CONFIG
    except HpoFlowError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # `hpo-flow plan | head`: the reader left; say nothing more and keep Python quiet at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hpo-flow",
        description="Tune hyperparameters on SageMaker, Azure ML or local GPUs from one config.yaml.",
        epilog=(
            "Start with `hpo-flow validate`, look at `hpo-flow plan`, then `hpo-flow run`.\n"
            "Every command reads ./config.yaml unless given a path; `hpo-flow COMMAND --help` for details.\n"
            + EXIT_STATUSES
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")

    validate = add_command(
        sub,
        "validate",
        cmd_validate,
        "check config.yaml and report every problem at once (exit 2 if any)",
        "Reads the file, checks every section against the config model and prints each problem as one\n"
        "line: the key path, the value found, what is wrong and what to write instead. Warnings (for\n"
        "example max_parallel_jobs above max_jobs) are printed but do not fail. On success it prints a\n"
        "summary: the sweep's name, backend, strategy, budget, the ranges it tunes and the fixed values.\n"
        "No network, no credentials; backend limits are checked by `hpo-flow plan`.\n\n"
        "example: hpo-flow validate examples/seeds/003_sagemaker_mnist/config.yaml --set tuning.max_jobs=4",
    )
    add_config(validate)
    add_overrides(validate)

    plan = add_command(
        sub,
        "plan",
        cmd_plan,
        "show the exact request a backend would send; no network, no credentials",
        "Also reports what the chosen backend cannot express (a normal distribution on SageMaker,\n"
        "Bayesian sampling with a bandit policy on Azure ML).\n\n"
        "example: hpo-flow plan --backend sagemaker --format json",
    )
    add_config(plan)
    add_backend(plan, "plan for")
    plan.add_argument(
        "--format", choices=["text", "json", "yaml"], default="text", help="output format (default: text)"
    )
    plan.add_argument(
        "--out",
        metavar="DIR",
        help="write the service's own job file and the code it refers to into DIR, to submit by hand "
        "(azure: sweep.yml and code/ for `az ml job create --file DIR/sweep.yml`)",
    )
    add_overrides(plan)

    run = add_command(
        sub,
        "run",
        cmd_run,
        "run the sweep flow: submit, poll, record in MLflow, register, write back",
        "A sweep belongs to the config and the training code. Running it again attaches to its latest\n"
        "sweep while that runs, or when it ended without being recorded (a crashed run); once it is\n"
        "recorded, the run starts the next generation (<name>-g2, ...) warm-started from the earlier ones.\n\n"
        "example: hpo-flow run --set tuning.max_jobs=4",
    )
    add_config(run)
    add_backend(run, "run on")
    add_overrides(run)
    run.add_argument(
        "--dry-run",
        action="store_true",
        help="run the sweep, record it in MLflow and register the best model as usual, but leave config.yaml "
        "as it is: print the change write-back would make instead",
    )
    which = run.add_mutually_exclusive_group()
    which.add_argument(
        "--new-sweep",
        action="store_true",
        help="start the next generation even if the latest sweep of this config still runs or is unrecorded",
    )
    which.add_argument("--attach", metavar="NAME", help="attach to the named sweep of this config")

    worker = add_command(
        sub,
        "worker",
        cmd_worker,
        "join a running sweep that shares its storage (scale-out, on backends that take workers: local)",
        "Run it on another machine with the same config and backends.local.storage set to a shared\n"
        "database URL (postgresql://...); it takes trials from the same study until the sweep is done.",
    )
    add_config(worker)
    add_overrides(worker, "backends.local.gpus=[0]")
    from hpo_flow.cli.operate import add_commands

    add_commands(sub)  # status, list, cancel, logs
    return parser


def cmd_validate(args: argparse.Namespace) -> int:
    from hpo_flow.adapters.lifecycle import identify
    from hpo_flow.adapters.redact import mask_values, secret_values
    from hpo_flow.adapters.spec import load_config

    # The name covers the training code, as run's does.
    config = identify(load_config(args.config, args.overrides), args.config)
    secrets = secret_values(config.model_dump(mode="json"))
    for warning in config.warnings():
        print(mask_values(f"warning: {warning}", secrets), file=sys.stderr)
    print(f"{args.config}: OK")
    for line in summary(config):
        print(mask_values(line, secrets))
    return EXIT_OK


def summary(config: Any) -> list[str]:
    """A few lines that say what the sweep will do: the success output of `hpo-flow validate`."""
    t = config.tuning
    es = t.early_stopping
    lines: list[str] = []
    state = "" if t.enabled else " (tuning.enabled is false: `hpo-flow run` skips the sweep)"
    lines.append(
        f"  sweep      {config.sweep_name()} (its first generation) on {t.backend}: {t.strategy.value}, "
        f"{t.max_jobs} trial{'s' if t.max_jobs != 1 else ''}, {t.max_parallel_jobs} at a time{state}"
    )
    lines.append(f"  objective  {t.objective_type.value.lower()} {t.objective_metric}")
    stopping = es.policy.value
    if es.policy.value == "bandit":
        slack = f"slack_factor {es.slack_factor}" if es.slack_factor is not None else f"slack_amount {es.slack_amount}"
        stopping += f" ({slack}, every {es.evaluation_interval}, after {es.delay_evaluation})"
    elif es.policy.value in ("median", "truncation"):
        stopping += f" (every {es.evaluation_interval}, after {es.delay_evaluation})"
    elif es.policy.value == "asha":
        stopping += f" (min_resource {es.min_resource}, reduction_factor {es.reduction_factor})"
    lines.append(f"  stopping   {stopping}")
    budget = [f"{t.max_runtime_seconds} s for the sweep"] if t.max_runtime_seconds else []
    budget += [f"{t.trial_timeout_seconds} s per trial"] if t.trial_timeout_seconds else []
    if budget:
        lines.append(f"  budget     {', '.join(budget)}")
    width = max(len(name) for name in t.hyperparameter_ranges)
    for index, (name, r) in enumerate(t.hyperparameter_ranges.items()):
        lines.append(f"  {'tunes' if index == 0 else '':<10} {name:<{width}}  {r.describe()}")
    from hpo_flow.adapters.redact import redact

    fixed = redact(config.fixed_hyperparameters())
    if fixed:
        lines.append(f"  fixed      {', '.join(f'{k}={v}' for k, v in fixed.items())}")
    lines.append(
        f"  mlflow     experiment {config.experiment_name}, model {config.registered_model_name}@{config.mlflow.alias}"
    )
    return lines


def cmd_plan(args: argparse.Namespace) -> int:
    from hpo_flow.adapters import get_adapter
    from hpo_flow.adapters.lifecycle import identify
    from hpo_flow.adapters.port import ExportsJob
    from hpo_flow.adapters.redact import mask_values, redact, secret_values
    from hpo_flow.adapters.spec import load_config

    # The first generation's request; a later one differs in its name and warm start (docs/pipeline.md).
    config = identify(load_config(args.config, args.overrides), args.config)
    backend = args.backend or config.tuning.backend
    adapter = get_adapter(backend)
    if args.out:
        if not isinstance(adapter, ExportsJob):
            raise HpoFlowError(f"the {backend} backend has no job file to submit by hand; `hpo-flow run` submits it")
        out = Path(args.out)
        if out.exists() and not out.is_dir():
            raise HpoFlowError(f"--out {out}: a file is there; name a folder (it is made if missing)")
        try:
            submit = adapter.export_job(config, out)
        except OSError as exc:
            raise HpoFlowError(
                f"--out {out}: cannot write there ({exc.strerror}); name a folder you can write"
            ) from None
        print(f"wrote the {backend} job and the code it runs into {args.out}; submit it with: {submit}")
        return EXIT_OK
    plan = redact(adapter.plan(config))
    # A secret can sit where no key says so: the values of a categorical range named api_token.
    print(mask_values(_render(plan, args.format), secret_values(config.model_dump(mode="json"))))
    return EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    from hpo_flow.cli.run import run_from_cli

    return run_from_cli(
        args.config,
        backend=args.backend,
        overrides=args.overrides,
        dry_run=args.dry_run,
        new_sweep=args.new_sweep,
        attach=args.attach,
    )


def cmd_worker(args: argparse.Namespace) -> int:
    from hpo_flow.adapters import get_adapter
    from hpo_flow.adapters.lifecycle import identify
    from hpo_flow.adapters.port import TakesWorkers
    from hpo_flow.adapters.spec import load_config

    config = identify(load_config(args.config, args.overrides), args.config)
    adapter = get_adapter(config.tuning.backend)
    if not isinstance(adapter, TakesWorkers):
        raise HpoFlowError(
            f"the {config.tuning.backend} backend runs its trials itself and takes no workers; "
            "hpo-flow worker joins the sweeps of a backend that does (local)"
        )
    return adapter.run_worker(config)


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
