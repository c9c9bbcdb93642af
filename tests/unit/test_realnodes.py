"""The real nodes' settings, as the launcher writes them (hack/devcluster/realnodes.py)."""

from __future__ import annotations

import io
import json
import sys
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "hack" / "devcluster"))

import realnodes  # noqa: E402


def layout(tmp_path: Path) -> realnodes.Layout:
    return realnodes.Layout(
        state=tmp_path, pki=tmp_path / "pki", bin=tmp_path / "bin", logs=tmp_path / "logs",
        apiserver_port=26443, healthz_base_port=26300,
    )  # fmt: skip


def test_pods_get_no_default_route_and_no_masquerading(tmp_path: Path) -> None:
    config = realnodes.cni_config(layout(tmp_path), 1)
    bridge = config["plugins"][0]
    assert bridge["ipMasq"] is False and bridge["isDefaultGateway"] is False
    routes = [route["dst"] for route in bridge["ipam"]["routes"]]
    assert "0.0.0.0/0" not in routes
    assert routes == [realnodes.SERVICE_CIDR, realnodes.NODE_NETWORK, realnodes.POD_NETWORK]
    assert bridge["ipam"]["ranges"] == [[{"subnet": "10.214.1.0/24", "gateway": "10.214.1.1"}]]


def test_each_node_has_its_own_address_cgroup_root_and_health_port(tmp_path: Path) -> None:
    nodes = [realnodes.kubelet_config(layout(tmp_path), index) for index in range(3)]
    assert len({node["address"] for node in nodes}) == 3
    assert len({node["cgroupRoot"] for node in nodes}) == 3
    assert len({node["healthzPort"] for node in nodes}) == 3
    assert all(node["registerWithTaints"] == [realnodes.REAL_NODE_TAINT] for node in nodes)
    # Imported images cannot be pulled back: the kubelet never collects one.
    assert all(node["imageGCHighThresholdPercent"] == 100 for node in nodes)
    assert all(node["authentication"]["anonymous"]["enabled"] is False for node in nodes)


def test_containerd_config_keeps_everything_under_the_node_folder(tmp_path: Path) -> None:
    text = realnodes.containerd_config(layout(tmp_path), 0, "localhost/kubedet-pause:1")
    home = str(tmp_path / "nodes" / "real-node-0")
    for key in ("root", "state"):
        assert f'{key} = "{home}/containerd-{key}"' in text
    assert "restrict_oom_score_adj = true" in text and "netns_mounts_under_state_dir = true" in text
    assert 'sandbox = "localhost/kubedet-pause:1"' in text


def test_storage_pool_is_topped_up_and_released_volumes_replaced(tmp_path: Path) -> None:
    existing = [
        {"metadata": {"name": "devcluster-pv-000"}, "status": {"phase": "Bound"}},
        {"metadata": {"name": "devcluster-pv-001"}, "status": {"phase": "Released"}},
        {"metadata": {"name": "devcluster-pv-002"}, "status": {"phase": "Available"}},
    ]
    objects, released = realnodes.storage_objects(layout(tmp_path), existing)
    volumes = [o for o in objects if o["kind"] == "PersistentVolume"]
    assert released == ["devcluster-pv-001"]
    assert len(volumes) == realnodes.FREE_VOLUMES - 1
    assert not {v["metadata"]["name"] for v in volumes} & {
        "devcluster-pv-000",
        "devcluster-pv-001",
        "devcluster-pv-002",
    }
    assert all(set(v["spec"]["accessModes"]) >= {"ReadWriteOnce", "ReadWriteMany"} for v in volumes)
    assert all(
        (tmp_path / "volumes" / v["metadata"]["name"]).stat().st_mode & 0o1777 == 0o1777 for v in volumes
    )


def test_archive_image_name_is_read_from_the_oci_index(tmp_path: Path) -> None:
    archive = tmp_path / "image.tar"
    index = {
        "manifests": [{"annotations": {"org.opencontainers.image.ref.name": "localhost/kubedet-pause:1"}}]
    }
    data = json.dumps(index).encode()
    with tarfile.open(archive, "w") as tar:
        info = tarfile.TarInfo("index.json")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    assert realnodes.archive_image_name(archive) == "localhost/kubedet-pause:1"


def test_pods_resolve_the_cluster_domain_through_coredns_on_the_bridge(tmp_path: Path) -> None:
    plan = layout(tmp_path)
    assert all(
        realnodes.kubelet_config(plan, index)["clusterDNS"] == [realnodes.API_ADDRESS] for index in range(2)
    )
    assert "cluster-dns" in realnodes.component_names(1) and realnodes.component_names(0) == []
    corefile = realnodes.corefile(plan, tmp_path / "kubeconfig")
    assert f"bind {realnodes.API_ADDRESS}" in corefile and f"kubeconfig {tmp_path / 'kubeconfig'}" in corefile
    # Only the cluster's own names: the pods have no route out, so nothing is forwarded anywhere.
    assert "forward" not in corefile and corefile.startswith("cluster.local:53 ")
    assert realnodes.component_args(plan, "cluster-dns") == [
        str(plan.bin / "coredns"), "-conf", str(plan.corefile())
    ]  # fmt: skip


def test_a_rebuilt_image_leaves_no_reference_to_its_predecessor() -> None:
    listing = """REF TYPE DIGEST SIZE PLATFORMS LABELS
kubedet-trainer:dev application/vnd.oci.image.manifest.v1+json sha256:new 3.0 GiB linux/amd64 -
sha256:b65e application/vnd.oci.image.manifest.v1+json sha256:new 3.0 GiB linux/amd64 -
sha256:a7fe application/vnd.oci.image.manifest.v1+json sha256:old 3.0 GiB linux/amd64 -
localhost/kubedet-pause:1 application/vnd.oci.image.manifest.v1+json sha256:pause 314.8 KiB linux/amd64 -
sha256:8b27 application/vnd.oci.image.manifest.v1+json sha256:pause 314.8 KiB linux/amd64 -
"""
    assert realnodes.stale_image_refs(listing) == ["sha256:a7fe"]
