"""The TrainingRun kind: fine-tune a base TrainedModel on a Dataset and produce a new TrainedModel."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import AfterValidator, ConfigDict, Field, JsonValue, WithJsonSchema

from kubedet.api import cfgoptions
from kubedet.api.common import (
    CONDITIONS_LIST_SCHEMA,
    MAX_CONDITIONS,
    Condition,
    DNSLabel,
    DNSSubdomain,
    Hyperparameters,
    KubedetModel,
    LocalObjectReference,
    Quantity,
    SecretKeysReference,
    Timestamp,
    WritableStorageURI,
    cel,
    phases,
    unchanged,
    validations,
)
from kubedet.api.constants import Phase
from kubedet.api.placement import Toleration
from kubedet.api.podmetadata import LabelValue, PodMetadata
from kubedet.api.publishing import PublishPolicy
from kubedet.api.resource import AGE_COLUMN, CRDNames, KubedetObject, PrinterColumn
from kubedet.api.usage import RunStatistics

# An OCI image reference: registry/repository[:tag][@sha256:digest].
IMAGE_PATTERN = (
    r"^[a-z0-9]+([._:/-][a-zA-Z0-9_]+)*(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[a-f0-9]{64})?$"
)


class Resources(KubedetModel):
    """What each training pod gets. One pod per node; each uses gpusPerNode GPUs."""

    gpus_per_node: int = Field(default=1, ge=0, le=8)
    """GPUs (nvidia.com/gpu) per pod; 0 trains on the CPU."""
    nodes: int = Field(default=1, ge=1, le=64)
    """Pods (nodes) of a distributed run. The effective batch size is batchSize x gpusPerNode x nodes
    (x 1 on the CPU)."""
    cpu: Quantity | None = None
    """CPU request and limit per pod, e.g. 4 or 3500m. Unset uses the operator's default."""
    memory: Quantity | None = None
    """Memory request and limit per pod, e.g. 16Gi. Unset uses the operator's default."""
    shared_memory: Quantity | None = None
    """Size of the in-memory /dev/shm for data-loader workers, e.g. 2Gi. Unset uses the operator's
    default."""
    ephemeral_storage: Quantity | None = None
    """Scratch disk per pod (the /workspace working directory, /tmp and logs), request and limit,
    e.g. 20Gi. A pod that writes more is evicted by the kubelet; such evictions count against
    spec.backoffLimit. Unset uses the operator's default (20Gi)."""


class Output(KubedetModel):
    """Where the run writes the trained model's checkpoint, config and logs."""

    uri: WritableStorageURI
    """Folder for the run's artifacts; the run writes under <uri>/<namespace>/<run name>/."""
    secret_ref: SecretKeysReference | None = None
    """Credentials for an s3:// output."""


CfgOptions = Annotated[
    dict[str, JsonValue],
    Field(max_length=cfgoptions.MAX_CFG_OPTIONS),
    WithJsonSchema(
        {
            "type": "object",
            "additionalProperties": {"x-kubernetes-preserve-unknown-fields": True},
            "maxProperties": cfgoptions.MAX_CFG_OPTIONS,
        }
    ),
]


def _check_cfg_options(options: dict[str, JsonValue] | None) -> dict[str, JsonValue] | None:
    if options is not None:
        cfgoptions.check_cfg_options(options)
    return options


# Everything that shapes the trained model. Frozen once the run was scheduled (spec.suspend was false
# when stored, or the operator recorded a start time), so a run's status always describes its spec.
# CRD rules freeze all but cfgOptions, which CRD rules cannot see; the admission policy freezes that.
FROZEN_SPEC_FIELDS = (
    "datasetRef",
    "baseModelRef",
    "hyperparameters",
    "resources",
    "image",
    "output",
    "queueName",
    "cfgOptions",
    "publishPolicy",
)
UNTYPED_SPEC_FIELDS = ("cfgOptions",)


def cel_was_draft(old: str) -> str:
    """CEL: the stored run `old` was never scheduled, so its spec may still change."""
    return f"{old}.spec.suspend && !(has({old}.status) && has({old}.status.startTime))"


def frozen_message(field: str) -> str:
    return f"spec.{field} is immutable once the run is scheduled; create a new TrainingRun"


QUEUED_SUSPEND_MESSAGE = (
    "spec.suspend cannot pause a run submitted to Kueue (spec.queueName): Kueue decides when its Job "
    "runs. Deactivate its Kueue Workload instead (spec.active: false), or delete the run"
)


