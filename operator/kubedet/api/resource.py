"""What every kubedet.io object has besides its spec and status, and how a kind describes its CRD."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Self

from pydantic import Field

from kubedet.api.common import KubedetModel
from kubedet.api.constants import API_VERSION, GROUP, VERSION


@dataclass(frozen=True)
class PrinterColumn:
    """An additionalPrinterColumns entry: what `kubectl get` shows."""

    name: str
    json_path: str
    type: str
    description: str
    priority: int = 0
    format: str | None = None


@dataclass(frozen=True)
class CRDNames:
    """How a kind is addressed: names, short names and categories of its CRD."""

    kind: str
    plural: str
    singular: str
    short_names: tuple[str, ...]
    categories: tuple[str, ...] = ("kubedet",)


AGE_COLUMN = PrinterColumn("Age", ".metadata.creationTimestamp", "date", "Time since the object was created.")


class KubedetObject(KubedetModel):
    """A kubedet.io object as read from and written to the API server."""

    NAMES: ClassVar[CRDNames]
    PRINTER_COLUMNS: ClassVar[tuple[PrinterColumn, ...]]
    # Fields `kubectl get --field-selector` may use; the API server indexes them.
    SELECTABLE_FIELDS: ClassVar[tuple[str, ...]] = ()

    api_version: str = Field(default=API_VERSION, pattern=f"^{GROUP.replace('.', '[.]')}/{VERSION}$")
    """APIVersion defines the versioned schema of this representation of an object."""
    metadata: dict[str, Any] = Field(default_factory=dict)
    """Standard object metadata: name, namespace, labels, annotations, ..."""

    @classmethod
    def from_obj(cls, obj: Mapping[str, Any]) -> Self:
        """Parse an object as the API server or a manifest gives it (camelCase keys)."""
        return cls.model_validate(dict(obj))

    def to_obj(self) -> dict[str, Any]:
        """The object as the API server takes it: camelCase keys, unset optional fields left out."""
        return self.to_wire()

    @property
    def name(self) -> str:
        return str(self.metadata.get("name", ""))

    @property
    def namespace(self) -> str:
        return str(self.metadata.get("namespace", ""))

    @property
    def generation(self) -> int | None:
        value = self.metadata.get("generation")
        return int(value) if value is not None else None
