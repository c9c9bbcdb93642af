#!/usr/bin/env python3
"""kubedet at scale on the devcluster, against a plain-Jobs baseline measured in the same run.

    python bench/operator_bench.py                   # N = 100 and 1000 on 128 GPU nodes
    python bench/operator_bench.py --runs 10         # a quick check that it all works
    python bench/operator_bench.py --xl              # adds N = 5000

For each N: the baseline creates N Jobs (the pod template kubedet's builder makes) and waits for them
to complete; then a fresh operator (its own process and ServiceAccount, as in production) drives N
TrainingRuns, created at once, to Succeeded. kwok plays the trainer. Results go to
bench/results/operator-<date>.json and a table on stdout (docs/benchmarks.md explains it).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for _path in (ROOT, ROOT / "operator", ROOT / "trainer_image"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from tests.devcluster import install_kubedet_api  # noqa: E402

from bench import cluster, scenarios  # noqa: E402

TARGETS = {
    "wall_ratio_at_1000": 1.25,
    "p99_create_to_job_seconds_at_1000": 2.0,
    "operator_peak_rss_mib": 200.0,
    "operator_writes_per_run": 8.0,
}


def machine() -> dict[str, Any]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    memory_kib = int(Path("/proc/meminfo").read_text().split()[1])
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(memory_kib / 1024**2, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "load_average_at_start": list(os.getloadavg()),
    }


def check_targets(results: list[dict[str, Any]]) -> dict[str, Any]:
    verdicts: dict[str, Any] = {}
    for result in results:
        kubedet, n = result["kubedet"], result["n"]
        if n == 1000:
            verdicts["wall_ratio_at_1000"] = (result["wall_ratio"], result["wall_ratio"] <= 1.25)
            p99 = kubedet["create_to_job_seconds"]["p99"]
            verdicts["p99_create_to_job_seconds_at_1000"] = (p99, p99 is not None and p99 < 2.0)
        rss = verdicts.get("operator_peak_rss_mib", (0.0, True))[0]
        rss = max(rss, kubedet["operator_peak_rss_mib"])
        verdicts["operator_peak_rss_mib"] = (rss, rss < 200.0)
        writes = verdicts.get("operator_writes_per_run", (0.0, True))[0]
        writes = max(writes, kubedet["operator_writes_per_run"])
        verdicts["operator_writes_per_run"] = (writes, writes <= 8.0)
    return {k: {"value": v[0], "target": TARGETS[k], "met": v[1]} for k, v in verdicts.items()}


def table(results: list[dict[str, Any]]) -> str:
    rows = [
        "| N | baseline wall s | kubedet wall s | ratio | create->Job p50/p90/p99 s | "
        "Job complete->Succeeded p50/p90/p99 s | writes/run (w/o Events) | requests/run | "
        "peak RSS MiB | CPU s | reconcile errors |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for result in results:
        k, b = result["kubedet"], result["baseline"]
        cj, js = k["create_to_job_seconds"], k["job_complete_to_succeeded_seconds"]
        rows.append(
            f"| {result['n']} | {b['wall_seconds']} | {k['wall_seconds']} | {result['wall_ratio']} | "
            f"{cj['p50']}/{cj['p90']}/{cj['p99']} | {js['p50']}/{js['p90']}/{js['p99']} | "
            f"{k['operator_writes_per_run']} ({k['operator_writes_per_run_without_events']}) | "
            f"{sum(k['operator_requests_per_run'].values()):.1f} | {k['operator_peak_rss_mib']} | "
            f"{k['operator_cpu_seconds']} | {sum(k['reconcile_errors'].values()):.0f} |"
        )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, nargs="+", default=[100, 1000], help="the Ns to measure")
    parser.add_argument("--xl", action="store_true", help="also measure N = 5000")
    parser.add_argument("--gpu-nodes", type=int, default=128, help="kwok GPU nodes (8 GPUs each)")
    parser.add_argument("--run-duration", default="2s", help="how long kwok runs each training pod")
    parser.add_argument("--create-workers", type=int, default=16, help="threads creating objects")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds one phase may take")
    parser.add_argument("--skip-baseline", action="store_true", help="measure kubedet only (no ratio)")
    parser.add_argument(
        "--operator-source",
        type=Path,
        default=ROOT / "operator",
        help="folder holding the kubedet package the operator runs (to compare two versions)",
    )
    cluster.add_operator_env_argument(parser)
    parser.add_argument(
        "--compare-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="after each kubedet phase, run it again with these variables added (repeatable), and print "
        "the second operator's figures as ratios to the first's (e.g. a tuning switched off)",
    )
    parser.add_argument("--down", action="store_true", help="tear the devcluster down at the end")
    parser.add_argument("--label", default="", help="a note stored with the results (e.g. before-fix)")
    parser.add_argument("--output", type=Path, help="default: bench/results/operator-<date>.json")
    parser.add_argument(
        "--profile", type=Path, help="a folder for the operator's CPU profiles and RSS timelines (py-spy)"
    )
    args = parser.parse_args(argv)
    sizes = [*args.runs, *([5000] if args.xl else [])]
    options = scenarios.Options(
        args.run_duration,
        args.create_workers,
        args.timeout,
        args.operator_source.resolve(),
        tuple(cluster.operator_env(args.operator_env).items()),
        profile=args.profile,
    )

    started = datetime.now(UTC)
    report: dict[str, Any] = {"label": args.label, "started": started.isoformat(), "machine": machine()}
    print(f"[bench] devcluster in {cluster.state_dir()} with {args.gpu_nodes} GPU nodes", flush=True)
    dev = cluster.up(args.gpu_nodes)
    try:
        install_kubedet_api(dev)
        api = cluster.admin_client(dev, args.create_workers + 8)
        report["versions"] = cluster.versions(api)
        report["settings"] = {
            "gpu_nodes": args.gpu_nodes,
            "gpus_per_node": 8,
            "run_duration": args.run_duration,
            "create_workers": args.create_workers,
            "operator_source": str(args.operator_source),
            "operator_env": args.operator_env,
            "command": " ".join(["bench/operator_bench.py", *(argv if argv is not None else sys.argv[1:])]),
        }
        results: list[dict[str, Any]] = []
        for n in sizes:
            result: dict[str, Any] = {"n": n}
            if not args.skip_baseline:
                print(f"[bench] N={n}: baseline (plain Jobs)", flush=True)
                t = time.monotonic()
                result["baseline"] = scenarios.run_baseline(dev, api, n, options)
                print(f"[bench]   {result['baseline']['wall_seconds']} s", flush=True)
                # Its completed Jobs and pods would otherwise be listed and watched by the operator.
                cluster.delete_namespace(dev, result["baseline"]["namespace"], timeout=max(120, n / 5))
                print(f"[bench]   cleaned up ({time.monotonic() - t:.0f} s in all)", flush=True)
            print(f"[bench] N={n}: kubedet (TrainingRuns)", flush=True)
            result["kubedet"] = scenarios.run_kubedet(dev, api, n, options)
            print(f"[bench]   {result['kubedet']['wall_seconds']} s", flush=True)
            if args.compare_env:
                result["variant"] = run_variant(dev, api, n, options, args.compare_env, result["kubedet"])
            if "baseline" in result:
                result["wall_ratio"] = round(
                    result["kubedet"]["wall_seconds"] / max(result["baseline"]["wall_seconds"], 1e-9), 2
                )
            else:
                result["wall_ratio"] = None
                result["baseline"] = {"wall_seconds": None}
            results.append(result)
        report["results"] = results
        if not args.skip_baseline:
            report["targets"] = check_targets(results)
    finally:
        if args.down:
            cluster.down()
    output = args.output or ROOT / "bench" / "results" / f"operator-{started.date().isoformat()}.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(report, indent=2) + "\n")
    print(table(report["results"]))
    if "targets" in report:
        for name, verdict in report["targets"].items():
            met = "met" if verdict["met"] else "MISSED"
            print(f"  {name}: {verdict['value']} (target {verdict['target']}) {met}")
    print(f"[bench] results in {output}")
    return 0


def clear_namespace(dev: Any, namespace: str, n: int) -> None:
    """Delete a finished phase's namespace. Its operator has stopped, so nobody would remove the
    finalizers of its runs and models and the namespace would stay Terminating, its objects listed and
    their deletions handled by the next phase's operator: drop them first."""
    for kind in ("trainingruns.kubedet.io", "trainedmodels.kubedet.io", "datasets.kubedet.io"):
        names = dev.kubectl("get", kind, "-n", namespace, "-o", "name", check=False).stdout.split()
        for start in range(0, len(names), 200):
            dev.kubectl(
                "patch",
                *names[start : start + 200],
                "-n",
                namespace,
                "--type=merge",
                "-p",
                '{"metadata":{"finalizers":null}}',
                check=False,
            )
    if not cluster.delete_namespace(dev, namespace, timeout=max(120, n / 5)):
        raise RuntimeError(
            f"namespace {namespace} outlived its deletion: the next phase would not start clean"
        )


