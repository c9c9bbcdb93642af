"""Where pods go: the subset of core/v1 scheduling fields kubedet's specs offer."""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field, model_validator

from kubedet.api.common import LABEL_VALUE_PATTERN, QUALIFIED_NAME_PATTERN, KubedetModel, cel, validations


class Toleration(KubedetModel):
    """A toleration of a node taint (the subset of core/v1 Toleration a training pod needs)."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel(
                "self.operator != 'Exists' || !has(self.value) || self.value == ''",
                "spec.tolerations: value must be empty when operator is Exists",
            ),
            cel(
                "has(self.key) || self.operator == 'Exists'",
                "spec.tolerations: a toleration without a key must use operator Exists",
            ),
        )
    )

    key: str | None = Field(default=None, max_length=316, pattern=QUALIFIED_NAME_PATTERN)
    """Taint key to tolerate; unset with operator Exists tolerates every taint."""
    operator: Literal["Exists", "Equal"] = "Equal"
    """Equal matches key and value, Exists matches the key alone."""
    value: str | None = Field(default=None, max_length=63, pattern=LABEL_VALUE_PATTERN)
    """Taint value to match with operator Equal."""
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None
    """Taint effect to match; unset matches every effect."""
    toleration_seconds: int | None = Field(default=None, ge=0)
    """With effect NoExecute: how long the pod stays bound after the taint appears."""

    @model_validator(mode="after")
    def _consistent(self) -> Toleration:
        if self.operator == "Exists" and self.value:
            raise ValueError("spec.tolerations: value must be empty when operator is Exists")
        if self.key is None and self.operator != "Exists":
            raise ValueError("spec.tolerations: a toleration without a key must use operator Exists")
        return self
