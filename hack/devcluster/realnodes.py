"""The devcluster's real nodes: kubelet, containerd and runc on this machine, next to the kwok GPU nodes.

Each real node has its own containerd (root, state and socket under .devcluster/nodes/<node>/), its
own kubelet (root dir, cgroup root /kubedet-<node>, address on the devcluster's bridge) and its own CNI
bridge and pod range; one kube-proxy serves them all, because they share this machine's network stack.

Network, all on this machine (nothing routes out of a pod):
  bridge kubedet0      10.213.0.1/24   the API server's address (the `kubernetes` Service's endpoint)
                       10.213.0.1N     real node N's address (kubelet API, kubectl logs/exec)
  bridge kdpods<N>     10.214.N.0/24   real node N's pods; pods get routes to the Service range, the
                                       bridge and the pod ranges only, and no default route
Standard library only, like devcluster.py, which drives this module.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import signal
import subprocess
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path

BRIDGE = "kubedet0"
API_ADDRESS = "10.213.0.1"
NODE_NETWORK = "10.213.0.0/24"
POD_NETWORK = "10.214.0.0/16"
SERVICE_CIDR = "10.96.0.0/16"
CNI_PLUGIN_DIRS = ["/usr/lib/cni", "/opt/cni/bin"]
# Pods that do not tolerate it stay on the kwok nodes, where the simulated suites expect them; a pod
# meant to run for real tolerates it (docs/devcluster.md).
REAL_NODE_TAINT = {"key": "devcluster.kubedet.io/real", "value": "true", "effect": "NoSchedule"}
REAL_NODE_LABEL = "devcluster.kubedet.io/real"
CLUSTER_DOMAIN = "cluster.local"
STORAGE_CLASS = "devcluster-local"
# Static volumes on the real nodes' disk, kept this many unbound; claims of either access mode bind.
FREE_VOLUMES = 12
SYSCTLS = {
    # Traffic between pods on different bridges, and to Service backends, is routed by this machine.
    "net/ipv4/ip_forward": "1",
    # kube-proxy's rules must see traffic between two pods of one bridge (Service hairpin).
    "net/bridge/bridge-nf-call-iptables": "1",
}


@dataclass(frozen=True)
class Layout:
    state: Path
    pki: Path
    bin: Path
    logs: Path
    apiserver_port: int
    healthz_base_port: int

    def node_name(self, index: int) -> str:
        return f"real-node-{index}"

    def node_dir(self, index: int) -> Path:
        return self.state / "nodes" / self.node_name(index)

    def node_ip(self, index: int) -> str:
        return f"10.213.0.{11 + index}"

    def pod_cidr(self, index: int) -> str:
        return f"10.214.{index}.0/24"

    def cni_bridge(self, index: int) -> str:
        return f"kdpods{index}"

    def socket(self, index: int) -> Path:
        return self.node_dir(index) / "containerd.sock"

    def kubelet_healthz_port(self, index: int) -> int:
        return self.healthz_base_port + index

    def proxy_healthz_port(self) -> int:
        return self.healthz_base_port + 90

    def proxy_metrics_port(self) -> int:
        return self.healthz_base_port + 91

    def dns_health_port(self) -> int:
        return self.healthz_base_port + 92

    def corefile(self) -> Path:
        return self.state / "Corefile"

    def volumes(self) -> Path:
        return self.state / "volumes"


def run(*args: str, check: bool = True, **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, check=check, text=True, capture_output=True, **kwargs)  # type: ignore[call-overload]


# --- certificates ------------------------------------------------------------------------------------


def issue_cert(layout: Layout, name: str, subject: str, sans: list[str] | None = None) -> None:
    """A key and a CA-signed certificate pki/<name>.{key,crt}, made once."""
    key, crt = layout.pki / f"{name}.key", layout.pki / f"{name}.crt"
    if key.exists() and crt.exists():
        return
    args = ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(crt)]
    args += [
        "-days",
        "3650",
        "-subj",
        subject,
        "-CA",
        str(layout.pki / "ca.crt"),
        "-CAkey",
        str(layout.pki / "ca.key"),
    ]
    if sans:
        args += ["-addext", "subjectAltName=" + ",".join(sans)]
    run(*args)


def cert_kubeconfig(layout: Layout, path: Path, cert: str) -> None:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "devcluster",
                "cluster": {
                    "server": f"https://{API_ADDRESS}:{layout.apiserver_port}",
                    "certificate-authority": str(layout.pki / "ca.crt"),
                },
            }
        ],
        "users": [
            {
                "name": cert,
                "user": {
                    "client-certificate": str(layout.pki / f"{cert}.crt"),
                    "client-key": str(layout.pki / f"{cert}.key"),
                },
            }
        ],
        "contexts": [{"name": "devcluster", "context": {"cluster": "devcluster", "user": cert}}],
        "current-context": "devcluster",
    }
    path.write_text(json.dumps(config, indent=2))
    path.chmod(0o600)


def ensure_apiserver_certs(layout: Layout) -> None:
    # The API server's client identity towards kubelets (logs, exec, port-forward).
    issue_cert(layout, "apiserver-kubelet-client", "/O=system:masters/CN=kube-apiserver-kubelet-client")


# --- network -----------------------------------------------------------------------------------------


def link_exists(name: str) -> bool:
    return Path(f"/sys/class/net/{name}").exists()


def ensure_network(layout: Layout, nodes: int) -> None:
    if not link_exists(BRIDGE):
        run("ip", "link", "add", BRIDGE, "type", "bridge")
    have = run("ip", "-o", "-4", "addr", "show", "dev", BRIDGE).stdout
    for address in [API_ADDRESS] + [layout.node_ip(i) for i in range(nodes)]:
        if f" {address}/" not in have:
            run("ip", "addr", "add", f"{address}/24", "dev", BRIDGE)
    run("ip", "link", "set", BRIDGE, "up")
    saved = layout.state / "sysctl-saved.json"
    if not saved.exists():
        saved.write_text(json.dumps({key: Path("/proc/sys", key).read_text().strip() for key in SYSCTLS}))
    for key, value in SYSCTLS.items():
        Path("/proc/sys", key).write_text(value)


def remove_network(layout: Layout) -> None:
    for link in own_links():
        run("ip", "link", "delete", link, check=False)
    saved = layout.state / "sysctl-saved.json"
    if saved.exists():
        for key, value in json.loads(saved.read_text()).items():
            Path("/proc/sys", key).write_text(value)
        saved.unlink()


# --- per-node files ----------------------------------------------------------------------------------


def write_node_files(layout: Layout, index: int, sandbox_image: str) -> bool:
    """Write the node's files; whether its kubelet's configuration changed (a running one must restart)."""
    name, home = layout.node_name(index), layout.node_dir(index)
    for sub in (
        "containerd-root",
        "containerd-state",
        "kubelet",
        "pod-logs",
        "net.d",
        "ipam",
        "volume-plugins",
    ):
        (home / sub).mkdir(parents=True, exist_ok=True)
    issue_cert(layout, f"{name}-client", f"/O=system:nodes/CN=system:node:{name}")
    issue_cert(
        layout, f"{name}-serving", f"/CN=system:node:{name}", [f"IP:{layout.node_ip(index)}", f"DNS:{name}"]
    )
    cert_kubeconfig(layout, home / "kubelet.kubeconfig", f"{name}-client")
    (home / "containerd.toml").write_text(containerd_config(layout, index, sandbox_image))
    (home / "net.d" / "10-pods.conflist").write_text(json.dumps(cni_config(layout, index), indent=2))
    kubelet_file = home / "kubelet.json"
    before = kubelet_file.read_text() if kubelet_file.exists() else None
    kubelet_file.write_text(json.dumps(kubelet_config(layout, index), indent=2))
    ensure_cgroup_root(layout, index)
    return before is not None and before != kubelet_file.read_text()


def containerd_config(layout: Layout, index: int, sandbox_image: str) -> str:
    home = layout.node_dir(index)
    return f"""version = 3
