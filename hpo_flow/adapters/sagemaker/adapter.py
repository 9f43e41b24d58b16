"""The SageMaker adapter: the config's sweep as a HyperparameterTuner job, polled, attached, stopped.

The SDK (v3: ModelTrainer + HyperparameterTuner) builds and starts the job; boto3 follows it.
Both are imported on first use, never by `import hpo_flow.adapters`.
"""

from __future__ import annotations

import logging
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from hpo_flow.adapters.errors import MISSING, BackendError, HpoFlowError, PlanError, Problem
from hpo_flow.adapters.port import SweepRef, SweepState, Trial, best_trial
from hpo_flow.adapters.sagemaker import aws, trials
from hpo_flow.adapters.sagemaker.mapping import BACKEND, CONFIG_HASH_TAG, TuningSpec, code_missing, map_spec
from hpo_flow.adapters.spec import HpoConfig

log = logging.getLogger(__name__)

PAGE_SIZE = 100  # the most ListTrainingJobsForHyperParameterTuningJob returns per call (its default is 10)

SessionFactory = Callable[[str | None, str | None], Any]  # (region, credentials_block) -> boto3.Session


TRAINING_LOG_GROUP = "/aws/sagemaker/TrainingJobs"  # SageMaker writes every training job's output here


@dataclass
class _SweepCache:
    """What one sweep's earlier polls learnt: terminal trials never change, so they are not fetched again."""

    lock: threading.Lock = field(default_factory=threading.Lock)  # one poll of a sweep at a time
    fingerprint: tuple[Any, ...] | None = None
    trials: dict[str, Trial] = field(default_factory=dict)
    complete: bool = False  # every page has been read at least once
    artifacts: dict[str, tuple[str | None, dict[str, float]]] = field(default_factory=dict)


