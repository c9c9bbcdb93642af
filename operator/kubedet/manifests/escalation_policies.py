"""ValidatingAdmissionPolicies that keep a TrainingRun from reaching what its author may not reach.

The operator builds the training, preflight and cleanup pods from what the objects name: the Secrets
of spec.output.secretRef, of the dataset's spec.source.secretRef and of the base model's
spec.checkpoint.secretRef go into the pod's environment (envFrom), every pvc:// claim is mounted
(the output one read-write), and spec.image, spec.priorityClassName are copied as they are. RBAC grants
kubedet-editor no pods and no Secrets, yet without these policies a run is a way around that: name any
Secret of the namespace, pick an image that prints its environment and fails, and the log tail lands in
the run's error ConfigMap, which viewers read. So, at admission, with the `authorizer` library (no
webhook):

* storage access (one policy per kind): a Secret or a PersistentVolumeClaim an object names must be
  one its author may `get`. Datasets and TrainedModels are checked too, or a curator without access
  to a Secret could name it in a Dataset and train on it. Runs may use a published Dataset or a base
  model whose Secret their author cannot read: curating it was the decision to share it, and the
  image that receives it is one the cluster admin allowed (below).
* allowlists: spec.image and spec.priorityClassName must be on lists the cluster admin keeps in the
  settings ConfigMap (kubedet.manifests.settings), the policy's parameter. An unset spec.image means
  the operator's configured trainer image and is always allowed.

A reference is checked when the request sets or changes it (for a Secret or a URI: anything in the spec
field that holds it), not on every write: the operator's finalizer and publish patches never pay for the
authorizer, and tightening a list does not strand runs already admitted (as with spec.publish, the
decision was made for the request that named it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from kubedet.api.common import unchanged
from kubedet.api.constants import GROUP
from kubedet.config import (
    ALLOW_ANY,
    ALLOWED_IMAGES_KEY,
    ALLOWED_PRIORITY_CLASSES_KEY,
    IMAGE_CONTINUATIONS,
    IMAGE_PREFIX_ENDS,
)
from kubedet.manifests.policy_objects import policy_binding, validating_policy
from kubedet.manifests.settings import (
    OPERATOR_USERNAME,
    SETTINGS_CONFIGMAP,
    SETTINGS_REFERENCE,
    SYSTEM_NAMESPACE,
)

PVC_SCHEME = "pvc://"
STORAGE_POLICY_FILE = "storage-access-policies.yaml"
ALLOWLISTS_POLICY_FILE = "trainingruns-allowlists-policy.yaml"
ALLOWLISTS_POLICY = f"trainingruns-allowlists.{GROUP}"


def storage_policy_name(plural: str) -> str:
    return f"{plural}-storage-access.{GROUP}"


def literal(text: str) -> str:
    """A CEL string literal of `text` (our own messages: no quotes or backslashes to escape)."""
    if "'" in text or "\\" in text:
        raise ValueError(f"{text!r} needs escaping to be a CEL string")
    return f"'{text}'"


def cel_field(obj: str, path: str) -> str:
    """CEL: the string at `path` below `obj` (e.g. spec.output.secretRef.name), or '' when any part of
    it is absent."""
    parts = path.split(".")
    present = " && ".join(f"has({obj}.{'.'.join(parts[: i + 1])})" for i in range(1, len(parts)))
    return f"({present} ? {obj}.{path} : '')"


def cel_claim(uri: str) -> str:
    """CEL: the PersistentVolumeClaim of a pvc://<claim>/<path> URI, '' for other schemes (as
    kubedet.builders.pod.claim_of)."""
    return f"({uri}.startsWith('{PVC_SCHEME}') ? {uri}.substring({len(PVC_SCHEME)}).split('/')[0] : '')"


def cel_may_get(resource: str, name: str) -> str:
    """CEL: the requester may `get` the named core object in the request's namespace."""
    return (f"authorizer.group('').resource('{resource}').namespace(request.namespace).name({name})"
            ".check('get').allowed()")


