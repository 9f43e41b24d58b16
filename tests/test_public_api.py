"""What a team imports from hpo-flow: the flow as `hpo_flow.hpo_sweep`, its tasks from
`hpo_flow.tasks`; and `import hpo_flow` alone imports nothing but the standard library."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.unit


def test_import_hpo_flow_imports_only_the_standard_library() -> None:
    code = (
        "import sys, json; before = set(sys.modules); import hpo_flow; "
        "print(json.dumps(sorted(m.split('.')[0] for m in set(sys.modules) - before)))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert set(json.loads(done.stdout)) - set(sys.stdlib_module_names) == {"hpo_flow"}


def test_the_flow_and_its_tasks_are_importable_from_one_place() -> None:
    from prefect import Flow, Task

    import hpo_flow
    from hpo_flow import SweepOutcome, hpo_sweep, tasks
    from hpo_flow.flows import hpo_sweep as flow_module

    assert isinstance(hpo_sweep, Flow) and hpo_sweep is flow_module.hpo_sweep
    assert SweepOutcome is flow_module.SweepOutcome
    assert set(hpo_flow.__all__) <= set(dir(hpo_flow))
    assert sorted(tasks.__all__) == sorted(tasks._EXPORTS), "__all__ and the lazy table name the same tasks"
    exported = {name: getattr(tasks, name) for name in tasks.__all__}
    # every step the flow takes, for a pipeline of one's own
    steps = ["load_config_task", "choose_adapter", "choose_sweep_task", "submit_sweep", "wait_for_sweep"]
    steps += ["record_sweep_task", "register_best_task", "write_back_task", "mark_recorded_task"]
    assert all(isinstance(exported[name], Task) for name in steps)
    assert exported["SweepResult"].of  # the best trial, by the one rule


def test_an_unknown_name_is_an_attribute_error_and_submodules_still_import() -> None:
    import hpo_flow.tasks

    with pytest.raises(AttributeError, match="no attribute 'hpo_sweeep'"):
        hpo_flow.hpo_sweeep  # type: ignore[attr-defined]  # noqa: B018
    from hpo_flow.tasks import writeback  # a submodule, not a lazy name

    assert writeback.write_back_task is hpo_flow.tasks.write_back_task
