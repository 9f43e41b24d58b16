"""The faults of a real night, through `hpo-flow run` as a user runs it (not below the flow):
the runner OOM-killed while the run lives, a journal torn after a crash, two triggers at once,
and regexes that backtrack without end. Each case fails when the fault wins: a sweep closed or
paid for again (a second generation, a configuration completed twice), a trial lost or recorded
twice, a run left RUNNING, a process left behind, a canary in what hpo-flow uploaded, a traceback."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from chaos.kills import _check_mlflow, _cli, _secret_store, _write, config, tagged_scope, trials_in
from chaos.probe import HANG_S, Tally, grep_tree, wait_untagged

MAX_JOBS = 6


def night_faults(base: Path) -> Tally:
    tally = Tally("night faults (via hpo-flow run)")
    for name, case in (
        ("runner OOM-killed", _runner_killed),
        ("torn journal", _torn_journal),
        ("two triggers", _two_triggers),
        ("postgresql away 20 s", _database_away),
        ("disk full 8 s", _disk_full),
        ("config edited mid-sweep", _config_edited),
        ("config read-only", _config_read_only),
    ):
        root = base / name.replace(" ", "-")
        root.mkdir()
        started = time.perf_counter()
        with tagged_scope() as tag:
            _write(root, config(root, max_jobs=MAX_JOBS, max_parallel_jobs=2, random_seed=11))
            checked = False
            try:
                checked = bool(case(root, tally, name))
            except Exception as exc:  # a case that cannot even be staged is a failure, said in one line
                tally.fail(f"{name}: {type(exc).__name__}: {exc}")
            if not checked:
                _sweep_checks(root, tally, name)
            left = wait_untagged(tag, 20)
            if left:
                tally.fail(f"{name}: orphans {left}")
        for hit in grep_tree(root, _secret_store):
            tally.fail(f"{name}: canary {hit}")
        tally.cases += 1
        tally.figures[name] = {**tally.figures.get(name, {}), "seconds": round(time.perf_counter() - started)}
    _regex_hangs(base, tally)
    return tally


def _finish(proc: subprocess.Popen[bytes], tally: Tally, label: str, timeout: float = 400) -> int | None:
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        tally.fail(f"{label}: hpo-flow run hang (no end in {timeout:.0f} s)")
        return None


def _sweep_dirs(root: Path, workdir: Path | None = None) -> list[Path]:
    return sorted(p.parent for p in (workdir or root / ".hpo").glob("*/spec.json"))


def _wait_for_completed(root: Path, count: int, timeout: float = 120, workdir: Path | None = None) -> Path | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            done = sum(t.state.name == "COMPLETE" for t in trials_in(root, workdir))
        except Exception:  # the study is being created: look again
            done = 0
        dirs = _sweep_dirs(root, workdir)
        if done >= count and dirs:
            return dirs[0]
        time.sleep(0.3)
    return None


def _kill_runner(sweep: Path) -> int | None:
    from hpo_flow.adapters.local.state import SweepPaths, read_runner_pid

    pid = read_runner_pid(SweepPaths(sweep))
    if pid is not None:
        os.kill(pid, signal.SIGKILL)
    return pid


def _runner_killed(root: Path, tally: Tally, label: str) -> None:
    """The OOM killer takes the runner mid-sweep; `hpo-flow run` lives and must resume it."""
    log = root / "cli.log"
    proc = _cli(root, log)
    sweep = _wait_for_completed(root, 2)
    if sweep is None or _kill_runner(sweep) is None:
        tally.fail(f"{label}: the sweep never got two trials done to interrupt")
    code = _finish(proc, tally, label)
    text = log.read_text(errors="replace")
    tally.figures[label] = {"exit": code, "resumed": "resuming it" in text}
    if code != 0:
        tally.fail(f"{label}: hpo-flow run exit {code} after its runner was killed: {text[-300:]}")


def _torn_journal(root: Path, tally: Tally, label: str) -> None:
    """A crash of everything (the run and its runner), then the journal's last 40 bytes lost, as
    a power cut inside the fsync window leaves it; the next night's run must resume the sweep."""
    log = root / "cli.log"
    first = _cli(root, log)
    sweep = _wait_for_completed(root, 2)
    os.kill(first.pid, signal.SIGKILL)
    first.wait()
    if sweep is None or _kill_runner(sweep) is None:
        tally.fail(f"{label}: the sweep never got two trials done to tear")
        return
    time.sleep(1)  # the runner's trials die with it (death signal)
    journal = sweep / "study.journal"
    data = journal.read_bytes()
    journal.write_bytes(data[:-40])
    code = _finish(_cli(root, log), tally, label)
    text = log.read_text(errors="replace")
    kept = (sweep / "study.journal.torn").exists()
    tally.figures[label] = {"exit": code, "torn_bytes_kept": kept}
    if code != 0:
        tally.fail(f"{label}: the run after the tear exit {code}: {text[-300:]}")
    if not kept:
        tally.fail(f"{label}: the torn record was not kept aside (study.journal.torn)")


