"""The ported app's claims as ClusterRoles, and the composite roles that bundle them by aggregation.

One ClusterRole per claim (`kubedet-<claim-in-kebab-case>`), granting exactly what the claim allows on
kubedet's kinds. The composite roles (kubedet-viewer, -editor, -publisher, -admin) carry no rules of
their own: the API server's ClusterRole aggregation fills them from the claim roles that bear their
label, so the app's "role inheritance" is computed and enforced by the cluster, not by the app. The same
labels put the claim roles into the built-in view, edit and admin roles. docs/rbac.md explains the
choices; `python -m kubedet.manifests` renders everything into manifests/rbac/.

Two permissions are virtual: `update` on `trainingruns/schedule` and on `trainedmodels/publish`. No such
subresources are served; RBAC grants them like any other, and the admission policies of
kubedet.manifests.claim_policies ask the authorizer for them when a request schedules a run or
publishes a model.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

from kubedet.api.constants import GROUP

RBAC_GROUP = "rbac.authorization.k8s.io"
SCHEDULE_SUBRESOURCE = "trainingruns/schedule"
PUBLISH_SUBRESOURCE = "trainedmodels/publish"
OVERRIDE_GATE_SUBRESOURCE = "trainedmodels/override-publish-gate"
VIRTUAL_VERB = "update"
READ_VERBS = ("get", "list", "watch")


@dataclass(frozen=True)
class Rule:
    """One PolicyRule, with the reason it exists (rendered as a comment above it)."""

    api_groups: tuple[str, ...]
    resources: tuple[str, ...]
    verbs: tuple[str, ...]
    why: str


class Composite(Enum):
    """kubedet's composite roles; each aggregates the claim roles labelled for it."""

    VIEWER = "viewer"
    EDITOR = "editor"
    PUBLISHER = "publisher"
    ADMIN = "admin"

    @property
    def role_name(self) -> str:
        return f"kubedet-{self.value}"

    @property
    def label(self) -> str:
        return f"{GROUP}/aggregate-to-{self.value}"


class BuiltinRole(Enum):
    """The user-facing built-in roles. view aggregates into edit and edit into admin (the bootstrap
    policy labels them so), so a claim role labelled for view is also in edit and admin."""

    VIEW = "view"
    EDIT = "edit"
    ADMIN = "admin"

    @property
    def label(self) -> str:
        return f"{RBAC_GROUP}/aggregate-to-{self.value}"

    @property
    def includes(self) -> tuple[BuiltinRole, ...]:
        """The built-in roles that hold this one's rules through the bootstrap aggregation chain."""
        chain = list(BuiltinRole)
        return tuple(chain[chain.index(self):])


@dataclass(frozen=True)
class ClaimRole:
    """A ClusterRole for one of the app's claims (or, with claim None, kubedet-admin's extra powers)."""

    name: str
    claim: str | None
    summary: str
    rules: tuple[Rule, ...]
    composites: frozenset[Composite]
    builtin: BuiltinRole

    @property
    def labels(self) -> dict[str, str]:
        labels = {"app.kubernetes.io/name": "kubedet", "app.kubernetes.io/component": "rbac"}
        for composite in sorted(self.composites, key=lambda c: c.value):
            labels[composite.label] = "true"
        labels[self.builtin.label] = "true"
        return labels


def kebab(claim: str) -> str:
    """CreateTrainingRun -> create-training-run."""
    return re.sub(r"(?<!^)(?=[A-Z])", "-", claim).lower()


def claim_role(claim: str, summary: str, rules: tuple[Rule, ...], composites: set[Composite],
               builtin: BuiltinRole) -> ClaimRole:
    return ClaimRole(f"kubedet-{kebab(claim)}", claim, summary, rules, frozenset(composites), builtin)


_ALL = {Composite.VIEWER, Composite.EDITOR, Composite.PUBLISHER, Composite.ADMIN}
_EDITORS = {Composite.EDITOR, Composite.ADMIN}

