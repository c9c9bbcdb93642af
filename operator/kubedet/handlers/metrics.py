"""Prometheus metrics of the operator, served on the metrics port."""

from __future__ import annotations

import threading

from prometheus_client import Counter, Gauge, Histogram

RECONCILE_SECONDS = Histogram("kubedet_reconcile_seconds", "Time spent reconciling one object", ["kind"])
RECONCILE_ERRORS = Counter(
    "kubedet_reconcile_errors_total", "Reconciles that failed and were retried", ["kind"]
)
JOBS_CREATED = Counter("kubedet_jobs_created_total", "Training Jobs created")
RUNS_BY_PHASE = Gauge("kubedet_trainingruns", "TrainingRuns by phase", ["phase"])

_phase_of: dict[tuple[str, str], str] = {}
_phase_guard = threading.Lock()


def observe_run_phase(key: tuple[str, str], phase: str | None) -> None:
    """Count a run under the phase its latest watch event shows (None: deleted, or not yet judged)."""
    with _phase_guard:
        previous = _phase_of.pop(key, None)
        if previous is not None:
            RUNS_BY_PHASE.labels(previous).dec()
        if phase is not None:
            _phase_of[key] = phase
            RUNS_BY_PHASE.labels(phase).inc()
