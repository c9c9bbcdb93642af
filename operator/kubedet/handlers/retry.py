"""Retries with exponential backoff for reconciles that hit an API error.

kopf's event handlers are fire-and-forget; a reconcile that failed (API server restarting, a conflict)
is tried again after a delay, at most one pending retry per object, so a flapping API server cannot
make the operator loop hot.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable

BASE_DELAY = 1.0
MAX_DELAY = 60.0

_attempts: dict[object, int] = {}
_timers: dict[object, threading.Timer] = {}
_guard = threading.Lock()


def failed(key: object, again: Callable[[], None]) -> float:
    """Schedule `again` after a growing delay; returns the delay."""
    with _guard:
        attempt = _attempts.get(key, 0) + 1
        _attempts[key] = attempt
        delay = min(MAX_DELAY, BASE_DELAY * 2 ** (attempt - 1))
        if key in _timers:
            return delay
        timer = threading.Timer(delay, _fire, args=(key, again, contextvars.copy_context()))
        timer.daemon = True
        _timers[key] = timer
        timer.start()
        return delay


def _fire(key: object, again: Callable[[], None], context: contextvars.Context) -> None:
    with _guard:
        _timers.pop(key, None)
    # kopf keeps its settings and event queue in context variables; the timer thread needs them.
    context.run(again)


def after(key: object, delay: float, again: Callable[[], None]) -> None:
    """Run `again` once after `delay` seconds (a deadline to re-check, not an error retry)."""
    with _guard:
        if key in _timers:
            return
        timer = threading.Timer(delay, _fire, args=(key, again, contextvars.copy_context()))
        timer.daemon = True
        _timers[key] = timer
        timer.start()


def succeeded(key: object) -> None:
    with _guard:
        _attempts.pop(key, None)


def forget(key: object) -> None:
    with _guard:
        _attempts.pop(key, None)
        timer = _timers.pop(key, None)
    if timer is not None:
        timer.cancel()


def pending() -> int:
    with _guard:
        return len(_timers)
