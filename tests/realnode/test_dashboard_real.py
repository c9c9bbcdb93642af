"""`kubectl kubedet dashboard` on a real training (the real node, the trainer image): the run page's
progress bar advances as the trainer reports through its pod's token, the live log streams the pod's
real log, and once the model exists its validation samples picture is read from the claim's volume.
Debian's Chromium through Playwright, as in tests/integration/test_dashboard.py."""

from __future__ import annotations

from typing import Any

import pytest
from tests.devcluster import Devcluster, wait_for
from tests.integration.test_dashboard import browser, dashboard, open_page, photograph
from tests.realnode.in_cluster import apply, demo, get

pytestmark = pytest.mark.realnode
__all__ = ["browser"]  # the fixture, shared with the integration test

BAR = "[data-testid=run-progress] [data-testid=progress]"


def test_the_dashboard_follows_a_real_training(devcluster: Devcluster, data_ns: str, browser: Any) -> None:
    run = demo.training_run("watched", "shapes", 6)
    run["spec"]["hyperparameters"]["valInterval"] = 2
    apply(devcluster, data_ns, [run])
    with dashboard(devcluster, data_ns) as url:
        page = open_page(browser, url, f"/runs/{data_ns}/watched")
        # The log button appears while the run's pod runs; its stream is the kubelet's, via the API server.
        page.wait_for_selector("[data-testid=follow-logs]", timeout=300_000)
        page.click("[data-testid=follow-logs]")
        page.wait_for_function(
            "document.querySelector('[data-testid=log]').textContent.includes('\"kind\":\"progress\"')",
            timeout=300_000,
        )
        page.wait_for_function(
            f"Number(document.querySelector('{BAR}')?.dataset.percent) > 0", timeout=300_000
        )
        first = int(page.get_attribute(BAR, "data-percent") or 0)
        seen_running = get(devcluster, data_ns, "trainingrun", "watched")["status"]["phase"] == "Running"
        page.wait_for_function(
            f"Number(document.querySelector('{BAR}')?.dataset.percent) > {first}", timeout=300_000
        )
        assert seen_running and first < 100, "the bar moved while the run trained, not only at its end"
        photograph(page, "real-run-training")

        def succeeded() -> bool:
            return (
                get(devcluster, data_ns, "trainingrun", "watched").get("status", {}).get("phase")
                == "Succeeded"
            )

        wait_for(succeeded, timeout=600, interval=2, message="the real training to succeed")
        # The page updates itself: the model's curves, per-class AP and the trainer's picture.
        page.wait_for_selector("[data-testid=per-class-row]", timeout=60_000)
        page.wait_for_function(
            "document.querySelector('[data-testid=samples-image]')?.naturalWidth === 1600", timeout=60_000
        )
        assert page.query_selector("[data-testid=map-chart] path[data-series='bbox mAP']")
        photograph(page, "real-run-succeeded")
