"""`why RUN`: why a run failed or does not move on, and what to do, in plain words."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kubernetes.client.exceptions import ApiException

from kubedet.api.constants import Label
from kubedet.cli import render
from kubedet.cli.advice import HEALTHY, advice_for
from kubedet.cli.kube import RUNS, CliError, Kube, api_error

ERROR_KEYS = ("reason", "message", "podName", "exitCode", "containerReason", "startedAt", "failedAt")


def blocking_condition(run: dict[str, Any]) -> dict[str, Any] | None:
    """The condition that explains the run's state: Failed when it failed, else the first one that
    holds it back (Validated false, Suspended, Scheduled false, Running false with a problem)."""
    conditions = {c["type"]: c for c in (run.get("status") or {}).get("conditions", [])}
    failed = conditions.get("Failed")
    if failed and failed.get("status") == "True":
        return failed
    for kind, bad in (
        ("Validated", "False"),
        ("Suspended", "True"),
        ("Scheduled", "False"),
        ("Running", "False"),
    ):
        condition = conditions.get(kind)
        if condition and condition.get("status") == bad and condition.get("reason") not in HEALTHY:
            return condition
    return None


def explain(kube: Kube, name: str) -> dict[str, Any]:
    """Everything `why` shows, as data (for -o json|yaml and for the text form)."""
    run = kube.get(RUNS, name)
    status = run.get("status") or {}
    condition = blocking_condition(run)
    report: dict[str, Any] = {
        "run": name,
        "namespace": kube.namespace,
        "phase": status.get("phase", "Pending"),
        "reason": condition.get("reason") if condition else None,
        "message": condition.get("message") if condition else None,
        "advice": advice_for(condition.get("reason")) if condition else _healthy_note(status),
        "notes": [],
    }
    error_ref = (status.get("errorConfigMapRef") or {}).get("name")
    if error_ref:
        try:
            cm = kube.core.read_namespaced_config_map(error_ref, kube.namespace)
            report["errorConfigMap"] = {"name": error_ref, "data": dict(cm.data or {})}
        except ApiException as error:
            report["notes"].append(str(api_error(error, ("configmaps", error_ref, kube.namespace, False))))
    report["events"] = _events(kube, run, report["notes"])
    report["pods"] = _pods(kube, run, report["notes"])
    return report


def _healthy_note(status: dict[str, Any]) -> str:
    phase = status.get("phase")
    if phase == "Succeeded":
        return "The run succeeded; nothing to fix."
    if phase == "Running":
        return "The run is training and nothing holds it back; `kubectl kubedet status --watch` follows it."
    return "Nothing holds the run back right now; the operator will move it on."


def _events(kube: Kube, run: dict[str, Any], notes: list[str]) -> list[dict[str, Any]]:
    """Events about the run, its Job and its pods (their names start with the run's), oldest first."""
    try:
        body = kube.core.list_namespaced_event(kube.namespace)
    except ApiException as error:
        notes.append(f"Events not shown: {api_error(error, ('events', None, kube.namespace, False))}")
        return []
    items = kube.api.sanitize_for_serialization(body).get("items", [])
    name, uid = run["metadata"]["name"], run["metadata"].get("uid")
    ours = []
    for event in items:
        involved = event.get("involvedObject") or {}
        other = involved.get("name") or ""
        if other == name or other.startswith(f"{name}-") or involved.get("uid") == uid:
            ours.append(event)
    ours.sort(
        key=lambda e: str(
            e.get("lastTimestamp") or e.get("eventTime") or e["metadata"].get("creationTimestamp")
        )
    )
    return [
        {
            "type": e.get("type"),
            "reason": e.get("reason"),
            "object": f"{e['involvedObject'].get('kind')}/{e['involvedObject'].get('name')}",
            "message": e.get("message"),
            "count": e.get("count") or 1,
        }
        for e in ours[-20:]
    ]


def pod_state(pod: dict[str, Any]) -> dict[str, Any]:
    """A pod's phase, its container's state and why it is not scheduled, if it is not."""
    status = pod.get("status") or {}
    state = "-"
    for container in status.get("containerStatuses") or []:
        current = container.get("state") or {}
        if "waiting" in current:
            waiting = current["waiting"]
            state = f"waiting: {waiting.get('reason', '')} {waiting.get('message') or ''}".strip()
        elif "terminated" in current:
            ended = current["terminated"]
            state = f"terminated: {ended.get('reason', '')} (exit {ended.get('exitCode')})"
        elif "running" in current:
            state = "running"
    unschedulable = next(
        (
            c.get("message")
            for c in status.get("conditions") or []
            if c.get("type") == "PodScheduled" and c.get("status") == "False"
        ),
        None,
    )
    result = {"pod": pod["metadata"]["name"], "phase": status.get("phase"), "container": state}
    if unschedulable:
        result["scheduling"] = unschedulable
    return result


def _pods(kube: Kube, run: dict[str, Any], notes: list[str]) -> list[dict[str, Any]]:
    selector = f"{Label.TRAINING_RUN_UID}={run['metadata']['uid']}"
    try:
        body = kube.core.list_namespaced_pod(kube.namespace, label_selector=selector)
    except ApiException as error:
        notes.append(f"Pod states not shown: {api_error(error, ('pods', None, kube.namespace, False))}")
        return []
    return [pod_state(pod) for pod in kube.api.sanitize_for_serialization(body).get("items", [])]


def why(kube: Kube, name: str, output: str | None, out: Callable[[str], None]) -> int:
    report = explain(kube, name)
    if output in ("json", "yaml"):
        out(render.structured(report, output))
        return 0
    if report["reason"] is None and report["phase"] not in ("Failed",):
        out(f"Run {name} is {report['phase']}. {report['advice']}")
    else:
        out(f"Run {name} is {report['phase']} because: {report['reason']}")
        if report["message"]:
            out(f"  {report['message']}")
        out(f"\nWhat to do:\n  {report['advice']}")
    cm = report.get("errorConfigMap")
    if cm:
        out(f"\nError ConfigMap {cm['name']}:")
        for key in ERROR_KEYS:
            if cm["data"].get(key):
                out(f"  {key}: {cm['data'][key]}")
        if cm["data"].get("terminationMessage"):
            out(f"  terminationMessage: {cm['data']['terminationMessage'][:600]}")
        if cm["data"].get("logTail"):
            out("  logTail (last lines):")
            out("\n".join("    " + line for line in cm["data"]["logTail"].splitlines()[-15:]))
    if report["pods"]:
        out("\nPods:")
        out(
            render.table(
                ["pod", "phase", "container", "scheduling"],
                [[p["pod"], p["phase"], p["container"], p.get("scheduling", "")] for p in report["pods"]],
            )
        )
    if report["events"]:
        out("\nEvents:")
        out(
            render.table(
                ["type", "reason", "object", "message"],
                [[e["type"], e["reason"], e["object"], e["message"]] for e in report["events"]],
            )
        )
    for note in report["notes"]:
        out(f"\nNote: {note}")
    return 0


__all__ = ["CliError", "explain", "why"]
