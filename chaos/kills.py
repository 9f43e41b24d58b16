"""kill -9 at random points of the runner, the CLI and a worker on another host, and a sweep of
faulty trials. Each scenario checks: no finished trial lost, none run twice, nothing left running,
no canary anywhere it could be read, no traceback."""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from chaos.probe import CANARIES, TAG_VAR, Tally, grep_tree, kill_tagged, leaks, tagged, wait_untagged

URL_PW, ENV_PW, HYPER_PW, LOG_PW, _ = CANARIES
PG = "postgresql://postgres@127.0.0.1:5432"

TRIAL = r"""
import argparse, math, os, signal, subprocess, sys, time
p = argparse.ArgumentParser()
p.add_argument("--x", type=float, default=0.5)
p.add_argument("--mode", default="ok")
p.add_argument("--steps", type=int, default=3)
p.add_argument("--sleep", type=float, default=0.2)
a, _ = p.parse_known_args()
m = a.mode
if m == "stubborn":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
if m == "child":
    subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
if m == "fail":
    print("ValueError: boom", file=sys.stderr); sys.exit(3)
if m == "segv":
    os.kill(os.getpid(), signal.SIGSEGV)
if m == "silent":
    sys.exit(0)
if m in ("hang", "stubborn"):
    while True: time.sleep(0.1)
if m == "bigline":
    print("x" * 40000 + f" postgresql://u:{os.environ.get('LOG_DB_PASSWORD', '')}@db/x")
print(f"connecting to postgresql://u:{os.environ.get('LOG_DB_PASSWORD', '')}@db/x", file=sys.stderr)
# A trial that echoes its secrets bare (a debug print, a library's banner): they are in its raw
# output.log, and must be masked in every copy hpo-flow uploads.
print("password", os.environ.get("DB_PASSWORD", ""), "key", os.environ.get("WANDB_KEY", ""))
score = 1 - (a.x - 0.3) ** 2
for step in range(1, a.steps + 1):
    print(f"accuracy: {'nan' if m == 'nan' else score * step / a.steps:.6f}", flush=True)
    time.sleep(a.sleep)
with open(os.path.join(os.environ["HPO_MODEL_DIR"], "model.txt"), "w") as f:
    f.write(str(score))
"""


@contextlib.contextmanager
def tagged_scope() -> Iterator[str]:
    """Everything started inside carries a fresh tag; whatever is left at the end is killed (and counted)."""
    tag = uuid.uuid4().hex[:12]
    previous = os.environ.get(TAG_VAR)
    os.environ[TAG_VAR] = tag
    try:
        yield tag
    finally:
        kill_tagged(tag)
        if previous is None:
            os.environ.pop(TAG_VAR, None)
        else:
            os.environ[TAG_VAR] = previous


@contextlib.contextmanager
def database() -> Iterator[str | None]:
    try:
        import psycopg2
    except ImportError:
        yield None
        return
    name = f"hpo_chaos_{uuid.uuid4().hex[:10]}"
    try:
        admin = psycopg2.connect(f"{PG}/postgres")
    except psycopg2.OperationalError:
        yield None
        return
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql://postgres:{URL_PW}@127.0.0.1:5432/{name}"  # trust auth: the password is a canary
    finally:
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def config(root: Path, **tuning: Any) -> dict[str, Any]:
    (root / "train.py").write_text(TRIAL)
    data: dict[str, Any] = {
        "project": "chaos",
        "training": {
            "entry_point": "train.py",
            "source_dir": ".",
            "hyperparameters": {"steps": 3, "sleep": 0.2, "mode": "ok"},
            "environment": {"DB_PASSWORD": ENV_PW, "LOG_DB_PASSWORD": LOG_PW, "WANDB_KEY": HYPER_PW},
            "metric_definitions": [{"Name": "accuracy", "Regex": "accuracy: ([0-9.naif]+)"}],
        },
        "tuning": {
            "strategy": "Random",
            "max_jobs": 8,
            "max_parallel_jobs": 2,
            "objective_metric": "accuracy",
            "objective_type": "Maximize",
            "random_seed": 5,
            "poll_interval_seconds": 0.5,
            "update_config": True,
            "hyperparameter_ranges": {"x": {"type": "continuous", "min": 0.0, "max": 1.0}},
        },
        "backends": {"local": {"gpus": "none", "kill_grace_seconds": 1}},
        "mlflow": {"tracking_uri": f"sqlite:///{root / 'mlflow.db'}"},
    }
    data["tuning"].update(tuning)
    return data


