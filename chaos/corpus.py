"""Hostile configs: a hand-written corpus (each case one way to break a config) and property-based
mutations of a valid one. Every case goes through `validate` and `plan` on every backend (and `run`
when it is refused before a sweep starts): the answer must be exit 0 or 2, within the hang deadline,
without a traceback, each problem on one line, and no canary in the output."""

from __future__ import annotations

import copy
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from chaos.probe import CANARIES, CliResult, Tally, leaks, run_cli
from tests.helpers import config_dict, key_paths

URL_PW, ENV_PW, HYPER_PW, LOG_PW, SET_PW = CANARIES

BASE: dict[str, Any] = config_dict(
    {
        "project": "chaos",
        "training.hyperparameters": {"epochs": 3},
        "training.environment": {"DB_PASSWORD": ENV_PW, "WANDB_KEY": HYPER_PW},
        "tuning.hyperparameter_ranges": {
            "lr": {"type": "continuous", "min": 0.001, "max": 0.1, "scaling_type": "Logarithmic"},
            "batch": {"type": "categorical", "values": [16, 32]},
        },
        "backends": {
            "local": {"gpus": "none", "storage": f"postgresql://hpo:{URL_PW}@127.0.0.1:1/hpo"},
            "sagemaker": {
                "role": "arn:aws:iam::123456789012:role/SageMakerRole",
                "image_uri": "123456789012.dkr.ecr.us-east-1.amazonaws.com/train:1",
                "output_path": "s3://bucket/out",
                "region": "us-east-1",
            },
            "azure": {
                "subscription_id": "00000000-0000-0000-0000-000000000000",
                "resource_group": "rg",
                "workspace": "ws",
                "compute": "cpu",
                "environment": "azureml:env@latest",
            },
        },
    }
)


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], Any]:
    def apply(tree: dict[str, Any]) -> Any:
        node = tree
        *parents, last = path.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
        return tree

    return apply


def _drop(path: str) -> Callable[[dict[str, Any]], Any]:
    def apply(tree: dict[str, Any]) -> Any:
        node = tree
        *parents, last = path.split(".")
        for part in parents:
            node = node[part]
        node.pop(last, None)
        return tree

    return apply


def _bomb(levels: int) -> str:
    lines = ['a0: &a0 ["x","x","x","x","x","x","x","x","x"]']
    for i in range(1, levels):
        refs = ",".join([f"*a{i - 1}"] * 9)
        lines.append(f"a{i}: &a{i} [{refs}]")
    return "\n".join(lines) + f"\nproject: *a{levels - 1}\n"


R = "tuning.hyperparameter_ranges"
DEEP: Any = []
for _ in range(200):
    DEEP = [DEEP]

