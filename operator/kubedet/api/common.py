"""Types shared by the kubedet.io kinds and by the trainer's run spec.

Every model here is the single source of truth for its part of the CRD schemas (see kubedet.crdgen):
field names, defaults, bounds and descriptions live here and nowhere else.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

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


NO_PARENT_SEGMENTS_RULE = {
    "rule": "!self.split('/').exists(s, s == '..')",
    "message": "must not contain a '..' path segment; give a path inside the location",
}

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


class Hyperparameters(KubedetModel):
    """How the base model is fine-tuned. Mirrors the ported app's epochs, batch size and frozen stages."""

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
