"""Delayed re-checks: retries with exponential backoff after an API error, and deadlines.

kopf's event handlers are fire-and-forget; a reconcile that failed (API server restarting, a conflict)
is tried again after a delay, at most one pending re-check per key, so a flapping API server cannot
make the operator loop hot.

One scheduler thread holds every pending re-check in a heap and hands the due ones to a small pool.
(A `threading.Timer` per re-check meant a thread per starting run: a thousand sleeping threads at a
thousand runs, each started under the same lock the reconciles took.)
"""

from __future__ import annotations

import contextvars
import heapq
import itertools
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

BASE_DELAY = 1.0
MAX_DELAY = 60.0
RUNNERS = 8

_attempts: dict[object, int] = {}
# key -> (sequence number, what to run, the context to run it in); the heap holds (due, sequence, key).
_pending: dict[object, tuple[int, Callable[[], None], contextvars.Context]] = {}
_heap: list[tuple[float, int, object]] = []
_sequence = itertools.count()
_wakeup = threading.Condition()
_scheduler: threading.Thread | None = None
_runners = ThreadPoolExecutor(max_workers=RUNNERS, thread_name_prefix="kubedet-recheck")


def _schedule(key: object, delay: float, again: Callable[[], None]) -> None:
    """Under _wakeup: run `again` after `delay` unless a re-check of `key` is already pending."""
    global _scheduler
    if key in _pending:
        return
    sequence = next(_sequence)
    # kopf keeps its settings and event queue in context variables; the runner thread needs them.
    _pending[key] = (sequence, again, contextvars.copy_context())
    heapq.heappush(_heap, (time.monotonic() + delay, sequence, key))
    if _scheduler is None:
        _scheduler = threading.Thread(target=_dispatch, name="kubedet-recheck-scheduler", daemon=True)
        _scheduler.start()
    _wakeup.notify()


def _dispatch() -> None:
    while True:
        with _wakeup:
            while not _heap or _heap[0][0] > time.monotonic():
                _wakeup.wait(_heap[0][0] - time.monotonic() if _heap else None)
            _, sequence, key = heapq.heappop(_heap)
            entry = _pending.get(key)
            if entry is None or entry[0] != sequence:
                continue  # forgotten, or replaced by a later re-check of the same key
            del _pending[key]
        _, again, context = entry
        _runners.submit(context.run, again)


def failed(key: object, again: Callable[[], None]) -> float:
    """Schedule `again` after a growing delay; returns the delay."""
    with _wakeup:
        attempt = _attempts.get(key, 0) + 1
        _attempts[key] = attempt
        delay = min(MAX_DELAY, BASE_DELAY * 2 ** (attempt - 1))
        _schedule(key, delay, again)
        return delay


def after(key: object, delay: float, again: Callable[[], None]) -> None:
    """Run `again` once after `delay` seconds (a deadline to re-check, not an error retry)."""
    with _wakeup:
        _schedule(key, delay, again)


def succeeded(key: object) -> None:
    if key in _attempts:  # a dict lookup without the lock: most reconciles never failed
        with _wakeup:
            _attempts.pop(key, None)


def forget(key: object) -> None:
    with _wakeup:
        _attempts.pop(key, None)
        _pending.pop(key, None)


def pending() -> int:
    with _wakeup:
        return len(_pending)
