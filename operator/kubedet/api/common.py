"""Types shared by the kubedet.io kinds and by the trainer's run spec.

Every model here is the single source of truth for its part of the CRD schemas (see kubedet.manifests.crds):
field names, defaults, bounds and descriptions live here and nowhere else.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    WithJsonSchema,
    model_validator,
)
from pydantic.alias_generators import to_camel

from kubedet.api.constants import ConditionStatus, Phase


def cel(
    rule: str,
    message: str | None = None,
    *,
    message_expression: str | None = None,
    field_path: str | None = None,
    reason: str | None = None,
) -> dict[str, str]:
    """One x-kubernetes-validations entry: a CEL rule the API server checks at admission."""
    entry = {"rule": rule}
    if message is not None:
        entry["message"] = message
    if message_expression is not None:
        entry["messageExpression"] = message_expression
    if field_path is not None:
        entry["fieldPath"] = field_path
    if reason is not None:
        entry["reason"] = reason
    return entry


def unchanged(field: str, new: str, old: str) -> str:
    """CEL for "`field` was neither set, unset nor changed" between two objects, for transition rules.

    Spelled out with has() because optional-field syntax (`self.?f`) defeats the API server's cost
    estimate, and it refuses the CRD.
    """
    return (
        f"has({new}.{field}) == has({old}.{field}) && (!has({new}.{field}) || {new}.{field} == {old}.{field})"
    )


def validations(*rules: dict[str, str]) -> dict[str, Any]:
    """json_schema_extra carrying CEL rules into the generated CRD."""
    return {"x-kubernetes-validations": list(rules)}


# Storage URIs kubedet understands. `..` path segments are refused so a URI can never climb out of the
# location it names; file:// is refused so nothing reads the node's or the operator's filesystem.
STORAGE_URI_PATTERN = (
    r"^(pvc://[a-z0-9]([-a-z0-9]*[a-z0-9])?(/[^/]+)*/?"
    r"|s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/[^/]+)*/?"
    r"|https://[A-Za-z0-9.-]+(:[0-9]+)?(/[^/]+)*/?)$"
)


def no_parent_segments(value: str) -> str:
    if ".." in value.split("/"):
        raise ValueError(f"{value!r} contains a '..' path segment; give a path inside the location")
    return value


NO_PARENT_SEGMENTS_RULE = cel(
    "!self.split('/').exists(s, s == '..')",
    "must not contain a '..' path segment; give a path inside the location",
)

StorageURI = Annotated[
    str,
    Field(
        json_schema_extra={"x-kubernetes-validations": [NO_PARENT_SEGMENTS_RULE]},
        pattern=STORAGE_URI_PATTERN,
        max_length=2048,
        description=(
            "Storage location: pvc://<claim>/<path> (a PersistentVolumeClaim in the object's namespace), "
            "s3://<bucket>/<prefix>, or https://<host>/<path>. Path segments '..' are not allowed."
        ),
    ),
    AfterValidator(no_parent_segments),
]


def writable_location(value: str) -> str:
    if value.startswith("https://"):
        raise ValueError(
            f"{value!r}: https:// locations are read-only; write artifacts to pvc://<claim>/... or s3://<bucket>/..."
        )
    return value


WritableStorageURI = Annotated[
    str,
    Field(
        json_schema_extra={
            "x-kubernetes-validations": [
                NO_PARENT_SEGMENTS_RULE,
                cel(
                    "!self.startsWith('https://')",
                    "https:// locations are read-only; write artifacts to pvc://<claim>/... or s3://<bucket>/...",
                ),
            ]
        },
        pattern=STORAGE_URI_PATTERN,
        max_length=2048,
        description="Writable storage location: pvc://<claim>/<path> or s3://<bucket>/<prefix>.",
    ),
    AfterValidator(no_parent_segments),
    AfterValidator(writable_location),
]

# A DNS-1123 subdomain: what Kubernetes accepts as the name of most objects.
DNS_SUBDOMAIN_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"


class KubedetModel(BaseModel):
    """Base of every API model: camelCase on the wire, snake_case in Python, unknown fields refused."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        use_attribute_docstrings=True,
    )

    def to_wire(self) -> dict:
        """The object as the API server stores it: camelCase keys, unset optional fields left out."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


class LocalObjectReference(KubedetModel):
    """A reference to another object of a given kind in the same namespace."""

    name: str = Field(min_length=1, max_length=253, pattern=DNS_SUBDOMAIN_PATTERN)
    """Name of the referenced object, in the same namespace as the referring object."""


class SecretKeysReference(KubedetModel):
    """A Secret in the same namespace holding storage credentials."""

    name: str = Field(min_length=1, max_length=253, pattern=DNS_SUBDOMAIN_PATTERN)
    """Name of the Secret. For s3:// it holds AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and optionally
    AWS_ENDPOINT_URL; its values are passed to the trainer as environment variables and never copied
    into any status, Event or ConfigMap."""


class EarlyStopping(KubedetModel):
    """Ending a run whose validation bbox mAP stopped improving, keeping its best epoch."""

    patience: int = Field(ge=1, le=100)
    """Validation rounds in a row without an improvement of at least minDelta after which training stops
    (1-100). A round is one validation: every valInterval epochs, and after the last epoch."""
    min_delta: float = Field(default=0.001, ge=0, le=1)
    """The smallest rise of COCO bbox mAP (0-1) over the best so far that counts as an improvement."""


def validation_rounds(epochs: int, val_interval: int) -> int:
    """How often a run validates: every val_interval epochs, and after the last epoch."""
    return -(-epochs // val_interval)


# CEL of the same check as Hyperparameters._early_stopping_can_trigger, for the API server.
_ROUNDS_CEL = "((self.epochs + self.valInterval - 1) / self.valInterval)"
_EARLY_STOPPING_ROOM = cel(
    f"!has(self.earlyStopping) || self.earlyStopping.patience + 2 <= {_ROUNDS_CEL}",
    # A fixed message: one built with string() of the numbers exceeds the API server's CEL cost budget.
    "spec.hyperparameters.earlyStopping.patience: early stopping needs a first validation and patience "
    "more without improvement before the last one (patience + 2 of the ceil(epochs / valInterval) "
    "validations), or it could never end the run early; lower patience, raise epochs or lower "
    "valInterval, or remove earlyStopping",
    field_path=".earlyStopping.patience",
)


class Hyperparameters(KubedetModel):
    """How the base model is fine-tuned. Mirrors the ported app's epochs, batch size and frozen stages."""

    model_config = ConfigDict(json_schema_extra=validations(_EARLY_STOPPING_ROOM))

    epochs: int = Field(default=15, ge=1, le=500)
    """Number of training epochs (1-500)."""
    batch_size: int = Field(default=2, ge=1, le=64)
    """Images per GPU per iteration (1-64). The learning rate is scaled by the effective batch size."""
    frozen_stages: int = Field(default=2, ge=0, le=4)
    """Backbone stages kept frozen during fine-tuning (0 trains the whole backbone, 4 freezes all)."""
    learning_rate: float | None = Field(default=None, gt=0, le=10)
    """Base learning rate before batch-size scaling. Unset keeps the base model config's value."""
    val_interval: int = Field(default=1, ge=1, le=500)
    """Validate every this many epochs; the best checkpoint is chosen by COCO bbox mAP."""
    seed: int | None = Field(default=None, ge=0, le=2**31 - 1)
    """Random seed for reproducible training. Unset picks one and records it in the results."""
    amp: bool = False
    """Train with automatic mixed precision when a GPU is present (ignored on CPU)."""
    early_stopping: EarlyStopping | None = None
    """Stop before `epochs` when validation bbox mAP stops improving; the best epoch's checkpoint is kept
    and the run succeeds, its Succeeded condition saying why (reason EarlyStopped). Unset trains every
    epoch."""

    @model_validator(mode="after")
    def _early_stopping_can_trigger(self) -> Hyperparameters:
        if self.early_stopping is None:
            return self
        patience = self.early_stopping.patience
        rounds = validation_rounds(self.epochs, self.val_interval)
        if patience + 2 > rounds:
            raise ValueError(
                f"spec.hyperparameters.earlyStopping.patience is {patience} but the run validates only "
                f"{rounds} times (epochs {self.epochs}, valInterval {self.val_interval}): early stopping "
                f"needs a first validation and {patience} more without improvement before the last one, "
                "so it could never end the run early; lower patience, raise epochs or lower valInterval "
                "(it needs patience + 2 validations), or remove earlyStopping"
            )
        return self


