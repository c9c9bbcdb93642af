"""Photograph `kubectl kubedet dashboard` on the demo's objects (after `make demo`), for the README:
`make dashboard-screenshots` writes docs/images/dashboard-*.png. Debian's Chromium, driven by Playwright."""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[2]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--namespace", default="kubedet-demo")
    parser.add_argument("--run", default="shapes-rtmdet-tiny")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images")
    args = parser.parse_args()
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    args.out.mkdir(parents=True, exist_ok=True)
    server = subprocess.Popen(
        [sys.executable, "-m", "kubedet.cli", "dashboard", "--no-browser", "-n", args.namespace],
        stdout=subprocess.PIPE,
        text=True,
        env=os.environ,
    )
    try:
        assert server.stdout is not None
        line = server.stdout.readline()
        found = re.search(r"http://\S+", line)
        if not found:
            print(f"the dashboard did not start: {line!r}", file=sys.stderr)
            return 1
        url = found.group(0)
        pages = {
            "runs": ("/runs", "[data-testid=run-row]"),
            "run": (f"/runs/{args.namespace}/{args.run}", "[data-testid=per-class-row]"),
            "models": ("/models", "[data-testid=lineage-edge]"),
            "datasets": ("/datasets", "[data-testid=split-row]"),
        }
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
            for name, (route, ready) in pages.items():
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                page.goto(f"{url}&page={route}")
                page.wait_for_selector(ready, timeout=30_000)
                if name == "run":  # the trainer's picture, read from the claim's volume on this machine
                    page.wait_for_function(
                        "document.querySelector('[data-testid=samples-image]')?.complete", timeout=30_000
                    )
                target = args.out / f"dashboard-{name}.png"
                page.screenshot(path=str(target), full_page=True)
                print(f"wrote {target}")
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=10)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
