#!/usr/bin/env python3
"""The operator's memory with N finished runs retained, against its own idle memory in the same run.

    python bench/retained_memory.py                  # N = 10,000 in waves of 1,000 (tens of minutes)
    python bench/retained_memory.py --runs 200       # a quick check that it all works
    python bench/retained_memory.py --runs 2000 --tracemalloc 8   # what the operator's memory holds

A fresh operator (its own process and ServiceAccount, as in production, without the API-counting hook
of bench/operator_bench.py) is measured idle, once its dataset is Ready; then N TrainingRuns are driven
to Succeeded, a wave at a time, with kwok playing the trainer; everything a finished run leaves (the
run, its Job and pod, its TrainedModel) is kept. The operator is measured settled with N retained,
then restarted: a fresh process lists all N at start, which is what a memory limit must hold. RSS is
VmRSS, the peak VmHWM, both from /proc/<pid>/status. Results go to bench/results/memory-<date>.json and
a table on stdout (docs/benchmarks.md explains it).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import signal
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for _path in (ROOT, ROOT / "operator", ROOT / "trainer_image"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

import kopf  # noqa: E402
from kubernetes import client  # noqa: E402
from tests import kubedet_objects as objects  # noqa: E402
from tests.devcluster import Devcluster, install_kubedet_api, wait_for  # noqa: E402
from tests.operator_process import OperatorProcess, install_operator_identity  # noqa: E402

from bench import cluster, scenarios, stats  # noqa: E402
from bench.operator_bench import machine  # noqa: E402
from bench.tracker import Tracker  # noqa: E402
from kubedet.api.constants import Label  # noqa: E402
from kubedet.builders import naming  # noqa: E402
from kubedet.handlers import indexes  # noqa: E402

MIB = 1024.0
# The limit is this many times the restarted operator's peak, rounded up to a multiple of ROUND_MIB:
# the peak is one measurement on one machine, and a pod that outgrows its limit is killed and, on
# restart, lists everything again, so it would be killed again (a crash loop, not a slowdown).
MARGIN = 1.5
ROUND_MIB = 64

# Loaded into the operator process (through PYTHONPATH) only with --tracemalloc: it records
# allocations once the handlers are imported and writes a snapshot when sent SIGUSR1. Written at run
# time next to the devcluster's state, so that the operator as shipped imports nothing of the benchmark.
TRACEMALLOC_HOOK = """\
import os
import signal
import sys
import threading
import time
import tracemalloc


def _start_after_imports():
    # Traced, the imports take minutes (pydantic builds its schemas then) and the operator misses
    # its health check; what grows with the runs is allocated after them.
    while getattr(sys.modules.get("kubedet.handlers"), "__all__", None) is None:
        time.sleep(0.01)
    tracemalloc.start(int(os.environ.get("KUBEDET_BENCH_TRACEMALLOC_FRAMES", "1")))


def _dump(signum, frame):
    path = os.environ["KUBEDET_BENCH_SNAPSHOT"]
    tracemalloc.take_snapshot().dump(path + ".tmp")
    os.replace(path + ".tmp", path)


