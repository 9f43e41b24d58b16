"""A served Azure ML workspace: an azure-core transport answering MLClient's requests the way the
Azure ML REST API documents them (ARM jobs create/get/cancel, the workspace with its discovery and
MLflow URIs, run-history children, and the asset look-ups a sweep submission makes).

The sweep's children run a real training function that reports through hpo_flow.report (or, as
`plain_mlflow_script`, through mlflow.log_metric alone) with MLFLOW_RUN_ID and AZUREML_SWEEP_<name>
set, as Azure ML sets them, into a real local MLflow store that the workspace names as its tracking
URI. Each child carries its sampled values in its `hyperparameters` tag, as Azure ML's do.
"""

from __future__ import annotations

import copy
import json
import math
import os
import random
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

from azure.core.credentials import AccessToken
from azure.core.pipeline.transport import HttpResponse, HttpTransport

ARM = "https://management.azure.com"
AAD_HOST = "login.microsoftonline.com"
TRIAL_LOG = "user_logs/std_log.txt"  # where Azure ML keeps a command job's output, in its run
API = "https://westeurope.api.azureml.ms"
SUB, RG, WS = "00000000-0000-0000-0000-000000000000", "ml-rg", "ml-ws"
WS_PATH = f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.MachineLearningServices/workspaces/{WS}"


class StaticCredential:
    """A TokenCredential that always signs in (what `az login` gives a real run)."""

    def __init__(self) -> None:
        self.calls = 0

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        self.calls += 1
        return AccessToken("served-token", int(time.time()) + 3600)


