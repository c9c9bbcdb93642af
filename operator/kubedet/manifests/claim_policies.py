"""ValidatingAdmissionPolicies that make the API server enforce the schedule and publish claims.

RBAC decides verbs on resources; whether a request *schedules* a run or *publishes* a model depends on
the fields it changes. These policies look at the fields and, only when a request schedules or
publishes, ask the authorizer (CEL `authorizer` library) whether the requester holds the virtual
permission (`update` on trainingruns/schedule or trainedmodels/publish, see
kubedet.manifests.roles). No webhook runs, so there are no certificates to manage and nothing to be down.

The operator holds trainedmodels/publish in its own ClusterRole (kubedet.manifests.rbac): it sets
spec.published on the model of a run whose spec.publish already passed this check at admission.
"""

from __future__ import annotations

from typing import Any

from kubedet.api.constants import GROUP, ConditionStatus, ConditionType
from kubedet.manifests.policy_objects import policy_binding, validating_policy
from kubedet.manifests.roles import (
    OVERRIDE_GATE_SUBRESOURCE,
    PUBLISH_SUBRESOURCE,
    SCHEDULE_SUBRESOURCE,
    VIRTUAL_VERB,
    granted_by,
    role_for_claim,
)

RUNS_POLICY = f"trainingruns-schedule-publish.{GROUP}"
MODELS_POLICY = f"trainedmodels-publish.{GROUP}"
RUNS_POLICY_FILE = "trainingruns-schedule-publish-policy.yaml"
MODELS_POLICY_FILE = "trainedmodels-publish-policy.yaml"

_SCHEDULE_ROLE = role_for_claim("ScheduleTrainingRun")
_PUBLISH_ROLE = role_for_claim("PublishTrainingRunTrainedModel")
_OVERRIDE_ROLE = role_for_claim("OverridePublishGate")


def _literal(text: str) -> str:
    """A CEL string literal of `text` (our own messages: no quotes or backslashes to escape)."""
    if "'" in text or "\\" in text:
        raise ValueError(f"{text!r} needs escaping to be a CEL string")
    return f"'{text}'"


def _permission(subresource: str) -> str:
    return f"permission {VIRTUAL_VERB} on {subresource}"


def cel_authorized(subresource: str, name: str | None) -> str:
    """CEL: the requester may `update` the virtual subresource in the object's namespace (and name)."""
    resource, sub = subresource.split("/")
    check = (f"authorizer.group('{GROUP}').resource('{resource}').subresource('{sub}')"
             ".namespace(object.metadata.namespace)")
    if name is not None:
        check += f".name({name})"
    return f"{check}.check('{VIRTUAL_VERB}').allowed()"


def cel_flag_turned_on(field: str) -> str:
    """CEL: spec.<field> (a boolean defaulting to false) is true now and was not before this request."""
    return (f"(has(object.spec.{field}) && object.spec.{field})"
            f" && !(request.operation == 'UPDATE' && has(oldObject.spec.{field}) && oldObject.spec.{field})")


def cel_ready() -> str:
    return cel_condition(ConditionType.READY, ConditionStatus.TRUE)


# Absent means false (the CRD default), so "not suspended" is written to hold for both.
_SCHEDULED = "!has({o}.spec.suspend) || !{o}.spec.suspend"

SCHEDULE_ON_CREATE_MESSAGE = (
    f"creating a scheduled TrainingRun needs {_permission(SCHEDULE_SUBRESOURCE)} "
    f"({granted_by(_SCHEDULE_ROLE)}); create it with spec.suspend: true as a draft instead"
)
SCHEDULE_ON_UPDATE_MESSAGE = (
    f"setting spec.suspend to false schedules the TrainingRun and needs {_permission(SCHEDULE_SUBRESOURCE)} "
    f"({granted_by(_SCHEDULE_ROLE)}); ask someone holding it to schedule the run"
)
PUBLISH_BY_RUN_MESSAGE = (
    f"spec.publish: true publishes the TrainedModel of the run and needs {_permission(PUBLISH_SUBRESOURCE)} "
    f"({granted_by(_PUBLISH_ROLE)}); leave spec.publish false and have a publisher publish the model"
)
PUBLISH_MODEL_MESSAGE = f"needs {_permission(PUBLISH_SUBRESOURCE)} ({granted_by(_PUBLISH_ROLE)})"
NOT_SUCCEEDED_MESSAGE = (
    "has not succeeded: only a Ready trained model can be published (kubedet marks it Ready when its run "
    "succeeds); wait for condition Ready, or set spec.publish: true on the run before it finishes"
)


GATE_OVERRIDE_MESSAGE = (
    f"; publishing it anyway needs {_permission(OVERRIDE_GATE_SUBRESOURCE)} ({granted_by(_OVERRIDE_ROLE)})"
)


def cel_condition(kind: ConditionType, status: ConditionStatus) -> str:
    return (f"has(object.status) && has(object.status.conditions) && object.status.conditions.exists(c, "
            f"c.type == '{kind}' && c.status == '{status}')")


