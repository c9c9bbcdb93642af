"""Progress reports to the cluster: the trainer patches status.progress of its own TrainingRun.

The pod runs as a ServiceAccount whose Role allows `patch` on `trainingruns/status` for this one run
(resourceNames), so a trainer can never touch another run. Reports are throttled: status writes cost
the API server, and a person watching `kubectl get tr` needs an update every few seconds, not every
iteration. A failed report is logged and dropped; progress must never fail a training.
"""

from __future__ import annotations

import json
import os
import ssl
import sys
import time
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from kubedet.api.trainingrun import Progress

SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
MIN_INTERVAL_SECONDS = 5.0
# Set by the operator's Job (kubedet.builders.job.POD_NAME_ENV) from the downward API.
POD_NAME_ENV = "KUBEDET_POD_NAME"


def progress_of(event: Mapping[str, Any], pod_name: str | None = None) -> Progress:
    """The API's Progress from a trainer progress event, reported by the pod `pod_name`."""

    def whole(value: Any) -> int | None:
        return None if value is None else max(0, round(float(value)))

    loss = event.get("loss")
    return Progress(
        epoch=event.get("epoch"),
        total_epochs=event.get("maxEpochs"),
        iteration=event.get("iteration"),
        total_iterations=event.get("maxIterations"),
        percent=min(100, whole(event.get("percent")) or 0),
        eta_seconds=whole(event.get("etaSeconds")),
        loss=float(loss) if loss is not None and 0 <= float(loss) < float("inf") else None,
        best_map=event.get("bestMAP"),
        best_epoch=event.get("bestEpoch") or None,
        pod_name=pod_name,
        resumed_from_epoch=event.get("resumedFromEpoch"),
        resumed_checkpoint_saved_at=event.get("resumedCheckpointSavedAt"),
    )


def report_body(progress: Progress) -> bytes:
    """The merge patch of one report. Where the attempt resumed from is always sent, null included:
    a merge patch keeps the fields it leaves out, and the previous attempt's would stay."""
    wire = progress.to_wire()
    wire.setdefault("resumedCheckpointSavedAt", None)
    return json.dumps({"status": {"progress": wire}}).encode()


class RunStatusReporter:
    def __init__(
        self,
        server: str,
        token: Callable[[], str],
        namespace: str,
        name: str,
        ssl_context: ssl.SSLContext | None,
        min_interval: float = MIN_INTERVAL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        pod_name: str | None = None,
    ) -> None:
        self.pod_name = pod_name
        self.url = (
            f"{server.rstrip('/')}/apis/kubedet.io/v1alpha1/namespaces/{namespace}/trainingruns/{name}/status"
        )
        self.token = token
        self.ssl_context = ssl_context
        self.min_interval = min_interval
        self.clock = clock
        self._last_sent: float | None = None
        self._last_epoch: Any = None
        self.sent = 0
        self.failures = 0

    def report(self, event: Mapping[str, Any]) -> None:
        now = self.clock()
        epoch_changed = event.get("epoch") != self._last_epoch
        final = event.get("phase") in ("finished", "started")
        if (
            self._last_sent is not None
            and now - self._last_sent < self.min_interval
            and not (epoch_changed or final)
        ):
            return
        self._last_sent, self._last_epoch = now, event.get("epoch")
        body = report_body(progress_of(event, self.pod_name))
        request = urllib.request.Request(
            self.url,
            data=body,
            method="PATCH",
            headers={
                "Content-Type": "application/merge-patch+json",
                "Authorization": f"Bearer {self.token()}",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=10, context=self.ssl_context) as response:
                response.read()
            self.sent += 1
        except Exception as error:
            self.failures += 1
            if self.failures <= 3:
                print(f"kubedet: progress report failed: {error}", file=sys.stderr, flush=True)

    @classmethod
    def from_environment(cls, env: Mapping[str, str]) -> RunStatusReporter | None:
        """The in-cluster reporter, when the operator gave this pod an identity for it."""
        if env.get("KUBEDET_PROGRESS_API") != "1" or not env.get("KUBERNETES_SERVICE_HOST"):
            return None
        token_file = SERVICE_ACCOUNT_DIR / "token"
        if not token_file.exists():
            return None
        host, port = env["KUBERNETES_SERVICE_HOST"], env.get("KUBERNETES_SERVICE_PORT", "443")
        server = f"https://[{host}]:{port}" if ":" in host else f"https://{host}:{port}"
        context = ssl.create_default_context(cafile=str(SERVICE_ACCOUNT_DIR / "ca.crt"))
        # The kubelet rotates projected tokens; read the file on every report.
        return cls(
            server,
            lambda: token_file.read_text().strip(),
            env["KUBEDET_RUN_NAMESPACE"],
            env["KUBEDET_RUN_NAME"],
            context,
            pod_name=env.get(POD_NAME_ENV) or None,
        )


def environment_reporter() -> RunStatusReporter | None:
    return RunStatusReporter.from_environment(os.environ)
