"""The reconcile queue: a burst of events for one run costs one reconcile that starts after them, an
event during a reconcile is not lost, and other runs are not held back."""

from __future__ import annotations

import contextvars
import threading

from tests.devcluster import wait_for

from kubedet.handlers.workqueue import CoalescingQueue


def test_a_burst_for_one_key_is_one_run_and_an_event_during_it_queues_another() -> None:
    queue: CoalescingQueue[str] = CoalescingQueue(lambda: 4, "test")
    started, release = threading.Event(), threading.Event()
    runs: list[str] = []

    def blocked() -> None:
        runs.append("first")
        started.set()
        release.wait(10)

    assert queue.add("a", blocked)
    assert started.wait(5)
    # While the first reconcile runs, a burst of ten events: one more run, after the first.
    queued = [queue.add("a", lambda: runs.append("second")) for _ in range(10)]
    assert queued.count(True) == 1 and queue.pending() == 1
    # Another key is not held back by the busy one.
    other = threading.Event()
    assert queue.add("b", other.set)
    assert other.wait(5)
    release.set()
    wait_for(lambda: runs == ["first", "second"] and queue.pending() == 0, timeout=5)
    queue.shutdown()


def test_a_failing_reconcile_does_not_stop_the_queue() -> None:
    queue: CoalescingQueue[str] = CoalescingQueue(lambda: 1, "test")
    done = threading.Event()

    def fail() -> None:
        raise RuntimeError("boom")

    queue.add("a", fail)
    queue.add("b", done.set)
    assert done.wait(5)
    queue.shutdown()


def test_the_work_runs_in_the_context_of_the_add() -> None:
    """kopf's settings live in context variables, which pool threads do not inherit."""
    variable: contextvars.ContextVar[str] = contextvars.ContextVar("setting")
    queue: CoalescingQueue[str] = CoalescingQueue(lambda: 1, "test")
    seen: list[str] = []
    done = threading.Event()
    token = variable.set("kopf's")
    try:
        queue.add("a", lambda: (seen.append(variable.get("unset")), done.set()))
    finally:
        variable.reset(token)
    assert done.wait(5) and seen == ["kopf's"]
    queue.shutdown()
