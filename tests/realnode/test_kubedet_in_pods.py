"""kubedet as a user's cluster runs it, on the devcluster's real node: the operator as its Deployment
(from the image `make images` built), and what kwok only pretends elsewhere done by a kubelet: a
dataset's preflight pod, a real RTMDet-tiny training in the run's Job (downward API run spec, read-only
root filesystem, progress through the pod's own token, the termination message), a real OOM kill, and
the cleanup Job removing a deleted run's artifacts from the volume.
"""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest
from tests.devcluster import ROOT, Devcluster, wait_for
from tests.realnode.in_cluster import (
    PIPES,
    SYSTEM,
    apply,
    assert_statistics_add_up,
    demo,
    get,
    host_path,
    items,
    models_of,
    started_events,
    wait_run,
)

from kubedet.api.runspec import TERMINATION_MESSAGE_LIMIT, TrainerResult, parse_termination_message

pytestmark = pytest.mark.realnode


def test_the_operator_runs_from_its_image_on_the_real_node(
    devcluster: Devcluster, deployed_operator: str
) -> None:
    node = json.loads(devcluster.kubectl("get", "node", deployed_operator, "-o", "json").stdout)
    assert node["metadata"]["labels"].get(demo.REAL_NODE_LABEL) == "true", "a kwok node would only pretend"
    (pod,) = items(devcluster, SYSTEM, "pods", "app.kubernetes.io/component=operator")
    assert pod["spec"]["serviceAccountName"] == "kubedet-operator"
    assert all(c["ready"] for c in pod["status"]["containerStatuses"]), "probes answer in the pod"
    logs = devcluster.kubectl("logs", "-n", SYSTEM, "deploy/kubedet-operator", "--tail=20").stdout
    assert logs.strip() and all(json.loads(line) for line in logs.splitlines()), "JSON log lines"
    metrics = devcluster.kubectl(
        "get",
        "--raw",
        f"/api/v1/namespaces/{SYSTEM}/services/http:kubedet-operator-metrics:metrics/proxy/metrics",
    ).stdout
    assert "kubedet_" in metrics


