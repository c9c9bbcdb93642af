"""A de-duplicating queue of keys to reconcile, as controller-runtime's workqueue.

A run's Job and pods send about ten events in its life, several within a second, and each once took a
kopf worker thread to reconcile the run again, holding the event's whole body (pods: ~75 KB of Python
objects, managedFields included) while it waited for a thread. Reconciling is level-based: the run is
derived from what the indexes show when it runs, so many events of one run need one reconcile that
starts after the last of them. A key is pending at most once; one that arrives while its reconcile
runs makes it run once more afterwards, so no event is lost.
"""

from __future__ import annotations

import contextvars
import logging
import threading
from collections.abc import Callable, Hashable
from concurrent.futures import ThreadPoolExecutor
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
Work = tuple[Callable[[], None], contextvars.Context]
log = logging.getLogger("kubedet.workqueue")


class CoalescingQueue(Generic[K]):
    """`add(key, work)` runs `work()` in a worker thread, once for all the adds of a key until it
    starts; an add while the key's work runs makes it run once more afterwards (never two at once:
    the second would only wait for the first, holding a thread)."""

    def __init__(self, workers: Callable[[], int], name: str) -> None:
        self._workers = workers  # read at the first add: the operator's settings are loaded by then
        self._name = name
        self._guard = threading.Lock()
        # The work, and the context to run it in: kopf keeps its settings and event queue in context
        # variables, which a thread of this pool does not inherit from the handler that queued it.
        self._pending: dict[K, Work] = {}
        self._running: set[K] = set()
        self._again: dict[K, Work] = {}
        self._executor: ThreadPoolExecutor | None = None

    def add(self, key: K, work: Callable[[], None]) -> bool:
        """True when this add scheduled a run, False when a scheduled one absorbed it."""
        with self._guard:
            if key in self._pending or key in self._again:
                return False
            if key in self._running:
                self._again[key] = (work, contextvars.copy_context())
                return True
            self._submit(key, (work, contextvars.copy_context()))
            return True

    def _submit(self, key: K, work: Work) -> None:
        # Called with the guard held.
        self._pending[key] = work
        if self._executor is None:
            self._executor = ThreadPoolExecutor(self._workers(), thread_name_prefix=self._name)
        self._executor.submit(self._run, key)

    def _run(self, key: K) -> None:
        with self._guard:
            work, context = self._pending.pop(key)
            self._running.add(key)
        try:
            context.run(work)
        except Exception:
            log.exception("reconcile of %s failed", key)
        finally:
            with self._guard:
                self._running.discard(key)
                again = self._again.pop(key, None)
                if again is not None and self._executor is not None:
                    self._submit(key, again)

    def pending(self) -> int:
        """Keys waiting to run (again)."""
        with self._guard:
            return len(self._pending) + len(self._again)

    def shutdown(self) -> None:
        with self._guard:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True)
