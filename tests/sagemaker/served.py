"""SageMaker's tuning service as boto3 sees it, run on a simulated clock.

`ServedSageMaker` keeps tuning jobs whose training jobs start, run and end as the clock advances:
up to MaxParallelTrainingJobs at once, a minute of provisioning each, then a deterministic outcome
(completed, failed, early-stopped when the job stops early, or finished without its objective).
It answers the SageMaker calls the adapter makes with bodies shaped as the API documents them:
each is checked against botocore's service model (the check `botocore.stub.Stubber` makes) and
sent through botocore's own parser as JSON on the wire (`before-send`), so retries, throttling and
parsing happen exactly as against AWS.

Two ways to run it:
- with moto (`moto_backend`): moto's server creates and describes the tuning job and holds S3 and
  IAM; this adds what moto lacks (ListTrainingJobsForHyperParameterTuningJob,
  StopHyperParameterTuningJob, DescribeTrainingJob of the tuning job's training jobs,
  iam:SimulatePrincipalPolicy) and writes the job's progress into moto's record of it;
- alone, answering CreateHyperParameterTuningJob and DescribeHyperParameterTuningJob as well
  (the polling benchmark: no server, thousands of simulated calls).
"""

from __future__ import annotations

import base64
import copy
import json
import math
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

ACCOUNT = "123456789012"
REGION = "us-east-1"
EPOCH = datetime(2025, 1, 1, tzinfo=UTC)
TRAINING_LOG_GROUP = "/aws/sagemaker/TrainingJobs"  # where SageMaker writes every training job's output
PROVISIONING_S = 60  # InProgress before TrainingStartTime: instances launching, image downloading
STOP_S = 20  # Stopping -> Stopped
LAUNCH_GAP_S = 15  # between a slot freeing and the next training job's creation


class Clock:
    """Simulated seconds since EPOCH."""

    def __init__(self) -> None:
        self.now = 0.0

    def at(self, seconds: float) -> datetime:
        return EPOCH + timedelta(seconds=seconds)


@dataclass
class ServedTrainingJob:
    index: int
    name: str
    params: dict[str, str]
    outcome: str  # Completed | Failed | EarlyStopped | NoObjective
    objective: float
    created: float
    duration: float
    stopped_at: float | None = None  # set when the tuning job was stopped while this one ran

    @property
    def arn(self) -> str:
        return f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:training-job/{self.name.lower()}"

    def ends(self) -> float:
        return self.created + PROVISIONING_S + self.duration

    def status(self, now: float) -> str:
        if self.stopped_at is not None and now >= self.stopped_at:
            return "Stopping" if now < self.stopped_at + STOP_S else "Stopped"
        if now < self.ends():
            return "InProgress"
        return {"Completed": "Completed", "NoObjective": "Completed", "Failed": "Failed", "EarlyStopped": "Stopped"}[
            self.outcome
        ]

    def objective_status(self, now: float) -> str:
        status = self.status(now)
        if status in ("InProgress", "Stopping"):
            return "Pending"
        if status == "Stopped" and self.stopped_at is not None:
            return "Failed"
        return "Failed" if self.outcome in ("Failed", "NoObjective") else "Succeeded"

    def summary(self, now: float, tuning: ServedTuningJob) -> dict[str, Any]:
        status = self.status(now)
        out: dict[str, Any] = {
            "TrainingJobName": self.name,
            "TrainingJobArn": self.arn,
            "TuningJobName": tuning.name,
            "CreationTime": _t(self.created),
            "TrainingJobStatus": status,
            "TunedHyperParameters": dict(self.params),
            "ObjectiveStatus": self.objective_status(now),
        }
        if now >= self.created + PROVISIONING_S:
            out["TrainingStartTime"] = _t(self.created + PROVISIONING_S)
        if status in ("Completed", "Failed", "Stopped"):
            out["TrainingEndTime"] = _t(self.end_time())
        if status == "Failed":
            out["FailureReason"] = (
                'AlgorithmError: ExecuteUserScriptError:\nExitCode 1\nErrorMessage "ValueError: loss is nan"\n'
                f'Command "/usr/local/bin/python3.11 {tuning.entry_script()}"'
            )
        if out["ObjectiveStatus"] == "Succeeded":
            out["FinalHyperParameterTuningJobObjectiveMetric"] = {
                "Type": tuning.objective_type(),
                "MetricName": tuning.objective_metric(),
                "Value": self.objective,
            }
        return out

    def end_time(self) -> float:
        return self.stopped_at + STOP_S if self.stopped_at is not None else self.ends()


