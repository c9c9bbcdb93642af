"""Labels and annotations that kubedet copies onto the pods it creates for an object."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, Field

from kubedet.api.common import LABEL_VALUE_PATTERN, QUALIFIED_NAME_PATTERN, KubedetModel, cel, validations

LabelKey = Annotated[str, Field(max_length=316, pattern=QUALIFIED_NAME_PATTERN)]
LabelValue = Annotated[str, Field(max_length=63, pattern=LABEL_VALUE_PATTERN)]


def _keys_are_qualified_names(values: dict[str, str]) -> dict[str, str]:
    for key in values:
        if len(key) > 316 or not re.fullmatch(QUALIFIED_NAME_PATTERN, key):
            raise ValueError(f"{key!r} is not a valid label or annotation key")
    return values


_KEYS_RULE = cel(
    f"self.all(k, size(k) <= 316 && k.matches(r'{QUALIFIED_NAME_PATTERN}'))",
    message_expression=(
        "'key ' + self.filter(k, !(size(k) <= 316 && "
        f"k.matches(r'{QUALIFIED_NAME_PATTERN}')))[0] + ' is not a valid label or annotation key'"
    ),
)


def _map_of(value: Any, max_properties: int) -> Any:
    return Annotated[
        dict[str, value],
        Field(max_length=max_properties, json_schema_extra=validations(_KEYS_RULE)),
        AfterValidator(_keys_are_qualified_names),
    ]


Labels = _map_of(LabelValue, 64)
Annotations = _map_of(Annotated[str, Field(max_length=4096)], 64)


class PodMetadata(KubedetModel):
    """Labels and annotations copied onto the pods kubedet creates, e.g. for cost attribution or a mesh."""

    labels: Labels | None = None  # type: ignore[valid-type]
    """Labels added to the pods. kubedet.io/ keys are kubedet's and are overwritten."""
    annotations: Annotations | None = None  # type: ignore[valid-type]
    """Annotations added to the pods."""
