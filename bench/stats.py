"""Small measurement helpers: percentiles, /proc readings, Prometheus text parsing."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families


def percentiles(values: Iterable[float]) -> dict[str, float | int | None]:
    """p50/p90/p99/max (nearest rank) and the count; None where there is no sample."""
    data = sorted(values)
    if not data:
        return {"count": 0, "p50": None, "p90": None, "p99": None, "max": None}

    def rank(q: float) -> float:
        index = min(len(data) - 1, max(0, round(q * len(data) + 0.5) - 1))
        return round(data[index], 3)

    return {"count": len(data), "p50": rank(0.5), "p90": rank(0.9), "p99": rank(0.99), "max": rank(1.0)}


@dataclass(frozen=True)
class ProcessSample:
    peak_rss_mib: float
    rss_mib: float
    cpu_seconds: float


def process_sample(pid: int) -> ProcessSample:
    """Peak and current resident memory (VmHWM, VmRSS) and user+system CPU time of a process."""
    fields: dict[str, str] = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    with open(f"/proc/{pid}/stat") as stat:
        # The command name may hold spaces and parentheses; the fields after the last ")" are fixed.
        after = stat.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    utime, stime = int(after[11]), int(after[12])
    return ProcessSample(
        peak_rss_mib=int(fields["VmHWM"].split()[0]) / 1024,
        rss_mib=int(fields["VmRSS"].split()[0]) / 1024,
        cpu_seconds=(utime + stime) / ticks,
    )


Labels = tuple[tuple[str, str], ...]


def samples(text: str, name: str) -> dict[Labels, float]:
    """The samples of one metric (the sample name, e.g. `apiserver_request_total`) by label set."""
    found: dict[Labels, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                key = tuple(sorted(sample.labels.items()))
                found[key] = found.get(key, 0.0) + sample.value
    return found


def delta(after: dict[Labels, float], before: dict[Labels, float]) -> dict[Labels, float]:
    changed = {key: value - before.get(key, 0.0) for key, value in after.items()}
    return {key: value for key, value in changed.items() if value}


def group(
    values: dict[Labels, float], by: tuple[str, ...], keep: dict[str, set[str]] | None = None
) -> dict[str, float]:
    """Sum samples by some of their labels (joined with " "), keeping only samples whose labels are in
    `keep`."""
    grouped: dict[str, float] = {}
    for labels, value in values.items():
        named = dict(labels)
        if keep and any(named.get(label) not in allowed for label, allowed in keep.items()):
            continue
        key = " ".join(named.get(label, "") for label in by).strip()
        grouped[key] = grouped.get(key, 0.0) + value
    return dict(sorted(grouped.items(), key=lambda item: -item[1]))
