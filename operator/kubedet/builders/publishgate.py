"""A model's publish gate: the evaluations it needs, the checks on their figures, and the verdict.

`decide_gate` is level-based: from the model, its line's published model and the evaluations that exist
it derives the verdict (or what to create to reach one), whatever happened before. An evaluation is
reused when it scored the same weights (status.modelDigest) on the same golden split, whoever made it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from kubedet.api.common import LocalObjectReference
from kubedet.api.conditions import get_condition, is_condition_true, set_condition
from kubedet.api.constants import MANAGED_BY, ConditionStatus, ConditionType, Label, Phase, Reason
from kubedet.api.modelevaluation import EvaluationTemplate, ModelEvaluation, ModelEvaluationSpec
from kubedet.api.publishing import GateCheck, PublishGateStatus, PublishPolicy
from kubedet.api.trainedmodel import TrainedModel, TrainedModelStatus
from kubedet.builders import naming
from kubedet.builders.meta import owner_reference

GATE_LABEL = "kubedet.io/publish-gate"
"""On the evaluations a gate creates: the model line they were made for."""


def checkpoint_digest(model: TrainedModel) -> str | None:
    digests = model.status.digests if model.status else None
    return digests.checkpoint if digests else None


def answers(
    evaluation: ModelEvaluation, model: TrainedModel, policy: PublishPolicy, dataset_generation: int | None
) -> bool:
    """The evaluation scores this model's current weights on the policy's golden split as it is now."""
    spec, status = evaluation.spec, evaluation.status
    if (spec.model_ref.name, spec.dataset_ref.name, spec.split) != (
        model.name,
        policy.golden_dataset_ref.name,
        policy.split,
    ):
        return False
    digest = checkpoint_digest(model)
    scored = status.model_digest if status else None
    if digest and scored and scored != digest:
        return False
    scored_generation = status.dataset_generation if status else None
    return not (dataset_generation and scored_generation and scored_generation != dataset_generation)


def find_evaluation(
    evaluations: list[ModelEvaluation],
    model: TrainedModel,
    policy: PublishPolicy,
    dataset_generation: int | None = None,
) -> ModelEvaluation | None:
    """A succeeded evaluation that answers, else one on its way, else a failed one (newest first)."""
    usable = [e for e in evaluations if answers(e, model, policy, dataset_generation)]
    usable.sort(key=lambda e: str(e.metadata.get("creationTimestamp") or ""), reverse=True)
    for phases in ((Phase.SUCCEEDED,), (None, Phase.PENDING, Phase.RUNNING), (Phase.FAILED,)):
        found = next((e for e in usable if (e.status.phase if e.status else None) in phases), None)
        if found is not None:
            return found
    return None


def gate_evaluation_name(model: TrainedModel, policy: PublishPolicy, dataset_generation: int | None) -> str:
    """Deterministic per weights and dataset generation: a retry finds the evaluation it made; new
    weights or a changed dataset get a new one."""
    weights = (checkpoint_digest(model) or "undigested")[:8]
    suffix = f"{weights}-g{dataset_generation or 0}"
    return naming.gate_evaluation_name(model.name, policy.golden_dataset_ref.name, policy.split, suffix)


def build_gate_evaluation(
    model: TrainedModel, policy: PublishPolicy, dataset_generation: int | None = None
) -> dict[str, Any]:
    """The ModelEvaluation a gate needs of `model` (the candidate or its line's published model), owned by
    `model` whichever gate asked for it: it measures those weights and goes with them."""
    template = policy.evaluation or EvaluationTemplate()
    spec = ModelEvaluationSpec(
        **template.model_dump(),
        model_ref=LocalObjectReference(name=model.name),
        dataset_ref=policy.golden_dataset_ref,
        split=policy.split,
    )
    return {
        "apiVersion": "kubedet.io/v1alpha1",
        "kind": "ModelEvaluation",
        "metadata": {
            "name": gate_evaluation_name(model, policy, dataset_generation),
            "namespace": model.namespace,
            "labels": {
                Label.TRAINED_MODEL: model.name[:63],
                GATE_LABEL: policy.model_line,
                Label.MANAGED_BY: MANAGED_BY,
            },
            "ownerReferences": [owner_reference(model, controller=False)],
        },
        "spec": spec.to_wire(),
    }


@dataclass
class GateDecision:
    status: TrainedModelStatus
    """The model's status with publishGate and the PublishGate condition."""
    create: list[dict[str, Any]] = field(default_factory=list)
    """ModelEvaluations to create."""
    publish: bool = False
    """Set spec.published on the model: it passed and its run asked for publishing."""
    event: tuple[str, str, str] | None = None
    """(type, reason, message) when the verdict changed."""


def _metrics(evaluation: ModelEvaluation) -> dict[str, Any]:
    status = evaluation.status
    return status.metrics.to_wire() if status and status.metrics else {}


def _fmt(value: float | None) -> str:
    return "none" if value is None else f"{value:.3f}"


def gate_checks(
    policy: PublishPolicy, candidate: ModelEvaluation, champion: ModelEvaluation | None
) -> list[GateCheck]:
    """Every check the policy asks for, failed ones first."""
    mine = _metrics(candidate)
    checks: list[GateCheck] = []
    if policy.min_bbox_map is not None:
        value = mine.get("bboxMAP")
        checks.append(
            GateCheck(
                gate="minBBoxMAP",
                subject="bbox mAP",
                passed=value is not None and value >= policy.min_bbox_map,
                value=value,
                threshold=policy.min_bbox_map,
            )
        )
    per_class = mine.get("perClassAP") or {}
    for name, minimum in sorted((policy.min_class_ap or {}).items()):
        value = per_class.get(name)
        checks.append(
            GateCheck(
                gate="minClassAP",
                subject=f"class {name}",
                passed=value is not None and value >= minimum,
                value=value,
                threshold=minimum,
            )
        )
    if policy.must_not_regress and champion is not None:
        theirs = _metrics(champion)
        subjects: list[tuple[str, float | None, float | None]] = [
            ("bbox mAP", mine.get("bboxMAP"), theirs.get("bboxMAP"))
        ]
        their_classes = theirs.get("perClassAP") or {}
        names = policy.regression_classes or sorted(n for n, v in their_classes.items() if v is not None)
        subjects += [(f"class {n}", per_class.get(n), their_classes.get(n)) for n in sorted(names)]
        for subject, value, champion_value in subjects:
            if champion_value is None:
                continue  # nothing to regress from: the champion had no figure for it
            threshold = round(champion_value - policy.tolerance, 4)
            checks.append(
                GateCheck(
                    gate="mustNotRegress",
                    subject=subject,
                    passed=value is not None and value >= threshold,
                    value=value,
                    threshold=threshold,
                    champion_value=champion_value,
                )
            )
    checks.sort(key=lambda c: c.passed)
    return checks


def describe_check(check: GateCheck, champion: str | None) -> str:
    if check.gate == "mustNotRegress":
        verb = ">=" if check.passed else "<"
        return (
            f"{check.subject} {_fmt(check.value)} {verb} {_fmt(check.threshold)} "
            f"(published model {champion}: {_fmt(check.champion_value)})"
        )
    verb = ">=" if check.passed else "<"
    return f"{check.subject} {_fmt(check.value)} {verb} {check.gate} {_fmt(check.threshold)}"


def verdict_message(checks: list[GateCheck], champion: str | None, policy: PublishPolicy) -> str:
    failed = [describe_check(c, champion) for c in checks if not c.passed]
    where = f"on {policy.golden_dataset_ref.name}/{policy.split}"
    if failed:
        return f"failed {len(failed)} of {len(checks)} checks {where}: " + "; ".join(failed)
    against = f" against published model {champion}" if champion else " (the line has no published model)"
    passed = "; ".join(describe_check(c, champion) for c in checks[:6])
    return f"passed {len(checks)} checks {where}{against}" + (f": {passed}" if passed else "")


def decide_gate(
    model: TrainedModel,
    champion: TrainedModel | None,
    evaluations: list[ModelEvaluation],
    publish_requested: bool,
    now: datetime,
    dataset_generation: int | None = None,
) -> GateDecision:
    """The gate's state for `model` (which has a publishPolicy); `champion` is its line's published model
    (None when the line has none, or it is `model` itself)."""
    policy = model.spec.publish_policy
    assert policy is not None, "decide_gate is for models with a publishPolicy"
    status = (model.status or TrainedModelStatus()).model_copy(deep=True)
    decision = GateDecision(status=status)
    if not (model.status and is_condition_true(model.status.conditions, ConditionType.READY)):
        return _verdict(decision, model, None, Reason.PENDING, "waiting until the model is Ready", now)
    if champion is not None and champion.name == model.name:
        champion = None
    gate = PublishGateStatus(
        model_line=policy.model_line,
        champion_ref=LocalObjectReference(name=champion.name) if champion else None,
    )
    generation = dataset_generation
    mine = find_evaluation(evaluations, model, policy, generation)
    theirs = None
    if champion is not None and policy.must_not_regress:
        theirs = find_evaluation(evaluations, champion, policy, generation)
    if mine is None:
        decision.create.append(build_gate_evaluation(model, policy, generation))
    if champion is not None and policy.must_not_regress and theirs is None:
        decision.create.append(build_gate_evaluation(champion, policy, generation))
    gate.evaluation_ref = LocalObjectReference(name=mine.name) if mine else None
    gate.champion_evaluation_ref = LocalObjectReference(name=theirs.name) if theirs else None
    needed = [e for e in (mine, theirs) if e is not None]
    failed = [e for e in needed if e.status and e.status.phase == Phase.FAILED]
    if failed:
        reason = _failure(failed[0])
        gate.passed = False
        gate.evaluated_at = now
        return _verdict(decision, model, gate, Reason.EVALUATION_FAILED, reason, now, passed=False)
    if decision.create or any(not (e.status and e.status.phase == Phase.SUCCEEDED) for e in needed):
        waiting = ", ".join(
            [str(b["metadata"]["name"]) for b in decision.create]
            + [e.name for e in needed if not (e.status and e.status.phase == Phase.SUCCEEDED)]
        )
        return _verdict(decision, model, gate, Reason.EVALUATING, f"waiting for evaluations {waiting}", now)
    assert mine is not None
    gate.checks = gate_checks(policy, mine, theirs)
    gate.passed = all(c.passed for c in gate.checks)
    gate.evaluated_at = _kept_time(model, gate, now)
    message = verdict_message(gate.checks, champion.name if champion else None, policy)
    reason = Reason.GATE_PASSED if gate.passed else Reason.GATE_FAILED
    decision = _verdict(decision, model, gate, reason, message, now, passed=gate.passed)
    decision.publish = bool(gate.passed and publish_requested and not model.spec.published)
    return decision


def _kept_time(model: TrainedModel, gate: PublishGateStatus, now: datetime) -> datetime:
    # The same verdict re-derived keeps its time, so an unchanged gate writes nothing.
    before = model.status.publish_gate if model.status else None
    if (
        before is not None
        and before.evaluated_at
        and before.model_copy(update={"evaluated_at": None})
        == (gate.model_copy(update={"evaluated_at": None}))
    ):
        return before.evaluated_at
    return now


def _failure(evaluation: ModelEvaluation) -> str:
    failed = get_condition(evaluation.status.conditions, ConditionType.FAILED) if evaluation.status else None
    detail = f"{failed.reason}: {failed.message}" if failed else "it failed"
    return f"evaluation {evaluation.name} failed, so the gate cannot pass ({detail})"


def _verdict(
    decision: GateDecision,
    model: TrainedModel,
    gate: PublishGateStatus | None,
    reason: Reason,
    message: str,
    now: datetime,
    passed: bool | None = None,
) -> GateDecision:
    status = decision.status
    if gate is not None:
        status.publish_gate = gate
    wanted = ConditionStatus.UNKNOWN if passed is None else ConditionStatus(str(passed).capitalize())
    before = get_condition(status.conditions, ConditionType.PUBLISH_GATE)
    status.conditions = set_condition(
        status.conditions, ConditionType.PUBLISH_GATE, wanted, reason, message, model.generation, now
    )
    if before is None or (before.status, before.reason, before.message) != (wanted, reason, message):
        decision.event = ("Warning" if passed is False else "Normal", str(reason), message)
    return decision
