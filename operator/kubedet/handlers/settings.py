"""The operator's one startup handler: every tuned kopf setting, and the shared configuration."""

from __future__ import annotations

import logging
import os
import secrets
from typing import Any

import kopf
from prometheus_client import start_http_server

from kubedet.api.constants import MANAGED_BY, Label
from kubedet.config import OperatorConfig
from kubedet.handlers import eventsonly, kube

_config = OperatorConfig.from_env()


def current_config() -> OperatorConfig:
    return _config


def peering_priority(configured: str | None) -> int:
    """The configured priority, or a random one in [1, 2**31) so that replicas never tie."""
    if configured:
        return int(configured)
    return secrets.randbelow(2**31 - 1) + 1


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, logger: kopf.Logger, **_: Any) -> None:
    global _config
    _config = OperatorConfig.from_env()
    # Keep kopf's bookkeeping out of user-facing objects: kubedet uses only event handlers, which
    # keep no progress, but should a handler ever need it, it goes to annotations, never status.
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix="kubedet.io")
    # No change handlers, so no diff base: kopf would deep-copy every event's body to build one
    # (14 % of the CPU at 1,000 runs). Refused at startup should a change handler ever be added.
    eventsonly.assert_no_change_handlers(kopf.get_default_registry())
    settings.persistence.diffbase_storage = eventsonly.EventsOnlyDiffBase(prefix="kubedet.io")
    # "Handler ... succeeded." for every index and event handler call: ~40 lines a run, 8 % of the CPU.
    eventsonly.drop_handler_succeeded_lines(logging.getLogger("kopf.objects"))
    # Events are posted only where the code asks for them (one per condition change), not per log line.
    settings.posting.loggers = False
    settings.posting.level = logging.INFO
    # Handlers are synchronous (the kubernetes client); one thread per concurrent reconcile. Runs are
    # serialised per object by a lock, so this bounds the cluster-wide concurrency.
    settings.execution.max_workers = _config.max_workers
    # Watches end at the server's timeout and are re-established; a short client timeout notices a
    # restarted API server quickly instead of waiting on a dead connection.
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.watching.connect_timeout = 10
    settings.watching.reconnect_backoff = 1.0
    settings.networking.request_timeout = 60
    settings.networking.connect_timeout = 10
    # Only kubedet's Jobs and pods, filtered by the API server: kopf would otherwise watch and index
    # every Job and pod of the cluster, and hold back all handlers at startup until each of them has
    # passed through its indexing gate, whose bookkeeping grows faster than the objects listed
    # (measured: 74 s before the first handler for an operator restarted among ~4,000 objects).
    managed = f"{Label.MANAGED_BY}={MANAGED_BY}"
    settings.watching.label_selectors["batch", "v1", "jobs"] = managed
    settings.watching.label_selectors["", "v1", "pods"] = managed
    settings.watching.label_selectors["", "v1", "serviceaccounts"] = managed
    # Several events for one object within this window are handled once, with the latest state.
    settings.batching.batch_window = 0.1
    # An object's worker waiting for its next event still references the last event's body: release
    # them after half a second instead of kopf's 5 (the operator's peak memory during a burst).
    settings.queueing.idle_timeout = _config.queue_idle_seconds
    # Two replicas started by mistake must not both act. With `--peering`, kopf pauses a replica that
    # sees a live peer of HIGHER priority; peers of EQUAL priority pause each other, all of them, so a
    # fixed default (two replicas from one Deployment) would leave nobody working. Each replica
    # therefore draws its own priority unless one is set: exactly one (the highest) acts, and a tie
    # has a chance of 1 in 2**31. The ClusterKopfPeering CRD and object ship in manifests/crd
    # (`python -m kubedet.manifests`).
    settings.peering.priority = peering_priority(os.environ.get("KUBEDET_PEERING_PRIORITY"))
    # How long a replica's keep-alive counts after it was written. A SIGKILLed leader cannot remove
    # its record, so this bounds how long the others wait before taking over (kopf re-checks when the
    # record expires, and keep-alives are sent 5-10 s before that). kopf's 60 s would leave runs
    # unwatched for a minute; below ~15 s a slow API server could make a live leader look dead.
    settings.peering.lifetime = int(os.environ.get("KUBEDET_PEERING_LIFETIME", "20"))
    # Keep-alives every few seconds would drown the log; pauses and resumes are still logged.
    settings.peering.stealth = True
    kube.load(max_connections=_config.max_workers + 4)
    if _config.metrics_port:
        start_http_server(_config.metrics_port)
    logger.info(f"kubedet operator configured: {_config}")
