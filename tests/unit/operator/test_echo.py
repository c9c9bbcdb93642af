"""An echo of the operator's own write is skipped; a user's spec edit never is (issue 14, 7)."""

from __future__ import annotations

from typing import Any

from kubedet.handlers import trainingruns


def body(resource_version: str, generation: int, observed: int) -> dict[str, Any]:
    return {
        "metadata": {"name": "r", "namespace": "ns", "uid": "u", "resourceVersion": resource_version,
                     "generation": generation},
        "status": {"observedGeneration": observed},
    }


def test_a_status_write_that_carries_a_newer_spec_is_not_an_echo() -> None:
    key = ("ns", "r")
    try:
        # The status patch answered with generation 2: the user edited the spec just before it.
        trainingruns.memory.written[key] = body("10", generation=2, observed=1)
        assert not trainingruns.is_echo(key, body("10", generation=2, observed=1))
        trainingruns.memory.written[key] = body("11", generation=2, observed=2)
        assert trainingruns.is_echo(key, body("11", generation=2, observed=2))
        assert not trainingruns.is_echo(key, body("12", generation=2, observed=2)), "a later version"
    finally:
        trainingruns.memory.forget(key)