def _two_triggers(root: Path, tally: Tally, label: str) -> None:
    """Two `hpo-flow run` of one config fired together (a schedule and an event): one sweep,
    each trial recorded once."""
    logs = [root / "cli-a.log", root / "cli-b.log"]
    procs = [_cli(root, log) for log in logs]
    codes = [_finish(proc, tally, label) for proc in procs]
    tally.figures[label] = {"exits": codes}
    for code, log in zip(codes, logs, strict=True):
        if code != 0:
            tally.fail(f"{label}: a run exit {code}: {log.read_text(errors='replace')[-300:]}")


def _database_away(root: Path, tally: Tally, label: str) -> bool:
    """The study's PostgreSQL unreachable for 20 s mid-sweep (a restart, a failover): the sweep
    waits it out and the run ends well."""
    import yaml

    from chaos.kills import database
    from tests.outages import Outage

    with database() as url:
        if url is None:
            tally.figures[label] = {"skipped": "no PostgreSQL at 127.0.0.1:5432"}
            _finish(_cli(root, root / "cli.log"), tally, label)  # one plain run, for the shared checks
            return False
        proxy = Outage(("127.0.0.1", 5432))
        try:
            data = yaml.safe_load((root / "config.yaml").read_text())
            data["backends"]["local"]["storage"] = url.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")
            _write(root, data)
            log = root / "cli.log"
            proc = _cli(root, log)
            if _wait_for_completed(root, 1) is None:
                tally.fail(f"{label}: no trial completed before the outage")
            proxy.cut()
            time.sleep(20)
            proxy.restore()
            code = _finish(proc, tally, label)
            text = log.read_text(errors="replace")
            tally.figures[label] = {"exit": code}
            if code != 0:
                tally.fail(f"{label}: hpo-flow run exit {code} after the database came back: {text[-300:]}")
            _sweep_checks(root, tally, label)  # while the study's database is still there
        finally:
            proxy.close()
    return True


def _disk_full(root: Path, tally: Tally, label: str) -> None:
    """The sweep directory's file system full for 8 s mid-sweep."""
    import contextlib
    import shutil

    import yaml

    disk = root / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(disk)], capture_output=True)
    if mounted.returncode != 0:
        tally.figures[label] = {"skipped": "cannot mount a small file system here"}
        _finish(_cli(root, root / "cli.log"), tally, label)  # one plain run, for the shared checks
        return
    log = root / "cli.log"
    try:
        data = yaml.safe_load((root / "config.yaml").read_text())
        data["backends"]["local"]["workdir"] = str(disk / "work")
        _write(root, data)
        proc = _cli(root, log)
        if _wait_for_completed(root, 1, workdir=disk / "work") is None:
            tally.fail(f"{label}: no trial completed before the disk filled")
        filler = disk / "filler"
        with filler.open("wb") as f, contextlib.suppress(OSError):
            while True:
                f.write(b"\0" * 65536)
        time.sleep(8)
        filler.unlink()
        code = _finish(proc, tally, label)
        shutil.copytree(disk / "work", root / ".hpo")  # where the shared checks read the sweep
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)
    tally.figures[label] = {"exit": code}
    if code != 0:
        tail = log.read_text(errors="replace")[-300:]
        tally.fail(f"{label}: hpo-flow run exit {code} after the disk was freed: {tail}")