@dataclass(frozen=True)
class Reference:
    """A field whose value the operator hands to a pod: a Secret (its keys become environment
    variables) or the claim of a pvc:// URI (mounted)."""

    path: str
    """Below the object, e.g. spec.output.secretRef.name."""
    variable: str
    """CEL identifier of its value."""
    target: Literal["secret", "claim"]
    use: str
    """How a message says the field uses it: names, reads, writes to."""
    scope: str
    """The spec field that holds it, whole: any change to it checks the reference again. A URI and its
    Secret go together, and a path within a claim matters too (another run's folder on the same
    claim), so an edit that keeps the name but changes the rest is no way around the check."""

    @property
    def field(self) -> str:
        """As messages name it: the Secret reference, or the URI holding the claim."""
        return self.path.removesuffix(".name")

    @property
    def resource(self) -> str:
        return "secrets" if self.target == "secret" else "persistentvolumeclaims"

    @property
    def unchanged(self) -> str:
        """Name of the CEL variable: this request keeps spec.<scope> as it was."""
        return f"{self.scope}Unchanged"

    def variables(self) -> list[dict[str, str]]:
        """CEL variables ending with the Secret's or claim's name: '' when unset (or, for a URI, not on
        a claim)."""
        if self.target == "secret":
            return [{"name": self.variable, "expression": cel_field("object", self.path)}]
        uri = f"{self.variable}Uri"
        return [{"name": uri, "expression": cel_field("object", self.path)},
                {"name": self.variable, "expression": cel_claim(f"variables.{uri}")}]

    def message(self) -> str:
        """CEL: the refusal, naming the field, the object, the permission missing and the way out."""
        what = "Secret" if self.target == "secret" else "PersistentVolumeClaim"
        rest = SECRET_REFUSAL if self.target == "secret" else CLAIM_REFUSAL
        return f"{literal(f'{self.field} {self.use} {what} ')} + variables.{self.variable} + {literal(rest)}"


SECRET_REFUSAL = (
    ", whose keys the pods get as environment variables, but you may not get it: ask for get on "
    "secrets (a Role with resourceNames is enough), or name a Secret you can read"
)
CLAIM_REFUSAL = (
    ", which the pods mount, but you may not get it: ask for get on persistentvolumeclaims (a Role with "
    "resourceNames is enough), or use a claim you can read"
)


# What each kind names, as the builders use it (builders/job.py, dataset.py, cleanup.py, runspec.py).
REFERENCES: dict[str, tuple[Reference, ...]] = {
    "trainingruns": (
        Reference("spec.output.secretRef.name", "outputSecret", "secret", "names", "output"),
        Reference("spec.output.uri", "outputClaim", "claim", "writes to", "output"),
    ),
    "datasets": (
        Reference("spec.source.secretRef.name", "sourceSecret", "secret", "names", "source"),
        Reference("spec.source.uri", "sourceClaim", "claim", "reads", "source"),
    ),
    "trainedmodels": (
        Reference("spec.checkpoint.secretRef.name", "checkpointSecret", "secret", "names", "checkpoint"),
        Reference("spec.checkpoint.uri", "checkpointClaim", "claim", "reads", "checkpoint"),
        Reference("spec.config", "configClaim", "claim", "reads", "config"),
    ),
}

# The operator records the TrainedModel of every run that succeeded; it names the run's output Secret
# and claim (or the artifact store's), which the run's author was checked for when the run was
# admitted. The operator may not get Secrets or claims, and should not: RBAC cannot narrow that to
# "the ones runs name", so it would be every Secret of the cluster. It is exempted by identity
# instead, as narrowly as it can be said: its ServiceAccount, creating, a model of a run
# (spec.trainingRunRef). A virtual permission (as for publishing) would work as well, but would trust
# whoever an admin grants it; the identity is one principal. An overlay that moves or renames the
# operator must keep this name in step (docs/rbac.md).
OPERATOR_RECORDS_A_MODEL = (
    f"request.operation == 'CREATE' && has(object.spec.trainingRunRef) && "
    f"request.userInfo.username == '{OPERATOR_USERNAME}'"
)


def _policy(name: str, plural: str, spec: dict[str, Any]) -> dict[str, Any]:
    return validating_policy(name, plural, spec)


def _before(expression_of_old: str) -> str:
    """CEL: the value on the stored object; '' on CREATE, which has none."""
    return f"request.operation == 'UPDATE' ? {expression_of_old} : ''"


def storage_policy(plural: str) -> dict[str, Any]:
    """A Secret or claim named by an object of `plural` must be one its author may get."""
    references = REFERENCES[plural]
    variables = []
    for scope in dict.fromkeys(ref.scope for ref in references):
        # On CREATE there is no stored object; && short-circuits before oldObject is read.
        kept = unchanged(scope, "object.spec", "oldObject.spec")
        expression = f"request.operation == 'UPDATE' && {kept}"
        variables.append({"name": f"{scope}Unchanged", "expression": expression})
    validations = []
    for ref in references:
        value = f"variables.{ref.variable}"
        variables += ref.variables()
        validations.append({
            # Unset, or kept as stored by this request: nothing new is reached. || short-circuits, so
            # the authorizer is asked only for a new or changed reference.
            "expression": f"{value} == '' || variables.{ref.unchanged} || {cel_may_get(ref.resource, value)}",
            "messageExpression": ref.message(),
            "reason": "Forbidden",
        })
    spec: dict[str, Any] = {"variables": variables, "validations": validations}
    if plural == "trainedmodels":
        spec["matchConditions"] = [
            {"name": "not-a-model-the-operator-records", "expression": f"!({OPERATOR_RECORDS_A_MODEL})"}
        ]
    return _policy(storage_policy_name(plural), plural, spec)


