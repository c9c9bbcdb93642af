"""Test helpers for the devcluster: bring it up, act as a user, wait without fixed sleeps."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

ROOT = Path(__file__).resolve().parents[1]
KUBECTL = str(ROOT / "bin" / "kubectl")
T = TypeVar("T")


def wait_for(
    predicate: Callable[[], T],
    timeout: float = 30.0,
    interval: float = 0.2,
    message: str | Callable[[], str] = "condition",
) -> T:
    """Poll `predicate` until it returns something truthy, and return that; fail after `timeout` s.

    Exceptions raised by the predicate count as "not yet" and the last one is reported on timeout.
    """
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while True:
        try:
            value = predicate()
            if value:
                return value
        except Exception as error:
            last_error = error
        if time.monotonic() >= deadline:
            detail = f" (last error: {last_error!r})" if last_error else ""
            what = message() if callable(message) else message  # a callable shows the state at the end
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}{detail}")
        time.sleep(interval)


@dataclass
class Devcluster:
    kubeconfig: Path

    def kubectl(
        self,
        *args: str,
        input: str | None = None,
        check: bool = True,
        as_user: str | None = None,
        as_groups: list[str] | None = None,
        timeout: float = 60,
    ) -> subprocess.CompletedProcess[str]:
        command = [KUBECTL, f"--kubeconfig={self.kubeconfig}"]
        if as_user:
            command.append(f"--as={as_user}")
            command += [f"--as-group={group}" for group in as_groups or []]
        result = subprocess.run(
            [*command, *args], input=input, text=True, capture_output=True, timeout=timeout
        )
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({result.returncode}): {result.stderr}")
        return result

    def start_kueue(self, flavor: str, priorities: dict[str, int]) -> None:
        """Kueue running on this devcluster (built and started on first use, a no-op while it runs),
        with a ResourceFlavor `flavor` and a WorkloadPriorityClass per name and value."""
        subprocess.run(
            ["python3", str(ROOT / "hack" / "devcluster" / "devcluster.py"), "kueue"],
            check=True,
            timeout=900,
            env={**os.environ, "DEVCLUSTER_DIR": str(self.kubeconfig.parent)},
        )
        kueue = "kueue.x-k8s.io/v1beta2"
        flavors = [{"apiVersion": kueue, "kind": "ResourceFlavor", "metadata": {"name": flavor}}]
        classes = [
            {"apiVersion": kueue, "kind": "WorkloadPriorityClass", "metadata": {"name": name}, "value": value}
            for name, value in priorities.items()
        ]
        self.apply_objects("default", flavors + classes)

    def apply_objects(self, namespace: str, bodies: Iterable[dict[str, Any]]) -> None:
        """kubectl apply of the objects, in one request list, into namespace."""
        items = {"apiVersion": "v1", "kind": "List", "items": list(bodies)}
        self.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(items))

    def evict(self, namespace: str, pod: str) -> None:
        """The Eviction API, as a drain or an autoscaler calls it: the API server marks the pod
        DisruptionTarget=True and deletes it."""
        eviction = {
            "apiVersion": "policy/v1",
            "kind": "Eviction",
            "metadata": {"name": pod, "namespace": namespace},
        }
        self.kubectl(
            "create", "--raw", f"/api/v1/namespaces/{namespace}/pods/{pod}/eviction", "-f", "-",
            input=json.dumps(eviction),
        )  # fmt: skip

    def api_client(self, as_user: str | None = None, as_groups: list[str] | None = None):  # type: ignore[no-untyped-def]
        from kubernetes import client, config

        configuration = client.Configuration()
        config.load_kube_config(config_file=str(self.kubeconfig), client_configuration=configuration)
        api = client.ApiClient(configuration)
        if as_user:
            api.set_default_header("Impersonate-User", as_user)
            # The python client sends one header value; several groups are joined as kubectl does not,
            # so tests that need many groups use kubectl or bind a single group.
            for group in as_groups or []:
                api.set_default_header("Impersonate-Group", group)
        return api


def ensure_devcluster() -> Devcluster:
    """Bring the devcluster up if it is not running (idempotent), and return a handle on it."""
    state = Path(os.environ.get("DEVCLUSTER_DIR", ROOT / ".devcluster"))
    subprocess.run(
        ["python3", str(ROOT / "hack" / "devcluster" / "devcluster.py"), "up"],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return Devcluster(kubeconfig=state / "kubeconfig")


# What `make install` puts in front of the operator: the CRDs, then the admission policies that
# check (cfgOptions, claims, the trainer's progress reports) and complete (the run finalizer) the
# objects. Behaviour tests need the policies as much as the CRDs.
API_KUSTOMIZATIONS = ("manifests/crd", "manifests/policies")


def install_kubedet_api(cluster: Devcluster, timeout: float = 60) -> list[str]:
    """Apply the CRDs and the admission policies; wait until every CRD is Established. The CRD names."""
    for folder in API_KUSTOMIZATIONS:
        cluster.kubectl("apply", "--server-side", "--force-conflicts", "-k", str(ROOT / folder))
    names = [p.name.removesuffix(".yaml") for p in sorted((ROOT / "crds").glob("*.yaml"))]
    cluster.kubectl("wait", "--for=condition=Established", f"--timeout={timeout:.0f}s", "crd", *names)
    return names
