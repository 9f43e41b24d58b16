"""`backends` and `mlflow`: where trials run and where they are recorded."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    ValidationError,
    field_validator,
    model_serializer,
    model_validator,
)

from hpo_flow.adapters.spec.base import Strict, SubProblems


class LocalBackend(Strict):
    gpus: Literal["auto"] | list[int] | None = "auto"  # "auto": nvidia-smi; []/null: CPU slots
    gpus_per_trial: int = Field(default=1, ge=1)
    trials_per_gpu: int = Field(default=1, ge=1)
    storage: str | None = None  # an SQLAlchemy URL shared by several workers; default: a file in workdir
    workdir: str = ".hpo"
    kill_grace_seconds: float = Field(default=10.0, ge=0)
    # A trial's output kept on disk (output.log, and output.log.1 with the older half): a trial that
    # prints without end must not fill the disk; the newest output is what a failure is read from.
    output_log_mb: int = Field(default=64, ge=1)

    @field_validator("gpus", mode="before")
    @classmethod
    def _gpu_list(cls, value: Any) -> Any:
        expected = "auto (every GPU nvidia-smi lists), none (CPU slots only) or a list of GPU indexes such as [0, 1]"
        if value is None or value == []:
            return value
        if isinstance(value, str):
            text = value.strip().lower()
            if text in ("auto", "all"):
                return "auto"
            if text in ("none", "cpu", ""):
                return None
            if re.fullmatch(r"\d+(\s*,\s*\d+)*", text):  # CUDA_VISIBLE_DEVICES style: "0,1"
                value = [int(part) for part in text.split(",")]
            else:
                raise ValueError(f"must be {expected}")
        if not isinstance(value, list):
            raise ValueError(f"must be {expected}")
        if not all(isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in value):
            raise ValueError("GPU indexes are whole numbers >= 0, as nvidia-smi numbers them; e.g. [0, 1]")
        if len(set(value)) != len(value):
            raise ValueError("lists a GPU more than once; list each index once")
        return value

    @model_validator(mode="after")
    def _fits(self) -> LocalBackend:
        if isinstance(self.gpus, list) and self.gpus and self.gpus_per_trial > len(self.gpus):
            raise SubProblems(
                [
                    (
                        "gpus_per_trial",
                        self.gpus_per_trial,
                        f"more than the {len(self.gpus)} GPUs listed in gpus; lower it or list more GPUs",
                    )
                ]
            )
        if self.gpus_per_trial > 1 and self.trials_per_gpu > 1:
            raise SubProblems(
                [
                    (
                        "trials_per_gpu",
                        self.trials_per_gpu,
                        "share GPUs between trials or give a trial several GPUs, not both; set one of them to 1",
                    )
                ]
            )
        return self


class SageMakerBackend(Strict):
    role: str | None = None
    image_uri: str | None = None
    instance_type: str = "ml.m5.xlarge"
    instance_count: int = Field(default=1, ge=1)
    volume_size_gb: int = Field(default=30, ge=1)
    max_run_seconds: int | None = Field(default=None, ge=1)
    output_path: str | None = None
    inputs: dict[str, str] = Field(default_factory=dict)
    region: str | None = None
    use_spot: bool = False
    max_wait_seconds: int | None = Field(default=None, ge=1)
    checkpoint_s3_uri: str | None = None
    environment: dict[str, str] = Field(default_factory=dict)
    subnets: list[str] = Field(default_factory=list)
    security_group_ids: list[str] = Field(default_factory=list)
    volume_kms_key_id: str | None = None
    output_kms_key_id: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    credentials_block: str | None = None  # name of a prefect-aws AwsCredentials block

    @model_validator(mode="after")
    def _spot(self) -> SageMakerBackend:
        if self.max_wait_seconds is not None and not self.use_spot:
            raise SubProblems(
                [
                    (
                        "max_wait_seconds",
                        self.max_wait_seconds,
                        "only used with use_spot: true; set use_spot: true or remove it",
                    )
                ]
            )
        return self


class AzureEnvironment(Strict):
    """An environment built for the sweep from a base image and a conda file (Azure ML builds and
    caches it): for a script that imports what no curated environment has."""

    image: str = Field(min_length=1)
    conda_file: str = Field(min_length=1)  # relative to where hpo-flow runs, like training.source_dir


class AzureBackend(Strict):
    subscription_id: str | None = None
    resource_group: str | None = None
    workspace: str | None = None
    compute: str | None = None
    environment: str | AzureEnvironment | None = None
    inputs: dict[str, str] = Field(default_factory=dict)
    instance_count: int = Field(default=1, ge=1)
    environment_variables: dict[str, str] = Field(default_factory=dict)
    experiment_name: str | None = None  # default: project
    tags: dict[str, str] = Field(default_factory=dict)
    credentials_block: str | None = None  # name of a prefect-azure credentials block


class Backends(Strict):
    """`backends.<name>`: a section per installed backend, each checked by that backend's own model
    (its `BackendInfo.section`). A backend's section not written is None, or its defaults where the
    backend says so (local)."""

    model_config = ConfigDict(extra="allow")

    if TYPE_CHECKING:  # hpo-flow's own backends, for the type checker; the registry decides at runtime
        local: LocalBackend
        sagemaker: SageMakerBackend | None
        azure: AzureBackend | None

    @model_validator(mode="before")
    @classmethod
    def _sections(cls, data: Any) -> Any:
        from hpo_flow.adapters import registry
        from hpo_flow.adapters.spec.messages import translate_errors

        if data is None:
            data = {}
        if not isinstance(data, dict):
            return data  # pydantic says it must be a mapping
        known = registry.backends()
        sections: dict[str, Any] = {}
        problems: list[tuple[str, Any, str]] = []
        for name, value in data.items():
            info = known.get(str(name))
            if info is None:
                problems.append((str(name), value, f"no such backend; {registry.choices_hint(str(name))}"))
                continue
            model = info.section_model()
            if value is None and not info.section_by_default:
                continue  # a section with every key commented out: not written (None), as the dump reads
            try:
                sections[name] = model.model_validate({} if value is None else value)
            except ValidationError as exc:
                problems.extend(
                    (f"{name}.{p.path}" if p.path else str(name), p.value, p.message)
                    for p in translate_errors(exc, model, value)
                )
        if problems:
            raise SubProblems(problems)
        for name, info in known.items():
            if name not in sections:
                sections[name] = info.section_model()() if info.section_by_default else None
        return sections

    @model_serializer(mode="wrap")
    def _dump_written(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # A section not written is left out of a dump, as it was left out of the file: a dump read
        # back in another process (the local runner's spec.json) must not name a backend that only
        # this process has registered (a notebook's, a test's).
        dumped: dict[str, Any] = handler(self)
        return {name: value for name, value in dumped.items() if value is not None}

    def section(self, name: str) -> BaseModel | None:
        """`backends.<name>` as that backend's model; None when not written (and not defaulted)."""
        return (self.__pydantic_extra__ or {}).get(name)

    def written(self) -> dict[str, Any]:
        """The sections that hold something, as plain data: what defines the sweep, whichever
        other backends happen to be installed."""
        return {
            name: model.model_dump(mode="json", by_alias=True, exclude_defaults=True)
            for name, model in self._present().items()
        }

    def _present(self) -> dict[str, BaseModel]:
        return {name: model for name, model in (self.__pydantic_extra__ or {}).items() if model is not None}


class MlflowSettings(Strict):
    tracking_uri: str = "sqlite:///mlflow.db"
    experiment: str | None = None
    registered_model: str | None = None
    alias: str = Field(default="challenger", pattern=r"^[A-Za-z_][A-Za-z0-9_\-]*$")
    # better: the alias moves to a sweep's best only when it beats the version holding it; always: to
    # every sweep's best; never: register only. Every best is registered as a new version either way.
    promote: Literal["better", "always", "never"] = "better"
    # Each local trial's own run in this store (MLFLOW_RUN_ID in its environment: autolog and
    # mlflow.log_metric land there). None: where the objective is read from it, i.e. no regex in
    # training.metric_definitions reads it from the output (Azure ML's way); true: for every trial.
    trial_runs: bool | None = None

    @field_validator("tracking_uri")
    @classmethod
    def _tracking_uri(cls, value: str) -> str:
        if not value.strip():  # MLflow would fall back to ./mlruns without a word
            raise ValueError("is empty; set the MLflow tracking URI, e.g. sqlite:///mlflow.db or http://mlflow:5000")
        return value
