"""What the emulated platform stores and answers as it is: Entity Store objects, customization configs and
Helix deployment configs (request bodies the platform keeps, plus ids and timestamps).

Platform objects accept extra fields and echo them back, like the platform; a key whose value is unset is
absent from the answer (:class:`OmitNone`), not ``null``.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, JsonValue

from flywheel.emulator.settings import TargetSpec
from flywheel.emulator.util import OmitNone, helix_name_check

Name = Annotated[str, Field(min_length=1, max_length=255, pattern=r"^[A-Za-z0-9][\w.@+-]*$")]
Positive = Annotated[int, Field(ge=1)]
HelixName = Annotated[str, AfterValidator(helix_name_check)]
# open JSON inside models: pydantic's JsonValue (it cannot build a schema for flywheel.jsontypes' alias)
JsonFields = dict[str, JsonValue]


class _Open(OmitNone):
    model_config = ConfigDict(extra="allow")


# ---------------------------------------------------------------------------------------- Entity Store
class NamespaceIn(_Open):
    id: Name
    description: str | None = None
    custom_fields: JsonFields | None = None


class Namespace(NamespaceIn):
    created_at: str
    updated_at: str


class DatasetIn(_Open):
    name: Name
    namespace: Name = "default"
    files_url: Annotated[str, Field(min_length=1)]
    description: str | None = None
    project: str | None = None
    format: str | None = None
    custom_fields: JsonFields | None = None


class Dataset(DatasetIn):
    id: str
    created_at: str
    updated_at: str


class Peft(BaseModel):
    finetuning_type: str


class ModelEntity(_Open):
    """A model the platform knows (a customization's output)."""

    id: str
    name: str
    namespace: str
    created_at: str
    base_model: str
    description: str | None = None
    peft: Peft | None = None
    custom_fields: JsonFields | None = None
    updated_at: str | None = None


class _Patch(_Open):
    def apply(self, target: BaseModel, fixed: tuple[str, ...]) -> None:
        """Set what the patch names on ``target`` (extra fields too), except the ``fixed`` identity fields."""
        extra = target.__pydantic_extra__
        for key, value in self.model_dump(exclude_none=True).items():
            if key in fixed:
                continue
            if key in type(target).model_fields:
                setattr(target, key, value)
            elif extra is not None:  # not setattr: an extra field may be named like a model method
                extra[key] = value


class DatasetPatch(_Patch):
    files_url: str | None = None
    description: str | None = None
    project: str | None = None
    custom_fields: JsonFields | None = None


class ModelPatch(_Patch):
    description: str | None = None
    custom_fields: JsonFields | None = None


# ---------------------------------------------------------------------------------------- Customizer
TrainingType = Literal["sft", "dpo", "distillation", "grpo"]
FinetuningType = Literal["lora", "lora_merged", "all_weights"]


class TrainingOptionIn(_Open):
    training_type: TrainingType
    finetuning_type: FinetuningType
    num_gpus: Positive
    micro_batch_size: Positive = 1
    num_nodes: Positive = 1
    tensor_parallel_size: Positive = 1
    data_parallel_size: Positive | None = None
    use_sequence_parallel: bool = False


class ConfigIn(_Open):
    name: Name
    namespace: Name = "default"
    target: Annotated[str, Field(min_length=3)]
    training_options: Annotated[list[TrainingOptionIn], Field(min_length=1)]
    training_precision: Literal["int8", "bf16", "fp16", "fp32", "fp8-mixed", "bf16-mixed"] = "bf16-mixed"
    max_seq_length: Annotated[int, Field(ge=128)] = 4096
    description: str | None = None
    custom_fields: JsonFields | None = None


class Target(BaseModel):
    """A customization target as the Customizer answers it."""

    id: str
    name: str
    namespace: str
    base_model: str
    enabled: bool = True
    num_parameters: int
    precision: str = "bf16-mixed"
    status: str = "ready"
    model_path: str
    model_type: str = "nemo"
    model_uri: str

    @classmethod
    def of(cls, t: TargetSpec) -> Target:
        ns, _, name = t.name.partition("/")
        return cls(
            id=f"customization_target-{name}",
            name=name,
            namespace=ns,
            base_model=t.base_model,
            num_parameters=t.num_parameters,
            model_path=f"{ns}/{name.replace('@', '_')}",
            model_uri=f"ngc://nvidia/nemo/{name}",
        )


class CustomizationConfig(_Open):
    name: str
    namespace: str
    target: Target
    training_options: list[TrainingOptionIn]
    training_precision: str
    max_seq_length: int
    description: str | None = None
    custom_fields: JsonFields | None = None
    id: str
    created_at: str
    updated_at: str


# ---------------------------------------------------------------------------------------- Helix v2 models
class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ModelSpecIn(_Strict):
    model_type: str | None = None
    model_namespace: str | None = None
    model_name: str | None = None
    model_revision: str | None = None
    chat_template: str | None = None
    tool_call_config: JsonFields | None = None
    lora_enabled: bool = False


class ExecutorIn(_Strict):
    gpu: Annotated[int, Field(ge=0, le=64)]
    disk_size: str = "50Gi"
    image_name: str | None = None
    image_tag: str | None = None
    health_check_path: str | None = None
    run_as_user: int | None = None
    run_as_group: int | None = None
    additional_envs: dict[str, str] | None = None
    additional_args: list[str] = Field(default_factory=list)
    k8s_nim_operator_config: JsonFields | None = None
    override_config: JsonFields | None = None


class DeploymentConfigIn(_Strict):
    name: HelixName
    project: str | None = None
    description: Annotated[str, Field(max_length=1000)] | None = None
    engine: Literal["nim", "vllm", "generic"]
    model_spec: ModelSpecIn
    executor_config: ExecutorIn
    model_entity_id: str | None = None


class DeploymentConfig(BaseModel):
    """A Helix deployment config as stored and answered (every field, ``null`` when unset)."""

    workspace: str
    project: str | None = None
    entity_version: int = 1
    id: str
    created_at: str
    updated_at: str
    name: str
    description: str | None = None
    engine: str
    model_spec: ModelSpecIn
    executor_config: ExecutorIn
    model_entity_id: str | None = None


class StatusEntry(BaseModel):
    """One step of a Helix deployment's ``status_history``."""

    timestamp: str
    status: str
    status_message: str