def _write(root: Path, data: dict[str, Any]) -> Path:
    path = root / "config.yaml"
    path.write_text("# chaos config: the comment must survive write-back\n" + yaml.safe_dump(data, sort_keys=False))
    return path


def _secret_store(path: Path) -> bool:
    """Where the secrets are meant to be: the user's own config (and its write-back backup), the
    runner's copy of it (0600), and each trial's raw output as the script printed it, in the sweep
    directory. A copy of that output uploaded to MLflow (also named output.log) is not one."""
    if path.name in ("output.log", "output.log.1"):
        return ".hpo" in path.parts
    return path.name in ("config.yaml", "config.yaml.bak", "spec.json", "spec.json.tmp")


def _study_trials(spec: Any, paths: Any) -> list[Any]:
    from hpo_flow.adapters.local.storage import find_study, open_storage, storage_target

    study = find_study(open_storage(storage_target(spec, paths.root)), spec.sweep_name())
    return [] if study is None else study.get_trials(deepcopy=False)


def _sweep_trials(root: Path, workdir: Path | None = None) -> list[Any]:
    """Trials of every sweep under root's work dir (or `workdir`), each read with the spec its runner
    was given (the name carries the generation, which the config alone does not)."""
    from hpo_flow.adapters.local.state import SweepPaths, read_spec

    trials: list[Any] = []
    for spec_file in sorted((workdir or root / ".hpo").glob("*/spec.json")):
        paths = SweepPaths(spec_file.parent)
        spec, _ = read_spec(paths)
        trials += _study_trials(spec, paths)
    return trials


def trials_in(root: Path, workdir: Path | None = None) -> list[Any]:
    """`_sweep_trials`, read from `root` as the runs there see it (relative paths and all)."""
    here = os.getcwd()
    os.chdir(root)
    try:
        return _sweep_trials(root, workdir)
    finally:
        os.chdir(here)


def _lost_and_duplicates(before: dict[int, float], trials: list[Any], tally: Tally, label: str) -> None:
    from optuna.trial import TrialState

    now = {t.number: t.value for t in trials if t.state == TrialState.COMPLETE}
    for number, value in before.items():
        if now.get(number) != value:
            tally.fail(f"{label}: finished trial {number} lost ({value} -> {now.get(number)})")
    done = [tuple(sorted(t.params.items())) for t in trials if t.state == TrialState.COMPLETE]
    if len(done) != len(set(done)):
        tally.fail(f"{label}: {len(done) - len(set(done))} configuration(s) completed twice")


def runner_kills(base: Path, rounds: int, rng: random.Random) -> Tally:
    """kill -9 of the detached runner at a random moment, then submit again: the sweep resumes."""
    from hpo_flow.adapters.local import LocalAdapter
    from hpo_flow.adapters.local.state import SweepPaths, read_runner_pid
    from hpo_flow.adapters.spec import parse_config

    tally = Tally("runner kill -9")
    kills = 0
    for index in range(rounds):
        root = base / f"runner-{index}"
        root.mkdir()
        here = os.getcwd()
        os.chdir(root)
        try:
            with tagged_scope() as tag:
                spec = parse_config(config(root, max_jobs=8, max_parallel_jobs=2))
                paths = SweepPaths.for_spec(spec, root)
                adapter = LocalAdapter()
                ref = adapter.submit(spec)
                for _ in range(2):  # kill it twice per sweep at random points
                    time.sleep(rng.uniform(0.3, 3.0))
                    done = {t.number: t.value for t in _study_trials(spec, paths) if t.state.name == "COMPLETE"}
                    pid = read_runner_pid(paths)
                    if pid is not None:
                        with contextlib.suppress(ProcessLookupError):
                            os.kill(pid, signal.SIGKILL)
                            kills += 1
                    time.sleep(0.3)
                    adapter.submit(spec)  # resume
                    _lost_and_duplicates(done, _study_trials(spec, paths), tally, f"round {index}")
                end = time.monotonic() + 120
                while not (state := adapter.poll(ref)).status.is_terminal and time.monotonic() < end:
                    time.sleep(0.2)
                tally.cases += 1
                if state.status.value != "COMPLETED":
                    tally.fail(f"round {index}: sweep ended {state.status.value}: {state.message}")
                completed = sum(t.status.value == "COMPLETED" for t in state.trials)
                if completed != 8:
                    tally.fail(f"round {index}: {completed} of 8 trials completed")
                _lost_and_duplicates({}, _study_trials(spec, paths), tally, f"round {index}")
                left = wait_untagged(tag, 15)
                if left:
                    tally.fail(f"round {index}: orphans {left}")
                for hit in leaks(str(state)):
                    tally.fail(f"round {index}: canary {hit} in what poll returns")
                for hit in grep_tree(root, _secret_store):
                    tally.fail(f"round {index}: {hit}")
        finally:
            os.chdir(here)
    tally.figures["kills"] = kills
    return tally