root = "{home / "containerd-root"}"
state = "{home / "containerd-state"}"

[grpc]
  address = "{layout.socket(index)}"
[ttrpc]
  address = "{layout.socket(index)}.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""

[plugins."io.containerd.cri.v1.images"]
  snapshotter = "overlayfs"
  [plugins."io.containerd.cri.v1.images".pinned_images]
    # No registry is reachable: the sandbox image is built here and imported (hack/images/pause.sh).
    sandbox = "{sandbox_image}"

[plugins."io.containerd.cri.v1.runtime"]
  # This sandbox may not lower a process's oom_score_adj; without this every pod sandbox fails.
  restrict_oom_score_adj = true
  # Pod network namespaces under the node's state, so that `down` finds and removes them.
  netns_mounts_under_state_dir = true
  [plugins."io.containerd.cri.v1.runtime".containerd]
    default_runtime_name = "runc"
    [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc.options]
        BinaryName = "{layout.bin / "runc"}"
        SystemdCgroup = false
  [plugins."io.containerd.cri.v1.runtime".cni]
    bin_dirs = {json.dumps(CNI_PLUGIN_DIRS)}
    conf_dir = "{home / "net.d"}"
    max_conf_num = 1

[plugins."io.containerd.grpc.v1.cri"]
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
"""


def cni_config(layout: Layout, index: int) -> dict:
    subnet = layout.pod_cidr(index)
    gateway = subnet.replace(".0/24", ".1")
    return {
        "cniVersion": "1.0.0",
        "name": f"kubedet-{layout.node_name(index)}",
        "plugins": [
            {
                "type": "bridge",
                "bridge": layout.cni_bridge(index),
                "isGateway": True,
                "isDefaultGateway": False,
                "ipMasq": False,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": subnet, "gateway": gateway}]],
                    # Only what lives on this machine: Services, the node bridge, the pod ranges.
                    "routes": [{"dst": SERVICE_CIDR}, {"dst": NODE_NETWORK}, {"dst": POD_NETWORK}],
                    "dataDir": str(layout.node_dir(index) / "ipam"),
                },
            }
        ],
    }


def kubelet_config(layout: Layout, index: int) -> dict:
    name, home = layout.node_name(index), layout.node_dir(index)
    endpoint = f"unix://{layout.socket(index)}"
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "address": layout.node_ip(index),
        "port": 10250,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": layout.kubelet_healthz_port(index),
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True},
            "x509": {"clientCAFile": str(layout.pki / "ca.crt")},
        },
        "authorization": {"mode": "Webhook"},
        "tlsCertFile": str(layout.pki / f"{name}-serving.crt"),
        "tlsPrivateKeyFile": str(layout.pki / f"{name}-serving.key"),
        "containerRuntimeEndpoint": endpoint,
        "imageServiceEndpoint": endpoint,
        # This machine mounts cgroup v1, which kubelet >= 1.35 refuses unless told otherwise.
        "failCgroupV1": False,
        "cgroupDriver": "cgroupfs",
        # One cgroup subtree per node, so that nodes sharing this machine never touch each other's pods.
        "cgroupRoot": f"/kubedet-{name}",
        "failSwapOn": False,
        # Every image here was imported by hand and cannot be pulled again: never collect one.
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        # The disk is shared with the build caches, and an image build briefly takes most of it (a
        # trainer build set DiskPressure at 2%, and the node stayed tainted 5 min after): evict on
        # memory as usual, on disk only when it is nearly full, and lift the condition soon after.
        "evictionHard": {
            "memory.available": "200Mi",
            "nodefs.available": "1Gi",
            "imagefs.available": "1Gi",
            "nodefs.inodesFree": "1%",
        },
        "evictionPressureTransitionPeriod": "30s",
        "podLogsDir": str(home / "pod-logs"),
        "volumePluginDir": str(home / "volume-plugins"),
        "registerWithTaints": [REAL_NODE_TAINT],
        "serializeImagePulls": False,
        "maxPods": 30,
        "enforceNodeAllocatable": ["pods"],
        "localStorageCapacityIsolation": True,
        "shutdownGracePeriod": "0s",
        # CoreDNS on the bridge (cluster_dns_args): Services and the pods of headless Services resolve
        # as on any cluster, e.g. a multi-node run's rendezvous <job>-0.<service>.
        "clusterDNS": [API_ADDRESS],
        "clusterDomain": CLUSTER_DOMAIN,
    }


def ensure_cgroup_root(layout: Layout, index: int) -> None:
    """The node's cgroup root in every v1 controller: the kubelet creates what is below, not the root."""
    base = Path("/sys/fs/cgroup")
    for controller in base.iterdir():
        if not controller.is_dir() or controller.name == "unified":
            continue
        folder = controller / f"kubedet-{layout.node_name(index)}"
        folder.mkdir(exist_ok=True)
        # A v1 cpuset starts empty and admits no task: it inherits its parent's cpus and memory nodes.
        for knob in ("cpuset.cpus", "cpuset.mems"):
            if (folder / knob).exists() and not (folder / knob).read_text().strip():
                (folder / knob).write_text((controller / knob).read_text())


