"""`kubectl kubedet stats` shows the GPU time a run or model took, and its attempts."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from kubedet.cli.kube import EXIT_NOT_FOUND, MODELS, RUNS, CliError
from kubedet.cli.stats import stats
from kubedet.cli.usage import usage_lines

NOW = datetime(2026, 11, 26, 12, 20, 0, tzinfo=UTC)
EVICTED = {
    "number": 1,
    "podName": "r1-train-aaaaa",
    "startTime": "2026-11-26T12:00:00Z",
    "endTime": "2026-11-26T12:05:00Z",
    "outcome": "Evicted",
    "resumedFromEpoch": 0,
    "reachedEpoch": 4,
    "seconds": 300,
    "secondsLost": 40,
}
SUCCEEDED = {
    "number": 2,
    "podName": "r1-train-bbbbb",
    "startTime": "2026-11-26T12:05:10Z",
    "endTime": "2026-11-26T12:10:10Z",
    "outcome": "Succeeded",
    "resumedFromEpoch": 4,
    "reachedEpoch": 10,
    "seconds": 300,
    "secondsLost": 0,
}
TOTALS = {"gpuSeconds": 1200, "gpuSecondsLost": 80, "podSeconds": 600, "podSecondsLost": 40}


class FakeKube:
    def __init__(self, *objects: dict[str, Any]) -> None:
        self.objects = {(o["kind"], o["metadata"]["name"]): o for o in objects}

    def get(self, plural: str, name: str, namespace: str | None = None, status: bool = False) -> dict:
        kind = {RUNS: "TrainingRun", MODELS: "TrainedModel"}[plural]
        if (kind, name) not in self.objects:
            raise CliError(f"{plural} {name} not found", EXIT_NOT_FOUND)
        return self.objects[(kind, name)]


def printed(kube: FakeKube, name: str, output: str | None = None) -> str:
    lines: list[str] = []
    assert stats(kube, name, None, output, lines.append) == 0  # type: ignore[arg-type]
    return "\n".join(lines)


def test_a_models_gpu_time_and_attempts_are_shown() -> None:
    statistics = {**TOTALS, "attempts": [EVICTED, SUCCEEDED], "epochs": 7, "requestedEpochs": 20}
    model = {
        "kind": "TrainedModel",
        "metadata": {"name": "r1-model"},
        "status": {"statistics": {**statistics, "stoppedEarly": True, "bestEpoch": 4}},
    }
    text = printed(FakeKube(model), "r1-model")
    assert "stopped early after epoch 7 of 20" in text
    assert "GPU time: 1200 GPU-seconds (20m00s); lost to disruptions: 80 GPU-seconds (6.7%)" in text
    rows = [line.split() for line in text.splitlines() if line.startswith(("1 ", "2 "))]
    assert rows[0][:2] == ["1", "r1-train-aaaaa"] and "Evicted" in rows[0] and rows[0][-1] == "40s"
    assert rows[1][:2] == ["2", "r1-train-bbbbb"] and "Succeeded" in rows[1]
    assert " ".join(rows[1]).count("epoch 4") == 1, "resumed from epoch 4"


def test_a_cpu_run_counts_pod_seconds() -> None:
    lines = usage_lines({**TOTALS, "gpuSeconds": 0, "gpuSecondsLost": 0, "attempts": [EVICTED, SUCCEEDED]})
    assert lines[0].startswith("GPU time: none (trained on CPUs); pod time: 600 pod-seconds (10m00s)")
    assert lines[0].endswith("lost to disruptions: 40 pod-seconds (6.7%)")


def test_a_running_run_shows_its_attempts_so_far() -> None:
    running = {"number": 2, "podName": "r1-train-bbbbb", "startTime": "2026-11-26T12:05:10Z"}
    statistics = {
        "gpuSeconds": 600,
        "gpuSecondsLost": 0,
        "podSeconds": 300,
        "podSecondsLost": 0,
        "attempts": [{**EVICTED, "secondsLost": None}, running],
    }
    lines = usage_lines(statistics, gpus=2, now=NOW)
    assert "and 1780 so far in the running attempt" in lines[0]  # 890 s on 2 GPUs
    assert lines[-1].splitlines()[-1].split()[-2:] == ["Running", "-"]
    run = {
        "kind": "TrainingRun",
        "metadata": {"name": "r1"},
        "spec": {"resources": {"gpusPerNode": 2, "nodes": 1}},
        "status": {"phase": "Running", "statistics": statistics},
    }
    text = printed(FakeKube(run), "r1")
    assert text.startswith("TrainingRun r1  Running") and "r1-train-bbbbb" in text
    assert "history appears when it succeeds" in text
    as_json = json.loads(printed(FakeKube(run), "r1", "json"))
    assert as_json["model"] is None and as_json["statistics"]["gpuSeconds"] == 600
