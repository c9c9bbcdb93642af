"""The compute part of `stats`: GPU time used and lost, and the attempts (a run's or a model's
status.statistics, kubedet.api.usage)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from kubedet.cli import render


def _seconds_since(stamp: str, now: datetime) -> int:
    return max(0, int((now - datetime.fromisoformat(stamp.replace("Z", "+00:00"))).total_seconds()))


def _share(part: int, whole: int) -> str:
    return f" ({100 * part / whole:.1f}%)" if whole else ""


def running_seconds(statistics: dict[str, Any], now: datetime) -> int:
    """Running time so far of the attempt still running (the totals count ended attempts only)."""
    return sum(
        _seconds_since(a["startTime"], now) for a in statistics.get("attempts") or [] if not a.get("endTime")
    )


def usage_lines(
    statistics: dict[str, Any] | None, gpus: int | None = None, now: datetime | None = None
) -> list[str]:
    """Totals and the attempts table; `gpus` (per attempt: gpusPerNode x nodes) prices the running
    attempt, when the run's spec is at hand."""
    if not statistics or statistics.get("podSeconds") is None:
        return []
    now = now or datetime.now(UTC)
    gpu, gpu_lost = statistics.get("gpuSeconds") or 0, statistics.get("gpuSecondsLost") or 0
    pod, pod_lost = statistics.get("podSeconds") or 0, statistics.get("podSecondsLost") or 0
    running = running_seconds(statistics, now)
    so_far = ""
    if running and gpus:
        so_far = f", and {running * gpus} so far in the running attempt"  # GPU-seconds
    elif running:
        so_far = f", and {render.duration(running)} so far in the running attempt"
    if gpu or gpus:
        lines = [
            f"GPU time: {gpu} GPU-seconds ({render.duration(gpu)}){so_far}; lost to disruptions: "
            f"{gpu_lost} GPU-seconds{_share(gpu_lost, gpu)}"
        ]
    else:
        lines = [
            f"GPU time: none (trained on CPUs); pod time: {pod} pod-seconds ({render.duration(pod)})"
            f"{so_far}; lost to disruptions: {pod_lost} pod-seconds{_share(pod_lost, pod)}"
        ]
    rows = []
    for attempt in statistics.get("attempts") or []:
        ended = attempt.get("endTime")
        ran = attempt.get("seconds")
        rows.append(
            [
                attempt.get("number"),
                attempt.get("podName"),
                attempt.get("startTime"),
                render.duration(ran)
                if ended
                else f"{render.duration(_seconds_since(attempt['startTime'], now))}+",
                _epoch(attempt.get("resumedFromEpoch")),
                _epoch(attempt.get("reachedEpoch")),
                attempt.get("outcome") or "Running",
                render.duration(attempt["secondsLost"]) if attempt.get("secondsLost") is not None else "-",
            ]
        )
    if rows:
        lines += [
            "",
            "Attempts (resumed from: the epoch whose checkpoint it started from; lost: trained again):",
        ]
        lines.append(
            render.table(["#", "pod", "started", "ran", "resumed from", "reached", "ended", "lost"], rows)
        )
    return lines


def _epoch(value: int | None) -> str:
    return "-" if value is None else f"epoch {value}"
