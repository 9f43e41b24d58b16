"""`hpo-flow worker config.yaml`: run trials of a shared local sweep in the foreground (scale-out).

A worker joins the study named after the config's sweep in `backends.local.storage` and claims
trials from it like the runner that `submit` started, so several machines share one sweep's
budget without running a configuration twice. Its trial directories and logs are in its own
`<workdir>/<sweep name>` on its machine. Ctrl-C (or SIGTERM) makes it leave: its running trials
are stopped and handed back to the sweep to be retried by another worker.
"""

from __future__ import annotations

import logging
import signal
import sys
from pathlib import Path

from hpo_flow.adapters.errors import HpoFlowError, Problem
from hpo_flow.adapters.spec import HpoConfig


def latest_generation(config: HpoConfig, cwd: Path) -> HpoConfig:
    """The newest generation of the config's sweep in the shared storage (what `hpo-flow run`
    submitted last), so that a worker joins the sweep that runs now, not the first one."""
    import re

    from hpo_flow.adapters.lifecycle import Decision, for_generation
    from hpo_flow.adapters.local.state import SweepPaths
    from hpo_flow.adapters.local.storage import open_storage, storage_target

    first = config.sweep_name()
    target = storage_target(config, SweepPaths.for_spec(config, cwd).root)
    names = [s.study_name for s in open_storage(target).get_all_studies()]
    pattern = re.compile(rf"^{re.escape(first)}(?:-g(\d+))?$")
    numbers = [int(m.group(1) or 1) for n in names if (m := pattern.match(n))]
    latest = max(numbers, default=1)
    return config if latest == 1 else for_generation(config, Decision(latest, True, "the newest in the storage"))


def run_worker(config: HpoConfig) -> int:
    """Exit 0 when the sweep completed (here or elsewhere), 1 when it failed or was stopped, 130 on leave."""
    from hpo_flow.adapters.local.search import local_problems

    storage = config.backends.local.storage
    if not storage:
        raise HpoFlowError(
            str(
                Problem(
                    "backends.local.storage",
                    storage,
                    "a worker shares the sweep through its storage; set a database URL every machine can reach, "
                    "e.g. postgresql://user@db-host:5432/hpo (or the path of a journal file on a shared file system)",
                )
            )
        )
    problems = local_problems(config)
    if problems:
        from hpo_flow.adapters.errors import PlanError

        raise PlanError("local", problems)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    from hpo_flow.adapters.local.loop import SweepLoop
    from hpo_flow.adapters.local.outages import outage_error
    from hpo_flow.adapters.local.state import SweepPaths, write_spec
    from hpo_flow.adapters.port import SweepStatus
    from hpo_flow.adapters.redact import redact_text

    cwd = Path.cwd()
    where = f"the sweep's storage {redact_text(storage)}"
    try:
        config = latest_generation(config, cwd)
    except Exception as exc:
        raise outage_error(exc, where) from exc
    paths = SweepPaths.for_spec(config, cwd)
    if not paths.spec.exists():
        write_spec(paths, config, cwd)  # so `cancel` on this machine can find the sweep and its trials
    loop = SweepLoop(config, paths, cwd, role="worker")
    previous = {s: signal.signal(s, lambda n, _f: loop.request(n)) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        status = loop.run()
    except Exception as exc:  # a storage outage longer than the patience: one line, not a traceback
        raise outage_error(exc, where) from exc
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    if status is None:
        return 130
    print(f"sweep {config.sweep_name()}: {status.value.lower()}", file=sys.stderr)
    return 0 if status == SweepStatus.COMPLETED else 1
