"""Delayed re-checks: one per key, in due order, cancellable, in the caller's context."""

from __future__ import annotations

import contextvars
import threading

from kubedet.handlers import retry

WHO = contextvars.ContextVar("who", default="nobody")


def test_rechecks_run_in_due_order_once_per_key_in_the_callers_context() -> None:
    done: list[str] = []
    finished = threading.Event()

    duplicate = threading.Event()

    def note(name: str) -> None:
        done.append(f"{name}:{WHO.get()}")
        if len(done) == 2:
            finished.set()

    WHO.set("reconciler")
    retry.after(("order", "late"), 0.3, lambda: note("late"))
    retry.after(("order", "early"), 0.05, lambda: note("early"))
    retry.after(("order", "early"), 0.01, duplicate.set)  # one pending per key: ignored
    assert finished.wait(5)
    assert done == ["early:reconciler", "late:reconciler"]
    assert not duplicate.wait(0.2)


def test_forget_cancels_and_a_new_recheck_of_the_key_is_not_fired_early() -> None:
    fired = threading.Event()
    retry.after(("forget", 1), 0.05, fired.set)
    retry.forget(("forget", 1))
    later = threading.Event()
    retry.after(("forget", 1), 0.4, later.set)
    assert not fired.wait(0.2), "a forgotten re-check ran"
    assert not later.is_set(), "the stale heap entry fired the new re-check early"
    assert later.wait(5)


def test_failures_back_off_exponentially_and_success_resets() -> None:
    key = ("backoff", 1)
    delays = [retry.failed(key, lambda: None) for _ in range(3)]
    assert delays == [1.0, 2.0, 4.0]
    retry.succeeded(key)
    retry.forget(key)
    assert retry.failed(key, lambda: None) == 1.0
    retry.forget(key)
    capped = [retry.failed(("cap", 1), lambda: None) for _ in range(10)]
    retry.forget(("cap", 1))
    assert capped[-1] == retry.MAX_DELAY