class _Response(HttpResponse):
    def __init__(self, request: Any, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        super().__init__(request, None)
        self.status_code = status
        self.reason = {200: "OK", 201: "Created", 202: "Accepted", 404: "Not Found", 400: "Bad Request"}.get(
            status, "Status"
        )
        self._body = b"" if body is None else json.dumps(body).encode()
        self.headers = {"Content-Type": "application/json", "x-ms-request-id": str(uuid.uuid4()), **(headers or {})}
        self.content_type = "application/json"

    def body(self) -> bytes:
        return self._body


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _system_data() -> dict[str, str]:
    return {"createdAt": _now(), "createdBy": "tester", "createdByType": "User"}


def _error(request: Any, status: int, code: str, message: str) -> _Response:
    return _Response(request, status, {"error": {"code": code, "message": message}})


@dataclass
class ChildPlan:
    """How one served trial ends: its Azure status and how many epochs it reports before."""

    status: str = "Completed"
    epochs: int = 5
    save_model: bool = True


@dataclass
class _Child:
    run_id: str
    status: str
    created: str
    params: dict[str, Any] = field(default_factory=dict)
    plan: ChildPlan = field(default_factory=ChildPlan)


class ServedWorkspace(HttpTransport):
    """The workspace and its jobs. Tests drive sweeps with `start`, `finish` and `cancel_all`."""

    def __init__(self, mlflow_uri: str, train: Callable[..., None] | None = None) -> None:
        self.mlflow_uri = mlflow_uri
        self.train = train or train_script
        self.jobs: dict[str, dict[str, Any]] = {}
        self.children: dict[str, list[_Child]] = {}
        self.requests: list[tuple[str, str]] = []
        self.creates = 0
        self.cancels = 0
        self.codes: dict[str, dict[str, Any]] = {}
        self.environments: dict[str, dict[str, Any]] = {}
        # For callers that poll in real time (a flow): when set, each listing of a sweep's children (one
        # per poll) first moves the sweep one step on (`advance`), its trials run from these plans.
        self.auto_advance: list[ChildPlan] | None = None
        # Microsoft Entra ID's part: service principals (client id -> secret) it signs in, and the
        # tokens it issued them. With any registered, every workspace request must carry one.
        self.service_principals: dict[str, str] = {}
        self.issued: dict[str, str] = {}  # token -> client id
        self._lock = threading.RLock()

    # ------------------------------------------------------------ transport protocol

    def open(self) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self) -> ServedWorkspace:
        return self

    def __exit__(self, *args: Any) -> None:
        pass

    def send(self, request: Any, **kwargs: Any) -> _Response:
        with self._lock:
            url = urlparse(request.url)
            if url.hostname == AAD_HOST:
                return self._sign_in(request, url.path)
            if self.service_principals and url.path != "/discovery":  # discovery is public, as Azure's is
                token = (request.headers.get("Authorization") or "").removeprefix("Bearer ")
                if token not in self.issued:
                    return _error(request, 401, "InvalidAuthenticationToken", "the access token is invalid")
            self.requests.append((request.method, url.path))
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            body = request.data if isinstance(request.data, str | bytes) else request.body
            payload = json.loads(body) if body else None
            for method, pattern, handler in self._routes():
                if method == request.method and (m := re.fullmatch(pattern, url.path, re.I)):
                    return handler(request, query, payload, **m.groupdict())
            return _error(request, 404, "NotFound", f"no route {request.method} {url.path}")

    def _sign_in(self, request: Any, path: str) -> _Response:
        """Entra ID's OpenID metadata and its client-credentials token endpoint (what azure-identity's
        ClientSecretCredential asks, with `disable_instance_discovery` or not)."""
        tenant = path.strip("/").split("/")[0]
        base = f"https://{AAD_HOST}/{tenant}"
        if path.endswith("/.well-known/openid-configuration"):
            return _Response(
                request,
                200,
                {
                    "token_endpoint": f"{base}/oauth2/v2.0/token",
                    "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                    "issuer": f"{base}/v2.0",
                },
            )
        if path.endswith("/discovery/instance"):
            return _Response(
                request, 200, {"tenant_discovery_endpoint": f"{base}/v2.0/.well-known/openid-configuration"}
            )
        form = request.data if isinstance(request.data, dict) else dict(parse_qs(str(request.body or "")))
        client_id, secret = str(form.get("client_id", "")), str(form.get("client_secret", ""))
        if self.service_principals.get(client_id) != secret or not secret:
            return _Response(request, 401, {"error": "invalid_client", "error_description": "AADSTS7000215"})
        token = f"entra-{client_id}-{len(self.issued)}"
        self.issued[token] = client_id
        return _Response(request, 200, {"access_token": token, "expires_in": 3600, "token_type": "Bearer"})

    def _routes(self) -> list[tuple[str, str, Callable[..., _Response]]]:
        ws = re.escape(WS_PATH)
        return [
            ("GET", ws, self._workspace),
            ("GET", "/discovery", self._discovery),
            ("PUT", ws + r"/jobs/(?P<name>[^/]+)", self._create_job),
            ("GET", ws + r"/jobs/(?P<name>[^/]+)", self._get_job),
            ("POST", ws + r"/jobs/(?P<name>[^/]+)/cancel", self._cancel_job),
            ("GET", r"/history/v1\.0" + ws + r"/runs/(?P<name>[^/]+)/children", self._children),
            ("GET", ws + r"/codes/(?P<name>[^/]+)/versions", self._list_code),
            ("GET", ws + r"/codes/(?P<name>[^/]+)/versions/(?P<version>[^/]+)", self._get_code),
            ("PUT", ws + r"/environments/(?P<name>[^/]+)/versions/(?P<version>[^/]+)", self._put_environment),
        ]

    # ------------------------------------------------------------ workspace

    def _workspace(self, request: Any, query: dict, payload: Any) -> _Response:
        return _Response(
            request,
            200,
            {
                "id": WS_PATH,
                "name": WS,
                "type": "Microsoft.MachineLearningServices/workspaces",
                "location": "westeurope",
                "kind": "Default",
                "properties": {
                    "friendlyName": WS,
                    "discoveryUrl": f"{API}/discovery",
                    "mlFlowTrackingUri": self.mlflow_uri,
                    "workspaceId": "11111111-1111-1111-1111-111111111111",
                    "provisioningState": "Succeeded",
                },
            },
        )

    def _discovery(self, request: Any, query: dict, payload: Any) -> _Response:
        return _Response(request, 200, {"api": API, "catalog": API, "experimentation": API, "history": API})

    # ------------------------------------------------------------ jobs

    def _create_job(self, request: Any, query: dict, payload: Any, name: str) -> _Response:
        if name in self.jobs:
            return _error(request, 400, "UserError", f"A job with name {name} already exists and cannot be updated")
        self.creates += 1
        job = copy.deepcopy(payload)
        job.update(
            {
                "id": f"{WS_PATH}/jobs/{name}",
                "name": name,
                "type": "Microsoft.MachineLearningServices/workspaces/jobs",
                "systemData": _system_data(),
            }
        )
        props = job["properties"]
        props["status"] = "NotStarted"
        props["services"] = {
            "Studio": {"jobServiceType": "Studio", "endpoint": f"https://ml.azure.com/runs/{name}?wsid={WS_PATH}"}
        }
        self.jobs[name] = job
        self.children[name] = []
        return _Response(request, 201, job)

    def _get_job(self, request: Any, query: dict, payload: Any, name: str) -> _Response:
        job = self.jobs.get(name)
        if job is None:
            return _error(request, 404, "UserError", f"Job {name} not found")
        return _Response(request, 200, job)

    def _cancel_job(self, request: Any, query: dict, payload: Any, name: str) -> _Response:
        job = self.jobs.get(name)
        if job is None:
            return _error(request, 404, "UserError", f"Job {name} not found")
        self.cancels += 1
        props = job["properties"]
        if props["status"] not in ("Completed", "Failed", "Canceled"):
            props["status"] = "CancelRequested"
            for child in self.children[name]:
                if child.status not in ("Completed", "Failed", "Canceled"):
                    child.status = "CancelRequested"
        location = f"{ARM}/subscriptions/{SUB}/providers/Microsoft.MachineLearningServices/locations/westeurope/"
        return _Response(request, 202, None, {"Location": location + "mfeOperationResults/jc:1", "Retry-After": "5"})

    def _children(self, request: Any, query: dict, payload: Any, name: str) -> _Response:
        if name not in self.jobs:
            return _error(request, 404, "UserError", f"Run {name} not found")
        if self.auto_advance is not None:
            self.advance(name, self.auto_advance)
        runs = [self._run(name, child) for child in self.children[name]]
        return _Response(request, 200, {"value": runs, "continuationToken": None, "nextLink": None})

    def _run(self, parent: str, child: _Child) -> dict[str, Any]:
        return {
            "runId": child.run_id,
            "parentRunId": parent,
            "rootRunId": parent,
            "experimentId": "22222222-2222-2222-2222-222222222222",
            "status": child.status,
            "createdUtc": child.created,
            "displayName": child.run_id,
            "runType": "azureml.scriptrun",
            "properties": {"_azureml.ComputeTargetType": "amlctrain"},
            # Azure ML tags every trial of a sweep with the values it sampled for it, as JSON
            "tags": {"hyperparameters": json.dumps(child.params)},
            "compute": {"target": "cpu-cluster"},
        }

    # ------------------------------------------------------------ the code snapshot a submission resolves
    # (environment, compute and data assets named azureml:<name>:<version> become ARM ids in the SDK)

    def _list_code(self, request: Any, query: dict, payload: Any, name: str) -> _Response:
        # The snapshot with this content hash is already in the workspace (uploaded by an earlier
        # submission): the SDK then reuses it instead of uploading through blob storage.
        version = self._code(name, query.get("hash", ""))
        return _Response(request, 200, {"value": [version]})

    def _get_code(self, request: Any, query: dict, payload: Any, name: str, version: str) -> _Response:
        return _Response(request, 200, self._code(name, ""))

    def _code(self, name: str, content_hash: str) -> dict[str, Any]:
        return self.codes.setdefault(
            name,
            {
                "id": f"{WS_PATH}/codes/{name}/versions/1",
                "name": "1",
                "type": "Microsoft.MachineLearningServices/workspaces/codes/versions",
                "systemData": _system_data(),
                "properties": {
                    "codeUri": f"https://mlstore.blob.core.windows.net/azureml-blobstore/LocalUpload/{name}/src",
                    "isAnonymous": True,
                    "properties": {"hash_sha256": content_hash, "hash_version": "202208"},
                },
            },
        )

    def _put_environment(self, request: Any, query: dict, payload: Any, name: str, version: str) -> _Response:
        """An environment built from an image and a conda file: the SDK registers it anonymously
        (CliV2AnonymousEnvironment, versioned by its content hash) before the job that uses it."""
        env = {
            **copy.deepcopy(payload),
            "id": f"{WS_PATH}/environments/{name}/versions/{version}",
            "name": version,
            "type": "Microsoft.MachineLearningServices/workspaces/environments/versions",
            "systemData": _system_data(),
        }
        self.environments[f"{name}:{version}"] = env
        return _Response(request, 200, env)

    # ------------------------------------------------------------ driving a sweep

    def start(self, name: str, plans: list[ChildPlan] | None = None, seed: int = 0) -> None:
        """The sweep starts Running and its trials run (each reports its metrics to MLflow)."""
        with self._lock:
            job = self.jobs[name]
            props = job["properties"]
            if props["status"] != "NotStarted":
                return
            props["status"] = "Running"
            count = props["limits"]["maxTotalTrials"]
            plans = plans or [ChildPlan() for _ in range(count)]
            rng = random.Random(seed)
            for plan in plans[:count]:
                self.children[name].append(self._trial(props, plan, rng))

    def finish(self, name: str, plans: list[ChildPlan] | None = None) -> None:
        """Running -> Completed (or Canceled, if a cancel was requested)."""
        with self._lock:
            props = self.jobs[name]["properties"]
            if props["status"] == "NotStarted":
                self.start(name, plans)
            if props["status"] == "CancelRequested":
                props["status"] = "Canceled"
                import mlflow

                client = mlflow.MlflowClient(self.mlflow_uri)
                for child in self.children[name]:
                    if child.status == "CancelRequested":
                        self._end(client, child, "Canceled", by_user=True)
            elif props["status"] == "Running":
                import mlflow

                client = mlflow.MlflowClient(self.mlflow_uri)
                for child in self.children[name]:
                    if child.status == "Running":
                        self._end(client, child, "Completed")
                props["status"] = "Completed"

    def advance(self, name: str, plans: list[ChildPlan] | None = None) -> None:
        """One step of the sweep's life: NotStarted -> Running (its trials run), then -> Completed, or
        -> Canceled once a cancel was requested; an ended sweep stays as it is."""
        with self._lock:
            if self.jobs[name]["properties"]["status"] == "NotStarted":
                self.start(name, plans)
            else:
                self.finish(name)

    def _end(self, client: Any, child: _Child, status: str, by_user: bool = False) -> None:
        """A trial ends: Azure ML uploads its ./outputs and closes its MLflow run."""
        if child.plan.save_model and status in ("Completed", "Canceled") and not by_user:
            _upload_outputs(client, child.run_id)
        ending = {"Completed": "FINISHED", "Canceled": "KILLED"}.get(status, "FAILED")
        client.log_text(child.run_id, f"Starting trial {child.run_id}\n{child.run_id} ended {status}\n", TRIAL_LOG)
        client.set_terminated(child.run_id, ending)
        child.status = status

    def _trial(self, sweep: dict[str, Any], plan: ChildPlan, rng: random.Random) -> _Child:
        import mlflow

        client = mlflow.MlflowClient(self.mlflow_uri)
        experiment = sweep.get("experimentName") or "Default"
        found = client.get_experiment_by_name(experiment)
        experiment_id = found.experiment_id if found else client.create_experiment(experiment)
        run = client.create_run(experiment_id)
        params = {key: sample(dist, rng) for key, dist in sweep["searchSpace"].items()}
        child = _Child(run.info.run_id, "Running", _now(), params)
        env = {f"AZUREML_SWEEP_{k}": str(v) for k, v in params.items()}
        env.update({"MLFLOW_RUN_ID": child.run_id, "MLFLOW_TRACKING_URI": self.mlflow_uri})
        # A trial is its own process, where only the environment names the tracking URI: the tracking
        # URI a test set in this process (mlflow.set_tracking_uri) must not capture its metrics.
        from mlflow.tracking._tracking_service.utils import _use_tracking_uri

        with _environ(env), _use_tracking_uri(self.mlflow_uri):
            self.train(params, plan, rng)
        child.plan = plan
        if plan.status != "Running":
            self._end(client, child, plan.status)
        return child


