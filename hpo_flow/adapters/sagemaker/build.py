"""The SageMaker SDK v3 objects for a `TuningSpec`: a ModelTrainer, a HyperparameterTuner, and its start.

Plan and submit run this same code; only the boto3 session under it differs (see `offline`), so the
request plan shows is the one submit sends. Where the SDK's tuner falls short, a small subclass
fills the gap, each override saying why:
- the SDK stages the code under `tuning-<epoch seconds>/`: a new S3 prefix, and a different request,
  on every call. The code goes under the sweep's own name instead, so plan is deterministic and
  shows the exact S3 URIs submit uploads to;
- it builds the training job's ResourceConfig without the volume's KMS key; the key is put back.
(It also drops every zero-valued field when it serializes the request: `mapping` refuses the two
settings where 0 is meaningful, a random seed and a target objective of 0.)
"""

from __future__ import annotations

import gzip
import io
import json
import shutil
import tarfile
import tempfile
from pathlib import Path
from typing import Any

from hpo_flow.adapters.code import CODE_IGNORE, shipped_files
from hpo_flow.adapters.sagemaker.mapping import TuningSpec
from hpo_flow.adapters.trial_code import PACKAGE, helper_files

_TUNER_CLASS: Any = None


def code_root(spec: TuningSpec, sm_session: Any) -> str:
    """Where the sweep's code goes: next to its outputs, or in the SDK's default bucket."""
    if spec.output_path:
        return f"{spec.output_path}/{spec.job_name}/input"
    prefix = sm_session.default_bucket_prefix
    key = f"{prefix.strip('/')}/{spec.job_name}/input" if prefix else f"{spec.job_name}/input"
    return f"s3://{sm_session.default_bucket()}/{key}"