def component_names(nodes: int) -> list[str]:
    names = []
    for index in range(nodes):
        names += [f"containerd-{index}", f"kubelet-{index}"]
    return names + (["kube-proxy", "cluster-dns"] if nodes else [])


def corefile(layout: Layout, admin_kubeconfig: Path) -> str:
    """CoreDNS answers for the cluster's domain only, on the bridge's address: the pods have no route
    out of this machine, so there is nothing else to resolve for them."""
    return f"""{CLUSTER_DOMAIN}:53 in-addr.arpa:53 ip6.arpa:53 {{
    bind {API_ADDRESS}
    errors
    health 127.0.0.1:{layout.dns_health_port()}
    ready
    kubernetes {CLUSTER_DOMAIN} in-addr.arpa ip6.arpa {{
        kubeconfig {admin_kubeconfig}
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
    }}
    cache 5
}}
"""


def component_args(layout: Layout, name: str) -> list[str]:
    if name == "kube-proxy":
        return [
            str(layout.bin / "kube-proxy"),
            f"--kubeconfig={layout.state / 'kube-proxy.kubeconfig'}",
            f"--hostname-override={layout.node_name(0)}",
            "--proxy-mode=iptables",
            f"--cluster-cidr={POD_NETWORK}",
            f"--bind-address={API_ADDRESS}",
            f"--nodeport-addresses={NODE_NETWORK}",
            f"--healthz-bind-address=127.0.0.1:{layout.proxy_healthz_port()}",
            f"--metrics-bind-address=127.0.0.1:{layout.proxy_metrics_port()}",
            # The sandbox's conntrack table is not ours to resize.
            "--conntrack-max-per-core=0",
        ]
    if name == "cluster-dns":
        return [str(layout.bin / "coredns"), "-conf", str(layout.corefile())]
    kind, index_text = name.rsplit("-", 1)
    index = int(index_text)
    home = layout.node_dir(index)
    if kind == "containerd":
        return [str(layout.bin / "containerd"), f"--config={home / 'containerd.toml'}"]
    if kind == "kubelet":
        return [
            str(layout.bin / "kubelet"),
            f"--config={home / 'kubelet.json'}",
            f"--kubeconfig={home / 'kubelet.kubeconfig'}",
            f"--root-dir={home / 'kubelet'}",
            f"--cert-dir={home / 'kubelet' / 'pki'}",
            f"--hostname-override={layout.node_name(index)}",
            f"--node-ip={layout.node_ip(index)}",
            f"--node-labels={REAL_NODE_LABEL}=true,node.kubernetes.io/instance-type=devcluster-real",
        ]
    raise SystemExit(f"unknown real-node component {name!r}")


