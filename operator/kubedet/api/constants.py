"""Names that the operator, the trainer and users share: condition types, reasons, phases, labels.

Kubebuilder style: string enums, so a typo is a NameError rather than a condition nobody waits for.
"""

from __future__ import annotations

from enum import StrEnum

# Also in kubedet/__init__.py; defined here too so that the api package imports nothing above it.
GROUP = "kubedet.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"


class ConditionType(StrEnum):
    """Types of the conditions in status.conditions. `kubectl wait --for=condition=<type>` uses them."""

    # TrainingRun
    VALIDATED = "Validated"
    """The run's references and settings were checked: the dataset is published and ready, the base
    model is ready, the cfgOptions merge into a valid config."""
    SUSPENDED = "Suspended"
    """spec.suspend is true: the run is a draft (never scheduled) or its Job is paused."""
    SCHEDULED = "Scheduled"
    """The training Job exists and its pods were admitted (by Kueue, when a queueName is set)."""
    RUNNING = "Running"
    """Training pods are running and reporting progress."""
    SUCCEEDED = "Succeeded"
    """Training finished and the TrainedModel was created. Terminal."""
    FAILED = "Failed"
    """Training failed for good; the reason says why and errorConfigMapRef holds the details. Terminal."""
    # Dataset and TrainedModel
    READY = "Ready"
    """The object was checked and can be used: the dataset's files and annotations are consistent, or
    the model's config and checkpoint exist."""
    PUBLISHED = "Published"
    """The TrainedModel is published and offered for inference."""
    PUBLISH_GATE = "PublishGate"
    """On a TrainedModel with a publish policy, and on its run: whether the model passed the policy's
    gate; the message names every failed check with its numbers."""


class ConditionStatus(StrEnum):
    """The status of a condition, as in metav1.Condition."""

    TRUE = "True"
    FALSE = "False"
    UNKNOWN = "Unknown"


class Reason(StrEnum):
    """CamelCase reasons for conditions and Events. Users and alerts match on them, so they are API."""

    # Progress
    VALIDATED = "Validated"
    QUEUED = "Queued"
    PREEMPTED = "Preempted"
    JOB_NAME_TAKEN = "JobNameTaken"
    JOB_CREATED = "JobCreated"
    POD_RUNNING = "PodRunning"
    TRAINING = "Training"
    SUSPENDED = "Suspended"
    NOT_SUSPENDED = "NotSuspended"
    TRAINING_SUCCEEDED = "TrainingSucceeded"
    EARLY_STOPPED = "EarlyStopped"
    NO_POD_RUNNING = "NoPodRunning"
    READY = "Ready"
    PUBLISHED = "Published"
    NOT_PUBLISHED = "NotPublished"
    NOT_READY = "NotReady"
    PENDING = "Pending"
    # Problems with what the run refers to
    DATASET_NOT_FOUND = "DatasetNotFound"
    DATASET_NOT_PUBLISHED = "DatasetNotPublished"
    DATASET_NOT_READY = "DatasetNotReady"
    DATASET_INVALID = "DatasetInvalid"
    BASE_MODEL_NOT_FOUND = "BaseModelNotFound"
    BASE_MODEL_NOT_READY = "BaseModelNotReady"
    CONFIG_INVALID = "ConfigInvalid"
    STORAGE_UNAVAILABLE = "StorageUnavailable"
    CHECKPOINT_NOT_FOUND = "CheckpointNotFound"
    # Problems while running
    UNSCHEDULABLE = "Unschedulable"
    IMAGE_PULL_FAILED = "ImagePullFailed"
    OUT_OF_MEMORY = "OutOfMemory"
    EVICTED = "Evicted"
    DEADLINE_EXCEEDED = "DeadlineExceeded"
    BACKOFF_LIMIT_EXCEEDED = "BackoffLimitExceeded"
    TRAINING_DIVERGED = "TrainingDiverged"
    TRAINING_FAILED = "TrainingFailed"
    JOB_DELETED = "JobDeleted"
    UNKNOWN = "Unknown"
    # ModelEvaluation
    MODEL_NOT_FOUND = "ModelNotFound"
    MODEL_NOT_READY = "ModelNotReady"
    EVALUATION_INVALID = "EvaluationInvalid"
    EVALUATION_SUCCEEDED = "EvaluationSucceeded"
    # Publish gates
    EVALUATING = "Evaluating"
    EVALUATION_FAILED = "EvaluationFailed"
    GATE_PASSED = "GatePassed"
    GATE_FAILED = "GateFailed"
    REPLACED = "Replaced"


class Phase(StrEnum):
    """A one-word summary of status for `kubectl get`; conditions carry the detail.

    TrainingRun uses Pending, Running, Succeeded, Failed (the ported app's Waiting, Processing,
    Success, Error). Dataset and TrainedModel use Pending, Ready, Published (models only), Failed.
    """

    PENDING = "Pending"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    READY = "Ready"
    PUBLISHED = "Published"


# Labels kubedet puts on the objects it creates (Jobs, pods, ConfigMaps, TrainedModels), so they can be
# selected by the run, dataset or model they belong to.
LABEL_PREFIX = "kubedet.io/"


class Label(StrEnum):
    """Label keys set by kubedet."""

    TRAINING_RUN = "kubedet.io/training-run"
    TRAINING_RUN_UID = "kubedet.io/training-run-uid"
    DATASET = "kubedet.io/dataset"
    BASE_MODEL = "kubedet.io/base-model"
    TRAINED_MODEL = "kubedet.io/trained-model"
    COMPONENT = "kubedet.io/component"
    MODEL_EVALUATION = "kubedet.io/model-evaluation"
    MODEL_EVALUATION_UID = "kubedet.io/model-evaluation-uid"
    MANAGED_BY = "app.kubernetes.io/managed-by"


class Annotation(StrEnum):
    """Annotation keys set by kubedet."""

    SPEC_HASH = "kubedet.io/spec-hash"
    ATTEMPT = "kubedet.io/attempt"
    OUTPUT_URI = "kubedet.io/output-uri"
    RUN_SPEC = "kubedet.io/run-spec"


MANAGED_BY = "kubedet"
FINALIZER = "kubedet.io/finalizer"
FIELD_MANAGER = "kubedet-operator"
TRAINER_SERVICE_ACCOUNT = "kubedet-trainer"
"""The per-namespace identity of training pods (narrowed to their own run by an admission policy)."""
PEERING_NAME = "kubedet"
"""The ClusterKopfPeering object the operator's replicas share (kopf.run(peering_name=...))."""
