#!/usr/bin/env python3
"""devcluster: a real Kubernetes control plane on this machine, real nodes, and kwok simulating GPU nodes.

    devcluster.py up [--gpu-nodes N] [--cpu-nodes M] [--real-nodes R]
                                                         start (idempotent) and print the KUBECONFIG line
    devcluster.py down                                   stop everything and remove the state
    devcluster.py status                                 which components run
    devcluster.py kueue                                  build and start Kueue on the running cluster
    devcluster.py kubeflow                               build and start JobSet and Kubeflow Trainer
    devcluster.py restart COMPONENT                      stop and start one component (fault tests)
    devcluster.py stop COMPONENT / start COMPONENT

Components: etcd, kube-apiserver, kube-controller-manager, kube-scheduler and the kwok controller, and
for each real node containerd and kubelet (one kube-proxy for all: realnodes.py), built from upstream
sources by hack/devcluster/build.sh into bin/. State (PKI, etcd data, logs, pids)
lives in .devcluster/ (DEVCLUSTER_DIR overrides it). Standard library only, so it runs before any
virtual environment exists.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import signal
import ssl
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import controllers
import realnodes

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
BIN = Path(os.environ.get("BIN_DIR", ROOT / "bin"))
STATE = Path(os.environ.get("DEVCLUSTER_DIR", ROOT / ".devcluster"))
PKI = STATE / "pki"
LOGS = STATE / "logs"
PIDS = STATE / "pids"
KUBECONFIG = STATE / "kubeconfig"

PORTS = {
    "etcd": int(os.environ.get("DEVCLUSTER_ETCD_PORT", "23790")),
    "etcd-peer": int(os.environ.get("DEVCLUSTER_ETCD_PEER_PORT", "23800")),
    "kube-apiserver": int(os.environ.get("DEVCLUSTER_APISERVER_PORT", "26443")),
    "kube-controller-manager": int(os.environ.get("DEVCLUSTER_KCM_PORT", "26257")),
    "kube-scheduler": int(os.environ.get("DEVCLUSTER_SCHEDULER_PORT", "26259")),
    "kwok": int(os.environ.get("DEVCLUSTER_KWOK_PORT", "26250")),
    # Kueue's, JobSet's and Kubeflow Trainer's webhooks and health endpoints, from here on. Below the
    # ephemeral port range (32768 and up): a client's outgoing connection once held a port there.
    "controllers": int(os.environ.get("DEVCLUSTER_CONTROLLERS_PORT", "26900")),
}
CONTROL_PLANE = ["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"]
SERVICE_CIDR = realnodes.SERVICE_CIDR
REAL_NODES_FILE = STATE / "real-nodes"
# One file per started controller of the field's (Kueue, JobSet, Kubeflow Trainer): part of the cluster
# from then on (status, down).
ENABLED = STATE / "controllers"
LAYOUT = realnodes.Layout(
    state=STATE,
    pki=PKI,
    bin=BIN,
    logs=LOGS,
    apiserver_port=PORTS["kube-apiserver"],
    healthz_base_port=int(os.environ.get("DEVCLUSTER_NODE_HEALTHZ_PORT", "26300")),
)
PAUSE_ARCHIVE = ROOT / ".cache" / "images" / "oci" / "kubedet-pause_1.tar"
PAUSE_IMAGE = "localhost/kubedet-pause:1"


def real_nodes() -> int:
    """How many real nodes this devcluster was started with (recorded by `up`)."""
    try:
        return int(REAL_NODES_FILE.read_text())
    except (FileNotFoundError, ValueError):
        return 0


def components() -> list[str]:
    return (
        CONTROL_PLANE
        + realnodes.component_names(real_nodes())
        + [name for name in controllers.CONTROLLERS if (ENABLED / name).exists()]
    )


# Identities in the static token file. Test users are not listed: tests impersonate them as admin.
TOKENS = {
    "admin": ("admin", ["system:masters"]),
    "kube-controller-manager": ("system:kube-controller-manager", []),
    "kube-scheduler": ("system:kube-scheduler", []),
    "kwok": ("kwok-controller", ["system:masters"]),
}


def log(message: str) -> None:
    print(f"[devcluster {time.strftime('%H:%M:%S')}] {message}", flush=True)


def run(*args: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, check=True, text=True, capture_output=True, **kwargs)  # type: ignore[call-overload]


# --- PKI ---------------------------------------------------------------------------------------------


def ensure_pki() -> None:
    if (PKI / "done").exists():
        return
    PKI.mkdir(parents=True, exist_ok=True)
    ca_key, ca_crt = PKI / "ca.key", PKI / "ca.crt"
    run(
        "openssl",
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        str(ca_key),
        "-out",
        str(ca_crt),
        "-days",
        "3650",
        "-subj",
        "/CN=devcluster-ca",
    )
    sans = ",".join(
        [
            "IP:127.0.0.1",
            "IP:10.96.0.1",
            f"IP:{realnodes.API_ADDRESS}",
            "DNS:localhost",
            "DNS:kubernetes",
            "DNS:kubernetes.default",
            "DNS:kubernetes.default.svc",
            "DNS:kubernetes.default.svc.cluster.local",
        ]
    )
    run(
        "openssl",
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        str(PKI / "apiserver.key"),
        "-out",
        str(PKI / "apiserver.crt"),
        "-days",
        "3650",
        "-subj",
        "/CN=kube-apiserver",
        "-CA",
        str(ca_crt),
        "-CAkey",
        str(ca_key),
        "-addext",
        f"subjectAltName={sans}",
    )
    run("openssl", "genrsa", "-out", str(PKI / "sa.key"), "2048")
    run("openssl", "rsa", "-in", str(PKI / "sa.key"), "-pubout", "-out", str(PKI / "sa.pub"))
    lines = []
    for component, (user, groups) in TOKENS.items():
        token = os.urandom(16).hex()
        (PKI / f"{component}.token").write_text(token)
        lines.append(f'{token},{user},{user},"{",".join(groups)}"')
    (PKI / "tokens.csv").write_text("\n".join(lines) + "\n")
    (PKI / "done").write_text("ok")


def write_kubeconfig(path: Path, component: str) -> None:
    server = f"https://127.0.0.1:{PORTS['kube-apiserver']}"
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "devcluster",
                "cluster": {"server": server, "certificate-authority": str(PKI / "ca.crt")},
            }
        ],
        "users": [{"name": component, "user": {"token": (PKI / f"{component}.token").read_text()}}],
        "contexts": [{"name": "devcluster", "context": {"cluster": "devcluster", "user": component}}],
        "current-context": "devcluster",
    }
    path.write_text(json.dumps(config, indent=2))
    path.chmod(0o600)


# --- processes ---------------------------------------------------------------------------------------


def component_args(name: str) -> list[str]:
    p = PORTS
    if name == "etcd":
        return [
            str(BIN / "etcd"),
            "--name=devcluster",
            f"--data-dir={STATE / 'etcd-data'}",
            f"--listen-client-urls=http://127.0.0.1:{p['etcd']}",
            f"--advertise-client-urls=http://127.0.0.1:{p['etcd']}",
            f"--listen-peer-urls=http://127.0.0.1:{p['etcd-peer']}",
            f"--initial-advertise-peer-urls=http://127.0.0.1:{p['etcd-peer']}",
            f"--initial-cluster=devcluster=http://127.0.0.1:{p['etcd-peer']}",
            # A throwaway test cluster: durability is not worth an fsync per write.
            "--unsafe-no-fsync",
            "--quota-backend-bytes=4294967296",
            "--log-level=warn",
        ]
    if name == "kube-apiserver":
        real = real_nodes() > 0
        return [
            str(BIN / "kube-apiserver"),
            f"--etcd-servers=http://127.0.0.1:{p['etcd']}",
            # With real nodes, pods reach it on the devcluster's bridge (the `kubernetes` Service's
            # endpoint) and this machine's clients on loopback, so it listens on both; without, loopback.
            f"--bind-address={'0.0.0.0' if real else '127.0.0.1'}",
            f"--advertise-address={realnodes.API_ADDRESS if real else '127.0.0.1'}",
            f"--secure-port={p['kube-apiserver']}",
            # Loopback cannot be an endpoint of the kubernetes Service, and without real nodes no pod
            # needs one.
            f"--endpoint-reconciler-type={'lease' if real else 'none'}",
            f"--kubelet-client-certificate={PKI / 'apiserver-kubelet-client.crt'}",
            f"--kubelet-client-key={PKI / 'apiserver-kubelet-client.key'}",
            f"--kubelet-certificate-authority={PKI / 'ca.crt'}",
            "--kubelet-preferred-address-types=InternalIP",
            f"--tls-cert-file={PKI / 'apiserver.crt'}",
            f"--tls-private-key-file={PKI / 'apiserver.key'}",
            f"--client-ca-file={PKI / 'ca.crt'}",
            f"--token-auth-file={PKI / 'tokens.csv'}",
            # Node, as kubeadm does: a kubelet reads only what its own pods need.
            "--authorization-mode=Node,RBAC",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={PKI / 'sa.pub'}",
            f"--service-account-signing-key-file={PKI / 'sa.key'}",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            # PodSecurity, ServiceAccount and ValidatingAdmissionPolicy are on by default. Added:
            # ExtendedResourceToleration, as clouds do for GPU nodes (pods asking for nvidia.com/gpu get
            # the matching toleration); OwnerReferencesPermissionEnforcement, on in OpenShift: an
            # ownerReference with blockOwnerDeletion needs `update` on the owner's finalizers.
            # NodeRestriction, as kubeadm does: a kubelet writes only its own Node and pods.
            "--enable-admission-plugins=ExtendedResourceToleration,OwnerReferencesPermissionEnforcement,"
            "NodeRestriction",
            "--allow-privileged=true",
            # Benchmarks create thousands of objects at once; the defaults (400/200) throttle them.
            "--max-requests-inflight=1000",
            "--max-mutating-requests-inflight=500",
            "--profiling=false",
            "--event-ttl=2h",
            # Webhooks and aggregated APIs are dialled at their Service's endpoints, not its ClusterIP:
            # add-ons that serve their webhooks from this machine (Kueue) need no kube-proxy.
            "--enable-aggregator-routing=true",
        ]
    if name == "kube-controller-manager":
        return [
            str(BIN / "kube-controller-manager"),
            f"--kubeconfig={STATE / 'kube-controller-manager.kubeconfig'}",
            f"--authentication-kubeconfig={STATE / 'kube-controller-manager.kubeconfig'}",
            f"--authorization-kubeconfig={STATE / 'kube-controller-manager.kubeconfig'}",
            f"--service-account-private-key-file={PKI / 'sa.key'}",
            f"--root-ca-file={PKI / 'ca.crt'}",
            "--use-service-account-credentials=true",
            "--leader-elect=false",
            "--bind-address=127.0.0.1",
            f"--secure-port={p['kube-controller-manager']}",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            # Benchmarks drive thousands of Jobs; the default client rate (20 qps) would be the bottleneck.
            "--kube-api-qps=300",
            "--kube-api-burst=600",
            "--concurrent-job-syncs=20",
            "--concurrent-gc-syncs=40",
        ]
    if name == "kube-scheduler":
        return [
            str(BIN / "kube-scheduler"),
            f"--kubeconfig={STATE / 'kube-scheduler.kubeconfig'}",
            f"--authentication-kubeconfig={STATE / 'kube-scheduler.kubeconfig'}",
            f"--authorization-kubeconfig={STATE / 'kube-scheduler.kubeconfig'}",
            "--leader-elect=false",
            "--bind-address=127.0.0.1",
            f"--secure-port={p['kube-scheduler']}",
        ]
    if name == "kwok":
        return [
            str(BIN / "kwok"),
            f"--kubeconfig={STATE / 'kwok.kubeconfig'}",
            f"--config={HERE / 'stages.yaml'}",
            # Only its own nodes: the real nodes have kubelets.
            "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
            # Nodes advertise loopback, so anything reaching for a "kubelet" (kubectl logs) stays on
            # this machine and is answered by kwok itself.
            "--node-ip=127.0.0.1",
            f"--node-port={p['kwok']}",
            f"--server-address=127.0.0.1:{p['kwok']}",
            f"--tls-cert-file={PKI / 'apiserver.crt'}",
            f"--tls-private-key-file={PKI / 'apiserver.key'}",
            # Short leases: a restarted kwok takes over its nodes (and their pods) within seconds.
            "--node-lease-duration-seconds=10",
        ]
    if name in realnodes.component_names(real_nodes()):
        return realnodes.component_args(LAYOUT, name)
    if name in controllers.CONTROLLERS:
        return controllers.CONTROLLERS[name].component_args(BIN, STATE, KUBECONFIG)
    raise SystemExit(f"unknown component {name!r}; one of {', '.join(components())}")


def pid_of(name: str) -> int | None:
    try:
        pid = int((PIDS / f"{name}.pid").read_text())
    except (FileNotFoundError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    # A recycled pid must not be mistaken for our component.
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode()
    except OSError:
        return None
    return pid if Path(cmdline).name == program_of(name).name else None


def program_of(name: str) -> Path:
    """The program a component's process runs once started (a controller may start through unshare)."""
    if name in controllers.CONTROLLERS:
        return controllers.CONTROLLERS[name].program(BIN)
    return Path(component_args(name)[0])