def component_env(layout: Layout) -> dict[str, str]:
    # containerd starts its runc shim from PATH; kubelet and kube-proxy call iptables, mount and friends.
    return {**os.environ, "PATH": f"{layout.bin}:{os.environ.get('PATH', '/usr/sbin:/usr/bin:/sbin:/bin')}"}


def ensure_proxy_identity(layout: Layout) -> None:
    issue_cert(layout, "kube-proxy", "/CN=system:kube-proxy")
    cert_kubeconfig(layout, layout.state / "kube-proxy.kubeconfig", "kube-proxy")


# --- images ------------------------------------------------------------------------------------------


def archive_image_name(archive: Path) -> str | None:
    with tarfile.open(archive) as tar:
        member = tar.extractfile("index.json")
        if member is None:
            return None
        index = json.load(member)
    for manifest in index.get("manifests", []):
        annotations = manifest.get("annotations", {})
        name = annotations.get("io.containerd.image.name") or annotations.get(
            "org.opencontainers.image.ref.name"
        )
        if name:
            return str(name)
    return None


def import_images(layout: Layout, index: int, archives: list[Path]) -> list[str]:
    """Import the archives whose image the node lacks; the names imported."""
    ctr = [str(layout.bin / "ctr"), f"--address={layout.socket(index)}", "-n", "k8s.io"]
    have = set(run(*ctr, "images", "ls", "-q").stdout.split())
    imported = []
    for archive in archives:
        name = archive_image_name(archive)
        stamp = layout.node_dir(index) / f"imported-{archive.name}.key"
        key = archive.with_name(archive.name + ".key")
        current = key.read_text() if key.exists() else str(archive.stat().st_mtime_ns)
        if name in have and stamp.exists() and stamp.read_text() == current:
            continue
        run(*ctr, "images", "import", "--snapshotter=overlayfs", str(archive))
        if name:
            # Pinned images are never collected by the kubelet (they could not be pulled back).
            run(*ctr, "images", "label", name, "io.cri-containerd.pinned=pinned", check=False)
            imported.append(name)
        stamp.write_text(current)
    if imported:
        drop_replaced_images(ctr)
    return imported