@dataclass
class ServedTuningJob:
    name: str
    request: dict[str, Any]
    created: float
    jobs: list[ServedTrainingJob] = field(default_factory=list)
    stop_requested: float | None = None
    outcomes: list[str] = field(default_factory=lambda: list(OUTCOMES))

    @property
    def arn(self) -> str:
        return f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:hyper-parameter-tuning-job/{self.name.lower()}"

    @property
    def config(self) -> dict[str, Any]:
        return self.request["HyperParameterTuningJobConfig"]

    def objective_type(self) -> str:
        return self.config.get("HyperParameterTuningJobObjective", {}).get("Type", "Maximize")

    def objective_metric(self) -> str:
        return self.config.get("HyperParameterTuningJobObjective", {}).get("MetricName", "objective")

    def entry_script(self) -> str:
        static = self.request.get("TrainingJobDefinition", {}).get("StaticHyperParameters", {})
        return static.get("sagemaker_program", "train.py")

    def max_jobs(self) -> int:
        limits = self.config["ResourceLimits"]
        if "MaxNumberOfTrainingJobs" in limits:
            return int(limits["MaxNumberOfTrainingJobs"])
        ranges = self.config.get("ParameterRanges", {}).get("CategoricalParameterRanges", [])
        return math.prod(len(r["Values"]) for r in ranges) if ranges else 1

    def stops_early(self) -> bool:
        return self.config.get("TrainingJobEarlyStoppingType") == "Auto" or self.config["Strategy"] == "Hyperband"

    def launch(self, now: float) -> None:
        """Create training jobs up to `now`, each in the first slot to free up (list scheduling)."""
        while self.stop_requested is None and len(self.jobs) < self.max_jobs():
            start = self._next_start()
            if start > now:
                return
            self.jobs.append(self._new_job(len(self.jobs), start))

    def _next_start(self) -> float:
        slots = [self.created + LAUNCH_GAP_S] * int(self.config["ResourceLimits"]["MaxParallelTrainingJobs"])
        for job in self.jobs:
            slots[slots.index(min(slots))] = job.end_time() + LAUNCH_GAP_S
        return min(slots)

    def _new_job(self, index: int, start: float) -> ServedTrainingJob:
        rng = random.Random(f"{self.name}/{index}")
        params: dict[str, str] = {}
        closeness = []
        ranges = self.config.get("ParameterRanges", {})
        for kind in ("Continuous", "Integer", "Categorical"):
            for r in ranges.get(f"{kind}ParameterRanges", []):
                u = rng.random()
                if kind == "Categorical":
                    values = r["Values"]
                    pick = min(int(u * len(values)), len(values) - 1)
                    params[r["Name"]] = values[pick]
                    position = pick / max(1, len(values) - 1)
                else:
                    low, high = float(r["MinValue"]), float(r["MaxValue"])
                    if r.get("ScalingType") == "Logarithmic" and low > 0:
                        value = math.exp(math.log(low) + u * (math.log(high) - math.log(low)))
                    else:
                        value = low + u * (high - low)
                    params[r["Name"]] = str(round(value)) if kind == "Integer" else repr(value)
                    position = u
                closeness.append((position - 0.3) ** 2)
        score = 0.95 - 0.5 * (sum(closeness) / max(1, len(closeness)))
        outcome = self.outcomes[index % len(self.outcomes)]
        if outcome == "EarlyStopped" and not self.stops_early():
            outcome = "Completed"
        duration = 480 + 60 * (index * 7 % 5)
        if outcome == "EarlyStopped":
            duration, score = duration / 3, score - 0.2
        value = round(score if self.objective_type() == "Maximize" else 1.0 - score, 6)
        name = f"{self.name}-{index + 1:03d}-{rng.getrandbits(32):08x}"
        return ServedTrainingJob(index, name, params, outcome, value, start, duration)

    def status(self, now: float) -> str:
        self.launch(now)
        if self.stop_requested is not None:
            busy = any(j.status(now) in ("InProgress", "Stopping") for j in self.jobs)
            return "Stopping" if busy or now < self.stop_requested + STOP_S else "Stopped"
        if len(self.jobs) < self.max_jobs() or any(j.status(now) == "InProgress" for j in self.jobs):
            return "InProgress"
        if not any(j.objective_status(now) == "Succeeded" for j in self.jobs):
            return "Failed"
        return "Completed"

    def end_time(self, now: float) -> float | None:
        if self.status(now) not in ("Completed", "Failed", "Stopped"):
            return None
        ends = [j.end_time() for j in self.jobs]
        if self.stop_requested is not None:
            ends.append(self.stop_requested + STOP_S)
        return max(ends) if ends else self.created

    def dynamic(self, now: float) -> dict[str, Any]:
        """The fields of DescribeHyperParameterTuningJob that change as the job runs."""
        status = self.status(now)
        counters = Counter(j.status(now) for j in self.jobs)
        objectives = Counter(j.objective_status(now) for j in self.jobs)
        out: dict[str, Any] = {
            "HyperParameterTuningJobStatus": status,
            "TrainingJobStatusCounters": {
                "Completed": counters["Completed"],
                "InProgress": counters["InProgress"] + counters["Stopping"],
                "RetryableError": 0,
                "NonRetryableError": counters["Failed"],
                "Stopped": counters["Stopped"],
            },
            "ObjectiveStatusCounters": {
                "Succeeded": objectives["Succeeded"],
                "Pending": objectives["Pending"],
                "Failed": objectives["Failed"],
            },
            "LastModifiedTime": _t(now),
        }
        succeeded = [j for j in self.jobs if j.objective_status(now) == "Succeeded"]
        if succeeded:
            sign = 1 if self.objective_type() == "Maximize" else -1
            best = max(succeeded, key=lambda j: sign * j.objective)
            out["BestTrainingJob"] = best.summary(now, self)
        end = self.end_time(now)
        if end is not None:
            out["HyperParameterTuningEndTime"] = _t(end)
        if status == "Failed":
            out["FailureReason"] = (
                f"No training job succeeded after {len(self.jobs)} attempts. "
                "Please take a look at the training job failures to get more details."
            )
        return out

    def describe(self, now: float) -> dict[str, Any]:
        out: dict[str, Any] = {
            "HyperParameterTuningJobName": self.name,
            "HyperParameterTuningJobArn": self.arn,
            "HyperParameterTuningJobConfig": copy.deepcopy(self.config),
            "CreationTime": _t(self.created),
        }
        for key in ("TrainingJobDefinition", "TrainingJobDefinitions"):
            if key in self.request:
                out[key] = copy.deepcopy(self.request[key])
        if "WarmStartConfig" in self.request:
            out["WarmStartConfig"] = copy.deepcopy(self.request["WarmStartConfig"])
        out.update(self.dynamic(now))
        return out