class SageMakerAdapter:
    """Runs a sweep as a SageMaker hyperparameter tuning job.

    `session_factory(region, credentials_block)` returns the boto3 session to use (default: the AWS
    default chain, or the named prefect-aws AwsCredentials block). `cache_trials=False` re-reads
    every training job on every poll (for comparison in the polling benchmark).
    """

    backend = BACKEND

    def __init__(self, session_factory: SessionFactory | None = None, *, cache_trials: bool = True) -> None:
        self._session_factory = session_factory or aws.boto_session
        self._cache_trials = cache_trials
        self._lock = threading.RLock()
        self._sessions: dict[str, Any] = {}  # sweep name -> the session submit used (its credentials)
        self._clients: dict[str, Any] = {}
        self._caches: dict[str, _SweepCache] = {}

    # ------------------------------------------------------------------ plan

    def plan(self, spec: HpoConfig) -> dict[str, Any]:
        """The CreateHyperParameterTuningJob request the SDK would send, in boto3's parameter form.

        No network and no credentials: the SDK runs against `offline.OfflineSession`, which answers its
        few questions from the config and captures the request once botocore has validated it.
        """
        tuning = map_spec(spec)
        region = tuning.region or aws.default_region()
        if not region:
            raise PlanError(BACKEND, [Problem("backends.sagemaker.region", MISSING, aws.NO_REGION)])
        return _offline_request(spec, tuning, region)

    # ------------------------------------------------------------------ submit

    def submit(self, spec: HpoConfig) -> SweepRef:
        """Start the tuning job, or attach to the one that already has this config's name."""
        tuning = map_spec(spec)
        session = self._session_factory(tuning.region, tuning.credentials_block)
        region = session.region_name
        client = aws.client(session)
        name = tuning.job_name
        with aws.aws_errors(f"looking up tuning job {name}"):
            arn = _existing_arn(client, name)
            if arn is not None:
                _check_same_sweep(client, arn, spec, name)
        if arn is None:
            missing = code_missing(spec)
            if missing:
                key = "training.source_dir" if missing.startswith("training.source_dir") else "training.entry_point"
                raise PlanError(BACKEND, [Problem(key, MISSING, f"{missing}; submit uploads the code from there")])
            arn = self._create(tuning, session, client, spec.training.source_dir)
        ref = SweepRef(
            backend=BACKEND,
            name=name,
            cloud_id=arn,
            url=console_url(region, name),
            credentials_block=tuning.credentials_block,
        )
        with self._lock:
            self._sessions[name] = session
            self._clients[name] = client
        return ref

    def _create(self, tuning: TuningSpec, session: Any, client: Any, source_dir: str) -> str:
        from sagemaker.core.helper.session_helper import Session

        from hpo_flow.adapters.sagemaker import build

        with aws.aws_errors(f"creating tuning job {tuning.job_name}"):
            try:
                sm_session = Session(boto_session=session, sagemaker_client=client)
                tuner = build.make_tuner(tuning, sm_session, source_dir, upload=True)
                build.start(tuner, tuning)
            except Exception as exc:
                if aws.error_code(exc) not in ("ResourceInUse", "ResourceInUseException"):
                    raise
                # Another run created it between our lookup and our create: attach to that one.
                log.info("tuning job %s was created meanwhile; attaching to it", tuning.job_name)
                arn = _existing_arn(client, tuning.job_name)
                if arn is None:
                    raise
                return arn
            return str(tuner.latest_tuning_job.hyper_parameter_tuning_job_arn)

    # ------------------------------------------------------------------ poll

    def poll(self, ref: SweepRef) -> SweepState:
        """The tuning job's status and its training jobs as trials; the best one with its model artifact."""
        client = self._client(ref)
        with self._lock:
            cache = self._caches.setdefault(ref.name, _SweepCache())
        with cache.lock, aws.aws_errors(f"reading tuning job {ref.name}"):
            describe = client.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=ref.name)
            ctx = trials.context(describe)
            mark = trials.fingerprint(describe)
            if not (self._cache_trials and cache.complete and mark == cache.fingerprint):
                self._read_trials(client, ref.name, ctx, cache)
                cache.fingerprint = mark
            found = sorted(cache.trials.values(), key=_creation_order)
            found = self._with_best_artifact(client, found, ctx, cache)
        return SweepState(status=trials.sweep_status(describe), trials=found, message=trials.sweep_message(describe))

    def _read_trials(self, client: Any, name: str, ctx: trials.JobContext, cache: _SweepCache) -> None:
        """List the training jobs, newest first; stop paging once every older job is known and final."""
        unsettled = {i for i, t in cache.trials.items() if not t.status.is_terminal}
        token: str | None = None
        while True:
            args: dict[str, Any] = {
                "HyperParameterTuningJobName": name,
                "SortBy": "CreationTime",
                "SortOrder": "Descending",
                "MaxResults": PAGE_SIZE,
            }
            if token:
                args["NextToken"] = token
            page = client.list_training_jobs_for_hyper_parameter_tuning_job(**args)
            summaries = page.get("TrainingJobSummaries", [])
            for summary in summaries:
                job = summary["TrainingJobName"]
                unsettled.discard(job)
                known = cache.trials.get(job)
                if self._cache_trials and known is not None and known.status.is_terminal:
                    continue
                cache.trials[job] = trials.trial_from_summary(summary, ctx)
                cache.artifacts.pop(job, None)
            token = page.get("NextToken")
            if not token:
                break
            oldest = cache.trials.get(summaries[-1]["TrainingJobName"]) if summaries else None
            if self._cache_trials and cache.complete and not unsettled and oldest and oldest.status.is_terminal:
                break  # the rest were final when last read, and final jobs do not change
        cache.complete = True

    def _with_best_artifact(
        self, client: Any, found: list[Trial], ctx: trials.JobContext, cache: _SweepCache
    ) -> list[Trial]:
        """Give the best finished trial its model artifact and final metrics (DescribeTrainingJob, once)."""
        best = best_trial(found, ctx.objective)
        if best is None or not best.status.is_terminal:
            return found
        if best.id not in cache.artifacts or not self._cache_trials:
            cache.artifacts[best.id] = _artifact(client, best.id)
        model_uri, metrics = cache.artifacts[best.id]
        enriched = replace(best, model_uri=model_uri, metrics={**metrics, **best.metrics})
        return [enriched if t.id == best.id else t for t in found]

    # ------------------------------------------------------------------ cancel

    def cancel(self, ref: SweepRef) -> None:
        """Stop the tuning job (SageMaker stops its training jobs); a finished or unknown job is left as is."""
        from botocore.exceptions import ClientError

        client = self._client(ref)
        with aws.aws_errors(f"stopping tuning job {ref.name}"):
            try:
                client.stop_hyper_parameter_tuning_job(HyperParameterTuningJobName=ref.name)
                log.info("stopping tuning job %s", ref.name)
            except ClientError as exc:
                code = aws.error_code(exc)
                if code in ("ResourceNotFound", "ResourceNotFoundException"):
                    log.info("tuning job %s does not exist; nothing to stop", ref.name)
                    return
                if code != "ValidationException":
                    raise
                # SageMaker refuses to stop a job that is already stopping or finished: confirm that is why.
                status = client.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=ref.name)[
                    "HyperParameterTuningJobStatus"
                ]
                if status == "InProgress":
                    raise
                log.info("tuning job %s is %s; nothing to stop", ref.name, status)

    # ------------------------------------------------------------------ models

    def fetch_model(self, spec: HpoConfig, trial: Trial, into: Path) -> bool:
        """Download the trial's `model.tar.gz` (what SageMaker uploads from SM_MODEL_DIR) and unpack it."""
        import tarfile

        uri = trial.model_uri or ""
        if not uri.startswith("s3://"):
            return False
        bucket, _, key = uri.removeprefix("s3://").partition("/")
        section = spec.backends.sagemaker
        session = self._session_factory(
            section.region if section else None, section.credentials_block if section else None
        )
        with aws.aws_errors(f"downloading {uri}"), tempfile.TemporaryFile() as archive:
            aws.client(session, "s3").download_fileobj(bucket, key, archive)
            archive.seek(0)
            try:
                with tarfile.open(fileobj=archive, mode="r:*") as tar:
                    tar.extractall(into, filter="data")  # refuses links and paths out of `into`
            except (tarfile.TarError, OSError) as exc:
                raise BackendError(f"{uri} is not a model archive this machine can unpack ({exc})") from None
        return True

    # ------------------------------------------------------------------ logs

    def trial_log(self, ref: SweepRef, trial: Trial) -> Path | None:
        """The training job's output from CloudWatch Logs (the group SageMaker writes every training
        job to, one stream per instance), kept in a file of this machine's; None when it has none yet."""
        session = self._sessions.get(ref.name) or self._session_factory(
            _arn_region(ref.cloud_id), ref.credentials_block
        )
        logs = aws.client(session, "logs")
        with aws.aws_errors(f"reading the logs of training job {trial.id}"):
            from botocore.exceptions import ClientError

            try:
                found = logs.describe_log_streams(logGroupName=TRAINING_LOG_GROUP, logStreamNamePrefix=f"{trial.id}/")
            except ClientError as exc:
                if aws.error_code(exc) == "ResourceNotFoundException":
                    return None  # no training job of this account has written a log yet
                raise
            streams = sorted(s["logStreamName"] for s in found.get("logStreams", []))
            if not streams:
                return None
            kept = Path(tempfile.gettempdir()) / "hpo-flow-logs" / ref.name / f"{trial.id}.log"
            kept.parent.mkdir(parents=True, exist_ok=True)
            with kept.open("w", encoding="utf-8") as out:
                for stream in streams:
                    for message in _stream_lines(logs, stream):
                        out.write(message.rstrip("\n") + "\n")
        return kept

    # ------------------------------------------------------------------ clients

    def _session(self, ref: SweepRef) -> Any:
        """The session submit used; for a ref from another process, one in the region of its ARN
        signed in with the block the sweep was submitted with (the ref names it), else the default chain."""
        with self._lock:
            known = self._sessions.get(ref.name)
        return known or self._session_factory(_arn_region(ref.cloud_id), ref.credentials_block)

    def _client(self, ref: SweepRef) -> Any:
        with self._lock:
            existing = self._clients.get(ref.name)
            if existing is not None:
                return existing
            made = aws.client(self._session(ref))
            self._clients[ref.name] = made
            return made