def start(name: str) -> None:
    if pid_of(name):
        return
    args = component_args(name)
    if not program_of(name).exists():
        raise SystemExit(
            f"{program_of(name)} is missing: run `make devcluster-build` (hack/devcluster/build.sh) first"
        )
    LOGS.mkdir(parents=True, exist_ok=True)
    PIDS.mkdir(parents=True, exist_ok=True)
    with open(LOGS / f"{name}.log", "ab") as out:
        proc = subprocess.Popen(
            args,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            cwd=STATE,
            env=realnodes.component_env(LAYOUT) if name not in CONTROL_PLANE else None,
        )
    # Popen returns as soon as the child starts its exec (vfork), a moment before /proc/PID/cmdline
    # names the program (and a controller first runs unshare and sh): wait for it, or pid_of() would
    # take the component for one that exited.
    deadline = time.monotonic() + 5
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            if (
                Path(Path(f"/proc/{proc.pid}/cmdline").read_bytes().split(b"\0")[0].decode()).name
                == program_of(name).name
            ):
                break
        except OSError:
            break
        time.sleep(0.005)
    (PIDS / f"{name}.pid").write_text(str(proc.pid))


def stop(name: str, timeout: float = 15.0) -> None:
    pid = pid_of(name)
    if pid is None:
        (PIDS / f"{name}.pid").unlink(missing_ok=True)
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        os.kill(pid, signal.SIGKILL)
    (PIDS / f"{name}.pid").unlink(missing_ok=True)