def stale_image_refs(listing: str) -> list[str]:
    """From `ctr images ls`: the image-id references ("sha256:...", which the CRI adds for each image)
    whose manifest no named image points at any more: what a rebuilt image left behind."""
    rows = [line.split() for line in listing.splitlines()[1:] if line.strip()]
    named = {row[2] for row in rows if not row[0].startswith("sha256:")}
    return [row[0] for row in rows if row[0].startswith("sha256:") and row[2] not in named]


def drop_replaced_images(ctr: list[str]) -> None:
    """Each trainer rebuild left its 3 GB predecessor (6 GB unpacked) behind and filled the disk. Only
    the references go: containerd's collector frees their layers once no container uses them."""
    stale = stale_image_refs(run(*ctr, "images", "ls").stdout)
    if stale:
        run(*ctr, "images", "rm", *stale, check=False)


# --- storage -----------------------------------------------------------------------------------------


def storage_objects(layout: Layout, existing: list[dict]) -> tuple[list[dict], list[str]]:
    """(objects to create, released volumes to delete) so FREE_VOLUMES volumes stay Available."""
    released = [
        v["metadata"]["name"] for v in existing if v.get("status", {}).get("phase") in ("Released", "Failed")
    ]
    available = [v for v in existing if v.get("status", {}).get("phase") in (None, "Pending", "Available")]
    names = {v["metadata"]["name"] for v in existing}
    objects: list[dict] = [
        {
            "apiVersion": "storage.k8s.io/v1",
            "kind": "StorageClass",
            "metadata": {
                "name": STORAGE_CLASS,
                "annotations": {"storageclass.kubernetes.io/is-default-class": "true"},
            },
            "provisioner": "kubernetes.io/no-provisioner",
            "reclaimPolicy": "Retain",
            "volumeBindingMode": "Immediate",
        }
    ]
    number = 0
    for _ in range(FREE_VOLUMES - len(available)):
        while f"devcluster-pv-{number:03d}" in names:
            number += 1
        name = f"devcluster-pv-{number:03d}"
        names.add(name)
        path = layout.volumes() / name
        path.mkdir(parents=True, exist_ok=True)
        # Pods run as any non-root uid (restricted): the folder is theirs to write, like a fresh disk.
        path.chmod(0o1777)
        objects.append(
            {
                "apiVersion": "v1",
                "kind": "PersistentVolume",
                "metadata": {"name": name, "labels": {"devcluster.kubedet.io/volume": "local"}},
                "spec": {
                    "capacity": {"storage": "100Gi"},
                    # One machine's disk: every real node sees it, so ReadWriteMany is honest here.
                    "accessModes": ["ReadWriteOnce", "ReadWriteMany", "ReadOnlyMany"],
                    "persistentVolumeReclaimPolicy": "Retain",
                    "storageClassName": STORAGE_CLASS,
                    "hostPath": {"path": str(path), "type": "Directory"},
                },
            }
        )
    return objects, released


# --- teardown ----------------------------------------------------------------------------------------


def cgroup_dirs(nodes_root: str) -> list[Path]:
    """Every cgroup folder under the nodes' cgroup roots, deepest first, across v1 controllers."""
    found: list[Path] = []
    base = Path("/sys/fs/cgroup")
    for controller in base.iterdir() if base.exists() else []:
        for top in controller.glob(f"{nodes_root}*"):
            if top.is_dir():
                found += [p for p in top.rglob("*") if p.is_dir()] + [top]
    return sorted(found, key=lambda p: len(p.parts), reverse=True)


