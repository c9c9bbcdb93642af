#!/usr/bin/env python3
"""kubedet against what users would pick instead, on one devcluster in one run: plain Jobs (the
baseline), kubedet TrainingRuns and Kubeflow Trainer v2 TrainJobs (TrainJob -> JobSet -> Job), each
without and with Kueue (a GPU quota that makes them queue).

    python bench/field_bench.py                 # N = 100 and 1000 on 128 GPU nodes
    python bench/field_bench.py --runs 20       # a quick check that it all works

For each N and each queueing mode the three systems run one after another, in an order that rotates
from one measurement to the next, so that the shared machine's drift hits all three alike. kwok plays
every pod (the same duration and result for all three). Kueue v0.17.0, JobSet v0.12.0 and Kubeflow
Trainer v2.3.0 are built from their Go modules and run as processes, as kubedet's operator does
(hack/devcluster/controllers.py). Results: bench/results/field-<date>.json and a table on stdout
(docs/benchmarks.md explains it).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for _path in (ROOT, ROOT / "operator", ROOT / "trainer_image"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from kubernetes import client  # noqa: E402
from tests.devcluster import Devcluster, install_kubedet_api  # noqa: E402

from bench import cluster, field, scenarios  # noqa: E402
from bench.operator_bench import machine  # noqa: E402

SYSTEMS = ("jobs", "kubedet", "kubeflow")
RSS_TARGET_MIB = 200.0
Phase = Callable[[Devcluster, client.ApiClient, int, scenarios.Options, str | None], dict[str, Any]]
PHASES: dict[str, Phase] = {
    "jobs": scenarios.run_baseline,
    "kubedet": scenarios.run_kubedet,
    "kubeflow": field.run_trainjobs,
}


def start_controllers() -> None:
    """Kueue, JobSet and Kubeflow Trainer on the benchmark's devcluster (built once, stamped)."""
    # The Kubeflow CRDs first: Kueue sets up its TrainJob and JobSet integrations only for CRDs it finds.
    for command in ("kubeflow", "kueue"):
        subprocess.run([sys.executable, str(cluster.DEVCLUSTER), command], check=True)


def figures(system: str, result: dict[str, Any]) -> dict[str, Any]:
    """The figures compared across systems, under one name each."""
    if system == "kubedet":
        cpu, rss = result["operator_cpu_seconds"], result["operator_peak_rss_mib"]
    elif system == "kubeflow":
        cpu, rss = result["controller_cpu_seconds"], result["controller_peak_rss_mib"]
    else:
        cpu, rss = None, None  # the Job controller lives in kube-controller-manager, shared by all
    return {
        "wall_seconds": result["wall_seconds"],
        "create_to_pod_running_p50": result["create_to_pod_running_seconds"]["p50"],
        "create_to_pod_running_p99": result["create_to_pod_running_seconds"]["p99"],
        "pod_ended_to_terminal_p50": result["pod_ended_to_terminal_seconds"]["p50"],
        "pod_ended_to_terminal_p99": result["pod_ended_to_terminal_seconds"]["p99"],
        "cluster_writes_per_run": result["cluster_writes_per_run"],
        "controller_cpu_seconds": cpu,
        "controller_peak_rss_mib": rss,
    }


def verdicts(measurement: dict[str, Any]) -> dict[str, Any]:
    """kubedet against Kubeflow Trainer on every figure (lower is better for all of them)."""
    k, f = measurement["figures"]["kubedet"], measurement["figures"]["kubeflow"]
    out = {}
    for name, value in k.items():
        other = f[name]
        if value is None or other is None:
            continue
        out[name] = {"kubedet": value, "kubeflow": other, "kubedet_ahead": value <= other}
    return out


def table(measurements: list[dict[str, Any]]) -> str:
    rows = [
        "| N | Kueue | system | wall s (ratio to Jobs) | create->pod Running p50/p99 s | "
        "pod ended->terminal p50/p99 s | cluster writes/run | controller CPU s | controller peak RSS MiB |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for m in measurements:
        for system in SYSTEMS:
            fig = m["figures"][system]
            rows.append(
                f"| {m['n']} | {'yes' if m['queue'] else 'no'} | {system} | {fig['wall_seconds']} "
                f"({m['wall_ratio'][system]}) | {fig['create_to_pod_running_p50']}/"
                f"{fig['create_to_pod_running_p99']} | {fig['pod_ended_to_terminal_p50']}/"
                f"{fig['pod_ended_to_terminal_p99']} | {fig['cluster_writes_per_run']} | "
                f"{fig['controller_cpu_seconds']} | {fig['controller_peak_rss_mib']} |"
            )
    return "\n".join(rows)


def write(output: Path, report: dict[str, Any]) -> None:
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(report, indent=2) + "\n")