def _cli(root: Path, log: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
    # PREFECT_HOME beside the code, not in it, as a user's ~/.prefect is.
    home = root.parent / f"{root.name}-prefect-home"
    env.update(PREFECT_HOME=str(home), MLFLOW_DISABLE_TELEMETRY="true", DO_NOT_TRACK="1")
    with log.open("ab") as out:
        return subprocess.Popen(
            [str(Path(sys.executable).with_name("hpo-flow")), "run", "config.yaml"],
            cwd=root,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )


def cli_kills(base: Path, rounds: int, rng: random.Random) -> Tally:
    """kill -9 of `hpo-flow run` at a random point (server start, sweep, MLflow, write-back); its
    temporary Prefect server must go with it, the config must stay whole, and a second run must
    finish the same sweep with every trial in MLflow."""
    from hpo_flow.adapters.spec import load_config

    tally = Tally("hpo-flow run kill -9")
    for index in range(rounds):
        root = base / f"cli-{index}"
        root.mkdir()
        with tagged_scope() as tag, database() as url:
            data = config(root, max_jobs=6, max_parallel_jobs=2)
            if url:
                data["backends"]["local"]["storage"] = url
            path = _write(root, data)
            log = root / "cli.log"
            first = _cli(root, log)
            moment = rng.uniform(3, 25)  # a whole run takes 25-45 s here: server start, sweep, MLflow, write-back
            try:
                first.wait(timeout=moment)
                tally.figures.setdefault("finished_before_kill", 0)
                tally.figures["finished_before_kill"] += 1
            except subprocess.TimeoutExpired:
                first.kill()
                first.wait()
            servers = [p for p in wait_untagged(tag, 10) if "uvicorn" in p[1] or "prefect" in p[1]]
            if servers:
                tally.fail(f"round {index}: Prefect server left running after kill -9: {servers}")
            try:
                load_config(path)
            except Exception as exc:
                tally.fail(f"round {index}: config torn by the kill: {exc}")
            second = _cli(root, log)
            try:
                code = second.wait(timeout=400)
            except subprocess.TimeoutExpired:
                second.kill()
                code = None
                tally.fail(f"round {index}: the second run hung")
            tally.cases += 1
            text = log.read_text(errors="replace")
            if code != 0:
                tally.fail(f"round {index}: second run exit {code}: {text[-300:]}")
            if "Traceback" in text:
                tally.fail(f"round {index}: a traceback in the CLI output")
            try:
                _check_mlflow(root, tally, f"round {index}")
            except Exception as exc:
                tally.fail(f"round {index}: MLflow store unreadable after the kill: {type(exc).__name__}: {exc}")
            left = wait_untagged(tag, 20)
            if left:
                tally.fail(f"round {index}: orphans {left}")
            for hit in grep_tree(root, _secret_store):
                tally.fail(f"round {index}: {hit}")
            tally.figures["kill_moments_s"] = [*tally.figures.get("kill_moments_s", []), round(moment, 1)]
    return tally


def _check_mlflow(root: Path, tally: Tally, label: str) -> None:
    """Every completed trial of the sweep is a finished child run in MLflow."""
    from mlflow import MlflowClient

    trials = trials_in(root)
    completed = {f"trial-{t.number:04d}" for t in trials if t.state.name == "COMPLETE"}
    client = MlflowClient(tracking_uri=f"sqlite:///{root / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("chaos")
    every = client.search_runs([experiment.experiment_id], "", max_results=5000) if experiment else []
    runs = [r for r in every if r.data.tags.get("hpo.run_kind") == "trial"]
    recorded = {r.data.tags.get("hpo.trial_id") for r in runs if r.info.status == "FINISHED"}
    missing = completed - recorded
    if missing or not completed:
        tally.fail(f"{label}: completed trials missing from MLflow: {sorted(missing) or 'no trial completed'}")
    seen: dict[tuple[str | None, str | None], int] = {}
    for run in runs:
        key = (run.data.tags.get("hpo.sweep_name"), run.data.tags.get("hpo.trial_id"))
        seen[key] = seen.get(key, 0) + 1
    twice = sorted(f"{sweep}/{trial}" for (sweep, trial), n in seen.items() if n > 1)
    if twice:
        tally.fail(f"{label}: trials recorded twice in MLflow (duplicate child runs): {twice}")
    parents: dict[str | None, int] = {}
    for run in every:
        if run.data.tags.get("hpo.run_kind") == "sweep":
            parents[run.data.tags.get("hpo.sweep_name")] = parents.get(run.data.tags.get("hpo.sweep_name"), 0) + 1
    if any(n > 1 for n in parents.values()):
        tally.fail(f"{label}: a sweep recorded twice in MLflow (two parent runs): {parents}")
    stuck = [r.data.tags.get("hpo.trial_id") or r.info.run_name for r in every if r.info.status == "RUNNING"]
    if stuck:
        tally.fail(f"{label}: MLflow runs stuck RUNNING after the run ended: {stuck}")
    tally.figures["mlflow_runs"] = tally.figures.get("mlflow_runs", 0) + len(runs)


def worker_kills(base: Path) -> Tally:
    """Two `hpo-flow worker`s share a PostgreSQL study; the one on "another host" (its own UTS
    namespace) is killed mid-trial. The survivor must retry its trial and finish the sweep."""
    from hpo_flow.adapters.local.state import RESULT_ATTR, RETRY_ATTR, RUN_ATTR, SweepPaths
    from hpo_flow.adapters.spec import load_config

    tally = Tally("worker kill -9 (other host)")
    if shutil.which("unshare") is None or subprocess.run(["unshare", "-u", "true"]).returncode != 0:
        tally.figures["skipped"] = "no unshare -u here"
        return tally
    root = base / "workers"
    root.mkdir()
    with tagged_scope() as tag, database() as url:
        if url is None:
            tally.figures["skipped"] = "no PostgreSQL at 127.0.0.1:5432"
            return tally
        data = config(root, max_jobs=4, max_parallel_jobs=1)
        data["backends"]["local"]["storage"] = url
        data["training"]["hyperparameters"].update(steps=20, sleep=0.25)
        path = _write(root, data)
        spec = load_config(path)
        env = dict(os.environ, HPO_FLOW_HEARTBEAT_GRACE_S="12")
        cli = [str(Path(sys.executable).with_name("hpo-flow")), "worker", str(path)]
        logs = {name: (root / f"{name}.log").open("wb") for name in ("survivor", "victim")}
        survivor = subprocess.Popen(cli, cwd=root, env=env, stdout=logs["survivor"], stderr=subprocess.STDOUT)
        victim = subprocess.Popen(
            ["unshare", "-u", "sh", "-c", 'hostname chaos-other-host && exec "$@"', "sh", *cli],
            cwd=root,
            env=env,
            stdout=logs["victim"],
            stderr=subprocess.STDOUT,
        )
        here = os.getcwd()
        os.chdir(root)
        try:
            paths = SweepPaths.for_spec(spec, root)
            end = time.monotonic() + 90
            while time.monotonic() < end:
                hosts = {
                    (t.user_attrs.get(RUN_ATTR) or {}).get("host")
                    for t in _study_trials(spec, paths)
                    if t.state.name == "RUNNING"
                }
                if "chaos-other-host" in hosts:
                    break
                time.sleep(0.2)
            victim.kill()
            victim.wait()
            try:
                code = survivor.wait(timeout=180)
            except subprocess.TimeoutExpired:
                survivor.kill()
                code = None
            tally.cases += 1
            text = (root / "survivor.log").read_text(errors="replace")
            if code != 0 or "Traceback" in text:
                tally.fail(f"survivor exit {code}: {text[-400:]}")
            trials = _sweep_trials(root)
            killed = [t for t in trials if (t.user_attrs.get(RUN_ATTR) or {}).get("host") == "chaos-other-host"]
            for t in killed:
                if t.state.name == "COMPLETE":
                    continue
                reason = (t.user_attrs.get(RESULT_ATTR) or {}).get("reason", "")
                retried = [r for r in trials if r.user_attrs.get(RETRY_ATTR) == t.number and r.state.name == "COMPLETE"]
                if len(retried) != 1:
                    tally.fail(f"trial {t.number} of the killed worker retried {len(retried)} times ({reason})")
            completed = sum(t.state.name == "COMPLETE" for t in trials)
            if completed != 4:
                tally.fail(f"{completed} of 4 trials completed")
            _lost_and_duplicates({}, trials, tally, "workers")
            tally.figures["killed_worker_trials"] = len(killed)
        finally:
            os.chdir(here)
            for proc in (survivor, victim):
                if proc.poll() is None:
                    proc.kill()
            for handle in logs.values():
                handle.close()
        left = wait_untagged(tag, 15)
        if left:
            tally.fail(f"orphans {left}")
        for hit in grep_tree(root, _secret_store):
            tally.fail(hit)
    return tally


FAULTS = {  # mode: the status its trial must end with
    "ok": "COMPLETED",
    "fail": "FAILED",
    "segv": "FAILED",
    "silent": "FAILED",
    "nan": "FAILED",
    "hang": "FAILED",
    "stubborn": "FAILED",
    "child": "COMPLETED",
    "bigline": "COMPLETED",
}


def faulty_trials(base: Path) -> Tally:
    """One trial of each faulty kind in one sweep (Grid over the mode): each ends as it must, and
    nothing it started is left running."""
    from hpo_flow.adapters.local import LocalAdapter
    from hpo_flow.adapters.spec import parse_config

    tally = Tally("faulty trials")
    root = base / "faulty"
    root.mkdir()
    here = os.getcwd()
    os.chdir(root)
    try:
        with tagged_scope() as tag:
            data = config(root, strategy="Grid", max_jobs=len(FAULTS), max_parallel_jobs=3, trial_timeout_seconds=4)
            data["tuning"]["hyperparameter_ranges"] = {"mode": {"type": "categorical", "values": list(FAULTS)}}
            spec = parse_config(data)
            adapter = LocalAdapter()
            ref = adapter.submit(spec)
            end = time.monotonic() + 120
            while not (state := adapter.poll(ref)).status.is_terminal and time.monotonic() < end:
                time.sleep(0.2)
            tally.cases = len(state.trials)
            got = {t.params.get("mode"): t.status.value for t in state.trials}
            for mode, wanted in FAULTS.items():
                if got.get(mode) != wanted:
                    tally.fail(f"mode {mode}: {got.get(mode)}, expected {wanted}")
            for hit in leaks(str(state)):
                tally.fail(f"canary {hit} in what poll returns")
            left = wait_untagged(tag, 15)
            if left:
                tally.fail(f"orphans {left}")
            tally.figures["statuses"] = dict(sorted(got.items()))
    finally:
        os.chdir(here)
    return tally


def test_run_kills(base: Path) -> Tally:
    """kill -9 of a pytest run once its MLflow server and Prefect harness are up: both must go."""
    tally = Tally("test run kill -9")
    repo = Path(__file__).resolve().parents[1]
    with tagged_scope() as tag:
        log = base / "pytest.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/flow/test_cli_failures.py"],
                cwd=repo,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        end = time.monotonic() + 240
        seen: set[str] = set()
        while time.monotonic() < end and proc.poll() is None:
            for _, argv in tagged(tag):
                if "mlflow" in argv and "server" in argv:
                    seen.add("mlflow")
                if "uvicorn" in argv and "prefect.server" in argv:
                    seen.add("prefect")
            if seen == {"mlflow", "prefect"}:
                break
            time.sleep(0.5)
        tally.cases += 1
        tally.figures["servers_seen"] = sorted(seen)
        if proc.poll() is not None or seen != {"mlflow", "prefect"}:
            tally.fail(f"the test run did not bring both servers up: {sorted(seen)}")
        proc.kill()
        proc.wait()
        left = wait_untagged(tag, 20)
        if left:
            tally.fail(f"servers left after kill -9 of pytest: {left}")
    return tally
