"""kopf work that kubedet's handlers never use, skipped.

kubedet reacts to events (kopf.on.event) and keeps indexes; it registers no change handlers (on.create,
on.update, on.delete, on.resume, on.field) and no daemons or timers. kopf still computes, for every
event of every watched object, the object's "essence" to diff against its last-handled copy: a deep
copy of the whole body, managedFields and pod specs included, which was 14 % of the operator's CPU at
1,000 runs (bench/results/profile-before). And it logs "Handler ... succeeded." at INFO for each
indexing and event handler call, about 40 lines per run (8 % of the CPU, formatting and writing them).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import kopf


class EventsOnlyDiffBase(kopf.AnnotationsDiffBaseStorage):
    """A diff base for an operator without change handlers: the essence is empty and nothing is stored,
    so each event costs no deep copy. `assert_no_change_handlers` keeps that premise true."""

    def build(self, *, body: kopf.Body, extra_fields: Iterable[Any] | None = None) -> kopf.BodyEssence:
        return kopf.BodyEssence()

    def fetch(self, *, body: kopf.Body) -> kopf.BodyEssence | None:
        return None

    def store(self, *, body: kopf.Body, patch: kopf.Patch, essence: kopf.BodyEssence) -> None:
        return None


def change_handlers(registry: kopf.OperatorRegistry) -> list[str]:
    """The ids of handlers that would need a real diff base (change handlers, daemons, timers)."""
    found = [*registry._changing.get_all_handlers(), *registry._spawning.get_all_handlers()]
    return [str(handler.id) for handler in found]


def assert_no_change_handlers(registry: kopf.OperatorRegistry) -> None:
    names = change_handlers(registry)
    if names:
        raise RuntimeError(
            f"handlers {names} react to changes, which EventsOnlyDiffBase cannot detect: use kopf's "
            "AnnotationsDiffBaseStorage in handlers/settings.py, or make them event handlers"
        )


class DropHandlerSucceeded(logging.Filter):
    """Drops kopf's "Handler 'x' succeeded." lines; failures and retries are still logged."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (
            record.levelno == logging.INFO
            and isinstance(record.msg, str)
            and record.msg.startswith("Handler ")
            and record.msg.endswith(" succeeded.")
        )


def drop_handler_succeeded_lines(logger: logging.Logger) -> None:
    """Install the filter once (startup runs again in a process that restarts the operator)."""
    if not any(isinstance(f, DropHandlerSucceeded) for f in logger.filters):
        logger.addFilter(DropHandlerSucceeded())
