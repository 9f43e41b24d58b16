"""What the registry knows of the in-memory backend. Light: pydantic and hpo-flow's registry only."""

from pydantic import BaseModel, ConfigDict, Field

from hpo_flow.adapters.registry import BackendInfo


class InMemorySection(BaseModel):
    """`backends.inmemory`: how fast the simulated service finishes trials, and where models land."""

    model_config = ConfigDict(extra="forbid")

    per_poll: int = Field(default=2, ge=1)  # trials finished by each poll
    model_dir: str | None = None  # where each trial's MLflow model is saved; none: trials have no model


BACKEND = BackendInfo(
    name="inmemory",
    adapter="hpo_flow_inmemory.adapter:InMemoryAdapter",
    section=InMemorySection,
    data_input="any string: the simulated service never reads data",
    max_name_length=40,
    extra="hpo-flow-inmemory",
    summary="a simulated service in this process (tests)",
)