signal.signal(signal.SIGUSR1, _dump)
threading.Thread(target=_start_after_imports, daemon=True).start()
"""


def memory(pid: int) -> dict[str, float]:
    """VmRSS, VmHWM (the peak), RssAnon and RssFile of a process, in MiB; and its CPU seconds."""
    fields: dict[str, float] = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
                fields[key] = round(int(value.split()[0]) / MIB, 1)
    fields["cpu_seconds"] = round(stats.process_sample(pid).cpu_seconds, 2)
    return fields


def reconciles(operator: OperatorProcess) -> dict[str, float] | None:
    """Reconciles the operator has finished, by kind (its own histogram's counts); None while its
    metrics port is not serving yet."""
    try:
        text = operator.metrics()
    except OSError:
        return None
    return stats.group(stats.samples(text, "kubedet_reconcile_seconds_count"), ("kind",))


def settle(
    operator: OperatorProcess,
    quiet: float,
    timeout: float,
    at_least: Mapping[str, float] | None = None,
    started: float | None = None,
) -> dict[str, Any]:
    """Wait until the operator has finished no reconcile for `quiet` seconds and used under 5 % of a
    core meanwhile (after `at_least` reconciles of each kind, for a restart that must first list
    everything). Returns the memory then (`settled` false if `timeout` came first), when the first
    reconcile was seen, and samples taken on the way (every 10 s, and whenever the peak grew)."""
    assert operator.process is not None
    pid = operator.process.pid
    start = started if started is not None else time.monotonic()
    deadline = time.monotonic() + timeout
    trace: list[dict[str, Any]] = []
    first_reconcile: float | None = None
    last: dict[str, float] | None = None
    quiet_since = time.monotonic()
    cpu_at_quiet = memory(pid)["cpu_seconds"]
    while True:
        now = time.monotonic()
        counts = reconciles(operator)
        sample: dict[str, Any] = {"seconds": round(now - start, 1), **memory(pid), "reconciles": counts}
        if not trace or now - start - trace[-1]["seconds"] >= 10 or sample["VmHWM"] > trace[-1]["VmHWM"]:
            trace.append(sample)
        if first_reconcile is None and counts and sum(counts.values()):
            first_reconcile = sample["seconds"]
        enough = counts is not None and all(counts.get(kind, 0) >= n for kind, n in (at_least or {}).items())
        settled = False
        if counts != last or not enough:
            last, quiet_since, cpu_at_quiet = counts, now, sample["cpu_seconds"]
        elif now - quiet_since >= quiet:
            settled = (sample["cpu_seconds"] - cpu_at_quiet) / (now - quiet_since) < 0.05
            quiet_since, cpu_at_quiet = now, sample["cpu_seconds"]
        if settled or now > deadline:
            if not settled:
                print(f"[memory] NOT settled within {timeout:.0f} s: {counts}", flush=True)
            return {"settled": settled, **sample, "first_reconcile_seconds": first_reconcile, "trace": trace}
        time.sleep(2)


def start_operator(
    dev: Devcluster, kubeconfig: Path, label: str, env: dict[str, str]
) -> tuple[OperatorProcess, float]:
    """The operator as shipped (`python -m kubedet`, only the operator's own packages on its path);
    returns it and the seconds it took to answer its health probe."""
    operator = OperatorProcess(
        kubeconfig=kubeconfig,
        log_path=dev.kubeconfig.parent / "logs" / f"operator-memory-{label}.log",
        env=env,
    )
    t = time.monotonic()
    try:
        operator.start()
    except TimeoutError:
        # OperatorProcess gives it 60 s; traced (--tracemalloc) on a busy machine it needs more.
        try:
            wait_for(operator.healthy, timeout=900, interval=0.5, message="the operator's health endpoint")
        except Exception:
            operator.stop()  # its own session: nothing else would stop it
            raise
    return operator, round(time.monotonic() - t, 1)


def paged(list_page: Callable[..., Any]) -> Iterator[dict[str, Any]]:
    """Every item of a list call, a page at a time (thousands of pods at once would be this process's
    memory, not the operator's)."""
    token: str | None = None
    while True:
        page = json.loads(list_page(limit=500, _continue=token, _preload_content=False).data)
        yield from page["items"]
        token = page["metadata"].get("continue")
        if not token:
            return


def deep_size(value: Any) -> int:
    """Bytes a parsed-JSON value takes in this Python, counting every string (json shares an object's
    repeated keys within one document, so this is an upper bound, close enough to compare)."""
    size = sys.getsizeof(value)
    if isinstance(value, dict):
        size += sum(deep_size(k) + deep_size(v) for k, v in value.items())
    elif isinstance(value, list | tuple):
        size += sum(deep_size(v) for v in value)
    return size


def index_payload(api: client.ApiClient, namespace: str) -> dict[str, Any]:
    """What kubedet's kopf indexes hold per run, computed here by the operator's own index functions
    on the objects as listed: the copies a restarted operator must rebuild (kopf's own per-object
    state and the allocator's overhead come on top)."""
    custom, batch, core = client.CustomObjectsApi(api), client.BatchV1Api(api), client.CoreV1Api(api)
    selector = f"{Label.TRAINING_RUN},{Label.COMPONENT}=trainer"  # what the operator's indexes take

    def crd(plural: str) -> Callable[..., Any]:
        def page(**kw: Any) -> Any:
            return custom.list_namespaced_custom_object("kubedet.io", "v1alpha1", namespace, plural, **kw)

        return page

    loop = asyncio.new_event_loop()  # the indexing functions are coroutines, as kopf runs them

    def entry(body: dict[str, Any], make: Callable[..., Any]) -> Any:
        meta = body["metadata"]
        return loop.run_until_complete(
            make(
                namespace=namespace,
                name=meta["name"],
                labels=meta.get("labels") or {},
                body=body,
                spec=body.get("spec") or {},
            )
        )

    sources: dict[str, tuple[Callable[..., Any], tuple[Callable[..., Any], ...]]] = {
        "trainingruns": (
            crd("trainingruns"),
            (indexes.runs, indexes.runs_by_dataset, indexes.runs_by_base_model),
        ),
        "trainedmodels": (crd("trainedmodels"), (indexes.models, indexes.models_by_base)),
        "jobs": (
            lambda **kw: batch.list_namespaced_job(namespace, label_selector=selector, **kw),
            (indexes.jobs_by_run,),
        ),
        "pods": (
            lambda **kw: core.list_namespaced_pod(namespace, label_selector=selector, **kw),
            (indexes.pods_by_run,),
        ),
    }
    found: dict[str, Any] = {}
    for kind, (list_page, makers) in sources.items():
        count = whole = kept = 0
        for body in paged(list_page):
            count += 1
            whole += deep_size(body)
            kept += sum(deep_size(entry(body, make)) for make in makers)
        found[kind] = {
            "objects": count,
            "whole_object_kib": round(whole / max(count, 1) / 1024, 2),
            "indexed_kib": round(kept / max(count, 1) / 1024, 2),
        }
    return found


def run_waves(
    dev: Devcluster,
    api: client.ApiClient,
    operator: OperatorProcess,
    namespace: str,
    n: int,
    wave: int,
    options: scenarios.Options,
) -> tuple[list[dict[str, Any]], Tracker]:
    """N runs to an end, `wave` at a time: the next wave is created once the last one has ended and
    its models exist (created at once, 10,000 runs would queue for the 2 cores and 1,024 kwok GPUs)."""
    assert operator.process is not None
    tracker = Tracker(api, namespace)
    tracker.watch_jobs()
    tracker.watch_runs()
    custom = client.CustomObjectsApi(api)
    names = scenarios.run_names(n)
    waves: list[dict[str, Any]] = []
    for first in range(0, n, wave):
        batch = names[first : first + wave]
        t = time.monotonic()
        scenarios.create_all(
            [(name, scenarios.training_run(name, options.run_duration)) for name in batch],
            lambda body: custom.create_namespaced_custom_object(
                "kubedet.io", "v1alpha1", namespace, "trainingruns", body
            ),
            options.create_workers,
        )
        ended = first + len(batch)
        scenarios.wait_count(
            lambda: len(tracker.run_succeeded) + len(tracker.run_failed), ended, options.timeout, "runs ended"
        )
        models = {naming.trained_model_name(name) for name in names[:ended]}

        def models_made(models: set[str] = models) -> int:
            return len(models & tracker.model_created.keys())

        scenarios.wait_count(models_made, len(tracker.run_succeeded), options.timeout, "trained models")
        sample = memory(operator.process.pid)
        waves.append(
            {
                "retained": ended,
                "seconds": round(time.monotonic() - t, 1),
                "succeeded": len(tracker.run_succeeded),
                "failed": len(tracker.run_failed),
                **sample,
            }
        )
        print(
            f"[memory]   {ended} runs ended ({len(tracker.run_failed)} failed) in {waves[-1]['seconds']} s; "
            f"RSS {sample['VmRSS']} MiB, peak {sample['VmHWM']} MiB",
            flush=True,
        )
    return waves, tracker


def snapshot_top(path: Path, limit: int = 25) -> dict[str, Any]:
    """What a tracemalloc snapshot holds: in all, by the line that allocated, and by the innermost
    kubedet or kopf line on the way there (who asked: a JSON string allocated by the decoder and kept
    by an index shows as the decoder's under "line", as the watch's under "caller")."""
    import tracemalloc

    snapshot = tracemalloc.Snapshot.load(str(path))
    site_packages = str(Path(kopf.__file__).parents[1]) + "/"

    def short(filename: str) -> str:
        return filename.replace(site_packages, "").replace(str(ROOT) + "/", "")

    by_caller: dict[str, list[int]] = {}
    for stat in snapshot.statistics("traceback"):
        caller = next(
            (
                f"{short(frame.filename)}:{frame.lineno}"
                for frame in stat.traceback  # innermost first
                if "/kubedet/" in frame.filename or "/kopf/" in frame.filename
            ),
            "(outside kubedet and kopf)",
        )
        sums = by_caller.setdefault(caller, [0, 0])
        sums[0] += stat.size
        sums[1] += stat.count

    def rows(pairs: list[tuple[str, int, int]]) -> list[dict[str, Any]]:
        return [
            {"where": where, "mib": round(size / 1024**2, 2), "blocks": count}
            for where, size, count in sorted(pairs, key=lambda p: -p[1])[:limit]
        ]

    by_line = snapshot.statistics("lineno")
    return {
        "traced_mib": round(sum(s.size for s in by_line) / 1024**2, 1),
        "by_line": rows(
            [(f"{short(s.traceback[0].filename)}:{s.traceback[0].lineno}", s.size, s.count) for s in by_line]
        ),
        "by_caller": rows([(where, size, count) for where, (size, count) in by_caller.items()]),
    }


def dump_snapshot(operator: OperatorProcess, path: Path) -> dict[str, Any]:
    assert operator.process is not None
    path.unlink(missing_ok=True)
    os.kill(operator.process.pid, signal.SIGUSR1)
    wait_for(path.exists, timeout=600, interval=1, message="the operator's tracemalloc snapshot")
    return {"rss_after_dump": memory(operator.process.pid), **snapshot_top(path)}


def derive(report: dict[str, Any], n: int) -> dict[str, Any]:
    idle = report["idle"]["VmRSS"]
    steady, restarted = report["retained_steady"], report["after_restart"]
    peak = max(restarted["VmHWM"], steady["VmHWM"])
    limit = math.ceil(MARGIN * peak / ROUND_MIB) * ROUND_MIB
    return {
        "idle_rss_mib": idle,
        "retained_rss_mib": steady["VmRSS"],
        "retained_peak_mib": steady["VmHWM"],
        "restart_rss_mib": restarted["VmRSS"],
        "restart_peak_mib": restarted["VmHWM"],
        "kib_per_run_steady": round((steady["VmRSS"] - idle) * MIB / n, 1),
        "kib_per_run_after_restart": round((restarted["VmRSS"] - idle) * MIB / n, 1),
        "kib_per_run_peak_after_restart": round((restarted["VmHWM"] - idle) * MIB / n, 1),
        "ratio_retained_to_idle": round(steady["VmRSS"] / idle, 2),
        "ratio_restart_to_idle": round(restarted["VmRSS"] / idle, 2),
        "ratio_restart_peak_to_idle": round(restarted["VmHWM"] / idle, 2),
        "restart_settled": restarted["settled"],
        "restart_seconds_to_first_reconcile": restarted["first_reconcile_seconds"],
        "restart_seconds_to_settle": restarted["seconds"],
        "suggested_limit_mib": limit,
        "suggested_limit_rule": f"{MARGIN} x the larger peak ({peak} MiB), rounded up to {ROUND_MIB} MiB",
    }


def table(report: dict[str, Any]) -> str:
    s, n = report["summary"], report["settings"]["runs"]
    rows = [
        "| | VmRSS MiB | VmHWM (peak) MiB | ratio RSS / idle | KiB per retained run |",
        "|---|---|---|---|---|",
        f"| idle, before any run | {s['idle_rss_mib']} | {report['idle']['VmHWM']} | 1.0 | - |",
        f"| {n} runs retained, settled | {s['retained_rss_mib']} | {s['retained_peak_mib']} | "
        f"{s['ratio_retained_to_idle']} | {s['kib_per_run_steady']} |",
        f"| restarted with {n} retained, settled | {s['restart_rss_mib']} | {s['restart_peak_mib']} | "
        f"{s['ratio_restart_to_idle']} (peak {s['ratio_restart_peak_to_idle']}) | "
        f"{s['kib_per_run_after_restart']} (peak {s['kib_per_run_peak_after_restart']}) |",
    ]
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=10_000, help="finished runs to retain")
    parser.add_argument("--wave", type=int, default=1000, help="runs created at once")
    parser.add_argument("--gpu-nodes", type=int, default=128, help="kwok GPU nodes (8 GPUs each)")
    parser.add_argument("--run-duration", default="2s", help="how long kwok runs each training pod")
    parser.add_argument("--create-workers", type=int, default=16, help="threads creating runs")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds one wave or settling may take")
    parser.add_argument(
        "--restart-timeout",
        type=float,
        default=4 * 3600,
        help="seconds the restarted operator may take to settle (it handles nothing until it has "
        "indexed every object it listed, which grows faster than the objects: see docs/benchmarks.md)",
    )
    parser.add_argument(
        "--quiet", type=float, default=30, help="seconds without a reconcile that count as settled"
    )
    cluster.add_operator_env_argument(parser)
    parser.add_argument(
        "--tracemalloc",
        type=int,
        default=0,
        metavar="FRAMES",
        help="trace the operator's allocations, FRAMES deep (slower, more memory: for finding what "
        "grows, not for the figures), and report the largest sites settled and after the restart",
    )
    parser.add_argument("--down", action="store_true", help="tear the devcluster down at the end")
    parser.add_argument("--label", default="", help="a note stored with the results")
    parser.add_argument("--output", type=Path, help="default: bench/results/memory-<date>.json")
    args = parser.parse_args(argv)
    n = args.runs
    options = scenarios.Options(args.run_duration, args.create_workers, args.timeout)
    env = cluster.operator_env(args.operator_env)

    started = datetime.now(UTC)
    report: dict[str, Any] = {"label": args.label, "started": started.isoformat(), "machine": machine()}
    print(f"[memory] devcluster in {cluster.state_dir()} with {args.gpu_nodes} GPU nodes", flush=True)
    dev = cluster.up(args.gpu_nodes)
    operator: OperatorProcess | None = None
    try:
        install_kubedet_api(dev)
        api = cluster.admin_client(dev, args.create_workers + 8)
        report["versions"] = cluster.versions(api)
        report["settings"] = {
            "runs": n,
            "wave": args.wave,
            "gpu_nodes": args.gpu_nodes,
            "run_duration": args.run_duration,
            "create_workers": args.create_workers,
            "quiet_seconds": args.quiet,
            "restart_timeout_seconds": args.restart_timeout,
            "operator_env": args.operator_env,
            "tracemalloc": args.tracemalloc,
            "command": " ".join(["bench/retained_memory.py", *(argv if argv is not None else sys.argv[1:])]),
        }
        snapshot = dev.kubeconfig.parent / "operator-memory.tracemalloc"
        if args.tracemalloc:
            hook = dev.kubeconfig.parent / "memory-hook"
            hook.mkdir(exist_ok=True)
            (hook / "sitecustomize.py").write_text(TRACEMALLOC_HOOK)
            env = {
                "PYTHONPATH": f"{hook}:{ROOT / 'operator'}:{ROOT / 'trainer_image'}",
                "KUBEDET_BENCH_SNAPSHOT": str(snapshot),
                "KUBEDET_BENCH_TRACEMALLOC_FRAMES": str(args.tracemalloc),
                **env,
            }

        namespace = f"bench-memory-{n}-{uuid.uuid4().hex[:5]}"
        cluster.create_namespace(dev, namespace)
        kubeconfig = install_operator_identity(dev)
        operator, report["first_start_seconds"] = start_operator(dev, kubeconfig, "first", env)
        dev.apply_objects(
            namespace,
            [*objects.claims(namespace), objects.dataset("shapes"), objects.base_model("base")],
        )
        wait_for(
            lambda: scenarios.dataset_ready(dev, namespace), timeout=args.timeout, message="dataset Ready"
        )
        # The baseline: everything loaded and connected, the dataset judged, no run yet.
        report["idle"] = settle(operator, args.quiet, args.timeout)
        print(f"[memory] idle: RSS {report['idle']['VmRSS']} MiB, peak {report['idle']['VmHWM']} MiB")

        print(f"[memory] {n} runs in waves of {args.wave} (namespace {namespace})", flush=True)
        report["waves"], tracker = run_waves(dev, api, operator, namespace, n, args.wave, options)
        tracker.stop()
        report["retained_steady"] = settle(operator, args.quiet, args.timeout)
        print(
            f"[memory] {n} retained, settled: RSS {report['retained_steady']['VmRSS']} MiB, "
            f"peak {report['retained_steady']['VmHWM']} MiB",
            flush=True,
        )

        if args.tracemalloc:
            report["tracemalloc_steady"] = dump_snapshot(operator, snapshot)
        operator.stop()
        t = time.monotonic()
        operator, report["restart_health_seconds"] = start_operator(dev, kubeconfig, "restart", env)
        # A restarted operator reconciles every run it lists (and again for its Job and pod events).
        kinds = {"trainingrun": n, "trainedmodel": len(tracker.run_succeeded)}
        report["after_restart"] = settle(operator, args.quiet, args.restart_timeout, kinds, started=t)
        restarted = report["after_restart"]
        print(
            f"[memory] restarted: first reconcile after {restarted['first_reconcile_seconds']} s, "
            f"settled after {restarted['seconds']} s: "
            f"RSS {restarted['VmRSS']} MiB, peak {restarted['VmHWM']} MiB",
            flush=True,
        )
        if args.tracemalloc:
            report["tracemalloc_restart"] = dump_snapshot(operator, snapshot)
        report["index_payload_per_object"] = index_payload(api, namespace)
        report["summary"] = derive(report, n)
    except Exception as error:
        # An hour of waves is worth keeping even when a later step fails.
        report["error"] = f"{type(error).__name__}: {error}"
        print(f"[memory] failed: {report['error']}", flush=True)
    finally:
        if operator is not None:
            operator.stop()
        if args.down:
            cluster.down()
    output = args.output or ROOT / "bench" / "results" / f"memory-{started.date().isoformat()}.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(report, indent=2) + "\n")
    if "summary" not in report:
        print(f"[memory] partial results in {output}")
        return 1
    print(table(report))
    summary = report["summary"]
    print(
        f"  suggested memory limit: {summary['suggested_limit_mib']} MiB ({summary['suggested_limit_rule']})"
    )
    for kind, sizes in report["index_payload_per_object"].items():
        print(
            f"  {kind}: {sizes['objects']} objects, {sizes['whole_object_kib']} KiB whole, "
            f"{sizes['indexed_kib']} KiB in the indexes (each)"
        )
    for when in ("steady", "restart"):
        traced = report.get(f"tracemalloc_{when}")
        if traced:
            print(f"  tracemalloc, {when}: {traced['traced_mib']} MiB traced; the largest, by caller:")
            for site in traced["by_caller"][:15]:
                print(f"  {site['mib']:8.2f} MiB {site['blocks']:9d} blocks  {site['where']}")
    print(f"[memory] results in {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