# (name, raw text or a change to BASE)
CASES: list[tuple[str, str | bytes | Callable[[dict[str, Any]], Any]]] = [
    # --- the document itself
    ("empty file", ""),
    ("only comments", "# nothing here\n"),
    ("binary junk", bytes(range(256)) * 4),
    ("latin-1 bytes", "project: caf\xe9\n".encode("latin-1")),
    ("utf-8 bom", "\ufeffproject: p\n"),
    ("tabs", "project: p\ntraining:\n\tentry_point: x\n"),
    ("alias bomb 1kB", _bomb(9)),
    ("alias bomb 12 levels", _bomb(12)),
    ("self-referencing alias", "project: &a [x, *a]\n"),
    ("self-referencing mapping", "training: &t {entry_point: x, again: *t}\n"),
    ("nesting 300 deep", "project: " + "[" * 300 + "]" * 300 + "\n"),
    ("2 MB of comments", "project: p\n" + "# pad pad pad pad\n" * 120_000),
    ("20k-char string", "project: " + "x" * 20_000 + "\n"),
    ("5000-digit int", "project: p\ntuning: {max_jobs: " + "9" * 5000 + "}\n"),
    ("1e400 float", "project: p\ntuning: {max_jobs: 1e400}\n"),
    ("python code", "config = {'project': 'p'}\n"),
    ("json", '{"project": "p", "training": {"entry_point": "t.py"}}'),
    ("two documents", "project: a\n---\nproject: b\n"),
    ("python object tag", "project: !!python/object/apply:os.system ['true']\n"),
    ("merge keys", "base: &b {entry_point: x}\ntraining: {<<: *b}\n"),
    ("duplicate keys", "project: a\nproject: b\n"),
    ("null byte", 'project: "a\\0b"\n'),
    ("cr line ends", "project: p\rtraining: x\r"),
    ("key of 20k chars", "k" * 20_000 + ": 1\n"),
    ("unclosed quote", 'project: "p\n'),
    ("bad indentation", "project: p\n  training: x\n"),
    ("a list at the top", "- project\n- p\n"),
    ("a scalar at the top", "just text\n"),
    # --- values in the tree
    ("project is a list", _set("project", ["a", "b"])),
    ("project is null", _set("project", None)),
    ("project is empty", _set("project", "")),
    ("project with newline", _set("project", "a\nb")),
    ("project with emoji", _set("project", "🚀" * 50)),
    ("project 300 chars", _set("project", "p" * 300)),
    ("entry point escapes", _set("training.entry_point", "../../../etc/passwd")),
    ("entry point shell", _set("training.entry_point", "train.py; rm -rf /")),
    ("entry point empty", _set("training.entry_point", "")),
    ("source dir missing", _set("training.source_dir", "/nonexistent/dir")),
    ("regex invalid", _set("training.metric_definitions", [{"Name": "accuracy", "Regex": "(["}])),
    ("regex no group", _set("training.metric_definitions", [{"Name": "accuracy", "Regex": "accuracy"}])),
    ("regex two groups", _set("training.metric_definitions", [{"Name": "accuracy", "Regex": "(a)(b)"}])),
    ("no metric definitions", _drop("training.metric_definitions")),
    ("objective not defined", _set("tuning.objective_metric", "loss")),
    ("hyperparameter nested", _set("training.hyperparameters.deep", {"a": {"b": 1}})),
    ("hyperparameter canary url", _set("training.hyperparameters.db", f"postgresql://u:{URL_PW}@h/db")),
    ("no ranges", _set(R, {})),
    ("min above max", _set(f"{R}.lr", {"type": "continuous", "min": 1, "max": 0})),
    ("min equals max", _set(f"{R}.lr", {"type": "continuous", "min": 1, "max": 1})),
    ("nan bound", _set(f"{R}.lr", {"type": "continuous", "min": float("nan"), "max": 1})),
    ("inf bound", _set(f"{R}.lr", {"type": "continuous", "min": 0, "max": float("inf")})),
    ("log of negative", _set(f"{R}.lr", {"type": "continuous", "min": -1, "max": 1, "scaling_type": "Logarithmic"})),
    ("unknown range type", _set(f"{R}.lr", {"type": "gaussian-ish", "min": 0, "max": 1})),
    ("categorical empty", _set(f"{R}.batch", {"type": "categorical", "values": []})),
    ("categorical duplicates", _set(f"{R}.batch", {"type": "categorical", "values": [1, 1, "1"]})),
    ("categorical 20k values", _set(f"{R}.batch", {"type": "categorical", "values": list(range(20_000))})),
    ("categorical nested", _set(f"{R}.batch", {"type": "categorical", "values": [[1], {"a": 2}]})),
    ("categorical canary", _set(f"{R}.api_token", {"type": "categorical", "values": [HYPER_PW]})),
    ("range name with dots", _set(f"{R}.a.b", {"type": "integer", "min": 1, "max": 2})),
    ("range is a string", _set(f"{R}.lr", "0.001..0.1")),
    ("deep list value", _set(f"{R}.lr", DEEP)),
    ("max_jobs 0", _set("tuning.max_jobs", 0)),
    ("max_jobs negative", _set("tuning.max_jobs", -5)),
    ("max_jobs 1e40", _set("tuning.max_jobs", 1e40)),
    ("max_jobs 10 million", _set("tuning.max_jobs", 10**7)),
    ("max_jobs word", _set("tuning.max_jobs", "ten")),
    ("max_jobs bool", _set("tuning.max_jobs", True)),
    ("max_parallel 1e20", _set("tuning.max_parallel_jobs", 1e20)),
    ("max_parallel 5000", _set("tuning.max_parallel_jobs", 5000)),
    ("max_parallel 101 (SageMaker)", _set("tuning.max_parallel_jobs", 101)),
    ("max_jobs 751 (SageMaker)", _set("tuning.max_jobs", 751)),
    ("runtime negative", _set("tuning.max_runtime_seconds", -1)),
    ("runtime 1e40", _set("tuning.max_runtime_seconds", 1e40)),
    ("trial timeout 0", _set("tuning.trial_timeout_seconds", 0)),
    ("seed negative", _set("tuning.random_seed", -1)),
    ("seed 2**40", _set("tuning.random_seed", 2**40)),
    ("strategy unknown", _set("tuning.strategy", "Genetic")),
    ("early stopping unknown", _set("tuning.early_stopping", {"policy": "sometimes"})),
    ("slack negative", _set("tuning.early_stopping", {"policy": "bandit", "slack_factor": -1})),
    ("poll interval 0", _set("tuning.poll_interval_seconds", 0)),
    ("gpus word", _set("backends.local.gpus", "all-of-them")),
    ("gpus negative", _set("backends.local.gpus", [-1])),
    ("gpus twice", _set("backends.local.gpus", [0, 0])),
    ("gpus_per_trial huge", _set("backends.local.gpus_per_trial", 10**6)),
    ("workdir in /proc", _set("backends.local.workdir", "/proc/chaos/x")),
    ("workdir under a file", _set("backends.local.workdir", "/etc/hostname/x")),
    ("workdir null byte", _set("backends.local.workdir", "a\0b")),
    ("storage not a url", _set("backends.local.storage", "::not a url::")),
    ("storage unknown driver", _set("backends.local.storage", f"nosuchdb://u:{URL_PW}@h/db")),
    ("tracking uri empty", _set("mlflow.tracking_uri", "")),
    ("tracking uri with password", _set("mlflow.tracking_uri", f"http://u:{URL_PW}@127.0.0.1:1")),
    ("alias with space", _set("mlflow.alias", "bad alias")),
    ("unknown top key", _set("tunning", {"max_jobs": 1})),
    ("sagemaker role bad", _set("backends.sagemaker.role", "not-an-arn")),
    ("sagemaker missing", _drop("backends.sagemaker")),
    ("azure missing", _drop("backends.azure")),
    ("seed style conflict", _set("tuning_config", {"tuning": {"max_jobs": 2}})),
    ("env var secret name", _set("training.environment", {"API_TOKEN": ENV_PW, "X": "y"})),
]