# --- health ------------------------------------------------------------------------------------------


def _get(url: str, token: str | None = None, timeout: float = 2.0) -> tuple[int, str]:
    context = ssl.create_default_context(cafile=str(PKI / "ca.crt")) if url.startswith("https") else None
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=context) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()
    except (OSError, ValueError):
        return 0, ""


def wait_until(what: str, check: object, timeout: float, name: str | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        if name and pid_of(name) is None:
            raise SystemExit(f"{name} exited while waiting for {what}; see {LOGS / (name + '.log')}")
        time.sleep(0.2)
    raise SystemExit(f"timed out after {timeout:.0f}s waiting for {what}; logs are in {LOGS}")


def apiserver_ready() -> bool:
    token = (PKI / "admin.token").read_text()
    return _get(f"https://127.0.0.1:{PORTS['kube-apiserver']}/readyz", token)[0] == 200


def kubectl(*args: str, stdin: str | None = None) -> str:
    return subprocess.run(
        [str(BIN / "kubectl"), f"--kubeconfig={KUBECONFIG}", *args],
        input=stdin,
        check=True,
        text=True,
        capture_output=True,
    ).stdout


# --- nodes -------------------------------------------------------------------------------------------


def node_manifest(name: str, gpus: int, gpu_product: str) -> dict:
    labels = {
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "type": "kwok",
        "node.kubernetes.io/instance-type": "kwok-gpu" if gpus else "kwok-cpu",
    }
    capacity = {
        "cpu": "96" if gpus else "16",
        "memory": "1Ti" if gpus else "64Gi",
        "pods": "110",
        "ephemeral-storage": "1Ti",
    }
    spec: dict = {}
    if gpus:
        labels |= {
            "nvidia.com/gpu.present": "true",
            "nvidia.com/gpu.product": gpu_product,
            "nvidia.com/gpu.count": str(gpus),
            "nvidia.com/gpu.memory": "81559",
        }
        capacity["nvidia.com/gpu"] = str(gpus)
        # What GPU clouds put on GPU nodes, so only pods asking for GPUs land there.
        spec["taints"] = [{"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}]
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": labels,
            "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
        },
        "spec": spec,
        "status": {"capacity": capacity, "allocatable": capacity},
    }


def ensure_nodes(gpu_nodes: int, cpu_nodes: int, gpus_per_node: int, gpu_product: str) -> None:
    wanted = [node_manifest(f"kwok-gpu-{i}", gpus_per_node, gpu_product) for i in range(gpu_nodes)]
    wanted += [node_manifest(f"kwok-cpu-{i}", 0, gpu_product) for i in range(cpu_nodes)]
    existing = set(kubectl("get", "nodes", "-o", "name", "-l", f"!{realnodes.REAL_NODE_LABEL}").split())
    names = {f"node/{n['metadata']['name']}" for n in wanted}
    extra = sorted(existing - names)
    if extra:
        kubectl("delete", *extra, "--wait=false")
    missing = [n for n in wanted if f"node/{n['metadata']['name']}" not in existing]
    if missing:
        kubectl("create", "-f", "-", stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": missing}))
    want_ready = len(wanted) + real_nodes()

    def all_ready() -> bool:
        nodes = json.loads(kubectl("get", "nodes", "-o", "json"))["items"]
        ready = [
            n
            for n in nodes
            if any(
                c["type"] == "Ready" and c["status"] == "True"
                for c in n.get("status", {}).get("conditions", [])
            )
        ]
        return len(ready) >= want_ready

    wait_until(f"{want_ready} nodes Ready", all_ready, 120, "kwok")


# --- commands ----------------------------------------------------------------------------------------


def up(args: argparse.Namespace) -> None:
    t0 = time.monotonic()
    STATE.mkdir(parents=True, exist_ok=True)
    running = [name for name in CONTROL_PLANE if pid_of(name)]
    if running and real_nodes() != args.real_nodes:
        raise SystemExit(
            f"this devcluster runs with {real_nodes()} real nodes, not {args.real_nodes}: "
            f"`make cluster-down` first (or REAL_NODES={real_nodes()})"
        )
    REAL_NODES_FILE.write_text(str(args.real_nodes))
    ensure_pki()
    realnodes.ensure_apiserver_certs(LAYOUT)
    for component in ("admin", "kube-controller-manager", "kube-scheduler", "kwok"):
        write_kubeconfig(KUBECONFIG if component == "admin" else STATE / f"{component}.kubeconfig", component)
    if args.real_nodes:
        realnodes.ensure_network(LAYOUT, args.real_nodes)
    start("etcd")
    wait_until("etcd", lambda: _get(f"http://127.0.0.1:{PORTS['etcd']}/health")[0] == 200, 30, "etcd")
    start("kube-apiserver")
    wait_until("kube-apiserver /readyz", apiserver_ready, 90, "kube-apiserver")
    for name in ("kube-controller-manager", "kube-scheduler", "kwok"):
        start(name)
    if args.real_nodes:
        start_real_nodes(args.real_nodes)
    ensure_nodes(args.gpu_nodes, args.cpu_nodes, args.gpus_per_node, args.gpu_product)
    if args.real_nodes:
        ensure_storage()
    # Pods in a new namespace need its default ServiceAccount, which the controller-manager creates.
    wait_until(
        "the default ServiceAccount",
        lambda: "serviceaccount/default" in kubectl("get", "sa", "-n", "default", "-o", "name"),
        60,
        "kube-controller-manager",
    )
    if args.kueue:
        kueue_up(None)
    log(
        f"devcluster is up ({args.gpu_nodes} GPU nodes x {args.gpus_per_node} nvidia.com/gpu, "
        f"{args.cpu_nodes} CPU nodes simulated, {args.real_nodes} real nodes) in {time.monotonic() - t0:.1f}s"
    )
    print(f"export KUBECONFIG={KUBECONFIG}")


def image_archives() -> list[Path]:
    """The pause image first (every pod needs it), then whatever `make images` has built."""
    if not PAUSE_ARCHIVE.exists():
        log("building the sandbox (pause) image: hack/images/build.sh pause")
        subprocess.run([str(ROOT / "hack" / "images" / "build.sh"), "pause"], check=True)
    others = sorted(p for p in PAUSE_ARCHIVE.parent.glob("*.tar") if p != PAUSE_ARCHIVE)
    return [PAUSE_ARCHIVE, *others]


def start_real_nodes(count: int) -> None:
    archives = image_archives()
    realnodes.ensure_proxy_identity(LAYOUT)
    for index in range(count):
        if realnodes.write_node_files(LAYOUT, index, PAUSE_IMAGE):
            stop(f"kubelet-{index}")
        start(f"containerd-{index}")
    for index in range(count):
        name = f"containerd-{index}"
        wait_until(f"{name}'s socket", LAYOUT.socket(index).exists, 60, name)
        t0 = time.monotonic()
        imported = realnodes.import_images(LAYOUT, index, archives)
        if imported:
            log(f"{LAYOUT.node_name(index)}: imported {', '.join(imported)} in {time.monotonic() - t0:.0f}s")
        start(f"kubelet-{index}")
    start("kube-proxy")
    LAYOUT.corefile().write_text(realnodes.corefile(LAYOUT, KUBECONFIG))
    start("cluster-dns")
    for index in range(count):
        port = LAYOUT.kubelet_healthz_port(index)
        wait_until(
            f"kubelet-{index} /healthz",
            lambda port=port: _get(f"http://127.0.0.1:{port}/healthz")[0] == 200,
            90,
            f"kubelet-{index}",
        )
    port = LAYOUT.proxy_healthz_port()
    wait_until(
        "kube-proxy /livez", lambda: _get(f"http://127.0.0.1:{port}/livez")[0] == 200, 60, "kube-proxy"
    )
    port = LAYOUT.dns_health_port()
    wait_until(
        "cluster DNS /health", lambda: _get(f"http://127.0.0.1:{port}/health")[0] == 200, 60, "cluster-dns"
    )


def ensure_storage() -> None:
    existing = json.loads(kubectl("get", "pv", "-l", "devcluster.kubedet.io/volume=local", "-o", "json"))[
        "items"
    ]
    objects, released = realnodes.storage_objects(LAYOUT, existing)
    for name in released:
        # A released volume keeps its last claim's files: it is removed, and a fresh one made instead.
        kubectl("delete", "pv", name, "--wait=false")
        subprocess.run(["rm", "-rf", str(LAYOUT.volumes() / name)], check=True)
    kubectl("apply", "-f", "-", stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": objects}))


def webhook_address() -> str:
    """This machine's address as the API server dials it for webhooks served here: the bridge the real
    nodes use, or else the first global IPv4 address (loopback cannot be an endpoint)."""
    if real_nodes():
        return realnodes.API_ADDRESS
    for line in run("ip", "-4", "-o", "addr", "show", "scope", "global").stdout.splitlines():
        return line.split()[3].split("/")[0]
    raise SystemExit(
        "this machine has no global IPv4 address for the API server to reach Kueue's webhooks at"
    )


def json_stream(text: str) -> list[dict[str, object]]:
    """The objects of concatenated JSON documents (kubectl prints one per object)."""
    decoder = json.JSONDecoder()
    objects: list[dict[str, object]] = []
    at = 0
    while True:
        while at < len(text) and text[at].isspace():
            at += 1
        if at == len(text):
            return objects
        obj, at = decoder.raw_decode(text, at)
        objects.append(obj)


def apply_list(objects: list[dict[str, object]]) -> None:
    kubectl(
        "apply",
        "--server-side",
        "--force-conflicts",
        "--field-manager=devcluster",
        "-f",
        "-",
        stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": objects}),
    )


def render(controller: controllers.Controller, folders: tuple[str, ...]) -> list[dict[str, object]]:
    """Kustomize folders of the controller's Go module, as JSON objects (standard library only: kubectl
    turns the YAML into JSON with a client-side dry run, which sends nothing)."""
    found = run("go", "list", "-m", "-f", "{{.Dir}}", controller.module, cwd=HERE / controller.module_folder)
    module_dir = Path(found.stdout.strip())
    objects: list[dict[str, object]] = []
    for folder in folders:
        stream = kubectl("kustomize", str(module_dir / folder))
        objects += json_stream(kubectl("create", "--dry-run=client", "-o", "json", "-f", "-", stdin=stream))
    return objects


def controller_up(controller: controllers.Controller, probe: dict[str, object] | None) -> None:
    """Build (stamped: a no-op when built), install and start one of the field's controllers; wait until
    its webhooks answer the API server (a server-side dry run of `probe` goes through them)."""
    if not apiserver_ready():
        raise SystemExit("the devcluster is not running: `make cluster-up` first")
    t0 = time.monotonic()
    subprocess.run([str(HERE / "build.sh"), controller.module_folder], check=True, stdout=subprocess.DEVNULL)
    cmdline = Path(f"/proc/{pid_of('kube-apiserver')}/cmdline").read_bytes().decode(errors="replace")
    if "--enable-aggregator-routing=true" not in cmdline.split("\0"):
        # A devcluster started before these controllers: its API server would dial the ClusterIP.
        restart(argparse.Namespace(component="kube-apiserver"))
    webhook_port, health_port = controller_ports(controller)
    objects = controllers.install_objects(
        controller, render(controller, controller.install), webhook_address(), webhook_port
    )
    apply_list(objects)
    # A controller that starts before its CRDs are served fails (Kubeflow Trainer exits).
    crds = [f"crd/{o['metadata']['name']}" for o in objects if o["kind"] == "CustomResourceDefinition"]
    if crds:
        kubectl("wait", "--for=condition=Established", "--timeout=60s", *crds)
    controller.cert_dir(STATE).mkdir(parents=True, exist_ok=True)
    controller.config_path(STATE).write_text(
        json.dumps(controller.configuration(controller, STATE, webhook_port, health_port), indent=2)
    )
    (ENABLED / controller.name).parent.mkdir(parents=True, exist_ok=True)
    (ENABLED / controller.name).write_text("1")
    start(controller.name)
    name = controller.name
    wait_until(f"{name}'s webhook certificate", lambda: mount_certificate(controller), 60, name)
    wait_until(f"{name} /readyz", lambda: _get(f"http://127.0.0.1:{health_port}/readyz")[0] == 200, 120, name)
    if probe is not None:
        wait_until(f"{name}'s webhooks to answer the API server", lambda: dry_run_passes(probe), 60, name)
    if controller.post_install:
        # Objects its own webhooks validate: applied once they answer (the first tries may be refused).
        objects = render(controller, controller.post_install)
        wait_until(f"{name}'s {', '.join(controller.post_install)}", lambda: applied(objects), 60, name)
    log(f"{name} is up in {time.monotonic() - t0:.1f}s (webhooks at {webhook_address()}:{webhook_port})")


def controller_ports(controller: controllers.Controller) -> tuple[int, int]:
    """Its webhook and health ports (the benchmark's cluster moves them with DEVCLUSTER_CONTROLLERS_PORT)."""
    webhook = PORTS["controllers"] + controller.port_offset
    return webhook, webhook + 1


def mount_certificate(controller: controllers.Controller) -> bool:
    """Do what the kubelet does for the controller's pod: put the certificate it wrote into its Secret where
    its webhook server reads it (it waits for those files before it serves)."""
    secret = json.loads(
        kubectl("get", "secret", "-n", controller.namespace, controller.webhook_secret, "-o", "json")
    )
    data = secret.get("data") or {}
    if not all(data.get(key) for key in controllers.CERT_FILES):
        return False
    for key in controllers.CERT_FILES:
        (controller.cert_dir(STATE) / key).write_bytes(base64.b64decode(data[key]))
    return True


def dry_run_passes(probe: dict[str, object]) -> bool:
    try:
        kubectl("create", "--dry-run=server", "-f", "-", stdin=json.dumps(probe))
    except subprocess.CalledProcessError:
        return False
    return True


def applied(objects: list[dict[str, object]]) -> bool:
    try:
        apply_list(objects)
    except subprocess.CalledProcessError:
        return False
    return True


KUEUE_PROBE = {
    "apiVersion": "kueue.x-k8s.io/v1beta2",
    "kind": "ResourceFlavor",
    "metadata": {"name": "probe"},
}
JOBSET_PROBE = {
    "apiVersion": "jobset.x-k8s.io/v1alpha2",
    "kind": "JobSet",
    "metadata": {"name": "probe", "namespace": "default"},
    "spec": {
        "replicatedJobs": [
            {
                "name": "probe",
                "template": {
                    "spec": {
                        "template": {
                            "spec": {
                                "restartPolicy": "Never",
                                "containers": [{"name": "c", "image": "probe"}],
                            }
                        }
                    }
                },
            }
        ]
    },
}


def kueue_up(_: argparse.Namespace | None) -> None:
    controller_up(controllers.KUEUE, KUEUE_PROBE)


def kubeflow_up(_: argparse.Namespace | None) -> None:
    """JobSet, then Kubeflow Trainer on it (its ClusterTrainingRuntimes, validated by its own webhook,
    are what shows its webhooks answer)."""
    controller_up(controllers.JOBSET, JOBSET_PROBE)
    controller_up(controllers.KUBEFLOW_TRAINER, None)


def down(_: argparse.Namespace) -> None:
    had = real_nodes()
    for name in reversed(components()):
        stop(name)
    if had:
        # Only the devcluster that runs real nodes owns the bridge, cgroups and rules they use (one
        # such devcluster per machine; the benchmarks' run with REAL_NODES=0).
        realnodes.teardown(LAYOUT)
        left = realnodes.leftovers(LAYOUT)
        if left:
            raise SystemExit(
                f"the real nodes left these behind (state kept in {STATE}):\n  " + "\n  ".join(left)
            )
    if STATE.exists():
        subprocess.run(["rm", "-rf", str(STATE)], check=True)
    log(
        "devcluster is down and its state removed"
        + (": no process, mount, link, cgroup or rule left" if had else "")
    )


def status(_: argparse.Namespace) -> None:
    failed = False
    for name in components():
        pid = pid_of(name)
        failed |= pid is None
        print(f"{name:26} {'running (pid ' + str(pid) + ')' if pid else 'stopped'}")
    sys.exit(1 if failed else 0)


def restart(args: argparse.Namespace) -> None:
    stop(args.component)
    start(args.component)
    if args.component == "kube-apiserver":
        wait_until("kube-apiserver /readyz", apiserver_ready, 90, "kube-apiserver")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    up_parser = commands.add_parser("up", help="start the cluster (idempotent)")
    up_parser.add_argument("--gpu-nodes", type=int, default=int(os.environ.get("GPU_NODES", "4")))
    up_parser.add_argument("--cpu-nodes", type=int, default=int(os.environ.get("CPU_NODES", "2")))
    up_parser.add_argument("--gpus-per-node", type=int, default=int(os.environ.get("GPUS_PER_NODE", "8")))
    up_parser.add_argument("--gpu-product", default=os.environ.get("GPU_PRODUCT", "NVIDIA-H100-80GB-HBM3"))
    up_parser.add_argument("--real-nodes", type=int, default=int(os.environ.get("REAL_NODES", "1")))
    up_parser.add_argument(
        "--kueue",
        action="store_true",
        default=os.environ.get("KUEUE", "0") not in ("", "0"),
        help="also build, install and start Kueue (KUEUE=1)",
    )
    up_parser.set_defaults(func=up)
    commands.add_parser("kueue", help="build and start Kueue on the running cluster").set_defaults(
        func=kueue_up
    )
    commands.add_parser("kubeflow", help="build and start JobSet and Kubeflow Trainer").set_defaults(
        func=kubeflow_up
    )
    commands.add_parser("down", help="stop everything and remove the state").set_defaults(func=down)
    commands.add_parser("status", help="show which components run").set_defaults(func=status)
    for verb, func in (
        ("restart", restart),
        ("stop", lambda a: stop(a.component)),
        ("start", lambda a: start(a.component)),
    ):
        sub = commands.add_parser(verb, help=f"{verb} one component")
        sub.add_argument("component")
        sub.set_defaults(func=func)
    args = parser.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