# Of every ten jobs one fails and one finishes without printing its objective; with early stopping
# on (Auto, or the Hyperband strategy), SageMaker stops two of the ten early.
OUTCOMES = [
    "Completed",
    "Completed",
    "EarlyStopped",
    "Failed",
    "Completed",
    "Completed",
    "EarlyStopped",
    "Completed",
    "NoObjective",
    "Completed",
]


def model_archive(files: dict[str, bytes]) -> bytes:
    """A model.tar.gz as SageMaker packs SM_MODEL_DIR: each file at the archive's top level."""
    import io
    import tarfile

    packed = io.BytesIO()
    with tarfile.open(fileobj=packed, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return packed.getvalue()


class ServiceError(Exception):
    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(f"{code}: {message}")
        self.code, self.message, self.status = code, message, status


class ServedSageMaker:
    """The tuning service on a simulated clock; see the module docstring."""

    SERVED = (
        "ListTrainingJobsForHyperParameterTuningJob",
        "StopHyperParameterTuningJob",
        "DescribeTrainingJob",
    )

    def __init__(self, moto_backend: Any = None, outcomes: list[str] | None = None) -> None:
        import botocore.session

        self.outcomes = outcomes or list(OUTCOMES)  # what the training jobs do, cycling: see OUTCOMES
        self.clock = Clock()
        self.jobs: dict[str, ServedTuningJob] = {}
        self.moto = moto_backend
        self.calls: Counter[str] = Counter()  # HTTP requests, retries included, by operation
        self.sent: dict[str, dict[str, Any]] = {}  # the CreateHyperParameterTuningJob parameters, by name
        # Faults to inject, by operation: throttle the next n requests, answer ResourceNotFound to the
        # next n (a look-up that misses, as in a race), or refuse the next one with (code, message).
        self.throttle_next: dict[str, int] = {}
        self.hide_next: dict[str, int] = {}
        self.reject_next: dict[str, tuple[str, str]] = {}
        self.role_allowed = True
        # For callers that poll in real time (a flow): simulated seconds that pass before each describe.
        self.auto_advance = 0.0
        # What a completed training job uploads as its model.tar.gz (into moto's S3), where a test wants one.
        self.model_archive: bytes | None = None
        self._uploaded: set[str] = set()
        # Whether each training job's output goes to moto's CloudWatch Logs when it ends, as SageMaker's does.
        self.write_logs = False
        self._logged: set[str] = set()
        self._model = botocore.session.get_session().get_service_model("sagemaker")

    # ------------------------------------------------------------------ the simulation

    def create(self, request: dict[str, Any]) -> str:
        name = request["HyperParameterTuningJobName"]
        if name.lower() in {n.lower() for n in self.jobs}:
            raise ServiceError(
                "ResourceInUse",
                f"A hyperparameter tuning job with the name, {name}, already exists. Choose a different name.",
            )
        self.jobs[name] = ServedTuningJob(name, copy.deepcopy(request), self.clock.now, outcomes=self.outcomes)
        self._sync(name)
        return self.jobs[name].arn

    def advance(self, seconds: float) -> None:
        self.clock.now += seconds
        self.adopt_from_moto()
        for name in self.jobs:
            self._sync(name)

    def finish(self, name: str, step: float = 60.0) -> None:
        """Advance until the tuning job has ended."""
        while self.jobs[name].status(self.clock.now) not in ("Completed", "Failed", "Stopped"):
            self.advance(step)

    def adopt_from_moto(self) -> None:
        """Tuning jobs that moto's server created (the SDK's CreateHyperParameterTuningJob) join the simulation."""
        if self.moto is None:
            return
        for name, job in self.moto.hyper_parameter_tuning_jobs.items():
            if name not in self.jobs:
                request = {
                    "HyperParameterTuningJobName": name,
                    "HyperParameterTuningJobConfig": job.hyper_parameter_tuning_job_config,
                }
                if job.training_job_definition:
                    request["TrainingJobDefinition"] = job.training_job_definition
                self.jobs[name] = ServedTuningJob(name, request, self.clock.now, outcomes=self.outcomes)
                self._sync(name)

    def _sync(self, name: str) -> None:
        """Write the job's progress into moto's record, which moto's DescribeHyperParameterTuningJob reads."""
        if self.moto is None or name not in self.moto.hyper_parameter_tuning_jobs:
            return
        record = self.moto.hyper_parameter_tuning_jobs[name]
        served = self.jobs[name]
        now = self.clock.now
        dyn = served.dynamic(now)
        record.hyper_parameter_tuning_job_status = dyn["HyperParameterTuningJobStatus"]
        record.training_job_status_counters = dyn["TrainingJobStatusCounters"]
        record.objective_status_counters = dyn["ObjectiveStatusCounters"]
        record.best_training_job = dyn.get("BestTrainingJob")
        record.OverallBestTrainingJob = None
        record.creation_time = self.clock.at(served.created)
        record.last_modified_time = self.clock.at(now)
        end = served.end_time(now)
        record.hyper_parameter_tuning_end_time = self.clock.at(end) if end is not None else None
        record.failure_reason = dyn.get("FailureReason")
        record.tuning_job_completion_details = None
        record.consumed_resources = None
        if self.write_logs:
            self._write_logs(served, now)

    def _write_logs(self, tuning: ServedTuningJob, now: float) -> None:
        """What SageMaker writes for each training job: a stream `<job>/algo-1-<epoch>` in the group
        /aws/sagemaker/TrainingJobs, holding the container's output."""
        from tests.sagemaker.conftest import new_session

        logs = new_session(REGION).client("logs")
        for job in tuning.jobs:
            if job.name in self._logged or job.status(now) not in ("Completed", "Failed", "Stopped"):
                continue
            if not self._logged:
                logs.create_log_group(logGroupName=TRAINING_LOG_GROUP)
            self._logged.add(job.name)
            stream = f"{job.name}/algo-1-{int(job.created)}"
            logs.create_log_stream(logGroupName=TRAINING_LOG_GROUP, logStreamName=stream)
            args = " ".join(f"--{k} {v}" for k, v in job.params.items())
            lines = [
                f"Invoking script with the following command: /usr/local/bin/python3.11 {tuning.entry_script()} {args}"
            ]
            lines += [f"epoch {e}: {tuning.objective_metric()} = {job.objective}" for e in (1, 2)]
            if job.outcome == "Failed":
                lines.append("ValueError: loss is nan")
            start = int(time.time() * 1000)  # CloudWatch drops events older than 14 days: not the simulated clock's
            events = [{"timestamp": start + i, "message": line} for i, line in enumerate(lines)]
            logs.put_log_events(logGroupName=TRAINING_LOG_GROUP, logStreamName=stream, logEvents=events)

    # ------------------------------------------------------------------ the API

    def answer(self, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        now = self.clock.now
        if operation == "CreateHyperParameterTuningJob":
            self.sent[params["HyperParameterTuningJobName"]] = copy.deepcopy(params)
            return {"HyperParameterTuningJobArn": self.create(params)}
        name = params.get("HyperParameterTuningJobName")
        if operation == "DescribeHyperParameterTuningJob":
            return self._tuning(name).describe(now)
        if operation == "ListTrainingJobsForHyperParameterTuningJob":
            return self._list(self._tuning(name), params)
        if operation == "StopHyperParameterTuningJob":
            job = self._tuning(name)
            if job.status(now) != "InProgress":
                raise ServiceError(
                    "ValidationException",
                    f"Hyperparameter tuning job {name} is in status {job.status(now)} and cannot be stopped.",
                )
            job.stop_requested = now
            for training in job.jobs:
                if training.status(now) == "InProgress":
                    training.stopped_at = now
            self._sync(name)
            return {}
        if operation == "DescribeTrainingJob":
            return self._describe_training(params["TrainingJobName"])
        raise ServiceError("InternalFailure", f"{operation} is not served", 500)

    def _tuning(self, name: str | None) -> ServedTuningJob:
        self.adopt_from_moto()
        for key, job in self.jobs.items():
            if name is not None and key.lower() == name.lower():
                job.launch(self.clock.now)
                return job
        raise ServiceError("ResourceNotFound", f"Amazon SageMaker can't find a tuning job with name {name}")

    def _list(self, job: ServedTuningJob, params: dict[str, Any]) -> dict[str, Any]:
        now = self.clock.now
        summaries = [j.summary(now, job) for j in job.jobs]
        if params.get("StatusEquals"):
            summaries = [s for s in summaries if s["TrainingJobStatus"] == params["StatusEquals"]]
        sort_by = params.get("SortBy", "Name")
        keys = {
            "Name": lambda s: s["TrainingJobName"],
            "CreationTime": lambda s: (s["CreationTime"], s["TrainingJobName"]),
            "Status": lambda s: s["TrainingJobStatus"],
            "FinalObjectiveMetricValue": lambda s: s.get("FinalHyperParameterTuningJobObjectiveMetric", {}).get(
                "Value", -math.inf
            ),
        }
        summaries.sort(key=keys[sort_by], reverse=params.get("SortOrder", "Ascending") == "Descending")
        start = int(base64.b64decode(params["NextToken"]).decode()) if params.get("NextToken") else 0
        size = int(params.get("MaxResults", 10))
        out: dict[str, Any] = {"TrainingJobSummaries": summaries[start : start + size]}
        if start + size < len(summaries):
            out["NextToken"] = base64.b64encode(str(start + size).encode()).decode()
        return out

    def _upload_model(self, uri: str) -> None:
        """SageMaker uploads SM_MODEL_DIR as model.tar.gz when the job completes: here, `model_archive`."""
        if self.model_archive is None or self.moto is None or uri in self._uploaded:
            return
        from tests.sagemaker.conftest import new_session

        bucket, _, key = uri.removeprefix("s3://").partition("/")
        new_session(REGION).client("s3").put_object(Bucket=bucket, Key=key, Body=self.model_archive)
        self._uploaded.add(uri)

    def _describe_training(self, name: str) -> dict[str, Any]:
        now = self.clock.now
        self.adopt_from_moto()
        for tuning in self.jobs.values():
            tuning.launch(now)
            for job in tuning.jobs:
                if job.name != name:
                    continue
                summary = job.summary(now, tuning)
                definition = tuning.request.get("TrainingJobDefinition", {})
                output = definition.get("OutputDataConfig", {}).get(
                    "S3OutputPath", f"s3://sagemaker-{REGION}-{ACCOUNT}"
                )
                status = summary["TrainingJobStatus"]
                metrics = []
                if "FinalHyperParameterTuningJobObjectiveMetric" in summary:
                    metrics.append(
                        {"MetricName": tuning.objective_metric(), "Value": job.objective, "Timestamp": _t(now)}
                    )
                    metrics.append({"MetricName": "epoch", "Value": 5.0, "Timestamp": _t(now)})
                out = {
                    "TrainingJobName": name,
                    "TrainingJobArn": job.arn,
                    "TuningJobArn": tuning.arn,
                    "ModelArtifacts": {"S3ModelArtifacts": f"{output.rstrip('/')}/{name}/output/model.tar.gz"},
                    "TrainingJobStatus": status,
                    "SecondaryStatus": {"InProgress": "Training", "Stopping": "Stopping"}.get(status, status),
                    "HyperParameters": {**definition.get("StaticHyperParameters", {}), **job.params},
                    "AlgorithmSpecification": {
                        "TrainingInputMode": "File",
                        "TrainingImage": definition.get("AlgorithmSpecification", {}).get("TrainingImage", "image"),
                    },
                    "RoleArn": definition.get("RoleArn", f"arn:aws:iam::{ACCOUNT}:role/SageMakerRole"),
                    "StoppingCondition": definition.get("StoppingCondition", {"MaxRuntimeInSeconds": 3600}),
                    "CreationTime": summary["CreationTime"],
                    "FinalMetricDataList": metrics,
                }
                for key in ("TrainingStartTime", "TrainingEndTime", "FailureReason"):
                    if key in summary:
                        out[key] = summary[key]
                if status == "Completed":
                    self._upload_model(out["ModelArtifacts"]["S3ModelArtifacts"])
                return out
        raise ServiceError("ValidationException", f"Requested resource not found: training job {name}")

    # ------------------------------------------------------------------ wiring into a boto3 session

    def attach(self, boto_session: Any) -> None:
        """Serve this session's SageMaker calls (register before the session makes its clients)."""
        events = boto_session.events
        events.register("before-parameter-build.sagemaker.CreateHyperParameterTuningJob", self._remember_sent)
        events.register("before-send.*.*", self._count)
        events.register("before-send.sagemaker.*", self._serve)
        events.register("before-call.iam.SimulatePrincipalPolicy", self._simulate)
        events.register("after-call.sagemaker.CreateHyperParameterTuningJob", self._created)

    def _remember_sent(self, params: dict[str, Any], **_: Any) -> None:
        self.sent[params["HyperParameterTuningJobName"]] = copy.deepcopy(params)

    def _created(self, **_: Any) -> None:
        self.adopt_from_moto()  # from its first describe on, moto reports the simulated progress

    def _count(self, event_name: str, **_: Any) -> None:
        self.calls[event_name.rsplit(".", 1)[-1]] += 1

    def _serve(self, request: Any, event_name: str, **_: Any) -> Any:
        operation = event_name.rsplit(".", 1)[-1]
        if operation == "DescribeHyperParameterTuningJob" and self.auto_advance:
            self.advance(self.auto_advance)
        if self.throttle_next.get(operation):
            self.throttle_next[operation] -= 1
            return _wire(400, {"__type": "ThrottlingException", "message": "Rate exceeded"})
        if operation in self.reject_next:
            code, message = self.reject_next.pop(operation)
            return _wire(400, {"__type": code, "message": message})
        if self.hide_next.get(operation):
            self.hide_next[operation] -= 1
            return _wire(400, {"__type": "ResourceNotFound", "message": "Amazon SageMaker can't find the resource"})
        if self.moto is not None and operation not in self.SERVED:
            return None  # moto's server answers it
        params = json.loads(request.body or b"{}")
        try:
            body = self.answer(operation, params)
        except ServiceError as exc:
            return _wire(exc.status, {"__type": exc.code, "message": exc.message})
        self._check(operation, body)
        return _wire(200, _jsonable(body))

    def _check(self, operation: str, body: dict[str, Any]) -> None:
        # Stubber's check of a response: the body must fit the operation's output shape.
        from botocore.validate import validate_parameters

        shape = self._model.operation_model(operation).output_shape
        if shape is not None:
            validate_parameters(body, shape)

    def _simulate(self, params: dict[str, Any], model: Any, **_: Any) -> tuple[Any, dict[str, Any]]:
        from botocore.awsrequest import AWSResponse

        # before-call sees the serialized query: ActionNames.member.1, ActionNames.member.2, ...
        body = params.get("body", {})
        actions = [v for k, v in sorted(body.items()) if k.startswith("ActionNames.member.")]
        decision = "allowed" if self.role_allowed else "implicitDeny"
        results = [{"EvalActionName": a, "EvalDecision": decision} for a in actions]
        return AWSResponse("https://iam.amazonaws.com", 200, {}, None), {
            "EvaluationResults": results,
            "IsTruncated": False,
        }


class _Body:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def stream(self, **_: Any) -> Any:
        yield self.data


def _wire(status: int, body: dict[str, Any]) -> Any:
    from botocore.awsrequest import AWSResponse

    data = json.dumps(body).encode()
    headers = {"Content-Type": "application/x-amz-json-1.1", "Content-Length": str(len(data))}
    return AWSResponse("https://api.sagemaker.us-east-1.amazonaws.com/", status, headers, _Body(data))


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value


def _t(seconds: float) -> datetime:
    return EPOCH + timedelta(seconds=seconds)