def cel_no_pause_under_kueue() -> str:
    """CEL: a scheduled run with a queue is not suspended by this update (drafts may still be)."""
    return (
        f"{cel_was_draft('oldSelf')} || !has(self.spec.queueName) || !self.spec.suspend"
        " || oldSelf.spec.suspend"
    )


class TrainingRunSpec(KubedetModel):
    """What to train: a base model fine-tuned on a dataset, and how."""

    dataset_ref: LocalObjectReference
    """The Dataset to train on. It must be published and Ready."""
    base_model_ref: LocalObjectReference
    """The TrainedModel to fine-tune (its config is the _base_ config, its checkpoint is loaded). It
    must be Ready."""
    hyperparameters: Hyperparameters = Field(default_factory=Hyperparameters)
    """How the base model is fine-tuned."""
    resources: Resources = Field(default_factory=Resources)
    """Pods, GPUs, CPU and memory of the training."""
    image: str | None = Field(default=None, max_length=512, pattern=IMAGE_PATTERN)
    """Trainer image. Unset uses the operator's configured trainer image."""
    suspend: bool = False
    """A suspended run is a draft: it is validated but not scheduled, and it may still be edited.
    Once it was scheduled (suspend false), the training-shaping fields are frozen; suspending it again
    pauses its Job."""
    publish: bool = False
    """Publish the resulting TrainedModel when the run succeeds (with a publishPolicy: when it also
    passes the policy's gate)."""
    publish_policy: PublishPolicy | None = None
    """The gate the run's model must pass to be published: figures on a golden dataset, and no regression
    against the model published in its line. The model keeps the policy (spec.publishPolicy), so a later
    publish by hand is held to the same gate."""
    queue_name: DNSLabel | None = None
    """Kueue LocalQueue to submit the Job to (sets kueue.x-k8s.io/queue-name). Unset: no Kueue."""
    active_deadline_seconds: int | None = Field(default=None, ge=1)
    """Time limit of the training Job; when it runs out the run fails with DeadlineExceeded."""
    backoff_limit: int = Field(default=3, ge=0, le=20)
    """Retries after disruptions (node loss, eviction, preemption); a run resumes from its last
    checkpoint. Errors of the user's making (invalid config, out of memory) are not retried."""
    ttl_seconds_after_finished: int | None = Field(default=None, ge=60)
    """Delete the finished Job (not the run or its model) this long after it finished. At least 60:
    the operator reads the run's outcome from the Job and its pods, and a Job gone sooner (0 deletes
    it at once) would leave a successful run recorded as failed (JobDeleted)."""
    output: Output | None = None
    """Where to write the artifacts. Unset uses the operator's configured artifact store."""
    node_selector: dict[str, LabelValue] | None = Field(default=None, max_length=64)
    """Node labels the training pods must match."""
    tolerations: list[Toleration] | None = Field(default=None, max_length=32)
    """Taints the training pods tolerate."""
    priority_class_name: DNSSubdomain | None = None
    """PriorityClass of the training pods."""
    pod_metadata: PodMetadata | None = None
    """Labels and annotations for the training pods."""
    cfg_options: Annotated[CfgOptions | None, AfterValidator(_check_cfg_options)] = None
    """Extra MMDetection config settings as dotted keys and JSON values, like tools/train.py
    --cfg-options: e.g. {"optim_wrapper.optimizer.weight_decay": 0.0001}. Values are scalars or lists,
    never objects. Keys kubedet sets itself (paths, checkpoints, resuming, hooks, launcher, and
    settings with a spec field) are refused; see docs/api-reference.md."""


class Progress(KubedetModel):
    """How far the training got, reported by the trainer while it runs."""

    epoch: int | None = Field(default=None, ge=0)
    """Current epoch (1-based; 0 before the first)."""
    total_epochs: int | None = Field(default=None, ge=1)
    """Epochs the run will train."""
    iteration: int | None = Field(default=None, ge=0)
    """Iterations done over all epochs."""
    total_iterations: int | None = Field(default=None, ge=1)
    """Iterations the run will do over all epochs."""
    percent: int | None = Field(default=None, ge=0, le=100)
    """Percent of the iterations done."""
    eta_seconds: int | None = Field(default=None, ge=0)
    """Estimated seconds until training ends."""
    loss: float | None = Field(default=None, ge=0)
    """Training loss at the last logged iteration."""
    best_map: float | None = Field(default=None, ge=0, le=1, alias="bestMAP")
    """Best COCO bbox mAP on the validation split so far."""
    best_epoch: int | None = Field(default=None, ge=1)
    """The epoch that reached bestMAP."""
    pod_name: DNSSubdomain | None = None
    """The training pod reporting: which attempt this progress belongs to."""
    resumed_from_epoch: int | None = Field(default=None, ge=0)
    """The epoch whose checkpoint the reporting attempt resumed from (0: it started afresh)."""
    resumed_checkpoint_saved_at: Timestamp | None = None
    """When that checkpoint was saved (by an earlier attempt); the operator counts that attempt's time
    after it as lost (status.statistics)."""


