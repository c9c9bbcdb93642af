"""Progress reports are throttled and translated into the API's Progress shape."""

from __future__ import annotations

import json

from kubedet_trainer.progress_api import RunStatusReporter, progress_of, report_body


def test_event_becomes_api_progress() -> None:
    progress = progress_of(
        {
            "epoch": 3,
            "maxEpochs": 10,
            "iteration": 30,
            "maxIterations": 100,
            "percent": 29.6,
            "etaSeconds": 70.4,
            "loss": float("nan"),
            "bestMAP": 0.5,
            "bestEpoch": 3,
        }
    )
    wire = progress.to_wire()
    assert wire["percent"] == 30 and wire["etaSeconds"] == 70 and wire["totalEpochs"] == 10
    assert "loss" not in wire, "a non-finite loss is not a number the API accepts"


def test_reports_within_the_interval_are_dropped_unless_the_epoch_changes() -> None:
    now = [0.0]
    # Port 9 (discard) on loopback refuses connections: every attempt that is made counts as a failure.
    reporter = RunStatusReporter(
        "http://127.0.0.1:9", lambda: "t", "ns", "run", None, min_interval=5, clock=lambda: now[0]
    )
    for second in range(4):
        now[0] = float(second)
        reporter.report({"phase": "iteration", "epoch": 1, "percent": second})
    assert reporter.failures == 1, "one report per interval within an epoch"
    reporter.report({"phase": "epoch", "epoch": 2, "percent": 50})
    assert reporter.failures == 2, "a new epoch is reported at once"
    now[0] = 10.0
    reporter.report({"phase": "iteration", "epoch": 2, "percent": 60})
    assert reporter.failures == 3


def test_reports_name_the_pod_and_where_its_attempt_resumed_from() -> None:
    event = {
        "epoch": 5,
        "iteration": 50,
        "resumedFromEpoch": 4,
        "resumedCheckpointSavedAt": "2026-11-26T12:04:20Z",
    }
    wire = progress_of(event, "run-1-train-bbbbb").to_wire()
    assert wire["podName"] == "run-1-train-bbbbb" and wire["resumedFromEpoch"] == 4
    assert wire["resumedCheckpointSavedAt"] == "2026-11-26T12:04:20Z"
    fresh = json.loads(report_body(progress_of({"epoch": 1, "resumedFromEpoch": 0}, "run-1-train-ccccc")))
    # A merge patch keeps what it leaves out: the previous attempt's checkpoint time is nulled.
    assert fresh["status"]["progress"]["resumedCheckpointSavedAt"] is None
    assert fresh["status"]["progress"]["resumedFromEpoch"] == 0
