"""What the handlers remember between events, per object, and when they let go of it.

Everything a handler keeps about an object lives in one of these, never in a bare module dict: each
entry is made when it is first needed and released when its object goes (a run's DELETED event) or
when nobody uses it any more (a lock). An operator that retains ten thousand finished runs must not
hold ten thousand locks and copies besides the indexes kopf keeps.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from typing import Any, Generic, TypeVar

from kubedet.api.trainingrun import TrainingRun
from kubedet.handlers import retry
from kubedet.handlers.parsed import ParsedObjects
from kubedet.handlers.workqueue import CoalescingQueue

K = TypeVar("K", bound=Hashable)
RunKey = tuple[str, str]


class KeyedLocks(Generic[K]):
    """One lock per key, alive only while a thread holds it or waits for it."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[K, tuple[threading.Lock, int]] = {}

    @contextmanager
    def hold(self, key: K) -> Iterator[None]:
        with self._guard:
            lock, users = self._locks.get(key) or (threading.Lock(), 0)
            self._locks[key] = (lock, users + 1)
        try:
            with lock:
                yield
        finally:
            with self._guard:
                lock, users = self._locks[key]
                if users == 1:
                    del self._locks[key]
                else:
                    self._locks[key] = (lock, users - 1)

    def __len__(self) -> int:
        with self._guard:
            return len(self._locks)


# The re-checks a run's reconciles schedule (retry keys): released with the run.
RUN_RETRY_KINDS = ("settle", "recheck", "cleanup", "watchlag")


class RunMemory:
    """Per-run state of the TrainingRun reconciler.

    - `locks`: reconciles of one run never overlap;
    - `written`: the run as this operator last wrote it (the watch can lag behind our own writes,
      and deciding on the stale copy would repeat writes); dropped once the watch caught up;
    - `jobs_made`: Jobs this operator created and the index has not shown yet (when, the Job as
      sent); dropped when the index shows the Job;
    - `parsed`: the run, its dataset and base model as validated, at their latest versions;
    - `queue`: runs whose Job or pods changed, each waiting for one reconcile at most.
    """

    def __init__(self, workers: Callable[[], int] = lambda: 16) -> None:
        self.locks: KeyedLocks[RunKey] = KeyedLocks()
        self.written: dict[RunKey, dict[str, Any]] = {}
        self.jobs_made: dict[RunKey, tuple[float, dict[str, Any]]] = {}
        self.parsed = ParsedObjects()
        self.queue: CoalescingQueue[RunKey] = CoalescingQueue(workers, "kubedet-reconcile")

    def forget(self, key: RunKey) -> None:
        """The run is gone: release everything kept for it, pending re-checks included."""
        self.written.pop(key, None)
        self.jobs_made.pop(key, None)
        self.parsed.forget(TrainingRun, *key)
        retry.forget(key)
        for kind in RUN_RETRY_KINDS:
            retry.forget((kind, *key))

    def sizes(self) -> dict[str, int]:
        return {
            "locks": len(self.locks),
            "written": len(self.written),
            "jobs_made": len(self.jobs_made),
            "parsed_runs": sum(1 for model, *_ in self.parsed.objects() if model is TrainingRun),
            "queued": self.queue.pending(),
        }