def sample(dist: list[Any], rng: random.Random) -> Any:
    """A value from a search-space entry in its REST form ([type, [args]]), as Azure defines it."""
    kind, args = dist[0].lower(), dist[1]
    if kind == "choice":
        return rng.choice(args[0])
    if kind == "randint":
        return rng.randrange(args[0])
    if kind == "uniform":
        return rng.uniform(args[0], args[1])
    if kind == "quniform":
        return round(rng.uniform(args[0], args[1]) / args[2]) * args[2]
    if kind == "loguniform":
        return math.exp(rng.uniform(args[0], args[1]))
    if kind == "qloguniform":
        return round(math.exp(rng.uniform(args[0], args[1])) / args[2]) * args[2]
    if kind == "normal":
        return rng.gauss(args[0], args[1])
    if kind == "lognormal":
        return math.exp(rng.gauss(args[0], args[1]))
    raise ValueError(f"unsupported distribution {kind}")


def train_script(params: dict[str, Any], plan: ChildPlan, rng: random.Random) -> None:
    """The training script of every served trial: report() per epoch, as a user's script does."""
    import mlflow

    from hpo_flow.report import report

    quality = 0.6 + 0.3 * rng.random()
    try:
        for epoch in range(plan.epochs):
            accuracy = quality * (1 - 0.5 ** (epoch + 1))
            report(step=epoch, accuracy=round(accuracy, 6), loss=round(1 - accuracy, 6), stream=_Null())
        if plan.status == "Failed":
            raise RuntimeError("simulated crash")
    except RuntimeError:
        pass
    finally:
        mlflow.end_run()


