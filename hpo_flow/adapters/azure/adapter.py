"""AzureMLAdapter: the adapter port on Azure ML sweep jobs (azure-ai-ml v2).

- plan: the sweep job in Azure ML's YAML form (hpo_flow.adapters.azure.plan), no network, no credentials.
- submit: that same document through `azure.ai.ml.load_job` (the SDK's own schema) and
  `MLClient.jobs.create_or_update`, under a deterministic job name; an existing job of that name
  is this config's sweep, and submit attaches to it. The code uploaded is source_dir with the
  trial helper `hpo_flow/` added (hpo_flow.adapters.trial_code).
- poll: the job's status, its children (`jobs.list(parent_job_name=...)`) and their values,
  metrics and curves from the workspace's MLflow tracking server.
- cancel: `jobs.begin_cancel`; twice, or on a finished sweep, does nothing more.
"""

from __future__ import annotations

import importlib.util
import io
import shutil
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hpo_flow.adapters.azure import plan as azure_plan
from hpo_flow.adapters.azure.trials import TrialReader, child_order, flag_names, sweep_status, trial_status
from hpo_flow.adapters.azure.workspace import (
    Workspace,
    block_credential,
    check_credential,
    default_credential,
    ml_client,
    resolve,
    service_errors,
)
from hpo_flow.adapters.code import CODE_IGNORE
from hpo_flow.adapters.errors import BackendError
from hpo_flow.adapters.port import SweepRef, SweepState, Trial, TrialStatus
from hpo_flow.adapters.spec import HpoConfig
from hpo_flow.adapters.trial_code import PACKAGE, add_helper

_TERMINAL = {"Completed", "Failed", "Canceled"}
TRIAL_LOG = "user_logs/std_log.txt"  # where Azure ML keeps a command job's output, among its run's artifacts


