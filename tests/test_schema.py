"""The MLflow schema (hpo_flow.tasks.tracking.schema): one place for every key, its formats, its docs."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from hpo_flow.tasks.tracking import schema
from hpo_flow.tasks.tracking.schema import PromotionBasis, PromotionVerdict, parse_objective, read_objective

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "hpo_flow"
DOC = ROOT / "docs" / "mlflow-and-writeback.md"
BEGIN, END = "<!-- schema:begin -->", "<!-- schema:end -->"

# Not MLflow keys: Optuna study and trial user attributes of the local backend, which share the
# "hpo." prefix and have their own one home in these modules (renaming them would orphan studies).
OPTUNA_ATTRIBUTES = {PACKAGE / "adapters" / "local" / "state.py", PACKAGE / "adapters" / "local" / "warm.py"}

KEY = re.compile(r"(?<![\w.])hpo\.(?:[a-z_]|$)")  # a key, or the prefix of one built in an f-string


def _literal_keys(path: Path) -> list[tuple[int, str]]:
    """String literals (f-string parts included) that spell an `hpo.*` key; docstrings may name keys."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                docstrings.add(id(body[0].value))
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
        and KEY.search(node.value)
    ]


def test_no_module_but_the_schema_spells_an_hpo_key() -> None:
    found = {
        f"{path.relative_to(ROOT)}:{line}: {text!r}"
        for path in sorted(PACKAGE.rglob("*.py"))
        if path != Path(schema.__file__).resolve() and path not in OPTUNA_ATTRIBUTES
        for line, text in _literal_keys(path)
    }
    assert not found, "use the constants of hpo_flow/tasks/tracking/schema.py instead:\n" + "\n".join(sorted(found))


def test_the_grep_sees_what_it_must(tmp_path: Path) -> None:
    """The check above finds a key in plain strings, f-strings and search queries, and not in prose."""
    sample = tmp_path / "sample.py"
    sample.write_text(
        '"""Docs may say `hpo.best`."""\n'
        'A = "hpo.best"\n'
        'B = f"tags.`hpo.run_kind` = {1}"\n'
        'C = f"hpo.{A}x"\n'
        'D = "hpo_flow.tasks"\n',
        encoding="utf-8",
    )
    assert sorted(line for line, _ in _literal_keys(sample)) == [2, 3, 4]


def test_every_key_is_declared_once() -> None:
    keys = [k.key for k in schema.KEYS]
    assert len(keys) == len(set(keys))
    declared = {v for n, v in vars(schema).items() if n.isupper() and isinstance(v, str) and KEY.match(v)}
    assert declared <= set(keys)  # every hpo.* constant was declared with _key, so the docs list it
    assert all(k.where and k.holds for k in schema.KEYS)


def test_the_docs_list_the_schema() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert BEGIN in text and END in text, f"{DOC.name} lacks its MLflow schema table between {BEGIN} and {END}"
    table = text.split(BEGIN, 1)[1].split(END, 1)[0].strip("\n") + "\n"
    assert table == schema.markdown(), (
        f"the schema table in {DOC.relative_to(ROOT)} differs from schema.py; "
        "replace it with `python -m hpo_flow.tasks.tracking.schema`"
    )


@pytest.mark.parametrize(
    ("raw", "parsed"),
    [
        ("0.9722", (None, 0.9722)),  # this release: the bare number
        ("-1e-05", (None, -1e-05)),
        ("accuracy=0.95", ("accuracy", 0.95)),  # written by an earlier release on model versions
        ("val/loss=0.25", ("val/loss", 0.25)),
        ("accuracy=", ("accuracy", None)),
        ("nan", (None, None)),
        ("not a number", (None, None)),
        ("", (None, None)),
        (None, (None, None)),
    ],
)
def test_an_objective_is_read_in_both_forms(raw: str | None, parsed: tuple[str | None, float | None]) -> None:
    assert parse_objective(raw) == parsed


def test_an_objective_round_trips_and_takes_its_metric_from_its_own_tag() -> None:
    assert parse_objective(schema.format_objective(0.1 + 0.2)) == (None, 0.1 + 0.2)
    assert read_objective({schema.OBJECTIVE: "0.5", schema.OBJECTIVE_METRIC: "accuracy"}) == ("accuracy", 0.5)
    assert read_objective({schema.OBJECTIVE: "accuracy=0.5"}) == ("accuracy", 0.5)
    assert read_objective({}) == (None, None)


def test_a_promotion_verdict_round_trips_through_its_tags() -> None:
    verdicts = [
        PromotionVerdict(True, "better", PromotionBasis.BEATS, "challenger", "3", 0.95),
        PromotionVerdict(False, "always", PromotionBasis.HOLDER_NEWER, "prod", "7", None),
        PromotionVerdict(True, "never", PromotionBasis.HOLDS_ALREADY, "challenger"),
    ]
    for verdict in verdicts:
        tags = verdict.tags()
        assert set(tags) == {k.key for k in schema.KEYS if k.key.startswith(("hpo.promot", "hpo.compared"))} - {
            schema.PROMOTION
        }
        stored = {k: v for k, v in tags.items() if v is not None}
        assert PromotionVerdict.from_tags(stored) == verdict
    assert verdicts[1].tags()[schema.COMPARED_OBJECTIVE] is None  # absent, not "None"


def test_a_verdict_only_in_words_or_off_the_schema_is_none() -> None:
    good = PromotionVerdict(True, "better", PromotionBasis.NO_HOLDER, "challenger").tags()
    stored = {k: v for k, v in good.items() if v is not None}
    assert PromotionVerdict.from_tags({schema.PROMOTION: "Promoted to @challenger: it was best."}) is None
    assert PromotionVerdict.from_tags({**stored, schema.PROMOTED: "yes"}) is None
    assert PromotionVerdict.from_tags({**stored, schema.PROMOTION_RULE: "sometimes"}) is None
    assert PromotionVerdict.from_tags({**stored, schema.PROMOTION_BASIS: "it was best"}) is None


def test_registered_and_flags() -> None:
    assert schema.parse_registered(schema.format_registered("team/model", "12")) == ("team/model", "12")
    assert schema.flag({schema.BEST: "true"}, schema.BEST) and not schema.flag({schema.BEST: "True"}, schema.BEST)
    assert schema.best_metric("accuracy") == "best_accuracy" and schema.final_metric("loss") == "loss.final"
