"""Follow one kubedet object and print a line whenever its phase or a condition changes.

    watch.py KIND NAME --namespace NS --until Succeeded,Failed [--timeout 120]

Like `kubectl get -w`, but bounded: it stops at one of the phases in --until (exit 0) or after
--timeout seconds (exit 1), so a demo or a script never hangs on a run that does not finish.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
KUBECTL = str(ROOT / "bin" / "kubectl")
POLL_SECONDS = 0.5


def get(kind: str, name: str, namespace: str) -> dict[str, Any] | None:
    result = subprocess.run(
        [KUBECTL, "get", kind, name, "-n", namespace, "-o", "json"],
        text=True,
        capture_output=True,
        env=os.environ,
    )
    return dict(json.loads(result.stdout)) if result.returncode == 0 else None


def summary(body: dict[str, Any]) -> list[str]:
    """One string per fact worth a line: the phase and each condition's status and reason."""
    status = body.get("status") or {}
    lines = [f"phase={status.get('phase', '-')}"]
    for condition in status.get("conditions", []):
        message = condition.get("message", "")
        if len(message) > 90:
            message = message[:87] + "..."
        lines.append(f"{condition['type']}={condition['status']} {condition.get('reason', '')}: {message}")
    progress = status.get("progress") or {}
    if progress.get("epoch"):
        # What the trainer reports through its own token while it trains (kubectl get tr shows it too).
        best = (
            f", best mAP {progress['bestMAP']:.3f} (epoch {progress.get('bestEpoch')})"
            if "bestMAP" in progress
            else ""
        )
        loss = f", loss {progress['loss']:.3f}" if "loss" in progress else ""
        eta = f", ETA {progress['etaSeconds']}s" if "etaSeconds" in progress else ""
        lines.append(
            f"progress: epoch {progress['epoch']}/{progress.get('totalEpochs', '?')}, "
            f"{progress.get('percent', 0)}%{eta}{loss}{best}"
        )
    if status.get("jobName"):
        lines.append(f"job={status['jobName']}")
    for key in ("trainedModelRef", "errorConfigMapRef"):
        if status.get(key):
            lines.append(f"{key}={status[key]['name']}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("kind")
    parser.add_argument("name")
    parser.add_argument("--namespace", "-n", required=True)
    parser.add_argument("--until", required=True, help="comma-separated phases that end the watch")
    parser.add_argument("--timeout", type=float, default=120.0)
    args = parser.parse_args()
    until = set(args.until.split(","))
    start = time.monotonic()
    seen: set[str] = set()
    while True:
        elapsed = time.monotonic() - start
        body = get(args.kind, args.name, args.namespace)
        if body is not None:
            for line in summary(body):
                if line not in seen:
                    seen.add(line)
                    print(f"  [{elapsed:5.1f}s] {args.kind}/{args.name}  {line}", flush=True)
            if (body.get("status") or {}).get("phase") in until:
                return
        if elapsed > args.timeout:
            print(
                f"  gave up after {args.timeout:.0f}s: {args.kind}/{args.name} "
                f"is not {' or '.join(sorted(until))}",
                file=sys.stderr,
            )
            sys.exit(1)
        time.sleep(POLL_SECONDS)


if __name__ == "__main__":
    main()