def make_tuner(spec: TuningSpec, sm_session: Any, source_dir: str, *, upload: bool) -> Any:
    """The SDK's HyperparameterTuner for the spec, its code staged under `code_root` when `upload`."""
    from sagemaker.core.parameter import CategoricalParameter, ContinuousParameter, IntegerParameter
    from sagemaker.core.shapes import (
        BestObjectiveNotImproving,
        ConvergenceDetected,
        HyperbandStrategyConfig,
        HyperParameterTuningJobStrategyConfig,
        HyperParameterTuningJobWarmStartConfig,
        ParentHyperParameterTuningJob,
        TuningJobCompletionCriteria,
    )
    from sagemaker.core.training.configs import (
        CheckpointConfig,
        Compute,
        Networking,
        OutputDataConfig,
        SourceCode,
        StoppingCondition,
    )
    from sagemaker.train.model_trainer import ModelTrainer

    trainer = ModelTrainer(
        sagemaker_session=sm_session,
        role=spec.role,
        training_image=spec.image_uri,
        base_job_name=spec.job_name,
        source_code=SourceCode(source_dir=source_dir, entry_script=spec.entry_point, ignore_patterns=CODE_IGNORE),
        compute=Compute(
            instance_type=spec.instance_type,
            instance_count=spec.instance_count,
            volume_size_in_gb=spec.volume_size_gb,
            volume_kms_key_id=spec.volume_kms_key_id,
            enable_managed_spot_training=True if spec.use_spot else None,
        ),
        stopping_condition=StoppingCondition(
            max_runtime_in_seconds=spec.max_run_seconds, max_wait_time_in_seconds=spec.max_wait_seconds
        ),
        output_data_config=(
            OutputDataConfig(s3_output_path=spec.output_path, kms_key_id=spec.output_kms_key_id)
            if spec.output_path or spec.output_kms_key_id
            else None
        ),
        checkpoint_config=CheckpointConfig(s3_uri=spec.checkpoint_s3_uri) if spec.checkpoint_s3_uri else None,
        networking=(
            Networking(subnets=spec.subnets, security_group_ids=spec.security_group_ids) if spec.subnets else None
        ),
        environment=dict(spec.environment),
        hyperparameters=dict(spec.static_hyperparameters),
    )

    ranges: dict[str, Any] = {}
    for r in spec.ranges:
        if r.kind == "Categorical":
            ranges[r.name] = CategoricalParameter(list(r.values))
        elif r.kind == "Integer":
            ranges[r.name] = IntegerParameter(r.min, r.max, scaling_type=r.scaling)
        else:
            ranges[r.name] = ContinuousParameter(r.min, r.max, scaling_type=r.scaling)

    strategy_config = None
    if spec.hyperband is not None:
        low, high = spec.hyperband
        strategy_config = HyperParameterTuningJobStrategyConfig(
            hyperband_strategy_config=(
                HyperbandStrategyConfig(min_resource=low, max_resource=high)
                if high is not None
                else HyperbandStrategyConfig(min_resource=low)
            )
        )
    criteria: dict[str, Any] = {}
    if spec.target_objective_value is not None:
        criteria["target_objective_metric_value"] = spec.target_objective_value
    if spec.max_jobs_not_improving is not None:
        criteria["best_objective_not_improving"] = BestObjectiveNotImproving(
            max_number_of_training_jobs_not_improving=spec.max_jobs_not_improving
        )
    if spec.complete_on_convergence:
        criteria["convergence_detected"] = ConvergenceDetected(complete_on_convergence="Enabled")
    warm_start = None
    if spec.warm_start_parents:
        warm_start = HyperParameterTuningJobWarmStartConfig(
            parent_hyper_parameter_tuning_jobs=[
                ParentHyperParameterTuningJob(hyper_parameter_tuning_job_name=p) for p in spec.warm_start_parents
            ],
            warm_start_type=spec.warm_start_type,
        )

    tuner_class = _tuner_class()
    return tuner_class(
        model_trainer=trainer,
        objective_metric_name=spec.objective_metric,
        hyperparameter_ranges=ranges,
        metric_definitions=[dict(m) for m in spec.metric_definitions],
        strategy=spec.strategy,
        objective_type=spec.objective_type,
        max_jobs=spec.max_jobs,
        max_parallel_jobs=spec.max_parallel_jobs,
        max_runtime_in_seconds=spec.max_runtime_seconds,
        tags=[{"Key": k, "Value": v} for k, v in spec.tags.items()],
        base_tuning_job_name=spec.job_name,
        warm_start_config=warm_start,
        strategy_config=strategy_config,
        completion_criteria_config=TuningJobCompletionCriteria(**criteria) if criteria else None,
        early_stopping_type=spec.early_stopping,
        random_seed=spec.random_seed,
        code_root=code_root(spec, sm_session),
        upload=upload,
        volume_kms_key_id=spec.volume_kms_key_id,
    )


def start(tuner: Any, spec: TuningSpec) -> None:
    """Create the tuning job (the SDK uploads the code first); returns once SageMaker has accepted it."""
    tuner.tune(inputs=dict(spec.inputs) or None, job_name=spec.job_name, wait=False)


def _tuner_class() -> Any:
    global _TUNER_CLASS
    if _TUNER_CLASS is None:
        _TUNER_CLASS = _define_tuner_class()
    return _TUNER_CLASS


def _define_tuner_class() -> Any:
    from sagemaker.train.tuner import HyperparameterTuner

    class StagedTuner(HyperparameterTuner):  # type: ignore[misc]
        """The SDK's tuner with its code under a fixed prefix, and the volume KMS key it drops put back."""

        def __init__(
            self, *args: Any, code_root: str, upload: bool, volume_kms_key_id: str | None, **kwargs: Any
        ) -> None:
            super().__init__(*args, **kwargs)
            self._hpo_code_root = code_root
            self._hpo_upload = upload
            self._hpo_volume_kms_key_id = volume_kms_key_id

        # The SDK's version is a classmethod that keys the upload by time.time(); this one keys it by the
        # sweep's name (the call site passes self, so an instance method takes its place).
        def _prepare_model_trainer_for_tuning(  # type: ignore[override]
            self, model_trainer: Any, inputs: Any = None, job_name: Any = None, **kwargs: Any
        ) -> None:
            stage_code(model_trainer, self._hpo_code_root, upload=self._hpo_upload)

        def _build_training_job_definition(self, inputs: Any) -> Any:
            definition = super()._build_training_job_definition(inputs)
            if self._hpo_volume_kms_key_id:  # the SDK builds ResourceConfig without the Compute's KMS key
                definition.resource_config.volume_kms_key_id = self._hpo_volume_kms_key_id
            return definition

    return StagedTuner