def run_variant(
    dev: Any, api: Any, n: int, options: scenarios.Options, pairs: list[str], first: dict[str, Any]
) -> dict[str, Any]:
    """The kubedet phase again, on the same cluster, with `pairs` added to the operator's environment;
    the first phase's runs are deleted before, so that both operators start from the same cluster."""
    clear_namespace(dev, first["namespace"], n)
    env = dict(options.operator_env) | cluster.operator_env(pairs)
    print(f"[bench] N={n}: kubedet again with {pairs}", flush=True)
    variant = scenarios.run_kubedet(
        dev, api, n, dataclasses.replace(options, operator_env=tuple(env.items()))
    )
    variant["env"] = pairs
    # Like the first phase's before it, so that the next N (or the next bench) starts from an empty cluster.
    clear_namespace(dev, variant["namespace"], n)
    for figure in ("operator_peak_rss_mib", "operator_cpu_seconds", "wall_seconds"):
        ratio = round(first[figure] / max(variant[figure], 1e-9), 3)
        variant[f"{figure}_ratio_first_to_this"] = ratio
        print(
            f"[bench]   {figure}: first {first[figure]}, with {pairs} {variant[figure]} (ratio {ratio})",
            flush=True,
        )
    return variant


if __name__ == "__main__":
    sys.exit(main())
