"""Prometheus metrics of the operator, served on the metrics port."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

RECONCILE_SECONDS = Histogram("kubedet_reconcile_seconds", "Time spent reconciling one object", ["kind"])
RECONCILE_ERRORS = Counter(
    "kubedet_reconcile_errors_total", "Reconciles that failed and were retried", ["kind"]
)
JOBS_CREATED = Counter("kubedet_jobs_created_total", "Training Jobs created")
RUNS_BY_PHASE = Gauge("kubedet_trainingruns", "TrainingRuns by phase", ["phase"])
