"""Validated objects, remembered by uid and resourceVersion.

A run is reconciled on every event of its Job and its pods (about fifteen times in its life), and each
time reads its run, its dataset and its base model, which rarely changed in between: validating them
again with pydantic was the largest part of a reconcile's own CPU time.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel

M = TypeVar("M", bound=BaseModel)
CAPACITY = 4096
_cache: OrderedDict[tuple[type[BaseModel], str, str], BaseModel] = OrderedDict()
_guard = threading.Lock()


def validated(model: type[M], body: Mapping[str, Any]) -> M:
    """`model.model_validate(body)`, reused while the object's resourceVersion stays the same. The
    result is shared: callers must not change it (decide() copies what it changes)."""
    meta = body.get("metadata") or {}
    uid, version = meta.get("uid"), meta.get("resourceVersion")
    if not uid or not version:
        return model.model_validate(body)
    key = (model, str(uid), str(version))
    with _guard:
        hit = _cache.get(key)
        if hit is not None:
            _cache.move_to_end(key)
            return hit  # type: ignore[return-value]
    value = model.model_validate(body)
    with _guard:
        _cache[key] = value
        while len(_cache) > CAPACITY:
            _cache.popitem(last=False)
    return value