def queueing_modes(no_kueue: bool, kueue_only: bool) -> tuple[str | None, ...]:
    """Without Kueue (None), with it (its LocalQueue), or both in that order."""
    if no_kueue:
        return (None,)
    return (field.LOCAL_QUEUE,) if kueue_only else (None, field.LOCAL_QUEUE)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, nargs="+", default=[100, 1000], help="the Ns to measure")
    parser.add_argument("--gpu-nodes", type=int, default=128, help="kwok GPU nodes (8 GPUs each)")
    parser.add_argument("--run-duration", default="2s", help="how long kwok runs each training pod")
    parser.add_argument("--create-workers", type=int, default=16, help="threads creating objects")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds one phase may take")
    parser.add_argument(
        "--quota-fraction", type=float, default=0.25, help="Kueue's GPU quota as a fraction of N (runs queue)"
    )
    modes = parser.add_mutually_exclusive_group()
    modes.add_argument("--no-kueue", action="store_true", help="measure without Kueue only")
    modes.add_argument("--kueue-only", action="store_true", help="measure with Kueue only")
    parser.add_argument("--down", action="store_true", help="tear the devcluster down at the end")
    parser.add_argument("--output", type=Path, help="default: bench/results/field-<date>.json")
    parser.add_argument(
        "--profile", type=Path, help="a folder for the operator's CPU profiles and RSS timelines (py-spy)"
    )
    args = parser.parse_args(argv)
    options = scenarios.Options(args.run_duration, args.create_workers, args.timeout, profile=args.profile)
    started = datetime.now(UTC)
    output = args.output or ROOT / "bench" / "results" / f"field-{started.date().isoformat()}.json"
    report: dict[str, Any] = {"started": started.isoformat(), "machine": machine()}
    print(f"[bench] devcluster in {cluster.state_dir()} with {args.gpu_nodes} GPU nodes", flush=True)
    dev = cluster.up(args.gpu_nodes)
    measurements: list[dict[str, Any]] = []
    try:
        install_kubedet_api(dev)
        start_controllers()
        api = cluster.admin_client(dev, args.create_workers + 8)
        report["versions"] = cluster.versions(api)
        report["settings"] = {
            k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items() if k != "output"
        }
        rotation = 0
        for n in args.runs:
            for queue in queueing_modes(args.no_kueue, args.kueue_only):
                if queue:
                    gpus = max(8, int(n * args.quota_fraction))
                    dev.apply_objects("default", field.queue_objects(gpus))
                order = SYSTEMS[rotation % 3 :] + SYSTEMS[: rotation % 3]
                rotation += 1
                results: dict[str, dict[str, Any]] = {}
                for system in order:
                    print(f"[bench] N={n} Kueue={'yes' if queue else 'no'}: {system}", flush=True)
                    t = time.monotonic()
                    results[system] = PHASES[system](dev, api, n, options, queue)
                    print(f"[bench]   wall {results[system]['wall_seconds']} s", flush=True)
                    # Its finished objects would otherwise be listed and watched by the next system.
                    cluster.delete_namespace(dev, results[system]["namespace"], timeout=max(120, n / 5))
                    print(f"[bench]   cleaned up ({time.monotonic() - t:.0f} s in all)", flush=True)
                base = max(results["jobs"]["wall_seconds"], 1e-9)
                measurement = {
                    "n": n,
                    "queue": queue,
                    "order": list(order),
                    "results": results,
                    "figures": {system: figures(system, results[system]) for system in SYSTEMS},
                    "wall_ratio": {s: round(results[s]["wall_seconds"] / base, 2) for s in SYSTEMS},
                }
                measurement["kubedet_vs_kubeflow"] = verdicts(measurement)
                measurements.append(measurement)
                # Written as it goes: an interrupted run keeps what it measured.
                write(output, {**report, "measurements": measurements})
    finally:
        if args.down:
            cluster.down()
    report["measurements"] = measurements
    rss = [m["figures"]["kubedet"]["controller_peak_rss_mib"] for m in measurements if m["n"] >= 1000]
    report["kubedet_peak_rss_at_1000_mib"] = {"value": max(rss, default=None), "target": RSS_TARGET_MIB}
    write(output, report)
    print(table(measurements))
    for m in measurements:
        behind = [name for name, v in m["kubedet_vs_kubeflow"].items() if not v["kubedet_ahead"]]
        print(
            f"  N={m['n']} Kueue={'yes' if m['queue'] else 'no'}: kubedet ahead of Kubeflow Trainer on "
            f"{len(m['kubedet_vs_kubeflow']) - len(behind)} of {len(m['kubedet_vs_kubeflow'])} figures"
            + (f"; behind on {', '.join(behind)}" if behind else "")
        )
    print(f"[bench] results in {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
