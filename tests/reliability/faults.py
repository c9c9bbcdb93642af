"""Fault injection and bookkeeping for the reliability tests: the devcluster script, operator replicas,
a census of what each run left behind, and the operator's CPU time."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.devcluster import ROOT, Devcluster, wait_for
from tests.integration.operator_helpers import items
from tests.operator_process import OperatorProcess

SOAK = os.environ.get("KUBEDET_SOAK") == "1"
"""`make soak` sets it: more runs, more kills, the slow faults."""


def devcluster_script(*args: str, timeout: float = 180) -> None:
    """Run hack/devcluster/devcluster.py with this process's environment, so DEVCLUSTER_DIR and the
    DEVCLUSTER_*_PORT variables pick the same cluster the tests use (the default one in CI)."""
    command = [sys.executable, str(ROOT / "hack" / "devcluster" / "devcluster.py")]
    result = subprocess.run([*command, *args], timeout=timeout, capture_output=True, text=True)
    if result.returncode == 0:
        return
    output = result.stdout + result.stderr
    if "exited while waiting" in output:
        # devcluster.py can read /proc/PID/cmdline of a component it just spawned before the exec,
        # take it for another program and report it exited while it is in fact starting; `up` is
        # idempotent and waits for the same readiness.
        subprocess.run([*command, "up"], timeout=timeout, capture_output=True, text=True, check=True)
        return
    raise AssertionError(f"devcluster.py {' '.join(args)} failed ({result.returncode}): {output[-2000:]}")


def apiserver_ready(cluster: Devcluster) -> bool:
    return cluster.kubectl("get", "--raw", "/readyz", check=False, timeout=5).returncode == 0


def restore_cluster(cluster: Devcluster) -> None:
    """Every component running, nodes Ready, /readyz answering: what later tests expect."""
    devcluster_script("up")
    wait_for(lambda: apiserver_ready(cluster), timeout=90, message="kube-apiserver /readyz")


@dataclass
class Replica(OperatorProcess):
    """An operator process with extra command-line arguments (OperatorProcess runs the default ones)."""

    args: list[str] = field(default_factory=list)

    def start(self) -> None:
        from tests.operator_process import free_port

        self.health_port, self.metrics_port = free_port(), free_port()
        env = {
            **os.environ,
            "KUBECONFIG": str(self.kubeconfig),
            "KUBEDET_METRICS_PORT": str(self.metrics_port),
            "PYTHONPATH": f"{ROOT / 'operator'}:{ROOT / 'trainer_image'}",
            **self.env,
        }
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "kubedet",
                    f"--liveness=http://127.0.0.1:{self.health_port}/healthz",
                    *self.args,
                ],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        wait_for(self.healthy, timeout=60, message="the replica's health endpoint")


def metric(text: str, name: str, labels: str = "") -> float:
    """The value of one sample in Prometheus text format (0 when absent)."""
    pattern = re.compile(rf"^{re.escape(name)}{re.escape(labels)}\s+([0-9.e+-]+)$", re.MULTILINE)
    found = pattern.search(text)
    return float(found.group(1)) if found else 0.0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, all threads (/proc/PID/stat fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def idle_cpu_rate(pid: int, window: float = 8.0) -> float:
    """CPU seconds per second the process uses over `window` seconds of (expected) quiet."""
    before, started = cpu_seconds(pid), time.monotonic()
    deadline = started + window
    while time.monotonic() < deadline:  # bounded: a measurement window, polled for the process's life
        os.kill(pid, 0)
        time.sleep(0.5)
    return (cpu_seconds(pid) - before) / (time.monotonic() - started)


@dataclass
class Census:
    """What exists in a namespace, per run: the objects that must never be duplicated or lost."""

    phases: dict[str, str]
    jobs: Counter[str]
    models: Counter[str]
    error_configmaps: Counter[str]

    def problems(self, expected: dict[str, str]) -> list[str]:
        """Every deviation from `expected` (run -> final phase); empty when all is well."""
        found = []
        for run, phase in expected.items():
            if self.phases.get(run) != phase:
                found.append(f"{run}: phase {self.phases.get(run)!r}, expected {phase}")
            if self.jobs[run] != 1:
                found.append(f"{run}: {self.jobs[run]} Jobs")
            if phase == "Succeeded" and self.models[run] != 1:
                found.append(f"{run}: {self.models[run]} TrainedModels")
            if phase == "Failed" and self.error_configmaps[run] != 1:
                found.append(f"{run}: {self.error_configmaps[run]} error ConfigMaps")
            if self.error_configmaps[run] > 1 or (phase == "Succeeded" and self.error_configmaps[run]):
                found.append(f"{run}: {self.error_configmaps[run]} error ConfigMaps on a {phase} run")
        return found


def _by_run(objects: list[dict[str, Any]]) -> Counter[str]:
    return Counter(o["metadata"].get("labels", {}).get("kubedet.io/training-run", "") for o in objects)


def census(cluster: Devcluster, namespace: str) -> Census:
    runs = items(cluster, namespace, "trainingruns", "")
    configmaps = items(cluster, namespace, "configmaps", "kubedet.io/training-run")
    return Census(
        phases={r["metadata"]["name"]: (r.get("status") or {}).get("phase", "") for r in runs},
        jobs=_by_run(items(cluster, namespace, "jobs", "kubedet.io/component=trainer")),
        models=_by_run(items(cluster, namespace, "trainedmodels", "kubedet.io/training-run")),
        error_configmaps=_by_run([c for c in configmaps if c["metadata"]["name"].endswith("-error")]),
    )


TERMINAL = ("Succeeded", "Failed")
JOB_ENDED = ("Complete", "SuccessCriteriaMet", "Failed", "FailureTarget")
KILL_STATES = ("no_job", "job_running", "job_done", "finished", "changing")
"""Where a run stands when the operator is killed (see `at_kill`); the first three are unfinished work."""


@dataclass(frozen=True)
class Snapshot:
    """Each run's phase and, for the runs that have a Job, whether that Job has ended. Read through the
    API client in two list calls (tens of milliseconds, where a kubectl process takes hundreds), the
    Jobs first: a run read unfinished after its Job was read ended was in `job_done` at that moment."""

    phases: dict[str, str]
    job_ended: dict[str, bool]
    """run -> its Job reached Complete/Failed (or is about to); a run without a Job is absent."""

    def count(self, state: str) -> int:
        """How many unfinished runs are in `state`: no_job, job_running or job_done."""
        runs = [r for r, phase in self.phases.items() if phase not in TERMINAL]
        if state == "no_job":
            return sum(r not in self.job_ended for r in runs)
        if state == "job_running":
            return sum(self.job_ended.get(r) is False for r in runs)
        if state == "job_done":
            return sum(self.job_ended.get(r) is True for r in runs)
        raise ValueError(state)

    def progress(self) -> int:
        """Jobs created plus runs finished: grows with every step the operator takes."""
        return len(self.job_ended) + sum(p in TERMINAL for p in self.phases.values())


def _job_ended(job: dict[str, Any]) -> bool:
    conditions = (job.get("status") or {}).get("conditions") or []
    return any(c.get("type") in JOB_ENDED and c.get("status") == "True" for c in conditions)


def _job_run(job: dict[str, Any]) -> str:
    return str((job["metadata"].get("labels") or {}).get("kubedet.io/training-run", ""))


def snapshot(api: Any, namespace: str) -> Snapshot:
    from kubernetes import client

    # Raw JSON: the client's model deserialisation costs milliseconds per object.
    jobs = client.BatchV1Api(api).list_namespaced_job(
        namespace, label_selector="kubedet.io/component=trainer", _preload_content=False
    )
    runs = client.CustomObjectsApi(api).list_namespaced_custom_object(
        "kubedet.io", "v1alpha1", namespace, "trainingruns", _preload_content=False
    )
    return Snapshot(
        phases={
            r["metadata"]["name"]: (r.get("status") or {}).get("phase", "")
            for r in json.loads(runs.data)["items"]
        },
        job_ended={_job_run(job): _job_ended(job) for job in json.loads(jobs.data)["items"]},
    )


def wait_for_job_end(api: Any, namespace: str, timeout: int = 60) -> Snapshot:
    """Watch the trainer Jobs until one is seen ending (it was running), and return a snapshot for
    `at_kill`: the run phases read before the watch began, the Jobs as the watch last showed them.

    A watch delivers the change within milliseconds; the operator records an outcome only after
    kopf's batch window (0.1 s) on the Job's or its pod's last event, so a kill right now lands
    before it (a polled list of every Job is too slow for that on a loaded 2-core machine)."""
    from kubernetes import client, watch

    phases = snapshot(api, namespace).phases
    batch = client.BatchV1Api(api)
    selector = "kubedet.io/component=trainer"
    listed = json.loads(
        batch.list_namespaced_job(namespace, label_selector=selector, _preload_content=False).data
    )
    ended = {_job_run(job): _job_ended(job) for job in listed["items"]}
    jobs = watch.Watch()
    for event in jobs.stream(
        batch.list_namespaced_job,
        namespace,
        label_selector=selector,
        resource_version=listed["metadata"]["resourceVersion"],
        timeout_seconds=timeout,
    ):
        job = event["raw_object"]
        run, now = _job_run(job), _job_ended(job)
        if now and ended.get(run) is False:
            jobs.stop()
            return Snapshot(phases=phases, job_ended={**ended, run: True})
        ended[run] = now
    raise TimeoutError(f"no Job ended within {timeout}s")


def at_kill(before: Snapshot, after: Snapshot) -> dict[str, int]:
    """How many runs stood in each of KILL_STATES when the operator was SIGKILLed, from a snapshot
    read before the kill and one read just after it (before the restart).

    Only the operator creates Jobs and writes run phases, so once it is dead those are frozen: a run
    with no Job after the kill had none at it, a run unfinished after the kill was unfinished at it.
    Jobs go on without the operator, so a Job counts as running at the kill only if it still runs
    after it, and as ended only if it had ended before it. A run that moved between the two reads
    (a Job created, a Job ending, a run finished; a request the operator sent just before it died
    lands within milliseconds) is `changing` and counts for none of the states."""
    states = dict.fromkeys(KILL_STATES, 0)
    for run, phase in after.phases.items():
        if before.phases.get(run) in TERMINAL:
            state = "finished"
        elif phase in TERMINAL:
            state = "changing"
        elif run not in after.job_ended:
            state = "no_job"
        elif before.job_ended.get(run) is False and after.job_ended[run] is False:
            state = "job_running"
        elif before.job_ended.get(run) is True:
            state = "job_done"
        else:
            state = "changing"
        states[state] += 1
    return states


def leftovers(cluster: Devcluster, namespace: str) -> list[str]:
    """Objects the operator made for runs that still exist after every run is gone."""
    kinds = "jobs,pods,configmaps,services,serviceaccounts,roles,rolebindings,trainedmodels"
    out = cluster.kubectl("get", kinds, "-n", namespace, "-l", "kubedet.io/training-run", "-o", "name")
    return [line for line in out.stdout.split() if line]
