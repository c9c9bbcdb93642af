"""Load tests/data/invalid_objects.yaml: objects the API server and the models must both refuse."""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

DATA = Path(__file__).resolve().parents[2] / "data" / "invalid_objects.yaml"


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch: objects merge, null removes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


@dataclass(frozen=True)
class InvalidCase:
    name: str
    obj: dict[str, Any]
    field: str
    message: str | None
    transition_only: bool
    status: dict[str, Any] | None
    update: dict[str, Any] | None

    def matches(self, error_text: str) -> bool:
        """The error names the field (list indices written either way) and carries the message."""
        normalized = re.sub(r"\[(\d+)\]", r".\1", error_text)
        return self.field in normalized and (self.message is None or self.message in error_text)


def load_bases() -> dict[str, dict[str, Any]]:
    """The valid objects the cases start from."""
    bases: dict[str, dict[str, Any]] = yaml.safe_load(DATA.read_text(encoding="utf-8"))["bases"]
    return bases


def load_cases() -> list[InvalidCase]:
    data = yaml.safe_load(DATA.read_text(encoding="utf-8"))
    cases = []
    for entry in data["cases"]:
        obj = merge_patch(data["bases"][entry["base"]], entry.get("patch", {}))
        # One object per case, so cases can share a namespace without clashing.
        obj["metadata"]["name"] = entry["name"]
        cases.append(
            InvalidCase(
                name=entry["name"],
                obj=obj,
                field=entry["field"],
                message=entry.get("message"),
                transition_only=bool(entry.get("transitionOnly", False)),
                status=entry.get("status"),
                update=entry.get("update"),
            )
        )
    return cases
