"""The hpo-sweep flow, unchanged, on the cloud adapters: SageMaker on moto's server plus the served
tuning service (tests/sagemaker/served.py), Azure ML on the served workspace (tests/azure/served.py).

Each backend runs the flow's contract (tests/flow/flow_contract.py) on a copy of its example config,
written from our users' seeds (003: SageMaker MNIST, 004: Azure HyperDrive), comments and all. A
cloud model cannot be loaded here, so the contract's first test is replaced by one that checks what
the registry holds instead: a version whose source is the cloud model URI of the best trial, the
alias, and tags linking it to the sweep and the trial. MLflow is a real tracking server, Prefect
its test harness; the served services move a sweep on as the flow polls it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from hpo_flow.adapters.port import SweepStatus, TrialStatus, best_trial
from hpo_flow.adapters.spec import apply_overrides
from tests.azure import conftest as azure_fixtures
from tests.azure.served import RG, SUB, WS, ChildPlan, ServedWorkspace, plain_mlflow_script
from tests.flow.flow_contract import FlowContract, _client, _runs, _versions, first_generation
from tests.sagemaker import conftest as sagemaker_fixtures
from tests.sagemaker.conftest import SDK_NOISE, new_session
from tests.sagemaker.served import REGION, ServedSageMaker, model_archive

pytestmark = [
    pytest.mark.integration,
    *SDK_NOISE,
    # azure-ai-ml 1.23 passes marshmallow's deprecated `context` on every schema it builds
    pytest.mark.filterwarnings("ignore::marshmallow.warnings.RemovedInMarshmallow4Warning"),
    pytest.mark.filterwarnings("ignore::marshmallow.warnings.ChangedInMarshmallow4Warning"),
    pytest.mark.filterwarnings("ignore:'locale.getdefaultlocale' is deprecated:DeprecationWarning"),  # opencensus
]

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
# The SageMaker and Azure ML tests' own fixtures (their conftests are not on this directory's path)
moto_url, served, sessions, factory = (
    sagemaker_fixtures.moto_url,
    sagemaker_fixtures.served,
    sagemaker_fixtures.sessions,
    sagemaker_fixtures.factory,
)
_no_ambient_aws = sagemaker_fixtures._no_ambient_aws
mlflow_uri, workspace, credential = azure_fixtures.mlflow_uri, azure_fixtures.workspace, azure_fixtures.credential

POLL_S = 0.01  # tuning.poll_interval_seconds: the served services move on per poll, not per second


class CloudFlowContract(FlowContract):
    """The flow contract on a cloud backend. A subclass provides `example` (the config to copy),
    `edits` (dotted keys to set in the copy), `backend` (registers the adapter wired to the served
    service) and `sweeps_created` (how many sweeps the served service was asked to create)."""

    model_uri: str  # a regex the best trial's model URI fully matches; {trial} is its id
    trial_statuses: list[str]  # how the served sweep's trials end, sorted

    @pytest.fixture
    def config_path(
        self, tmp_path: Path, example: Path, edits: dict[str, Any], mlflow_server: str, request: pytest.FixtureRequest
    ) -> Path:
        """A copy of the example config with its comments, in an MLflow experiment and model of its own."""
        from ruamel.yaml import YAML

        unique = f"{request.node.name.removeprefix('test_')[:24]}-{time.time_ns() % 10**8}".replace("_", "-")
        rt = YAML()  # round trip, set up to leave every line it is not asked to change as it was
        rt.width, rt.preserve_quotes = 4096, True
        rt.indent(mapping=2, sequence=4, offset=2)
        doc = rt.load(example.read_text())
        doc = apply_overrides(
            doc,
            {
                **edits,
                "project": f"{doc['project']}-{unique}",
                "tuning.update_config": True,
                "tuning.poll_interval_seconds": POLL_S,
                "mlflow": {"tracking_uri": mlflow_server},
            },
        )
        path = tmp_path / "config.yaml"
        with path.open("w") as out:
            rt.dump(doc, out)
        return path

    def test_the_sweep_ends_in_a_registered_model_and_an_updated_config(
        self, config_path: Path, backend: str, adapter: Any, mlflow_server: str, sweeps_created: Callable[[], int]
    ) -> None:
        from hpo_flow.flows.hpo_sweep import hpo_sweep

        before = config_path.read_text()
        config = first_generation(config_path)
        outcome = hpo_sweep(config_path=str(config_path), backend=backend)

        ref = adapter.submit(config)  # re-attaches to the finished sweep
        state = adapter.poll(ref)
        assert sweeps_created() == 1
        assert state.status == SweepStatus.COMPLETED and len(state.trials) == config.tuning.max_jobs
        assert sorted(t.status.value for t in state.trials) == self.trial_statuses
        best = best_trial(state.trials, config.objective)
        assert best is not None and best.model_uri is not None
        assert re.fullmatch(self.model_uri.format(trial=re.escape(best.id)), best.model_uri), best.model_uri
        assert (outcome.status, outcome.sweep, outcome.backend, outcome.trials) == (
            "COMPLETED",
            ref.name,
            backend,
            len(state.trials),
        )
        assert outcome.best_trial == best.id and outcome.best_objective == best.objective

        # MLflow: one parent run for the sweep, one child run per trial with its final status
        runs = _runs(mlflow_server, config.experiment_name)
        parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
        assert len(parents) == 1
        parent = parents[0]
        assert parent.info.status == "FINISHED" and parent.info.run_id == outcome.parent_run_id
        tags = parent.data.tags
        assert (tags["hpo.sweep_name"], tags["hpo.backend"], tags["hpo.cloud_id"]) == (ref.name, backend, ref.cloud_id)
        assert tags["hpo.best_trial_id"] == best.id
        children = {r.data.tags["hpo.trial_id"]: r for r in runs if r is not parent}
        assert {r.data.tags["mlflow.parentRunId"] for r in children.values()} == {parent.info.run_id}
        assert set(children) == {t.id for t in state.trials}
        for trial in state.trials:
            child = children[trial.id]
            assert child.data.tags["hpo.trial_status"] == trial.status.value
            if trial.status == TrialStatus.FAILED:  # with the service's reason, for review
                assert child.info.status == "FAILED" and child.data.tags["hpo.failure_reason"]
        assert children[best.id].data.tags["hpo.best"] == "true"

        # the registry: a new version whose source is the cloud model itself, linked to sweep and trial
        versions = _versions(mlflow_server, config.registered_model_name)
        assert [v.version for v in versions] == ["1"]
        version = versions[0]
        assert version.source == best.model_uri and version.run_id == children[best.id].info.run_id
        assert version.tags["hpo.sweep_name"] == ref.name and version.tags["hpo.trial_id"] == best.id
        assert version.tags["hpo.parent_run_id"] == parent.info.run_id and version.tags["hpo.backend"] == backend
        alias = config.mlflow.alias
        assert alias == "challenger"
        by_alias = _client(mlflow_server).get_model_version_by_alias(config.registered_model_name, alias)
        assert by_alias.version == "1"
        assert (outcome.model_name, outcome.model_version, outcome.model_alias) == (
            config.registered_model_name,
            "1",
            alias,
        )

        # the config: the winners written in, every other line (comments included) as it was
        after = config_path.read_text()
        written = yaml.safe_load(after)["training"]["hyperparameters"]
        tuned = config.tuning.hyperparameter_ranges
        for name in tuned:  # floats are written to 6 significant digits
            value = best.params[name]
            assert written[name] == (pytest.approx(value, rel=1e-5) if isinstance(value, float) else value)
        assert outcome.config_written and outcome.diff
        kept = [line for line in before.splitlines() if not re.match(rf"\s+({'|'.join(tuned)}):", line)]
        assert [line for line in after.splitlines() if not re.match(rf"\s+({'|'.join(tuned)}):", line)] == kept
        assert sum(line.lstrip().startswith("#") for line in kept) >= 5  # the example's own comments

    def test_a_second_run_after_a_recorded_sweep_tunes_again_warm_started(
        self, config_path: Path, backend: str, adapter: Any, mlflow_server: str, sweeps_created: Callable[[], int]
    ) -> None:
        super().test_a_second_run_after_a_recorded_sweep_tunes_again_warm_started(
            config_path, backend, adapter, mlflow_server
        )
        assert sweeps_created() == 2, "one sweep per generation, none paid for twice"


class TestFlowOnSageMaker(CloudFlowContract):
    """Seed 003's config; the served training jobs complete, fail, or finish without their objective."""

    model_uri = r"s3://sagemaker-us-east-1-123456789012/sagemaker/DEMO-hpo-mnist/output/{trial}/output/model\.tar\.gz"
    trial_statuses = ["COMPLETED", "COMPLETED", "FAILED", "FAILED"]  # a crash, and a job that never printed its loss

    @pytest.fixture
    def example(self) -> Path:
        return EXAMPLES / "sagemaker-mnist" / "config.yaml"

    @pytest.fixture
    def edits(self, example: Path) -> dict[str, Any]:
        return {"training.source_dir": str(example.parent), "tuning.max_jobs": 4, "tuning.max_parallel_jobs": 2}

    @pytest.fixture
    def backend(self, register: Any, factory: Any, served: ServedSageMaker, example: Path) -> str:
        from hpo_flow.adapters.sagemaker import SageMakerAdapter

        # the example's output bucket, in the moto account the served fixture set up
        output = yaml.safe_load(example.read_text())["backends"]["sagemaker"]["output_path"]
        new_session(REGION).client("s3").create_bucket(Bucket=output.removeprefix("s3://").split("/")[0])
        served.outcomes = ["Completed", "Failed", "NoObjective", "Completed"]
        served.auto_advance = 240.0  # simulated seconds per DescribeHyperParameterTuningJob
        register("sagemaker", SageMakerAdapter(factory))
        return "sagemaker"

    @pytest.fixture(autouse=True)
    def _served(self, served: ServedSageMaker) -> None:
        self.served = served

    def check_warm_start(self, adapter: Any, spec: Any, state: Any, best_params: dict[str, Any]) -> None:
        """SageMaker's own warm start: the second tuning job names the first as its parent."""
        assert spec.lineage.parents
        sent = self.served.sent[spec.sweep_name(32)]
        assert sent["WarmStartConfig"] == {
            "ParentHyperParameterTuningJobs": [{"HyperParameterTuningJobName": spec.lineage.parents[0]}],
            "WarmStartType": "IdenticalDataAndAlgorithm",
        }

    @pytest.fixture
    def sweeps_created(self, served: ServedSageMaker) -> Callable[[], int]:
        def count() -> int:
            assert len(served.jobs) == served.calls["CreateHyperParameterTuningJob"]
            return len(served.jobs)

        return count

    def test_the_printed_load_line_loads_the_registered_model(
        self, config_path: Path, backend: str, mlflow_server: str, tmp_path: Path
    ) -> None:
        """Issue 22, check 3: the script saved an MLflow model into SM_MODEL_DIR and SageMaker uploaded
        it as model.tar.gz, which mlflow.pyfunc cannot read: the version registered for the best trial
        holds the unpacked model, and the line the run prints loads it."""
        import mlflow
        import mlflow.sklearn
        import pandas as pd
        from sklearn.linear_model import LogisticRegression

        from hpo_flow.flows.hpo_sweep import hpo_sweep

        saved = tmp_path / "sm-model"
        fitted = LogisticRegression().fit(pd.DataFrame({"x": [0.0, 1.0, 2.0, 3.0]}), [0, 0, 1, 1])
        mlflow.sklearn.save_model(fitted, str(saved))
        self.served.model_archive = model_archive({path.name: path.read_bytes() for path in saved.iterdir()})

        outcome = hpo_sweep(config_path=str(config_path), backend=backend)
        assert outcome.model_hint == f'mlflow.pyfunc.load_model("models:/{outcome.model_name}@{outcome.model_alias}")'
        # The line exactly as printed, in a Python of its own pointed at the tracking server, as a user runs it.
        rows = "pandas.DataFrame({'x': [0.0, 3.0]})"
        program = f"import mlflow, pandas; print([int(v) for v in {outcome.model_hint}.predict({rows})])"
        env = {**os.environ, "MLFLOW_TRACKING_URI": mlflow_server}
        done = subprocess.run([sys.executable, "-c", program], env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-2000:]
        assert done.stdout.strip().splitlines()[-1] == "[0, 1]"