def _texts() -> list[tuple[str, bytes]]:
    out = []
    for name, case in CASES:
        if isinstance(case, bytes):
            out.append((name, case))
        elif isinstance(case, str):
            out.append((name, case.encode()))
        else:
            tree = case(copy.deepcopy(BASE))
            try:
                text = yaml.safe_dump(tree, sort_keys=False, allow_unicode=True, width=10**6)
            except RecursionError:
                text = "project: p\n"
            out.append((name, text.encode()))
    return out


def judge(tally: Tally, name: str, result: CliResult, allowed: tuple[int, ...]) -> None:
    tally.cases += 1
    if result.seconds > tally.figures.get("slowest_s", 0.0):
        tally.figures["slowest_s"] = round(result.seconds, 3)
        tally.figures["slowest"] = name[:60]
    if result.crash:
        tally.fail(f"{name}: {result.crash}")
        return
    if result.code not in allowed:
        tally.fail(f"{name}: exit {result.code}; {result.err.strip()[-200:]}")
    if "Traceback" in result.out + result.err:
        tally.fail(f"{name}: a traceback in the output")
    for line in result.err.splitlines():
        if len(line) > 1000:
            tally.fail(f"{name}: a {len(line)}-character line")
            break
    for canary in leaks(result.out + result.err):
        tally.fail(f"{name}: canary {canary} in the output")