def _stream_lines(logs: Any, stream: str) -> Any:
    """Every message of one log stream, oldest first (GetLogEvents pages until its token repeats)."""
    token = None
    while True:
        args: dict[str, Any] = {"logGroupName": TRAINING_LOG_GROUP, "logStreamName": stream, "startFromHead": True}
        if token:
            args["nextToken"] = token
        page = logs.get_log_events(**args)
        for event in page.get("events", []):
            yield event["message"]
        if not page.get("events") or page.get("nextForwardToken") in (None, token):
            return
        token = page["nextForwardToken"]


def _offline_request(spec: HpoConfig, tuning: TuningSpec, region: str) -> dict[str, Any]:
    from botocore.exceptions import ParamValidationError

    from hpo_flow.adapters.sagemaker import build, offline

    missing = code_missing(spec)
    with tempfile.TemporaryDirectory(prefix="hpo-flow-plan-") as stand_in:
        source_dir = spec.training.source_dir
        if missing:
            # The request names the code only by its S3 URI, so plan can show it without the files.
            log.warning("%s; the plan is what submit will send once the code is there", missing)
            source_dir = stand_in
            script = Path(stand_in, tuning.entry_point)
            script.parent.mkdir(parents=True, exist_ok=True)
            script.touch()
        try:
            with offline.planning(region, tuning.account) as aws_session:
                tuner = build.make_tuner(tuning, aws_session.sdk_session(), source_dir, upload=False)
                build.start(tuner, tuning)
        except offline.Captured as captured:
            return captured.request
        except ParamValidationError as exc:
            raise PlanError(
                BACKEND,
                [Problem("backends.sagemaker", MISSING, f"the request fails botocore's validation: {exc}")],
            ) from None
        except HpoFlowError:
            raise
        except (ValueError, TypeError) as exc:  # the SDK's own checks (pydantic errors are ValueErrors)
            raise PlanError(
                BACKEND, [Problem("backends.sagemaker", MISSING, f"the SageMaker SDK refused it: {exc}")]
            ) from None
    raise BackendError(f"the SageMaker SDK returned without creating tuning job {tuning.job_name}")


