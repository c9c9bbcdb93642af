"""The operator registers no change handlers, so kopf's diff base can be skipped; and kopf's per-call
"succeeded" lines are dropped while everything else it logs stays."""

from __future__ import annotations

import logging

import kopf
import pytest

import kubedet.handlers  # noqa: F401  (registers the handlers)
from kubedet.handlers import eventsonly


def test_kubedet_registers_no_handler_that_needs_a_diff_base() -> None:
    assert eventsonly.change_handlers(kopf.get_default_registry()) == []
    eventsonly.assert_no_change_handlers(kopf.get_default_registry())


def test_a_change_handler_is_refused_at_startup() -> None:
    registry = kopf.OperatorRegistry()

    @kopf.on.update("kubedet.io", "v1alpha1", "trainingruns", registry=registry)
    def on_update(**_: object) -> None: ...

    with pytest.raises(RuntimeError, match="on_update"):
        eventsonly.assert_no_change_handlers(registry)


def test_the_diff_base_copies_nothing() -> None:
    storage = eventsonly.EventsOnlyDiffBase(prefix="kubedet.io")
    body = kopf.Body({"metadata": {"name": "r", "managedFields": [{"x": 1}]}, "spec": {"a": 1}})
    assert storage.build(body=body) == {} and storage.fetch(body=body) is None


def record(level: int, message: str) -> logging.LogRecord:
    return logging.LogRecord("kopf.objects", level, __file__, 1, message, None, None)


def test_only_the_succeeded_lines_are_dropped() -> None:
    drop = eventsonly.DropHandlerSucceeded()
    assert not drop.filter(record(logging.INFO, "Handler 'on_pod_event' succeeded."))
    assert drop.filter(record(logging.ERROR, "Handler 'on_pod_event' failed with an exception."))
    assert drop.filter(record(logging.INFO, "trainer identity of namespace a re-created"))
    logger = logging.getLogger("kubedet.test.events-only")
    eventsonly.drop_handler_succeeded_lines(logger)
    eventsonly.drop_handler_succeeded_lines(logger)
    assert len(logger.filters) == 1