class TestFlowOnAzureML(CloudFlowContract):
    """Seed 004's config; of the served trials one fails and one is stopped by the Bandit policy."""

    model_uri = r"azureml://jobs/{trial}/outputs/artifacts/paths/outputs/model"
    trial_statuses = ["COMPLETED", "COMPLETED", "FAILED", "PRUNED"]

    @pytest.fixture
    def example(self) -> Path:
        return EXAMPLES / "azure-hyperdrive" / "config.yaml"

    @pytest.fixture
    def edits(self, example: Path) -> dict[str, Any]:
        return {
            "training.source_dir": str(example.parent),
            "tuning.max_jobs": 4,
            # the served workspace; the example's environment (a registry URI), compute and inputs stay
            "backends.azure.subscription_id": SUB,
            "backends.azure.resource_group": RG,
            "backends.azure.workspace": WS,
        }

    @pytest.fixture
    def backend(self, register: Any, workspace: ServedWorkspace, credential: Any) -> str:
        return self.serve(register, workspace, credential)

    def serve(self, register: Any, workspace: ServedWorkspace, credential: Any) -> str:
        from hpo_flow.adapters.azure import AzureMLAdapter

        workspace.auto_advance = [
            ChildPlan("Completed", epochs=5),
            ChildPlan("Failed", epochs=2, save_model=False),
            ChildPlan("Canceled", epochs=3),  # cancelled by the Bandit policy: a pruned trial
            ChildPlan("Running", epochs=4),  # still running at the first poll
        ]
        register("azure", AzureMLAdapter(credential=credential, client_kwargs={"transport": workspace}))
        return "azure"

    def check_warm_start(self, adapter: Any, spec: Any, state: Any, best_params: dict[str, Any]) -> None:
        """Azure ML has no warm start: the second sweep's plan says it starts cold."""
        assert adapter.plan(spec)["tags"]["hpo-flow.warm_start"].startswith("none: Azure ML sweeps cannot warm-start")

    @pytest.fixture
    def sweeps_created(self, workspace: ServedWorkspace) -> Callable[[], int]:
        return lambda: sum(method == "PUT" and "/jobs/" in path for method, path in workspace.requests)


class TestFlowOnAzureMLWithPlainMlflow(TestFlowOnAzureML):
    """Seed 004's config with a script as Azure ML's samples write it: `mlflow.log_metric` alone, never
    report(), so no params reach MLflow. The trials still carry the values Azure ML sampled for them
    (from the child jobs), and the winner's values are written back into the config."""

    @pytest.fixture
    def backend(self, register: Any, workspace: ServedWorkspace, credential: Any) -> str:
        workspace.train = plain_mlflow_script
        return self.serve(register, workspace, credential)