SHA256_PATTERN = r"^[a-f0-9]{64}$"
Sha256 = Annotated[str, Field(pattern=SHA256_PATTERN)]
"""A SHA-256 digest, lowercase hex."""
Score = Annotated[float, Field(ge=0, le=1)]
"""A COCO figure (mAP, AP, recall): 0 to 1."""

# Kubernetes names for things that are not objects of this API.
DNS_LABEL_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
DNSLabel = Annotated[str, Field(min_length=1, max_length=63, pattern=DNS_LABEL_PATTERN)]
DNSSubdomain = Annotated[str, Field(min_length=1, max_length=253, pattern=DNS_SUBDOMAIN_PATTERN)]

# A label or annotation key: optional DNS-subdomain prefix and a name of at most 63 characters.
QUALIFIED_NAME_PATTERN = (
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
)
LABEL_VALUE_PATTERN = r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$"


def _format_time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _to_the_second(value: datetime) -> datetime:
    # metav1.Time keeps seconds; truncating on the way in makes a written-and-read-back value equal.
    return value.replace(microsecond=0)


Timestamp = Annotated[
    AwareDatetime,
    AfterValidator(_to_the_second),
    PlainSerializer(_format_time, return_type=str, when_used="json"),
    Field(description="An RFC 3339 time in UTC, to the second, as metav1.Time."),
]
"""A point in time as the API server writes it (seconds precision, UTC, 'Z')."""