def _config_edited(root: Path, tally: Tally, label: str) -> None:
    """The user sets a tuned value by hand while the sweep runs: write-back keeps it, and says so."""
    log = root / "cli.log"
    proc = _cli(root, log)
    if _wait_for_completed(root, 1) is None:
        tally.fail(f"{label}: no trial completed before the edit")
    path = root / "config.yaml"
    path.write_text(path.read_text().replace("    mode: ok\n", "    mode: ok\n    x: 0.4321\n", 1))
    code = _finish(proc, tally, label)
    text = log.read_text(errors="replace")
    kept = "x: 0.4321" in path.read_text()
    tally.figures[label] = {"exit": code, "user_value_kept": kept}
    if code != 0 or not kept or "kept your value of x" not in text:
        tally.fail(f"{label}: the user's edit was overwritten or not said (exit {code}): {text[-300:]}")


def _config_read_only(root: Path, tally: Tally, label: str) -> None:
    """A read-only config.yaml is not rewritten; the run says so."""
    path = root / "config.yaml"
    before = path.read_bytes()
    path.chmod(0o444)
    try:
        code = _finish(_cli(root, root / "cli.log"), tally, label)
    finally:
        path.chmod(0o644)
    text = (root / "cli.log").read_text(errors="replace")
    untouched = path.read_bytes() == before
    tally.figures[label] = {"exit": code, "untouched": untouched}
    if code != 0 or not untouched or "read-only" not in text:
        tally.fail(f"{label}: a read-only config was rewritten or the run did not say (exit {code}): {text[-300:]}")


def _sweep_checks(root: Path, tally: Tally, label: str) -> None:
    """One sweep (never a second generation paid for), max_jobs trials that count, no configuration
    completed twice, every trial once in MLflow and none RUNNING, no traceback printed."""
    try:
        _check_sweep(root, tally, label)
    except Exception as exc:  # the store could not be read at all: a failure, in one line
        tally.fail(f"{label}: the sweep's records cannot be read: {type(exc).__name__}: {str(exc)[:200]}")


def _check_sweep(root: Path, tally: Tally, label: str) -> None:
    dirs = _sweep_dirs(root)
    if len(dirs) != 1:
        tally.fail(f"{label}: {len(dirs)} sweeps for one intent (a new generation paid for): {[d.name for d in dirs]}")
    from hpo_flow.adapters.local.state import RESULT_ATTR

    trials = trials_in(root)
    completed = [tuple(sorted(t.params.items())) for t in trials if t.state.name == "COMPLETE"]
    # What the budget paid for: every finished trial but those a dead runner cut short (re-run).
    counted = [t for t in trials if t.state.is_finished() and (t.user_attrs.get(RESULT_ATTR) or {}).get("counts", True)]
    figures: dict[str, Any] = tally.figures.setdefault(label, {})
    figures.update(completed=len(completed), counted=len(counted), trials=len(trials))
    if len(counted) != MAX_JOBS or not completed:
        tally.fail(f"{label}: {len(counted)} of {MAX_JOBS} trials counted (lost, or paid beyond the budget)")
    if len(completed) != len(set(completed)):
        tally.fail(f"{label}: a configuration completed twice (paid twice)")
    _check_mlflow(root, tally, label)
    for log in root.glob("cli*.log"):
        if "Traceback" in log.read_text(errors="replace"):
            tally.fail(f"{label}: a traceback in {log.name}")


def _regex_hangs(base: Path, tally: Tally) -> None:
    """`hpo-flow validate` on metric regexes that backtrack without end returns, with no traceback."""
    import yaml

    for regex in (r"^(([0-9a-z.: ]+)+)+$X", r"^((.|..)+)\1+$"):
        root = base / f"regex-{len(regex)}"
        root.mkdir()
        data = config(root)
        data["training"]["metric_definitions"] = [{"Name": "accuracy", "Regex": regex}]
        (root / "config.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
        command = [str(Path(sys.executable).with_name("hpo-flow")), "validate", "config.yaml"]
        started = time.perf_counter()
        try:
            done = subprocess.run(command, cwd=root, capture_output=True, text=True, timeout=HANG_S * 3)
        except subprocess.TimeoutExpired:
            tally.fail(f"regex {regex!r}: validate hang")
            continue
        finally:
            tally.cases += 1
        tally.figures.setdefault("regex_validate_s", []).append(round(time.perf_counter() - started, 2))
        if "Traceback" in done.stderr or done.returncode not in (0, 2):
            tally.fail(f"regex {regex!r}: validate exit {done.returncode}: {done.stderr[-300:]}")