def kill_node_processes(layout: Layout) -> int:
    """SIGKILL what runs in the nodes' pods and their shims; the number of processes signalled."""
    pids = node_processes(layout)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return len(pids)


def node_processes(layout: Layout) -> set[int]:
    """Processes in the nodes' pods, and the nodes' own (shims, containerd, kubelet, kube-proxy, CoreDNS)."""
    pids: set[int] = set()
    for folder in cgroup_dirs("kubedet-real-node-"):
        procs = folder / "cgroup.procs"
        if procs.exists():
            pids |= {int(p) for p in procs.read_text().split()}
    nodes_dir = str(layout.state / "nodes")
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            own = (str(layout.state / "kube-proxy.kubeconfig"), str(layout.corefile()))
            if nodes_dir in cmdline or any(marker in cmdline for marker in own):
                pids.add(int(proc.name))
    pids.discard(os.getpid())
    return pids


def unmount_under(root: Path) -> None:
    prefix = str(root.resolve())
    for _attempt in range(5):
        mounts = []
        for line in Path("/proc/self/mountinfo").read_text().splitlines():
            point = line.split()[4].replace("\\040", " ")
            if point == prefix or point.startswith(prefix + "/"):
                mounts.append(point)
        if not mounts:
            return
        for point in sorted(mounts, key=len, reverse=True):
            run("umount", "-l", point, check=False)
        time.sleep(0.2)


def teardown(layout: Layout) -> None:
    """Everything the real nodes left: pod processes, mounts, cgroups, iptables rules, links, sysctls."""
    deadline = time.monotonic() + 15
    while kill_node_processes(layout) and time.monotonic() < deadline:
        time.sleep(0.2)
    unmount_under(layout.state / "nodes")
    for folder in cgroup_dirs("kubedet-real-node-"):
        for _attempt in range(20):
            try:
                folder.rmdir()
                break
            except FileNotFoundError:
                break
            except OSError:
                time.sleep(0.1)
    proxy = layout.bin / "kube-proxy"
    if proxy.exists() and (layout.state / "kube-proxy.kubeconfig").exists():
        run(str(proxy), "--cleanup", "--proxy-mode=iptables", check=False, env=component_env(layout))
    remove_kube_chains()
    remove_network(layout)


def leftovers(layout: Layout) -> list[str]:
    """What the real nodes left on this machine after teardown: each one named; empty when clean."""
    found = [f"process {pid}" for pid in node_processes(layout)]
    nodes_dir = str(layout.state / "nodes")
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4]
        if point.startswith(nodes_dir):
            found.append(f"mount {point}")
    found += [f"link {link.name}" for link in Path("/sys/class/net").iterdir() if link.name in own_links()]
    found += [f"cgroup {folder}" for folder in cgroup_dirs("kubedet-real-node-")]
    for tool, table, saved in saved_rules():
        found += [f"{tool} {table} {line}" for line in saved if "KUBE-" in line or "CNI-" in line]
    return found


def own_links() -> set[str]:
    return {
        link.name
        for link in Path("/sys/class/net").iterdir()
        if link.name == BRIDGE or link.name.startswith("kdpods")
    }


def remove_kube_chains() -> None:
    """The KUBE-* chains kubelet made (kube-proxy --cleanup removes only kube-proxy's), and their jumps."""
    for tool, table, saved in saved_rules():
        for line in saved:
            if line.startswith("-A ") and "KUBE-" in line and not line.split()[1].startswith("KUBE-"):
                # `-A CHAIN spec` -> `-D CHAIN spec`; the save format is what the command line takes.
                run(tool, "-t", table, "-D", *shlex.split(line[3:]), check=False)
        chains = [line[1:].split()[0] for line in saved if line.startswith(":KUBE-")]
        for chain in chains:
            run(tool, "-t", table, "-F", chain, check=False)
        for chain in chains:
            run(tool, "-t", table, "-X", chain, check=False)


def saved_rules() -> list[tuple[str, str, list[str]]]:
    """(tool, table, iptables-save lines) for IPv4 and IPv6 in the tables kubelet and kube-proxy use."""
    return [
        (tool, table, run(f"{tool}-save", "-t", table, check=False).stdout.splitlines())
        for tool in ("iptables", "ip6tables")
        for table in ("filter", "nat", "mangle")
    ]