# resource.Quantity's canonical syntax without a sign: requests are never negative.
QUANTITY_PATTERN = r"^([0-9]+(\.[0-9]*)?|\.[0-9]+)(([KMGTPE]i)|[mkMGTPE]|([eE][+-]?[0-9]+))?$"


def _quantity_to_str(value: Any) -> Any:
    # Users write `cpu: 4`; the API server keeps the integer, the model keeps the string form.
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


Quantity = Annotated[
    str,
    BeforeValidator(_quantity_to_str),
    Field(pattern=QUANTITY_PATTERN, max_length=64),
    WithJsonSchema({"x-kubernetes-int-or-string": True, "pattern": QUANTITY_PATTERN}),
]
"""A Kubernetes resource quantity such as 4, 500m, 16Gi."""


class Condition(KubedetModel):
    """The observed state of one aspect of an object, shaped exactly like metav1.Condition."""

    type: str = Field(
        max_length=316,
        pattern=r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
        r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$",
    )
    """Type of the condition in CamelCase, e.g. Succeeded (see the condition types in the docs)."""
    status: ConditionStatus
    """True, False or Unknown."""
    observed_generation: int | None = Field(default=None, ge=0)
    """The metadata.generation the condition was set for; older than the object's means stale."""
    last_transition_time: Timestamp
    """When the condition last changed from one status to another."""
    reason: str = Field(min_length=1, max_length=1024, pattern=r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$")
    """Programmatic CamelCase identifier of the cause of the last transition, e.g. DatasetNotFound."""
    message: str = Field(default="", max_length=32768)
    """Human-readable details about the transition; may be empty."""


def phases(*allowed: Phase) -> tuple[AfterValidator, WithJsonSchema]:
    """Metadata narrowing a status.phase to the phases of one kind, typed as plain Phase for callers.

    Use as `Annotated[Phase, *phases(Phase.PENDING, ...)]`.
    """

    def check(value: Phase) -> Phase:
        if value not in allowed:
            raise ValueError(f"phase must be one of {', '.join(allowed)}")
        return value

    return AfterValidator(check), WithJsonSchema({"type": "string", "enum": [p.value for p in allowed]})


# The standard conditions list: merged by type under server-side apply, at most one entry per type.
CONDITIONS_LIST_SCHEMA: dict[str, Any] = {
    "x-kubernetes-list-type": "map",
    "x-kubernetes-list-map-keys": ["type"],
}
MAX_CONDITIONS = 16