def check_config(tally: Tally, name: str, path: Path, *, run: bool = True) -> None:
    for argv in (
        ["validate", str(path)],
        ["plan", str(path), "--backend", "local"],
        ["plan", str(path), "--backend", "sagemaker"],
        ["plan", str(path), "--backend", "azure", "--format", "json"],
    ):
        # A cloud plan may also exit 1: credentials or a role it cannot use (a CredentialsError).
        allowed = (0, 1, 2) if argv[-1] in ("sagemaker", "json") else (0, 2)
        judge(tally, f"{name} [{' '.join(argv[:1] + argv[2:])}]", run_cli(argv), allowed)
    if run:
        # Only configs refused before a sweep: a valid one would start one (the kill sections do that).
        result = run_cli(["validate", str(path)])
        if result.code == 2:
            judge(tally, f"{name} [run]", run_cli(["run", str(path)]), (2,))


def hostile_corpus(workdir: Path) -> Tally:
    tally = Tally("hostile configs")
    base = workdir / "base.yaml"
    base.write_text(yaml.safe_dump(BASE, sort_keys=False))
    for backend in ("local", "sagemaker", "azure"):  # import each backend once, outside the timings
        run_cli(["plan", str(base), "--backend", backend])
    texts = _texts()
    tally.figures["configs"] = len(texts)
    for index, (name, data) in enumerate(texts):
        path = workdir / f"hostile-{index:03d}.yaml"
        path.write_bytes(data)
        check_config(tally, name, path)
    overrides = [
        ("--set huge int", "tuning.max_jobs=" + "9" * 5000),
        ("--set non-utf8", "project=caf\udcff"),
        ("--set canary", f"backends.local.storage=postgresql://u:{SET_PW}@127.0.0.1:1/x"),
        ("--set bomb", "project=[&a [x,x,x,x,x,x,x,x,x,x], &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a], [*b,*b,*b,*b,*b]]"),
        ("--set no equals", "tuning.max_jobs"),
        ("--set empty key", "=3"),
    ]
    for name, item in overrides:
        judge(tally, name, run_cli(["plan", str(base), "--backend", "local", "--set", item]), (0, 2))
    tally.figures["overrides"] = len(overrides)
    return tally


def mutations(workdir: Path, examples: int) -> Tally:
    """Property-based: hypothesis mutates the valid config; every mutant must be answered cleanly."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    tally = Tally("mutated configs")
    hostile_values = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(10**60), max_value=10**60),
        st.floats(allow_nan=True, allow_infinity=True),
        st.text(max_size=40),
        # Canaries only where they must never show: URL passwords (values at a secret key come from BASE).
        st.sampled_from([f"postgresql://u:{URL_PW}@h/db", f"https://a:{LOG_PW}@x/y", "x" * 12_000, "../..", "(["]),
        st.lists(st.integers(), max_size=5),
        st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
    )

    every = key_paths(BASE)
    counter = [0]

    @settings(max_examples=examples, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(st.lists(st.tuples(st.sampled_from(every), st.sampled_from(["set", "drop"]), hostile_values), max_size=4))
    def mutant(changes: list[tuple[tuple[Any, ...], str, Any]]) -> None:
        tree = copy.deepcopy(BASE)
        for path, how, value in changes:
            node: Any = tree
            try:
                for key in path[:-1]:
                    node = node[key]
                if how == "drop" and isinstance(node, dict):
                    node.pop(path[-1], None)
                else:
                    node[path[-1]] = value
            except (KeyError, IndexError, TypeError):
                continue
        counter[0] += 1
        path_ = workdir / f"mutant-{counter[0] % 50:02d}.yaml"
        path_.write_text(yaml.safe_dump(tree, sort_keys=False, allow_unicode=True, width=10**6))
        for argv in (["validate", str(path_)], ["plan", str(path_), "--backend", "local"]):
            judge(tally, f"mutant {counter[0]} {changes!r:.200} [{argv[0]}]", run_cli(argv), (0, 2))

    started = time.perf_counter()
    mutant()
    tally.figures["mutants"] = counter[0]
    tally.figures["seconds"] = round(time.perf_counter() - started, 1)
    return tally


def corpus_sections(examples: int) -> list[Tally]:
    with tempfile.TemporaryDirectory(prefix="hpo-chaos-configs-") as tmp:
        work = Path(tmp)
        (work / "train.py").write_text("print('accuracy: 0.5')\n")
        import os

        here = os.getcwd()
        os.chdir(work)  # relative paths in the configs (source_dir, workdir) resolve here
        try:
            return [hostile_corpus(work), mutations(work, examples)]
        finally:
            os.chdir(here)