def stage_code(trainer: Any, root: str, *, upload: bool) -> None:
    """What the SDK's tuner does to ship a script, under `root`: the sm_drivers channel with the SDK's
    drivers and train script, sourcedir.tar.gz, and the script-mode hyperparameters pointing at them."""
    from sagemaker.core.shapes import Channel, DataSource, S3DataSource
    from sagemaker.train.constants import DISTRIBUTED_JSON, SM_DRIVERS, SM_DRIVERS_LOCAL_PATH, SOURCE_CODE_JSON

    source = trainer.source_code
    bucket, _, prefix = root.removeprefix("s3://").partition("/")
    drivers_prefix = f"{prefix}/{SM_DRIVERS}"
    tarball_key = f"{prefix}/sourcedir/sourcedir.tar.gz"

    staging = tempfile.TemporaryDirectory(prefix="hpo-flow-sm-drivers-")
    skip = shutil.ignore_patterns(*CODE_IGNORE)
    shutil.copytree(SM_DRIVERS_LOCAL_PATH, staging.name, dirs_exist_ok=True, ignore=skip)
    Path(staging.name, SOURCE_CODE_JSON).write_text(json.dumps(source.model_dump()))
    Path(staging.name, DISTRIBUTED_JSON).write_text(json.dumps({}))
    trainer._prepare_train_script(tmp_dir=staging, source_code=source, distributed=None)
    trainer._tuner_temp_dir = staging  # the SDK keeps it alive on the trainer the same way

    drivers_uri = f"s3://{bucket}/{drivers_prefix}"
    tarball_uri = f"s3://{bucket}/{tarball_key}"
    if upload:
        session = trainer.sagemaker_session
        extra = trainer._resolve_upload_extra_args()
        uploaded = session.upload_data(path=staging.name, bucket=bucket, key_prefix=drivers_prefix, extra_args=extra)
        if uploaded != drivers_uri:  # plan printed drivers_uri: never send a request that differs from it
            raise RuntimeError(f"the SDK uploaded the drivers to {uploaded}, not {drivers_uri}")
        with tempfile.TemporaryDirectory(prefix="hpo-flow-sourcedir-") as scratch:
            archive = Path(scratch) / "sourcedir.tar.gz"
            write_code_archive(Path(source.source_dir), archive)
            s3 = session.boto_session.client("s3", region_name=session.boto_region_name)
            s3.upload_file(str(archive), bucket, tarball_key, ExtraArgs=extra)

    trainer._tuner_channels = [
        Channel(
            channel_name=SM_DRIVERS,
            data_source=DataSource(
                s3_data_source=S3DataSource(
                    s3_data_type="S3Prefix", s3_uri=drivers_uri, s3_data_distribution_type="FullyReplicated"
                )
            ),
            input_mode="File",
        )
    ]
    if trainer.hyperparameters is None:
        trainer.hyperparameters = {}
    trainer.hyperparameters["sagemaker_program"] = source.entry_script
    trainer.hyperparameters["sagemaker_submit_directory"] = tarball_uri


def write_code_archive(source_dir: Path, archive: Path) -> None:
    """A reproducible tar.gz of the code (sorted, no timestamps or owners, CODE_IGNORE left out) with
    the trial helper `hpo_flow/` added where the code has none of its own."""

    def normalised(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
        return info

    with (
        archive.open("wb") as raw,
        gzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=0) as zipped,
        tarfile.open(fileobj=zipped, mode="w") as tar,
    ):
        for path in shipped_files(source_dir):
            tar.add(path, arcname=str(path.relative_to(source_dir)), filter=normalised)
        if not (source_dir / PACKAGE).exists():  # the trial helper, so `import hpo_flow.report` works there
            for name, content in sorted(helper_files().items()):
                info = normalised(tarfile.TarInfo(name))
                info.size, info.mode = len(content), 0o644
                tar.addfile(info, io.BytesIO(content))