def test_the_preflight_ran_in_a_real_pod_and_counted_the_files(devcluster: Devcluster, data_ns: str) -> None:
    dataset = get(devcluster, data_ns, "dataset", "shapes")
    assert dataset["status"]["images"] == demo.IMAGES, dataset["status"]
    assert dataset["status"]["annotations"] > demo.IMAGES, "every synthetic image has at least one shape"
    (pod,) = items(devcluster, data_ns, "pods", "kubedet.io/component=preflight,kubedet.io/dataset=shapes")
    assert pod["spec"]["nodeName"].startswith("real-node-"), "the helper placement setting put it there"
    assert pod["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 0


def test_a_cpu_run_trains_for_real_and_reports_through_its_token(
    devcluster: Devcluster, data_ns: str
) -> None:
    run = demo.training_run("tiny", "shapes", 2)
    run["spec"]["hyperparameters"]["valInterval"] = 1
    apply(devcluster, data_ns, [run])
    # The kubectl plugin following the live run: its status until it ends, its pod's log as it is written.
    cli = [
        str(ROOT / ".venv" / "bin" / "kubectl-kubedet"),
        f"--kubeconfig={devcluster.kubeconfig}",
        "-n",
        data_ns,
    ]
    watching = subprocess.Popen([*cli[:1], "status", "tiny", "--watch", "--timeout=600", *cli[1:]], **PIPES)
    following = subprocess.Popen([*cli[:1], "logs", "tiny", "-f", "--timeout=600", *cli[1:]], **PIPES)
    epochs_seen: set[int] = set()

    def finished() -> bool:
        status = get(devcluster, data_ns, "trainingrun", "tiny").get("status") or {}
        if (status.get("progress") or {}).get("epoch"):
            epochs_seen.add(status["progress"]["epoch"])
        return status.get("phase") in ("Succeeded", "Failed")

    wait_for(finished, timeout=600, interval=1, message="the real training to finish")
    body = get(devcluster, data_ns, "trainingrun", "tiny")
    assert body["status"]["phase"] == "Succeeded", body["status"]
    assert epochs_seen, "the trainer patched progress into the run's status while it trained"
    (pod,) = items(devcluster, data_ns, "pods", "kubedet.io/training-run=tiny,kubedet.io/component=trainer")
    assert pod["spec"]["nodeName"].startswith("real-node-")
    container = pod["spec"]["containers"][0]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert any("downwardAPI" in v for v in pod["spec"]["volumes"]), (
        "the run spec reaches the pod by the downward API"
    )
    # The kubelet cuts a termination message at 4096 bytes: the result must arrive whole, and parse.
    message = pod["status"]["containerStatuses"][0]["state"]["terminated"]["message"]
    assert len(message.encode()) < TERMINATION_MESSAGE_LIMIT
    assert isinstance(parse_termination_message(message), TrainerResult), message
    status_lines, _ = watching.communicate(timeout=120)
    log_lines, _ = following.communicate(timeout=120)
    assert watching.returncode == 0 and "Succeeded" in status_lines, status_lines[-2000:]
    assert following.returncode == 0, log_lines[-2000:]
    prefix = f"[rank 0 attempt 1 {pod['metadata']['name']}]"
    assert any(line.startswith(prefix) and '"kind":"progress"' in line for line in log_lines.splitlines())
    model = get(devcluster, data_ns, "trainedmodel", body["status"]["trainedModelRef"]["name"])
    metrics = model["status"]["metrics"]
    # Two epochs from random weights may find nothing yet (mAP 0): the numbers are COCO's, whatever they are.
    assert 0 <= metrics["bboxMAP"] <= 1, metrics
    assert model["spec"]["baseModelRef"]["name"] == "rtmdet-tiny-random"
    checkpoint = host_path(devcluster, data_ns, model["spec"]["checkpoint"]["uri"])
    assert checkpoint.is_file() and checkpoint.stat().st_size > 1_000_000, checkpoint


def test_a_run_whose_memory_limit_is_too_small_fails_as_out_of_memory(
    devcluster: Devcluster, data_ns: str
) -> None:
    run = demo.training_run("starved", "shapes", 1, backoffLimit=0)
    run["spec"]["resources"]["memory"] = "200Mi"  # torch alone needs more to import
    apply(devcluster, data_ns, [run])
    body = wait_run(devcluster, data_ns, "starved", {"Failed", "Succeeded"}, timeout=240)
    failed = next(c for c in body["status"]["conditions"] if c["type"] == "Failed")
    assert failed["reason"] == "OutOfMemory", failed
    assert "resources.memory" in failed["message"], "the message says what to raise"
    (pod,) = items(
        devcluster, data_ns, "pods", "kubedet.io/training-run=starved,kubedet.io/component=trainer"
    )
    assert pod["status"]["containerStatuses"][0]["state"]["terminated"]["reason"] == "OOMKilled"


def test_deleting_a_finished_run_removes_its_artifacts_through_the_cleanup_job(
    devcluster: Devcluster, data_ns: str
) -> None:
    body = get(devcluster, data_ns, "trainingrun", "tiny")
    model = get(devcluster, data_ns, "trainedmodel", body["status"]["trainedModelRef"]["name"])
    artifacts = host_path(devcluster, data_ns, model["spec"]["checkpoint"]["uri"]).parent
    assert artifacts.is_dir()
    devcluster.kubectl("delete", "trainingrun", "tiny", "-n", data_ns, "--timeout=180s", timeout=200)
    assert not artifacts.exists(), f"{artifacts} left behind"
    # The operator deletes the cleanup Job (and so its pod) once it is done; the scheduler's Events stay.
    events = json.loads(
        devcluster.kubectl(
            "get", "events", "-n", data_ns, "--field-selector=reason=Scheduled", "-o", "json"
        ).stdout
    )["items"]
    placed = [e["message"] for e in events if e["involvedObject"]["name"].startswith("tiny-cleanup")]
    assert placed and all("real-node-" in m for m in placed), placed


# Run inside a training pod: PATCH the progress of each named run with the pod's own bound token, as the
# trainer does; print {run: [HTTP status, message]}.
PATCH_PROGRESS = """
import json, os, ssl, sys, urllib.error, urllib.request
sa = "/var/run/secrets/kubernetes.io/serviceaccount"
token, namespace = open(sa + "/token").read(), open(sa + "/namespace").read()
context = ssl.create_default_context(cafile=sa + "/ca.crt")
api = "https://%s:%s" % (os.environ["KUBERNETES_SERVICE_HOST"], os.environ["KUBERNETES_SERVICE_PORT"])
answers = {}
for run in sys.argv[1:]:
    request = urllib.request.Request(
        api + "/apis/kubedet.io/v1alpha1/namespaces/%s/trainingruns/%s/status" % (namespace, run),
        data=json.dumps({"status": {"progress": {"epoch": 1}}}).encode(),
        method="PATCH",
        headers={"Authorization": "Bearer " + token, "Content-Type": "application/merge-patch+json"},
    )
    try:
        answers[run] = [urllib.request.urlopen(request, context=context).status, ""]
    except urllib.error.HTTPError as error:
        answers[run] = [error.code, error.read().decode()[:400]]
print(json.dumps(answers))
"""


def test_an_evicted_training_resumes_and_a_replaced_operator_loses_nothing(
    devcluster: Devcluster, data_ns: str
) -> None:
    # backoffLimit 0: had the eviction been counted as the run's failure, the run would fail.
    # Long enough (about 3 s an epoch here) to be evicted, and replaced, mid-training.
    run = demo.training_run("resilient", "shapes", 20, backoffLimit=0)
    run["spec"]["hyperparameters"]["valInterval"] = 1
    apply(devcluster, data_ns, [run])
    uid = get(devcluster, data_ns, "trainingrun", "resilient")["metadata"]["uid"]
    store = host_path(devcluster, data_ns, f"pvc://kubedet-artifacts/{data_ns}")
    selector = "kubedet.io/training-run=resilient,kubedet.io/component=trainer"

    def mirrored_epoch() -> int:
        states = list(store.glob(f"resilient-{uid[:8]}*/_resume/state.json"))
        if not states:
            return 0
        return max((int(e) for e in json.loads(states[0].read_text()).get("history", {})), default=0)

    wait_for(
        lambda: mirrored_epoch() >= 2, timeout=420, interval=0.5, message="two epochs mirrored for resuming"
    )
    saved = mirrored_epoch()
    (first,) = items(devcluster, data_ns, "pods", selector)
    devcluster.evict(data_ns, first["metadata"]["name"])
    # The operator's pod goes too (the Deployment makes a new one) while its run is between pods.
    devcluster.kubectl(
        "delete", "pod", "-n", SYSTEM, "-l", "app.kubernetes.io/component=operator", "--wait=false"
    )

    def replacement() -> dict[str, Any] | None:
        running = [
            p
            for p in items(devcluster, data_ns, "pods", selector)
            if p["metadata"]["name"] != first["metadata"]["name"] and p["status"].get("phase") == "Running"
        ]
        return running[0] if running else None

    second = wait_for(replacement, timeout=180, interval=1, message="the Job's next pod running")
    # Its bound token reports progress for its own run and is refused, by the admission policy, for
    # another run of the namespace.
    exec_ = ["exec", "-n", data_ns, second["metadata"]["name"], "--", "python", "-c", PATCH_PROGRESS]
    answers = json.loads(devcluster.kubectl(*exec_, "resilient", "starved").stdout)
    assert answers["resilient"][0] == 200, answers
    assert (
        answers["starved"][0] == 403
        and "may report the progress of its own run only" in answers["starved"][1]
    )
    body = wait_run(devcluster, data_ns, "resilient", {"Succeeded", "Failed"}, timeout=600)
    assert body["status"]["phase"] == "Succeeded", body["status"]
    pods = items(
        devcluster, data_ns, "pods", "kubedet.io/training-run=resilient,kubedet.io/component=trainer"
    )
    # An eviction deletes the pod: the Job made the second one, and no third.
    assert [p["metadata"]["name"] for p in pods] == [second["metadata"]["name"]]
    log = devcluster.kubectl("logs", "-n", data_ns, second["metadata"]["name"]).stdout
    started = started_events(log)
    assert started and started[0].get("resumedFromEpoch") is not None, log[-2000:]
    assert started[0]["resumedFromEpoch"] >= saved, "no mirrored epoch is trained twice"
    jobs = items(
        devcluster, data_ns, "jobs", "kubedet.io/training-run=resilient,kubedet.io/component=trainer"
    )
    models = models_of(devcluster, data_ns, "resilient")
    assert len(jobs) == 1 and len(models) == 1, "nothing duplicated by the replaced operator"
    assert models[0]["status"]["statistics"]["epochs"] == 20
    # Deleted: the operator's pod went at the same time, its successor may never have seen the eviction.
    attempts = assert_statistics_add_up(body["status"], models[0], {"Evicted", "Deleted"}, saved)
    assert attempts[0]["podName"] == first["metadata"]["name"]
    assert attempts[1]["podName"] == second["metadata"]["name"]
    devcluster.kubectl(
        "rollout", "status", "deployment/kubedet-operator", "-n", SYSTEM, "--timeout=120s", timeout=140
    )


def test_a_two_node_run_meets_at_its_rendezvous_and_trains_one_model(
    devcluster: Devcluster, data_ns: str
) -> None:
    """nodes: 2 as two pods on the real node: each starts its rank under torch.distributed.run, they meet
    at pod 0 through the headless Service's DNS name (the devcluster's CoreDNS), gloo carries the
    gradients, and rank 0 publishes the one model."""
    run = demo.training_run("pair", "shapes", 2, backoffLimit=0)
    run["spec"]["hyperparameters"]["valInterval"] = 1
    run["spec"]["resources"].update({"nodes": 2, "cpu": "800m", "memory": "4Gi"})
    apply(devcluster, data_ns, [run])
    body = wait_run(devcluster, data_ns, "pair", {"Succeeded", "Failed"}, timeout=600)
    pods = items(devcluster, data_ns, "pods", "kubedet.io/training-run=pair,kubedet.io/component=trainer")
    logs = {
        p["metadata"]["name"]: devcluster.kubectl("logs", "-n", data_ns, p["metadata"]["name"]).stdout
        for p in pods
    }
    assert body["status"]["phase"] == "Succeeded", (body["status"], {k: v[-1500:] for k, v in logs.items()})
    assert sorted(p["metadata"]["annotations"]["batch.kubernetes.io/job-completion-index"] for p in pods) == [
        "0",
        "1",
    ]
    for name, log in logs.items():
        # Written by the config generator only when WORLD_SIZE > 1: each pod is a rank of one group.
        assert "CPU ranks: SyncBN layers train as BN" in log, (name, log[-1500:])
    results = [
        p["status"]["containerStatuses"][0]["state"]["terminated"].get("message", "")
        for p in pods
        if '"kind":"result"' in p["status"]["containerStatuses"][0]["state"]["terminated"].get("message", "")
    ]
    assert len(results) == 1, "rank 0 alone publishes"
    model = get(devcluster, data_ns, "trainedmodel", body["status"]["trainedModelRef"]["name"])
    assert model["status"]["statistics"]["epochs"] == 2
    service = get(devcluster, data_ns, "service", "pair-workers")
    assert service["spec"]["clusterIP"] == "None"