def _existing_arn(client: Any, name: str) -> str | None:
    from botocore.exceptions import ClientError

    try:
        found = client.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
    except ClientError as exc:
        if aws.error_code(exc) in ("ResourceNotFound", "ResourceNotFoundException"):
            return None
        raise
    return str(found["HyperParameterTuningJobArn"])


def _check_same_sweep(client: Any, arn: str, spec: HpoConfig, name: str) -> None:
    """A tuning job of our name is this config's sweep unless its config-hash tag says otherwise (only
    possible with a fixed tuning.sweep_name): attaching would report another config's trials as ours."""
    tags = client.list_tags(ResourceArn=arn).get("Tags", [])
    found = next((t["Value"] for t in tags if t.get("Key") == CONFIG_HASH_TAG), None)
    if found and found != spec.config_hash():
        raise BackendError(
            f"SageMaker tuning job {name!r} is a sweep of a different config (hash {found}, this one "
            f"{spec.config_hash()}); set tuning.sweep_name to a new name, or remove it to derive one from the config"
        )


def _artifact(client: Any, job: str) -> tuple[str | None, dict[str, float]]:
    from botocore.exceptions import ClientError

    try:
        described = client.describe_training_job(TrainingJobName=job)
    except ClientError as exc:
        if aws.error_code(exc) in ("ResourceNotFound", "ResourceNotFoundException", "ValidationException"):
            log.warning("training job %s is gone; its model artifact is unknown", job)
            return None, {}
        raise
    uri = (described.get("ModelArtifacts") or {}).get("S3ModelArtifacts")
    metrics = {m["MetricName"]: float(m["Value"]) for m in described.get("FinalMetricDataList", []) if "Value" in m}
    return uri, metrics


def _creation_order(trial: Trial) -> tuple[int, str]:
    # SageMaker numbers a tuning job's training jobs as they start: <tuning job>-001-<hash>, -002-, ...
    parts = trial.id.rsplit("-", 2)
    number = int(parts[1]) if len(parts) == 3 and parts[1].isdigit() else 0
    return (number, trial.id)


def _arn_region(arn: str | None) -> str | None:
    parts = (arn or "").split(":")
    return parts[3] if len(parts) > 3 and parts[3] else None


def console_url(region: str | None, name: str) -> str:
    region = region or "us-east-1"
    return f"https://{region}.console.aws.amazon.com/sagemaker/home?region={region}#/hyper-tuning-jobs/{name}"