def cel_gate_verdict() -> str:
    """CEL: the PublishGate condition's message, or why there is none."""
    gate = f"object.status.conditions.filter(c, c.type == '{ConditionType.PUBLISH_GATE}')"
    return (f"(has(object.status) && has(object.status.conditions) && size({gate}) > 0 ? {gate}[0].message"
            " : 'its gate has not been evaluated yet (the operator evaluates it once the model is Ready)')")


def _validation(expression: str, message_expression: str, reason: str) -> dict[str, str]:
    return {"expression": expression, "messageExpression": message_expression, "reason": reason}


def _policy(name: str, plural: str, variables: list[dict[str, str]],
            validations: list[dict[str, str]]) -> dict[str, Any]:
    return validating_policy(name, plural, {"variables": variables, "validations": validations})


def runs_policy() -> dict[str, Any]:
    """Scheduling a run (created unsuspended, or suspend true -> false) and asking it to publish its
    model (spec.publish false -> true) need the virtual permissions."""
    variables = [
        {"name": "schedules", "expression": f"({_SCHEDULED.format(o='object')}) && (request.operation == "
                                            f"'CREATE' || !({_SCHEDULED.format(o='oldObject')}))"},
        {"name": "publishes", "expression": cel_flag_turned_on("publish")},
        # Variables are evaluated lazily, so the authorizer is asked only when the request needs it.
        {"name": "maySchedule", "expression": cel_authorized(SCHEDULE_SUBRESOURCE, "object.metadata.name")},
        # The model does not exist yet (its name is derived from the run's), so any model of the namespace.
        {"name": "mayPublish", "expression": cel_authorized(PUBLISH_SUBRESOURCE, None)},
    ]
    validations = [
        _validation(
            "!variables.schedules || variables.maySchedule",
            f"request.operation == 'CREATE' ? {_literal(SCHEDULE_ON_CREATE_MESSAGE)}"
            f" : {_literal(SCHEDULE_ON_UPDATE_MESSAGE)}",
            "Forbidden",
        ),
        _validation(
            "!variables.publishes || variables.mayPublish", _literal(PUBLISH_BY_RUN_MESSAGE), "Forbidden"
        ),
    ]
    return _policy(RUNS_POLICY, "trainingruns", variables, validations)


def models_policy() -> dict[str, Any]:
    """Publishing a model (spec.published false -> true, or created true) needs the virtual permission,
    and a model trained by a run must be Ready (its run succeeded). Imported models carry no
    trainingRunRef and are published on the permission alone."""
    variables = [
        {"name": "publishes", "expression": cel_flag_turned_on("published")},
        {"name": "trainedByRun", "expression": "has(object.spec.trainingRunRef)"},
        # On UPDATE the API server keeps the stored status (status is a subresource), so this is what
        # the operator last recorded; on CREATE there is none yet.
        {"name": "ready", "expression": cel_ready()},
        {"name": "mayPublish", "expression": cel_authorized(PUBLISH_SUBRESOURCE, "object.metadata.name")},
        {"name": "gated", "expression": "has(object.spec.publishPolicy)"},
        {"name": "gatePassed", "expression": cel_condition(ConditionType.PUBLISH_GATE, ConditionStatus.TRUE)},
        {"name": "mayOverride",
         "expression": cel_authorized(OVERRIDE_GATE_SUBRESOURCE, "object.metadata.name")},
    ]
    validations = [
        _validation(
            "!variables.publishes || variables.mayPublish",
            f"'publishing TrainedModel ' + object.metadata.name + {_literal(' ' + PUBLISH_MODEL_MESSAGE)}",
            "Forbidden",
        ),
        _validation(
            "!variables.publishes || !variables.trainedByRun || variables.ready",
            "'TrainedModel ' + object.metadata.name + ' cannot be published yet: its TrainingRun '"
            f" + object.spec.trainingRunRef.name + {_literal(' ' + NOT_SUCCEEDED_MESSAGE)}",
            "Invalid",
        ),
        _validation(
            "!variables.publishes || !variables.gated || variables.gatePassed || variables.mayOverride",
            "'TrainedModel ' + object.metadata.name + ' has not passed the publish gate of its line ' + "
            f"object.spec.publishPolicy.modelLine + ': ' + {cel_gate_verdict()} + "
            f"{_literal(GATE_OVERRIDE_MESSAGE)}",
            "Forbidden",
        ),
    ]
    return _policy(MODELS_POLICY, "trainedmodels", variables, validations)


def policy_documents() -> dict[str, list[dict[str, Any]]]:
    """Each file of manifests/policies/ with its objects: a policy and its binding."""
    return {
        RUNS_POLICY_FILE: [runs_policy(), policy_binding(RUNS_POLICY)],
        MODELS_POLICY_FILE: [models_policy(), policy_binding(MODELS_POLICY)],
    }