class AzureMLAdapter:
    """Azure ML sweeps behind the neutral port.

    `credential` (any azure-core TokenCredential) replaces DefaultAzureCredential and the config's
    credentials block; `client_kwargs` go to MLClient (e.g. `transport=` for a served workspace);
    `mlflow_tracking_uri` replaces the workspace's own MLflow URI (tests, or a proxy).
    """

    backend = "azure"

    def __init__(
        self,
        *,
        credential: Any | None = None,
        client_kwargs: dict[str, Any] | None = None,
        mlflow_tracking_uri: str | None = None,
        credential_kwargs: dict[str, Any] | None = None,
    ) -> None:
        self._credential = credential
        self._client_kwargs = dict(client_kwargs or {})
        self._credential_kwargs = dict(credential_kwargs or {})  # for a block's credential
        self._mlflow_uri = mlflow_tracking_uri
        self._lock = threading.Lock()
        self._clients: dict[Workspace, Any] = {}
        self._credentials: dict[Workspace, Any] = {}  # from submit, so poll of its ref signs in the same way
        self._readers: dict[Workspace, TrialReader] = {}

    # ---------------------------------------------------------------- plan

    def plan(self, spec: HpoConfig) -> dict[str, Any]:
        return azure_plan.sweep_job(spec)

    # ---------------------------------------------------------------- submit

    def submit(self, spec: HpoConfig) -> SweepRef:
        doc = self.plan(spec)
        name = doc["name"]
        workspace, credential = resolve(spec, self._credential, **self._credential_kwargs)
        with self._lock:
            self._credentials[workspace] = credential
        client = self._client(workspace)
        existing = self._get(client, name)
        if existing is None:
            job = load_sweep_job(doc)
            with service_errors(f"create sweep job {name!r}"), code_with_helper(spec.training.source_dir) as code:
                from azure.core.exceptions import HttpResponseError

                job.trial.code = code
                try:
                    existing = client.jobs.create_or_update(job)
                except HttpResponseError:
                    # created meanwhile by another submit of the same config: attach to it
                    existing = self._get(client, name)
                    if existing is None:
                        raise
        _check_same_sweep(existing, spec, name)
        url = getattr(existing, "studio_url", None) or workspace.studio_url(name)
        block = spec.backends.azure.credentials_block if spec.backends.azure else None
        return SweepRef(
            backend=self.backend,
            name=spec.sweep_name(),
            cloud_id=workspace.job_id(name),
            url=url,
            credentials_block=block if self._credential is None else None,
        )

    # ---------------------------------------------------------------- poll

    def poll(self, ref: SweepRef) -> SweepState:
        workspace, name = Workspace.from_job_id(ref.cloud_id or "")
        client = self._client(workspace, ref.credentials_block)
        job = self._get(client, name)
        if job is None:
            raise BackendError(f"Azure ML has no job {name!r} in workspace {workspace.name!r}; submit the sweep again")
        status, message = sweep_status(getattr(job, "status", None))
        with service_errors(f"list the trials of {name!r}"):
            children = [c for c in _children(client, name) if c is not None]
        search_space = dict(getattr(job, "search_space", None) or {})
        names = flag_names(getattr(getattr(job, "trial", None), "command", "") or "")
        objective = getattr(getattr(job, "objective", None), "primary_metric", None) or ""
        sweep_canceled = job.status in ("Canceled", "CancelRequested")
        has_policy = getattr(job, "early_termination", None) is not None
        reader = self._reader(workspace, client) if children else None
        trials = []
        for child in sorted(children, key=lambda c: child_order(c.name)):
            child_status = trial_status(getattr(child, "status", None), sweep_canceled, has_policy)
            if status.is_terminal and not child_status.is_terminal:
                # the sweep is over: nothing of it runs any more, whatever the child's last word was
                child_status = TrialStatus.STOPPED
            assert reader is not None
            trials.append(reader.trial(child, child_status, search_space, names, objective))
        return SweepState(status=status, trials=trials, message=message)

    # ---------------------------------------------------------------- cancel

    def cancel(self, ref: SweepRef) -> None:
        workspace, name = Workspace.from_job_id(ref.cloud_id or "")
        client = self._client(workspace, ref.credentials_block)
        job = self._get(client, name)
        if job is None or job.status in _TERMINAL or job.status == "CancelRequested":
            return  # nothing left to stop; cancelling twice is a no-op
        with service_errors(f"cancel sweep job {name!r}"):
            from azure.core.exceptions import HttpResponseError

            try:
                # polling=False: fire the cancel and let poll() report CancelRequested -> Canceled,
                # instead of a background thread polling the long-running operation.
                client.jobs.begin_cancel(name, polling=False)
            except HttpResponseError:
                again = self._get(client, name)
                if again is None or again.status in _TERMINAL or again.status == "CancelRequested":
                    return  # it ended (or was cancelled) between the two calls
                raise

    # ---------------------------------------------------------------- logs

    def trial_log(self, ref: SweepRef, trial: Trial) -> Path | None:
        """The trial job's own log (`user_logs/std_log.txt`, what Azure ML studio shows under "Outputs +
        logs"), downloaded from its run; None while it has none."""
        from mlflow.exceptions import MlflowException

        workspace, _ = Workspace.from_job_id(ref.cloud_id or "")
        reader = self._reader(workspace, self._client(workspace, ref.credentials_block))
        kept = Path(tempfile.gettempdir()) / "hpo-flow-logs" / ref.name / trial.id
        kept.mkdir(parents=True, exist_ok=True)
        with service_errors(f"read the log of trial {trial.id}"):
            try:
                found = reader.client.download_artifacts(trial.id, TRIAL_LOG, str(kept))
            except (MlflowException, OSError):
                return None
        return Path(found) if Path(found).is_file() else None

    # ---------------------------------------------------------------- by hand

    def export_job(self, spec: HpoConfig, folder: Path) -> str:
        """`sweep.yml` and its `code/` (source_dir and the trial helper: the command starts the script
        through hpo_flow.launch) for `az ml job create --file`, which reads paths relative to the file."""
        import yaml

        doc = self.plan(spec)
        folder.mkdir(parents=True, exist_ok=True)
        code = folder / "code"
        if code.exists():
            shutil.rmtree(code)
        with code_with_helper(spec.training.source_dir) as staged:
            shutil.copytree(staged, code, ignore=shutil.ignore_patterns(*CODE_IGNORE), symlinks=True)
        doc["trial"]["code"] = "code"
        environment = doc["trial"].get("environment")
        if isinstance(environment, dict) and environment.get("conda_file"):
            conda = Path(environment["conda_file"])
            shutil.copyfile(conda, folder / conda.name)
            environment["conda_file"] = conda.name
        for value in (doc.get("inputs") or {}).values():
            place = value.get("path", "")
            if "://" not in place and not place.startswith("azureml:") and Path(place).exists():
                value["path"] = str(Path(place).resolve())  # a local file the CLI uploads, from anywhere
        job_file = folder / "sweep.yml"
        job_file.write_text(yaml.safe_dump(doc, sort_keys=False))
        return f"az ml job create --file {job_file}"

    # ---------------------------------------------------------------- helpers

    def _client(self, workspace: Workspace, credentials_block: str | None = None) -> Any:
        """The workspace's client, signed in as submit did, else with the ref's block, else the default chain."""
        with self._lock:
            client = self._clients.get(workspace)
            if client is not None:
                return client
            credential = self._credentials.get(workspace) or self._credential
        if credential is None and credentials_block:
            credential, _ = block_credential(credentials_block, **self._credential_kwargs)
        if credential is None:
            credential = default_credential()
        check_credential(credential)
        client = ml_client(workspace, credential, **self._client_kwargs)
        with self._lock:
            return self._clients.setdefault(workspace, client)

    def _get(self, client: Any, name: str) -> Any:
        from azure.core.exceptions import ResourceNotFoundError

        with service_errors(f"read job {name!r}"):
            try:
                return client.jobs.get(name)
            except ResourceNotFoundError:
                return None

    def _reader(self, workspace: Workspace, client: Any) -> TrialReader:
        with self._lock:
            reader = self._readers.get(workspace)
        if reader is not None:
            return reader
        uri = self._mlflow_uri
        if uri is None:
            with service_errors(f"read workspace {workspace.name!r}"):
                uri = client.workspaces.get(workspace.name).mlflow_tracking_uri
        if not uri:
            raise BackendError(f"workspace {workspace.name!r} reports no MLflow tracking URI; trials cannot be read")
        if uri.startswith("azureml:") and importlib.util.find_spec("azureml.mlflow") is None:
            raise BackendError(
                "reading trial metrics from an Azure ML workspace's MLflow server needs the azureml-mlflow "
                "package: pip install azureml-mlflow"
            )
        from mlflow.tracking import MlflowClient

        reader = TrialReader(MlflowClient(tracking_uri=uri))
        with self._lock:
            return self._readers.setdefault(workspace, reader)


