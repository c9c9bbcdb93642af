"""The plugin's pure parts: advice for every reason, permission messages, tables, trees, why's pick."""

from __future__ import annotations

import pytest

from kubedet.api.constants import Reason
from kubedet.cli import advice, render, why
from kubedet.cli.kube import forbidden_message, grants
from kubedet.cli.logs import prefixes
from kubedet.cli.main import parser


def test_every_problem_reason_has_advice() -> None:
    problems = set(Reason) - advice.HEALTHY
    assert problems <= set(advice.ADVICE), problems - set(advice.ADVICE)


def test_forbidden_names_the_statistics_role() -> None:
    assert grants("kubedet.io", "trainedmodels/status", "get") == ["kubedet-view-trained-model-statistics"]
    message = forbidden_message("get", "trainedmodels/status", " in namespace ns")
    assert "get kubedet.io/trainedmodels/status in namespace ns" in message
    assert "kubedet-view-trained-model-statistics" in message


def test_table_aligns_columns() -> None:
    assert render.table(["a", "bb"], [["xxx", 1]]).splitlines() == ["A     BB", "xxx   1"]


def test_progress_line() -> None:
    line = render.progress_line(
        {"epoch": 3, "totalEpochs": 12, "percent": 25, "etaSeconds": 250, "loss": 0.4, "bestMAP": 0.5}
    )
    assert "epoch 3/12" in line and " 25%" in line and "ETA 4m10s" in line and "best mAP 0.500" in line


def test_tree() -> None:
    lines = render.tree("root", [("a", [("b", [])]), ("c", [])])
    assert lines == ["root", "├── a", "│   └── b", "└── c"]


def test_why_picks_the_condition_that_holds_the_run() -> None:
    run = {
        "status": {
            "conditions": [
                {"type": "Validated", "status": "True", "reason": "Validated"},
                {"type": "Scheduled", "status": "False", "reason": "Queued", "message": "waits"},
            ]
        }
    }
    assert why.blocking_condition(run)["reason"] == "Queued"
    run["status"]["conditions"].append({"type": "Failed", "status": "True", "reason": "OutOfMemory"})
    assert why.blocking_condition(run)["reason"] == "OutOfMemory"


def test_log_prefixes_count_attempts_per_rank() -> None:
    def pod(name: str, created: str, rank: str) -> dict:
        annotations = {"batch.kubernetes.io/job-completion-index": rank}
        return {"metadata": {"name": name, "creationTimestamp": created, "annotations": annotations}}

    got = prefixes(
        [
            pod("b", "2026-01-01T00:00:02Z", "0"),
            pod("a", "2026-01-01T00:00:01Z", "0"),
            pod("c", "2026-01-01T00:00:01Z", "1"),
        ]
    )
    assert got == {"a": "[rank 0 attempt 1 a]", "b": "[rank 0 attempt 2 b]", "c": "[rank 1 attempt 1 c]"}


@pytest.mark.parametrize(
    "argv",
    [
        ["status", "r", "--watch", "--timeout", "5"],
        ["logs", "r", "-f"],
        ["why", "r"],
        ["stats", "m", "--plot", "d"],
        ["publish", "m"],
        ["unpublish", "m"],
        ["suspend", "r"],
        ["resume", "r"],
        ["lineage", "m"],
        ["list", "-A"],
        ["stats", "m", "--as", "alice", "--as-group", "g", "-n", "ns", "--context", "c", "-o", "json"],
    ],
)
def test_every_command_parses(argv: list[str]) -> None:
    assert parser().parse_args(argv).command == argv[0]