RunPhase = Annotated[Phase, *phases(Phase.PENDING, Phase.RUNNING, Phase.SUCCEEDED, Phase.FAILED)]


class TrainingRunStatus(KubedetModel):
    """What the operator observed about the run."""

    phase: Annotated[Phase, *phases(Phase.PENDING, Phase.RUNNING, Phase.SUCCEEDED, Phase.FAILED)] | None = (
        None
    )
    """Pending (the app's Waiting: draft, validating or queued), Running (the app's Processing),
    Succeeded (the app's Success) or Failed (the app's Error)."""
    conditions: list[Condition] = Field(
        default_factory=list, max_length=MAX_CONDITIONS, json_schema_extra=CONDITIONS_LIST_SCHEMA
    )
    """Validated, Suspended, Scheduled, Running, Succeeded, Failed. `kubectl wait
    --for=condition=Succeeded` waits for success."""
    observed_generation: int | None = Field(default=None, ge=0)
    """The metadata.generation the status describes."""
    job_name: DNSSubdomain | None = None
    """The training Job."""
    trained_model_ref: LocalObjectReference | None = None
    """The TrainedModel the run produced, once it succeeded."""
    error_config_map_ref: LocalObjectReference | None = None
    """ConfigMap with the failing step's error and the end of its log, once the run failed."""
    progress: Progress | None = None
    """How far the training got."""
    start_time: Timestamp | None = None
    """When the operator first created the Job. From then on the training-shaping spec is frozen."""
    completion_time: Timestamp | None = None
    """When the run succeeded or failed."""
    attempts: int | None = Field(default=None, ge=0)
    """Training attempts so far (retries after disruptions and Kueue preemptions count)."""
    preemptions: int | None = Field(default=None, ge=0)
    """How often Kueue took the run's admission back (preempted it for a higher-priority workload, or
    evicted it); each time the run waits in its queue and resumes from its last checkpoint."""
    statistics: RunStatistics | None = None
    """The run's attempts (start, end, the epoch each resumed from, how it ended) and the GPU-seconds
    they used and lost to disruptions; set once a training pod has started."""


class TrainingRun(KubedetObject):
    """Fine-tunes a base TrainedModel on a Dataset with MMDetection, producing a new TrainedModel."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            *(
                cel(
                    f"{cel_was_draft('oldSelf')} || ({unchanged(field, 'self.spec', 'oldSelf.spec')})",
                    frozen_message(field),
                    field_path=f".spec.{field}",
                    reason="FieldValueForbidden",
                )
                for field in FROZEN_SPEC_FIELDS
                if field not in UNTYPED_SPEC_FIELDS
            ),
            cel(
                cel_no_pause_under_kueue(),
                QUEUED_SUSPEND_MESSAGE,
                field_path=".spec.suspend",
                reason="FieldValueForbidden",
            ),
        )
    )

    NAMES: ClassVar[CRDNames] = CRDNames("TrainingRun", "trainingruns", "trainingrun", ("tr",))
    PRINTER_COLUMNS: ClassVar[tuple[PrinterColumn, ...]] = (
        PrinterColumn("Dataset", ".spec.datasetRef.name", "string", "The dataset trained on."),
        PrinterColumn("Base Model", ".spec.baseModelRef.name", "string", "The model fine-tuned."),
        PrinterColumn("Phase", ".status.phase", "string", "Pending, Running, Succeeded or Failed."),
        PrinterColumn("Progress", ".status.progress.percent", "integer", "Percent of the iterations done."),
        PrinterColumn("mAP", ".status.progress.bestMAP", "number", "Best validation bbox mAP so far."),
        AGE_COLUMN,
        PrinterColumn("Model", ".status.trainedModelRef.name", "string", "The model produced.", priority=1),
    )
    SELECTABLE_FIELDS: ClassVar[tuple[str, ...]] = (".spec.datasetRef.name", ".spec.baseModelRef.name")

    kind: Literal["TrainingRun"] = "TrainingRun"
    """Kind is the type of this object: TrainingRun."""
    spec: TrainingRunSpec
    """What to train and how."""
    status: TrainingRunStatus | None = None
    """What the operator observed; written by the operator only."""
