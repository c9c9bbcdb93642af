"""`kubectl kubedet compare`: which evaluation answers for a model, how a missing one is made, and the
side-by-side figures."""

from __future__ import annotations

from typing import Any

from kubedet.cli.compare import Wanted, comparison, new_evaluation, pick, render_comparison

WANTED = Wanted("challenger", "golden", "test")
DIGEST, OTHER_DIGEST = "a" * 64, "b" * 64


def evaluation(
    name: str,
    *,
    model: str = "challenger",
    split: str = "test",
    phase: str | None = "Succeeded",
    created: str = "2026-12-01T10:00:00Z",
    digest: str | None = DIGEST,
    per_class: dict[str, float] | None = None,
    mAP: float = 0.5,
) -> dict[str, Any]:
    status: dict[str, Any] = {}
    if phase:
        status["phase"] = phase
    if phase == "Succeeded":
        status |= {
            "modelDigest": digest,
            "datasetDigest": "c" * 64,
            "images": 50,
            "metrics": {
                "bboxMAP": mAP,
                "bboxMAP50": 0.8,
                "perClassAP": per_class or {},
                "perClassRecall": dict.fromkeys(per_class or {}, 0.9),
            },
        }
    return {
        "metadata": {"name": name, "creationTimestamp": created},
        "spec": {
            "modelRef": {"name": model},
            "datasetRef": {"name": "golden"},
            "split": split,
            "resources": {"gpus": 0},
            "podMetadata": {"labels": {"team": "a"}},
        },
        "status": status,
    }


def test_the_newest_succeeded_evaluation_of_the_current_weights_answers() -> None:
    older = evaluation("older", created="2026-12-01T09:00:00Z")
    newer = evaluation("newer", created="2026-12-01T11:00:00Z")
    stale = evaluation("stale-weights", created="2026-12-01T12:00:00Z", digest=OTHER_DIGEST)
    other_split = evaluation("val", split="val", created="2026-12-01T12:00:00Z")
    other_model = evaluation("champion", model="champion", created="2026-12-01T12:00:00Z")
    assert (
        pick([older, newer, stale, other_split, other_model], WANTED, DIGEST)["metadata"]["name"] == "newer"
    )


def test_an_evaluation_under_way_is_waited_for_rather_than_duplicated() -> None:
    running = evaluation("running", phase="Running")
    failed = evaluation("failed", phase="Failed", created="2026-12-01T12:00:00Z")
    assert pick([failed, running], WANTED, DIGEST)["metadata"]["name"] == "running"
    assert pick([failed], WANTED, DIGEST) is None


def test_without_a_recorded_digest_any_evaluation_of_the_model_answers() -> None:
    assert pick([evaluation("x", digest=OTHER_DIGEST)], WANTED, None) is not None


def test_a_missing_evaluation_is_placed_like_the_other_models() -> None:
    created = new_evaluation(WANTED, like=evaluation("champion-eval", model="champion"))
    assert created["metadata"]["generateName"] == "challenger-on-golden-test-"
    spec = created["spec"]
    assert spec["modelRef"] == {"name": "challenger"} and spec["split"] == "test"
    assert spec["resources"] == {"gpus": 0} and spec["podMetadata"] == {"labels": {"team": "a"}}
    assert new_evaluation(WANTED, gpus=1)["spec"]["resources"] == {"gpus": 1}
    assert "resources" not in new_evaluation(WANTED)["spec"]


def test_comparison_puts_the_worst_class_change_first() -> None:
    champion = evaluation(
        "a", model="champion", mAP=0.5, per_class={"tyre": 0.4, "hazardous": 0.7, "bag": 0.5}
    )
    challenger = evaluation("b", mAP=0.55, per_class={"tyre": 0.6, "hazardous": 0.62, "bag": 0.5})
    result = comparison(champion, challenger)
    assert [row["class"] for row in result["classes"]] == ["hazardous", "bag", "tyre"]
    assert result["classes"][0]["delta"] == -0.08
    summary = {row["metric"]: row for row in result["summary"]}
    assert summary["bbox mAP"]["delta"] == 0.05 and summary["mAP small"]["delta"] is None
    text = render_comparison(result, "golden", "test")
    assert "A: champion (evaluation a)" in text and "on Dataset golden, split test: 50 images" in text
    hazardous = next(line for line in text.splitlines() if line.startswith("hazardous"))
    assert hazardous.split() == ["hazardous", "0.700", "0.620", "-0.080", "0.900", "0.900"]
    assert "warning" not in text


def test_comparison_warns_when_the_annotations_differ() -> None:
    a, b = evaluation("a", per_class={"x": 0.1}), evaluation("b", per_class={"x": 0.2})
    b["status"]["datasetDigest"] = "d" * 64
    assert "datasetDigest differs" in render_comparison(comparison(a, b), "golden", "test")


def test_lineage_shows_what_a_model_replaced_and_what_replaced_it() -> None:
    from kubedet.cli.lineage import lines

    policy = {"publishPolicy": {"modelLine": "waste"}}
    v2 = {
        "metadata": {"name": "v2"},
        "spec": {"trainingRunRef": {"name": "r2"}, "baseModelRef": {"name": "v1"}, **policy},
        "status": {"phase": "Published", "replaces": {"name": "v1"}},
    }
    v1 = {
        "metadata": {"name": "v1"},
        "spec": {**policy},
        "status": {"phase": "Ready", "replacedBy": {"name": "v2"}},
    }
    text = "\n".join(lines([v2, v1]))
    assert "replaced v1 as line waste's published model" in text
    assert "replaced by v2 in line waste" in text