def _children(client: Any, name: str) -> Any:
    """The sweep's children. `jobs.list(parent_job_name=...)` fetches the parent job again before
    listing; poll has just fetched it, so this asks the run history for the children directly, as
    that method does after its fetch."""
    runs = getattr(client.jobs, "_runs_operations", None)
    if runs is None:  # an SDK without it: the public call, one more fetch of the parent
        return client.jobs.list(parent_job_name=name)
    return runs.get_run_children(name)


@contextmanager
def code_with_helper(source_dir: str) -> Iterator[str]:
    """The trial's code as uploaded: source_dir and, unless it has its own, the trial helper
    `hpo_flow/`, so the script's `from hpo_flow.report import ...` imports in any environment."""
    source = Path(source_dir)
    if (source / PACKAGE).exists():
        yield source_dir
        return
    with tempfile.TemporaryDirectory(prefix="hpo-flow-azure-code-") as tmp:
        staged = Path(tmp) / (source.resolve().name or "code")
        shutil.copytree(source, staged, ignore=shutil.ignore_patterns(*CODE_IGNORE), symlinks=True)
        add_helper(staged)
        yield str(staged)


def load_sweep_job(doc: dict[str, Any]) -> Any:
    """The plan through the SDK's own YAML schema: the SweepJob that `az ml job create --file`
    would build from the same file (local paths are read relative to the working directory)."""
    import yaml

    with service_errors("read the planned sweep job"):
        from azure.ai.ml import load_job

        return load_job(source=io.StringIO(yaml.safe_dump(doc, sort_keys=False)))


def _check_same_sweep(job: Any, spec: HpoConfig, name: str) -> None:
    """A job of our name is this config's sweep unless it was made from a different config (only
    possible with a fixed tuning.sweep_name): attaching to it would report someone else's trials."""
    found = (getattr(job, "tags", None) or {}).get(azure_plan.TAG_CONFIG_HASH)
    if found and found != spec.config_hash():
        raise BackendError(
            f"Azure ML job {name!r} is a sweep of a different config (hash {found}, this one {spec.config_hash()}); "
            "set tuning.sweep_name to a new name, or remove it to derive one from the config"
        )


__all__ = ["AzureMLAdapter", "load_sweep_job"]
