"""Validated objects, remembered per object at its latest resourceVersion.

A run is reconciled on every event of its Job and its pods (about fifteen times in its life), and each
time reads its run, its dataset and its base model, which rarely changed in between: validating them
again with pydantic was the largest part of a reconcile's own CPU time. Only an object's newest
version is worth keeping (every status write makes a new one, and older ones are never read again):
keyed by version, 4,096 entries held mostly stale copies of a thousand runs (measured: about 40 MiB
of pydantic objects at 2,000 runs).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel

M = TypeVar("M", bound=BaseModel)
ObjectKey = tuple[type[BaseModel], str, str]  # the model, namespace, name


class ParsedObjects:
    """`validated(model, body)` = `model.model_validate(body)`, reused while the object's uid and
    resourceVersion stay the same. Results are shared: callers must not change them (decide() copies
    what it changes). Bounded (least recently used first out) for objects whose deletion is never
    seen here; `forget` drops an object when it goes."""

    def __init__(self, capacity: int = 4096) -> None:
        self.capacity = capacity
        self._guard = threading.Lock()
        self._entries: OrderedDict[ObjectKey, tuple[str, str, BaseModel]] = OrderedDict()

    def validated(self, model: type[M], body: Mapping[str, Any]) -> M:
        meta = body.get("metadata") or {}
        uid, version = meta.get("uid"), meta.get("resourceVersion")
        if not uid or not version:
            return model.model_validate(body)
        key = (model, str(meta.get("namespace") or ""), str(meta.get("name") or ""))
        with self._guard:
            entry = self._entries.get(key)
            if entry is not None and entry[0] == uid and entry[1] == version:
                self._entries.move_to_end(key)
                return entry[2]  # type: ignore[return-value]
        value = model.model_validate(body)
        with self._guard:
            self._entries[key] = (str(uid), str(version), value)
            self._entries.move_to_end(key)
            while len(self._entries) > self.capacity:
                self._entries.popitem(last=False)
        return value

    def forget(self, model: type[BaseModel], namespace: str, name: str) -> None:
        with self._guard:
            self._entries.pop((model, namespace, name), None)

    def objects(self) -> list[ObjectKey]:
        with self._guard:
            return list(self._entries)

    def __len__(self) -> int:
        with self._guard:
            return len(self._entries)
