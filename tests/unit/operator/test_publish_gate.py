"""Publish gates and model lines as pure decisions: which evaluations a gate needs, the checks and the
verdict with its numbers, and which model a line publishes."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from tests.unit.operator import fixtures

from kubedet.api.constants import ConditionStatus, ConditionType, Reason
from kubedet.api.modelevaluation import ModelEvaluation
from kubedet.api.modelline import ModelLine
from kubedet.api.trainedmodel import TrainedModel
from kubedet.builders.modelline import decide_line
from kubedet.builders.publishgate import GATE_LABEL, decide_gate, find_evaluation

POLICY: dict[str, Any] = {
    "modelLine": "waste",
    "goldenDatasetRef": {"name": "golden"},
    "split": "test",
    "minBBoxMAP": 0.4,
    "minClassAP": {"hazardous": 0.3},
    "mustNotRegress": True,
    "evaluation": {"resources": {"gpus": 0}, "podMetadata": {"labels": {"team": "a"}}},
}
CHALLENGER_SHA, CHAMPION_SHA = "a" * 64, "c" * 64


def model(
    name: str,
    *,
    sha: str = CHALLENGER_SHA,
    policy: dict[str, Any] | None = None,
    published: bool = False,
    ready: bool = True,
    created: str = "2026-11-26T10:00:00Z",
    gate_passed: bool | None = None,
) -> TrainedModel:
    status: dict[str, Any] = {"digests": {"checkpoint": sha}}
    if ready:
        status["conditions"] = [c.to_wire() for c in fixtures.ready()]
    if gate_passed is not None:
        status["publishGate"] = {"passed": gate_passed}
    return TrainedModel.model_validate(
        {
            "apiVersion": "kubedet.io/v1alpha1",
            "kind": "TrainedModel",
            "metadata": {
                "name": name,
                "namespace": "team-a",
                "uid": f"{name}-uid",
                "generation": 1,
                "creationTimestamp": created,
            },
            "spec": {
                "config": "pvc://models/x/config.py",
                "checkpoint": {"uri": "pvc://models/x/checkpoint.pth"},
                "published": published,
                "publishPolicy": POLICY if policy is None else policy,
            },
            "status": status,
        }
    )


def evaluation(
    name: str, model_name: str, *, sha: str, phase: str = "Succeeded", mAP: float = 0.5, **per_class: float
) -> ModelEvaluation:
    status: dict[str, Any] = {"phase": phase}
    if phase == "Succeeded":
        status |= {
            "modelDigest": sha,
            "metrics": {"bboxMAP": mAP, "bboxMAP50": 0.8, "perClassAP": per_class},
        }
    if phase == "Failed":
        status["conditions"] = [
            {
                "type": "Failed",
                "status": "True",
                "reason": "OutOfMemory",
                "message": "pod x was killed",
                "lastTransitionTime": "2026-11-26T12:00:00Z",
            }
        ]
    return ModelEvaluation.model_validate(
        {
            "metadata": {"name": name, "namespace": "team-a", "creationTimestamp": "2026-11-26T11:00:00Z"},
            "spec": {"modelRef": {"name": model_name}, "datasetRef": {"name": "golden"}, "split": "test"},
            "status": status,
        }
    )


def gate_condition(status: Any) -> tuple[str, str, str]:
    found = next(c for c in status.conditions if c.type == ConditionType.PUBLISH_GATE)
    return found.status, found.reason, found.message


def test_a_gate_first_creates_both_evaluations_placed_as_the_policy_says() -> None:
    decision = decide_gate(model("challenger"), model("champion", sha=CHAMPION_SHA), [], True, fixtures.NOW)
    assert [b["spec"]["modelRef"]["name"] for b in decision.create] == ["challenger", "champion"]
    created = decision.create[0]
    assert created["metadata"]["labels"][GATE_LABEL] == "waste"
    assert created["metadata"]["ownerReferences"][0]["name"] == "challenger"
    assert created["spec"]["resources"] == {"gpus": 0} and created["spec"]["split"] == "test"
    assert created["spec"]["podMetadata"] == {"labels": {"team": "a"}}
    assert created["metadata"]["name"] != decision.create[1]["metadata"]["name"]
    assert gate_condition(decision.status)[:2] == (ConditionStatus.UNKNOWN, Reason.EVALUATING)
    assert not decision.publish


def test_evaluations_of_other_weights_are_not_reused() -> None:
    stale = evaluation("old-weights", "challenger", sha="f" * 64)
    fresh = evaluation("these-weights", "challenger", sha=CHALLENGER_SHA)
    policy = model("challenger").spec.publish_policy
    assert policy is not None
    assert find_evaluation([stale], model("challenger"), policy) is None
    found = find_evaluation([stale, fresh], model("challenger"), policy)
    assert found is not None and found.name == "these-weights"


def test_a_challenger_worse_on_one_gated_class_is_kept_unpublished_naming_the_class_and_both_aps() -> None:
    evaluations = [
        evaluation("e1", "challenger", sha=CHALLENGER_SHA, mAP=0.55, hazardous=0.412, tyre=0.7),
        evaluation("e2", "champion", sha=CHAMPION_SHA, mAP=0.5, hazardous=0.503, tyre=0.5),
    ]
    decision = decide_gate(
        model("challenger"), model("champion", sha=CHAMPION_SHA), evaluations, True, fixtures.NOW
    )
    assert decision.create == [] and not decision.publish
    gate = decision.status.publish_gate
    assert gate is not None and gate.passed is False
    failed = [c for c in gate.checks if not c.passed]
    assert [(c.gate, c.subject, c.value, c.champion_value) for c in failed] == [
        ("mustNotRegress", "class hazardous", 0.412, 0.503)
    ]
    status, reason, message = gate_condition(decision.status)
    assert (status, reason) == (ConditionStatus.FALSE, Reason.GATE_FAILED)
    assert "class hazardous 0.412 < 0.503 (published model champion: 0.503)" in message
    assert decision.event is not None and decision.event[0] == "Warning"


def test_a_better_challenger_passes_and_is_published_when_its_run_asked() -> None:
    evaluations = [
        evaluation("e1", "challenger", sha=CHALLENGER_SHA, mAP=0.6, hazardous=0.55),
        evaluation("e2", "champion", sha=CHAMPION_SHA, mAP=0.5, hazardous=0.5),
    ]
    champion = model("champion", sha=CHAMPION_SHA)
    decision = decide_gate(model("challenger"), champion, evaluations, True, fixtures.NOW)
    assert decision.publish
    assert decision.status.publish_gate is not None and decision.status.publish_gate.passed
    _, reason, message = gate_condition(decision.status)
    assert reason == Reason.GATE_PASSED and "against published model champion" in message
    assert not decide_gate(model("challenger"), champion, evaluations, False, fixtures.NOW).publish


def test_minimums_are_checked_without_a_champion_and_a_missing_class_fails() -> None:
    evaluations = [evaluation("e1", "challenger", sha=CHALLENGER_SHA, mAP=0.35, tyre=0.9)]
    decision = decide_gate(model("challenger"), None, evaluations, True, fixtures.NOW)
    gate = decision.status.publish_gate
    assert gate is not None and gate.passed is False and gate.champion_ref is None
    failed = {(c.gate, c.subject) for c in gate.checks if not c.passed}
    assert failed == {("minBBoxMAP", "bbox mAP"), ("minClassAP", "class hazardous")}
    assert "class hazardous none < minClassAP 0.300" in gate_condition(decision.status)[2]


def test_tolerance_and_regression_classes_narrow_what_must_not_regress() -> None:
    policy = {**POLICY, "minClassAP": None, "regressionClasses": ["hazardous"], "tolerance": 0.05}
    evaluations = [
        evaluation("e1", "challenger", sha=CHALLENGER_SHA, mAP=0.47, hazardous=0.46, tyre=0.1),
        evaluation("e2", "champion", sha=CHAMPION_SHA, mAP=0.5, hazardous=0.5, tyre=0.9),
    ]
    decision = decide_gate(
        model("challenger", policy=policy),
        model("champion", sha=CHAMPION_SHA),
        evaluations,
        False,
        fixtures.NOW,
    )
    gate = decision.status.publish_gate
    assert gate is not None and gate.passed is True
    assert {c.subject for c in gate.checks if c.gate == "mustNotRegress"} == {"bbox mAP", "class hazardous"}


def test_a_failed_evaluation_fails_the_gate_with_its_reason() -> None:
    evaluations = [evaluation("e1", "challenger", sha=CHALLENGER_SHA, phase="Failed")]
    decision = decide_gate(model("challenger"), None, evaluations, True, fixtures.NOW)
    status, reason, message = gate_condition(decision.status)
    assert (status, reason) == (ConditionStatus.FALSE, Reason.EVALUATION_FAILED)
    assert "e1" in message and "OutOfMemory" in message and not decision.create


def test_a_model_not_ready_waits_and_the_champion_is_not_judged_against_itself() -> None:
    waiting = decide_gate(model("challenger", ready=False), None, [], True, fixtures.NOW)
    assert waiting.create == [] and gate_condition(waiting.status)[1] == Reason.PENDING
    champion = model("champion", sha=CHAMPION_SHA)
    own = [evaluation("e2", "champion", sha=CHAMPION_SHA, mAP=0.5, hazardous=0.5)]
    decision = decide_gate(champion, champion, own, False, fixtures.NOW)
    gate = decision.status.publish_gate
    assert gate is not None and gate.passed and gate.champion_ref is None


def test_the_same_verdict_again_changes_nothing() -> None:
    evaluations = [evaluation("e1", "challenger", sha=CHALLENGER_SHA, mAP=0.6, hazardous=0.5)]
    first = decide_gate(model("challenger"), None, evaluations, False, fixtures.NOW)
    judged = model("challenger").model_copy(update={"status": first.status})
    again = decide_gate(judged, None, evaluations, False, fixtures.NOW + timedelta(minutes=5))
    assert again.status.to_wire() == first.status.to_wire() and again.event is None


def line(published: str | None = None) -> ModelLine:
    status = (
        {"publishedModelRef": {"name": published}, "publishedAt": "2026-11-26T09:00:00Z"} if published else {}
    )
    return ModelLine.model_validate(
        {"metadata": {"name": "waste", "namespace": "team-a", "resourceVersion": "7"}, "status": status}
    )


def test_a_newly_published_model_replaces_the_line_s_in_one_status() -> None:
    models = [
        model("champion", sha=CHAMPION_SHA, published=True, created="2026-11-20T00:00:00Z"),
        model("challenger", published=True, gate_passed=True),
        model("unrelated-loser", published=False),
    ]
    decision = decide_line(line("champion"), models, fixtures.NOW)
    assert decision.status is not None and decision.status.published_model_ref is not None
    assert decision.status.published_model_ref.name == "challenger"
    assert decision.unpublish == ["champion"] and decision.replaced == ("challenger", "champion")
    change = decision.status.history[0]
    assert change.replaced_ref is not None and change.replaced_ref.name == "champion"
    assert change.overridden is False


def test_a_publish_past_a_failed_gate_is_recorded_as_overridden() -> None:
    decision = decide_line(line(), [model("forced", published=True, gate_passed=False)], fixtures.NOW)
    assert decision.status is not None and decision.status.history[0].overridden is True
    assert decision.replaced is None and decision.unpublish == []


@pytest.mark.parametrize("published", [True, False])
def test_a_settled_line_changes_nothing_and_an_unpublished_champion_empties_it(published: bool) -> None:
    decision = decide_line(line("champion"), [model("champion", published=published)], fixtures.NOW)
    if published:
        assert decision.status is None and decision.unpublish == []
    else:
        assert decision.status is not None and decision.status.published_model_ref is None


def test_an_evaluation_of_an_earlier_golden_dataset_generation_is_stale() -> None:
    old = evaluation("on-generation-1", "challenger", sha=CHALLENGER_SHA)
    assert old.status is not None
    old.status.dataset_generation = 1
    decision = decide_gate(model("challenger"), None, [old], False, fixtures.NOW, dataset_generation=2)
    assert [b["metadata"]["name"] for b in decision.create] == ["challenger-on-golden-test-aaaaaaaa-g2"]
    again = decide_gate(model("challenger"), None, [old], False, fixtures.NOW, dataset_generation=1)
    gate = again.status.publish_gate
    assert again.create == [] and gate is not None and gate.evaluation_ref is not None
    assert gate.evaluation_ref.name == "on-generation-1"
