"""The benchmark's devcluster: bring it up with enough GPU nodes, install kubedet, make namespaces.

Everything honours the devcluster's variables (DEVCLUSTER_DIR and the DEVCLUSTER_*_PORT ports), so a
benchmark can run on its own cluster beside the one the tests use.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from kubernetes import client, config
from tests.devcluster import Devcluster, wait_for

ROOT = Path(__file__).resolve().parents[1]
DEVCLUSTER = ROOT / "hack" / "devcluster" / "devcluster.py"


def state_dir() -> Path:
    return Path(os.environ.get("DEVCLUSTER_DIR", ROOT / ".devcluster"))


def up(gpu_nodes: int) -> Devcluster:
    """Start the devcluster (idempotent) with `gpu_nodes` kwok GPU nodes of 8 GPUs."""
    subprocess.run(
        [sys.executable, str(DEVCLUSTER), "up", f"--gpu-nodes={gpu_nodes}"],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return Devcluster(kubeconfig=state_dir() / "kubeconfig")


def down() -> None:
    subprocess.run([sys.executable, str(DEVCLUSTER), "down"], check=True, stdout=subprocess.DEVNULL)


def admin_client(cluster: Devcluster, connections: int) -> client.ApiClient:
    configuration = client.Configuration()
    config.load_kube_config(config_file=str(cluster.kubeconfig), client_configuration=configuration)
    # One pooled connection per creating thread: a new TLS handshake per request would measure this
    # process, not the cluster.
    configuration.connection_pool_maxsize = connections
    return client.ApiClient(configuration)


def create_namespace(cluster: Devcluster, name: str) -> None:
    cluster.kubectl("create", "namespace", name)
    wait_for(
        lambda: "serviceaccount/default" in cluster.kubectl("get", "sa", "-n", name, "-o", "name").stdout,
        timeout=60,
        message=f"default ServiceAccount in {name}",
    )


def delete_namespace(cluster: Devcluster, name: str, timeout: float) -> bool:
    """Delete a namespace and wait until it is gone (its pods too); False if it outlived `timeout`."""
    cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cluster.kubectl("get", "namespace", name, check=False).returncode != 0:
            return True
        time.sleep(1)
    return False


def apiserver_metrics(api: client.ApiClient) -> str:
    method, url, headers, body, post = api.param_serialize("GET", "/metrics", auth_settings=["BearerToken"])
    return str(api.call_api(method, url, headers, body, post).read().decode())


def server_version(api: client.ApiClient) -> str:
    return str(client.VersionApi(api).get_code().git_version)


def versions(api: client.ApiClient) -> dict[str, str]:
    """What a benchmark's figures depend on: the API server's, kopf's, the client's and Python's versions."""
    import kopf
    import kubernetes

    return {
        "kubernetes": server_version(api),
        "kopf": kopf.__version__,
        "kubernetes_client": kubernetes.__version__,
        "python": sys.version.split()[0],
    }


def add_operator_env_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--operator-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an environment variable for the operator, e.g. KUBEDET_MAX_WORKERS=32 (repeatable)",
    )


def operator_env(pairs: list[str]) -> dict[str, str]:
    """--operator-env NAME=VALUE pairs as a mapping (later ones win)."""
    return {name: value for name, _, value in (pair.partition("=") for pair in pairs)}