def plain_mlflow_script(params: dict[str, Any], plan: ChildPlan, rng: random.Random) -> None:
    """A script as Azure ML's samples write it: mlflow.log_metric, nothing of hpo-flow, no params logged."""
    import mlflow

    quality = 0.6 + 0.3 * rng.random()
    try:
        for epoch in range(plan.epochs):
            mlflow.log_metric("accuracy", quality * (1 - 0.5 ** (epoch + 1)), step=epoch)
    finally:
        mlflow.end_run()


class _Null:
    def write(self, text: str) -> None:
        pass

    def flush(self) -> None:
        pass


def _upload_outputs(client: Any, run_id: str) -> None:
    """What Azure ML does with ./outputs when a trial ends: its files become the run's artifacts."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        model = Path(tmp) / "model"
        model.mkdir()
        (model / "MLmodel").write_text("flavors: {}\n")
        client.log_artifacts(run_id, str(model), "outputs/model")


class _environ:
    def __init__(self, values: dict[str, str]) -> None:
        self.values = values
        self.saved: dict[str, str | None] = {}

    def __enter__(self) -> None:
        for key, value in self.values.items():
            self.saved[key] = os.environ.get(key)
            os.environ[key] = value

    def __exit__(self, *args: Any) -> None:
        for key, value in self.saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