CLAIM_ROLES: tuple[ClaimRole, ...] = (
    claim_role(
        "ViewTrainingRuns",
        "See training runs, trained models, model lines and datasets (the app: viewing models needs "
        "ViewTrainingRuns).",
        (
            Rule((GROUP,), ("trainingruns", "trainedmodels", "datasets", "modellines"), READ_VERBS,
                 "the kinds, as kubectl get/describe and watchers need them; a model line is a view of "
                 "its models (which one is published)"),
            Rule(("",), ("configmaps",), ("get",),
                 "a failed run's error ConfigMap (<run>-error, named by status.errorConfigMapRef); RBAC "
                 "cannot select by label, so `get` by name only: no list or watch, nothing to enumerate"),
            Rule(("",), ("events",), READ_VERBS,
                 "the Events kubedet posts on runs, models and datasets (kubectl describe lists them)"),
        ),
        _ALL,
        BuiltinRole.VIEW,
    ),
    claim_role(
        "ViewTrainingRunsStatistics",
        "Read a run's statistics (status.progress: epochs, loss, best mAP, attempts, times) by name.",
        (Rule((GROUP,), ("trainingruns/status",), ("get",),
              "the status subresource holds a run's progress and timing; get by name, no listing"),),
        _ALL,
        BuiltinRole.VIEW,
    ),
    claim_role(
        "ViewTrainedModelStatistics",
        "Read a model's statistics (status.metrics, status.statistics, status.digests) by name.",
        (Rule((GROUP,), ("trainedmodels/status",), ("get",),
              "the status subresource holds a model's mAP metrics and training statistics; get by name"),),
        _ALL,
        BuiltinRole.VIEW,
    ),
    claim_role(
        "ViewModelEvaluations",
        "See model evaluations and their figures (COCO metrics per class on a dataset's split).",
        (Rule((GROUP,), ("modelevaluations", "modelevaluations/status"), READ_VERBS,
              "evaluations are measurements: their status is what a viewer comes for"),),
        _ALL,
        BuiltinRole.VIEW,
    ),
    claim_role(
        "CreateModelEvaluation",
        "Evaluate models: create a ModelEvaluation (a Job scores a model on a dataset), or delete one.",
        (Rule((GROUP,), ("modelevaluations",), ("create", "delete"),
              "an evaluation's spec is immutable, so creating and deleting is all there is to do"),),
        _EDITORS,
        BuiltinRole.EDIT,
    ),
    claim_role(
        "CreateTrainingRun",
        "Create training runs; as drafts (spec.suspend: true) unless ScheduleTrainingRun is held too.",
        (Rule((GROUP,), ("trainingruns",), ("create",),
              "new runs; admission refuses scheduled ones without trainingruns/schedule"),),
        _EDITORS,
        BuiltinRole.EDIT,
    ),
    claim_role(
        "ScheduleTrainingRun",
        "Schedule runs: create them unsuspended or set spec.suspend to false. Qualifies create and edit.",
        (Rule((GROUP,), (SCHEDULE_SUBRESOURCE,), (VIRTUAL_VERB,),
              "virtual: asked for by the trainingruns admission policy when a request schedules a run"),),
        _EDITORS,
        BuiltinRole.EDIT,
    ),
    claim_role(
        "EditTrainingRun",
        "Change runs: a draft's training settings, suspend (pause) a scheduled run.",
        (Rule((GROUP,), ("trainingruns",), ("get", "update", "patch"),
              "spec changes (kubectl patch, edit and apply read the object first); CRD rules freeze the "
              "training settings once a run was scheduled"),),
        _EDITORS,
        BuiltinRole.EDIT,
    ),
    claim_role(
        "DeleteTrainingRun",
        "Delete runs (kubedet cancels their Job and releases their model).",
        (Rule((GROUP,), ("trainingruns",), ("delete",),
              "deleting a run; its finalizer lets kubedet clean up first"),),
        {Composite.ADMIN},
        BuiltinRole.EDIT,
    ),
    claim_role(
        "PublishTrainingRunTrainedModel",
        "Publish models: set spec.published on a model, or ask a run to publish its model (spec.publish).",
        (
            Rule((GROUP,), (PUBLISH_SUBRESOURCE,), (VIRTUAL_VERB,),
                 "virtual: asked for by the admission policies when a request publishes a model"),
            Rule((GROUP,), ("trainedmodels",), ("get", "update", "patch"),
                 "setting spec.published (kubectl patch reads the object first); CRD rules keep a model's "
                 "artifact and lineage immutable"),
        ),
        {Composite.PUBLISHER, Composite.ADMIN},
        BuiltinRole.ADMIN,
    ),
    claim_role(
        "OverridePublishGate",
        "Publish a model whose publish policy's gate failed or has not run, and seed a model line.",
        (Rule((GROUP,), (OVERRIDE_GATE_SUBRESOURCE,), (VIRTUAL_VERB,),
              "virtual: asked for by the trainedmodels admission policy when a model with a publishPolicy "
              "is published without a passed gate"),),
        {Composite.ADMIN},
        BuiltinRole.ADMIN,
    ),
    ClaimRole(
        "kubedet-manage-datasets-and-models",
        None,
        "The app's superadmin: curate datasets and import (or remove) base models. Not a claim.",
        (
            Rule((GROUP,), ("datasets",), ("create", "update", "patch", "delete"),
                 "datasets are curated: publishing one makes it trainable for everyone"),
            Rule((GROUP,), ("trainedmodels",), ("create", "delete"),
                 "importing base models by hand and removing models"),
            Rule((GROUP,), ("modellines",), ("create", "update", "patch", "delete"),
                 "describing model lines (the operator creates a line the first time a model names it)"),
        ),
        frozenset({Composite.ADMIN}),
        BuiltinRole.ADMIN,
    ),
)

COMPOSITE_SUMMARIES: dict[Composite, str] = {
    Composite.VIEWER: "See runs, models and datasets, with their statistics.",
    Composite.EDITOR: "A viewer who also creates, edits and schedules runs.",
    Composite.PUBLISHER: "A viewer who also publishes models.",
    Composite.ADMIN: "Everything kubedet users can do, deleting runs and curating datasets included.",
}


def role_named(name: str) -> ClaimRole:
    return next(role for role in CLAIM_ROLES if role.name == name)


def role_for_claim(claim: str) -> ClaimRole:
    return next(role for role in CLAIM_ROLES if role.claim == claim)


def members(composite: Composite) -> tuple[ClaimRole, ...]:
    return tuple(role for role in CLAIM_ROLES if composite in role.composites)


def granted_by(role: ClaimRole) -> str:
    """Which roles hold `role`, for messages: 'role X, included in kubedet-editor, ... and the built-in
    edit and admin roles'."""
    holders = [c.role_name for c in Composite if c in role.composites]
    builtins = [b.value for b in role.builtin.includes]
    holders.append(f"the built-in {_join(builtins)} role{'s' if len(builtins) > 1 else ''}")
    return f"role {role.name}, included in {_join(holders)}"


def _join(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]
