"""Pure helpers over status.conditions, used by the operator to report what it observed."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from kubedet.api.common import Condition
from kubedet.api.constants import ConditionStatus, ConditionType, Reason


def _as_status(status: ConditionStatus | bool) -> ConditionStatus:
    if isinstance(status, bool):
        return ConditionStatus.TRUE if status else ConditionStatus.FALSE
    return ConditionStatus(status)


def set_condition(
    conditions: Sequence[Condition],
    type: ConditionType | str,
    status: ConditionStatus | bool,
    reason: Reason | str,
    message: str,
    generation: int | None,
    now: datetime,
) -> list[Condition]:
    """A copy of `conditions` with the condition of `type` set.

    lastTransitionTime changes only when the status does, as metav1 expects: `kubectl wait` and alerts
    rely on it to tell how long a condition has held. The order of the other conditions is kept.
    """
    wanted = _as_status(status)
    result: list[Condition] = []
    replaced = False
    for condition in conditions:
        if condition.type != type:
            result.append(condition)
            continue
        transitioned = condition.status != wanted
        result.append(
            Condition(
                type=str(type),
                status=wanted,
                reason=str(reason),
                message=message,
                observed_generation=generation,
                last_transition_time=now if transitioned else condition.last_transition_time,
            )
        )
        replaced = True
    if not replaced:
        result.append(
            Condition(
                type=str(type),
                status=wanted,
                reason=str(reason),
                message=message,
                observed_generation=generation,
                last_transition_time=now,
            )
        )
    return result


def get_condition(conditions: Sequence[Condition], type: ConditionType | str) -> Condition | None:
    """The condition of `type`, or None when it was never set."""
    return next((c for c in conditions if c.type == type), None)


def is_condition_true(conditions: Sequence[Condition], type: ConditionType | str) -> bool:
    condition = get_condition(conditions, type)
    return condition is not None and condition.status == ConditionStatus.TRUE


def remove_condition(conditions: Sequence[Condition], type: ConditionType | str) -> list[Condition]:
    return [c for c in conditions if c.type != type]