def cel_list(key: str) -> str:
    """CEL: the entries of a settings key, split as kubedet.config.parse_list splits them."""
    return (f"has(params.data) && '{key}' in params.data ? params.data['{key}'].replace('\\n', ',')"
            ".split(',').map(e, e.trim()).filter(e, e != '') : []")


def cel_image_matches(entry: str, image: str) -> str:
    """CEL: an allowlist entry admits an image reference, as kubedet.config.image_matches decides."""
    prefix = " || ".join(f"{entry}.endsWith('{end}')" for end in IMAGE_PREFIX_ENDS)
    rest = f"{image}.substring(size({entry}))"
    continued = " || ".join(f"{rest}.startsWith('{c}')" for c in IMAGE_CONTINUATIONS)
    return (f"{entry} == '{ALLOW_ANY}' || {image} == {entry} || "
            f"({image}.startsWith({entry}) && ({prefix} || {continued}))")


def cel_class_matches(entry: str, name: str) -> str:
    """CEL: an allowlist entry admits a PriorityClass, as kubedet.config.priority_class_allowed decides."""
    return f"{entry} == '{ALLOW_ANY}' || {entry} == {name}"


@dataclass(frozen=True)
class Allowlist:
    """A TrainingRun field whose value must be on a list in the settings ConfigMap."""

    field: str
    """Below spec, as on the wire."""
    variable: str
    key: str
    """The settings key holding the list."""
    what: str
    """What the list holds, for messages."""
    way_out: str

    def variables(self) -> list[dict[str, str]]:
        path = f"spec.{self.field}"
        return [
            {"name": self.variable, "expression": cel_field("object", path)},
            {"name": f"{self.variable}Before", "expression": _before(cel_field("oldObject", path))},
            {"name": f"{self.variable}Allowed", "expression": cel_list(self.key)},
        ]

    def validation(self, matches: str) -> dict[str, str]:
        value, allowed = f"variables.{self.variable}", f"variables.{self.variable}Allowed"
        refusal = f" is not allowed: {self.what} must be on the list {self.key} in {SETTINGS_REFERENCE} ("
        shown = f"(size({allowed}) == 0 ? 'none' : {allowed}.join(', '))"
        return {
            # Unset, or unchanged by this request; otherwise an entry must admit it.
            "expression": f"{value} == '' || {value} == variables.{self.variable}Before || "
                          f"{allowed}.exists(e, {matches})",
            "messageExpression": f"{literal(f'spec.{self.field} ')} + {value} + {literal(refusal)} + "
                                 f"{shown} + {literal('); ' + self.way_out)}",
            "reason": "Forbidden",
        }


IMAGES = Allowlist(
    "image", "image", ALLOWED_IMAGES_KEY, "trainer images",
    "leave spec.image unset to use the configured trainer image, use an image the list admits, or ask a "
    "cluster admin to allow it",
)
PRIORITY_CLASSES = Allowlist(
    "priorityClassName", "priorityClass", ALLOWED_PRIORITY_CLASSES_KEY, "PriorityClasses",
    "leave spec.priorityClassName unset, use a class from the list, or ask a cluster admin to allow it",
)


def allowlists_policy() -> dict[str, Any]:
    """spec.image and spec.priorityClassName from the admin's lists in the settings ConfigMap."""
    spec = {
        "paramKind": {"apiVersion": "v1", "kind": "ConfigMap"},
        "variables": IMAGES.variables() + PRIORITY_CLASSES.variables(),
        "validations": [
            IMAGES.validation(cel_image_matches("e", f"variables.{IMAGES.variable}")),
            PRIORITY_CLASSES.validation(cel_class_matches("e", f"variables.{PRIORITY_CLASSES.variable}")),
        ],
    }
    return _policy(ALLOWLISTS_POLICY, "trainingruns", spec)


# A missing settings ConfigMap refuses every write of a TrainingRun, with the API server's message
# "no params found for policy binding with `Deny` parameterNotFoundAction": failing closed, since
# Allow would admit any image and any PriorityClass. The ConfigMap ships beside the policy.
SETTINGS_PARAM_REF = {
    "name": SETTINGS_CONFIGMAP,
    "namespace": SYSTEM_NAMESPACE,
    "parameterNotFoundAction": "Deny",
}


def policy_documents() -> dict[str, list[dict[str, Any]]]:
    """Each file of manifests/policies/ this module writes, with its objects."""
    storage: list[dict[str, Any]] = []
    for plural in REFERENCES:
        storage += [storage_policy(plural), policy_binding(storage_policy_name(plural))]
    return {
        STORAGE_POLICY_FILE: storage,
        ALLOWLISTS_POLICY_FILE: [allowlists_policy(), policy_binding(ALLOWLISTS_POLICY, SETTINGS_PARAM_REF)],
    }
