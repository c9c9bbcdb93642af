"""Run the kubedet operator as its own process under its own ServiceAccount, as in production."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from tests.devcluster import ROOT, Devcluster, wait_for

SYSTEM_NAMESPACE = "kubedet-system"
SERVICE_ACCOUNT = "kubedet-operator"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def install_operator_identity(cluster: Devcluster) -> Path:
    """The shipped ClusterRole bound to the operator's ServiceAccount; returns a kubeconfig for it."""
    # The shipped rules win over whatever an earlier install (the e2e tests, the demo) left.
    cluster.kubectl(
        "apply",
        "--server-side",
        "--force-conflicts",
        "-f",
        str(ROOT / "manifests" / "rbac" / "operator_clusterrole.yaml"),
    )
    cluster.kubectl("create", "namespace", SYSTEM_NAMESPACE, check=False)
    cluster.kubectl("create", "serviceaccount", SERVICE_ACCOUNT, "-n", SYSTEM_NAMESPACE, check=False)
    cluster.kubectl(
        "create",
        "clusterrolebinding",
        SERVICE_ACCOUNT,
        "--clusterrole=kubedet-operator",
        f"--serviceaccount={SYSTEM_NAMESPACE}:{SERVICE_ACCOUNT}",
        check=False,
    )
    token = cluster.kubectl(
        "create", "token", SERVICE_ACCOUNT, "-n", SYSTEM_NAMESPACE, "--duration=48h"
    ).stdout.strip()
    admin = json.loads(cluster.kubeconfig.read_text())
    admin["users"] = [{"name": SERVICE_ACCOUNT, "user": {"token": token}}]
    admin["contexts"] = [
        {"name": "operator", "context": {"cluster": admin["clusters"][0]["name"], "user": SERVICE_ACCOUNT}}
    ]
    admin["current-context"] = "operator"
    path = cluster.kubeconfig.parent / "operator.kubeconfig"
    path.write_text(json.dumps(admin))
    path.chmod(0o600)
    return path


@dataclass
class OperatorProcess:
    kubeconfig: Path
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None
    health_port: int = 0
    metrics_port: int = 0

    def start(self) -> None:
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
                [sys.executable, "-m", "kubedet", f"--liveness=http://127.0.0.1:{self.health_port}/healthz"],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        # Polled often: the kill test times a kill from the moment the operator reports healthy.
        wait_for(self.healthy, timeout=60, interval=0.05, message="the operator's health endpoint")

    def healthy(self) -> bool:
        if self.process is None or self.process.poll() is not None:
            raise RuntimeError(f"the operator exited; see {self.log_path}")
        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{self.health_port}/healthz", timeout=2
            ) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def log_lines(self, needle: str, limit: int = 60) -> str:
        """The operator's last log lines that mention `needle` (a namespace, a run): what a failing
        test reports, since CI keeps no log files."""
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError as error:
            return f"(no operator log: {error})"
        found = [line for line in lines if needle in line][-limit:]
        return "operator log:\n" + "\n".join(found) if found else f"(no operator log line mentions {needle})"

    def metrics(self) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5) as response:
            return str(response.read().decode())

    def kill(self) -> None:
        """SIGKILL: no chance to clean up, as when a node dies."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()
