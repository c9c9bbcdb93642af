"""The error ConfigMap: what the ported app wrote to its per-run error file, kept beside the run."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from kubedet.api.trainingrun import TrainingRun
from kubedet.builders import naming
from kubedet.builders.meta import object_meta, run_labels
from kubedet.builders.run_state import Failure

ERROR_COMPONENT = "error"
LOG_TAIL_LINES = 50


def error_data(
    failure: Failure, now: datetime, started: datetime | None, job_name: str, log_tail: str | None
) -> dict[str, str]:
    """What an error ConfigMap holds, for any Job kubedet runs (training, evaluation)."""
    ended = failure.termination
    data = {
        "reason": str(failure.reason),
        "message": failure.message,
        "failedAt": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "startedAt": started.strftime("%Y-%m-%dT%H:%M:%SZ") if started else "",
        "jobName": job_name,
    }
    if ended is not None:
        data |= {
            "podName": ended.pod,
            "exitCode": "" if ended.exit_code is None else str(ended.exit_code),
            "containerReason": ended.reason,
            "terminationMessage": ended.message,
        }
    data["logTail"] = log_tail if log_tail is not None else "(the cluster could not serve the pod's log)"
    return data


def build_error_configmap(
    run: TrainingRun, failure: Failure, now: datetime, log_tail: str | None
) -> dict[str, Any]:
    started = run.status.start_time if run.status else None
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": object_meta(
            naming.error_configmap_name(run.name), run.namespace, run_labels(run, ERROR_COMPONENT), run
        ),
        "data": error_data(failure, now, started, naming.job_name(run.name), log_tail),
    }


def summary(configmap: dict[str, Any]) -> str:
    """One line for logs and Events."""
    return json.dumps({k: configmap["data"].get(k) for k in ("reason", "exitCode", "podName")})
