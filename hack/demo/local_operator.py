"""Run the kubedet operator as a local background process, as its Deployment would in a cluster.

    local_operator.py start    install its identity (token of the ServiceAccount kubedet-operator),
                               read its settings from the ConfigMap the manifests generate, start it
                               detached and wait for its health endpoint; a running one is kept
    local_operator.py stop     stop the process named by the pid file (and nothing else)
    local_operator.py status

The devcluster cannot run containers (kwok simulates pods), so this process stands in for the
Deployment's pod: same ServiceAccount, same ClusterRole, same KUBEDET_* settings. State lives in
$DEVCLUSTER_DIR/demo/ (pid file, kubeconfig, log), so `make cluster-down` finds and stops it.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
STATE = Path(os.environ.get("DEVCLUSTER_DIR", ROOT / ".devcluster"))
DEMO = STATE / "demo"
PID_FILE = DEMO / "operator.pid"
PORTS_FILE = DEMO / "operator.ports"
LOG_FILE = DEMO / "operator.log"
OPERATOR_KUBECONFIG = DEMO / "operator.kubeconfig"
ADMIN_KUBECONFIG = STATE / "kubeconfig"
KUBECTL = str(ROOT / "bin" / "kubectl")
NAMESPACE = "kubedet-system"
SERVICE_ACCOUNT = "kubedet-operator"
CONFIG_SELECTOR = "app.kubernetes.io/component=operator-config"


def kubectl(*args: str) -> str:
    return subprocess.run(
        [KUBECTL, f"--kubeconfig={ADMIN_KUBECONFIG}", *args], check=True, text=True, capture_output=True
    ).stdout


def running_pid() -> int | None:
    """The pid in the pid file, if that process is alive and is a kubedet operator (pids get reused)."""
    try:
        pid = int(PID_FILE.read_text())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (OSError, ValueError):
        return None
    return pid if b"kubedet" in cmdline and b"-m" in cmdline else None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_operator_kubeconfig() -> None:
    """The admin kubeconfig's cluster with the ServiceAccount's token: the operator gets exactly the
    permissions of the shipped ClusterRole, as in production."""
    token = kubectl("create", "token", SERVICE_ACCOUNT, "-n", NAMESPACE, "--duration=48h").strip()
    config = json.loads(ADMIN_KUBECONFIG.read_text())
    config["users"] = [{"name": SERVICE_ACCOUNT, "user": {"token": token}}]
    config["contexts"] = [
        {
            "name": "kubedet-operator",
            "context": {"cluster": config["clusters"][0]["name"], "user": SERVICE_ACCOUNT},
        }
    ]
    config["current-context"] = "kubedet-operator"
    OPERATOR_KUBECONFIG.write_text(json.dumps(config, indent=2))
    OPERATOR_KUBECONFIG.chmod(0o600)


def settings() -> dict[str, str]:
    """KUBEDET_* from the ConfigMap the Deployment's envFrom names (the generated name has a hash)."""
    items = json.loads(kubectl("get", "configmap", "-n", NAMESPACE, "-l", CONFIG_SELECTOR, "-o", "json"))[
        "items"
    ]
    if not items:
        raise SystemExit(f"no ConfigMap labelled {CONFIG_SELECTOR} in {NAMESPACE}: apply the manifests first")
    newest = max(items, key=lambda item: item["metadata"]["creationTimestamp"])
    return {str(k): str(v) for k, v in (newest.get("data") or {}).items()}


def healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def start(timeout: float) -> None:
    DEMO.mkdir(parents=True, exist_ok=True)
    if (pid := running_pid()) is not None:
        print(f"the operator is already running (pid {pid}); log: {LOG_FILE}")
        return
    write_operator_kubeconfig()
    health_port, metrics_port = free_port(), free_port()
    env = {
        **os.environ,
        **settings(),
        # Ports of this machine, not of a pod: pick free ones rather than the Deployment's 8080/8081.
        "KUBEDET_METRICS_PORT": str(metrics_port),
        "KUBECONFIG": str(OPERATOR_KUBECONFIG),
        "PYTHONPATH": f"{ROOT / 'operator'}:{ROOT / 'trainer_image'}",
    }
    with open(LOG_FILE, "ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "kubedet", f"--liveness=http://127.0.0.1:{health_port}/healthz"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            # Its own session: it outlives `make demo` and a Ctrl-C in the terminal.
            start_new_session=True,
            cwd=DEMO,
        )
    PID_FILE.write_text(str(process.pid))
    PORTS_FILE.write_text(json.dumps({"health": health_port, "metrics": metrics_port}))
    deadline = time.monotonic() + timeout
    while not healthy(health_port):
        if process.poll() is not None:
            raise SystemExit(f"the operator exited ({process.returncode}); see {LOG_FILE}")
        if time.monotonic() > deadline:
            raise SystemExit(f"the operator was not healthy after {timeout:.0f}s; see {LOG_FILE}")
        time.sleep(0.2)
    print(
        f"operator running as system:serviceaccount:{NAMESPACE}:{SERVICE_ACCOUNT} (pid {process.pid}), "
        f"health http://127.0.0.1:{health_port}/healthz, metrics http://127.0.0.1:{metrics_port}/metrics"
    )


def stop(timeout: float) -> None:
    pid = running_pid()
    if pid is None:
        PID_FILE.unlink(missing_ok=True)
        return
    # The process leads its own session (start_new_session), so signal the group it made.
    os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while running_pid() is not None and time.monotonic() < deadline:
        time.sleep(0.2)
    if running_pid() is not None:
        os.killpg(pid, signal.SIGKILL)
    PID_FILE.unlink(missing_ok=True)
    print(f"stopped the demo's operator (pid {pid})")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("command", choices=["start", "stop", "status"])
    parser.add_argument("--timeout", type=float, default=60.0)
    args = parser.parse_args()
    if args.command == "start":
        start(args.timeout)
    elif args.command == "stop":
        stop(args.timeout)
    else:
        pid = running_pid()
        print(f"running (pid {pid})" if pid else "stopped")
        sys.exit(0 if pid else 1)


if __name__ == "__main__":
    main()
