"""The plugin's connection to the cluster: the user's kubeconfig, context and identity, and errors
turned into sentences (a 403 names the permission and the kubedet role that grants it)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from kubedet.api.constants import GROUP, VERSION
from kubedet.manifests.roles import CLAIM_ROLES

RUNS, MODELS, DATASETS = "trainingruns", "trainedmodels", "datasets"


class CliError(Exception):
    """An error for the user: printed on stderr, with exit code `code`."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


EXIT_ERROR, EXIT_NOT_FOUND, EXIT_FORBIDDEN, EXIT_TIMEOUT, EXIT_RUN_FAILED = 1, 3, 4, 5, 6


@dataclass
class Identity:
    kubeconfig: str | None = None
    context: str | None = None
    as_user: str | None = None
    as_group: str | None = None


class Kube:
    """Thin wrapper over the kubernetes client that knows kubedet's kinds."""

    def __init__(self, identity: Identity, namespace: str | None) -> None:
        configuration = client.Configuration()
        try:
            config.load_kube_config(
                config_file=identity.kubeconfig, context=identity.context, client_configuration=configuration
            )
            _, active = config.list_kube_config_contexts(config_file=identity.kubeconfig)
            if identity.context:
                contexts, _ = config.list_kube_config_contexts(config_file=identity.kubeconfig)
                active = next((c for c in contexts if c["name"] == identity.context), active)
        except (config.ConfigException, FileNotFoundError) as error:
            raise CliError(f"cannot load the kubeconfig: {error}") from error
        self.api = client.ApiClient(configuration)
        # Impersonation as kubectl --as/--as-group does it; the API server checks that the real user
        # may impersonate. One group: the client's headers are a dict, so the header cannot repeat.
        if identity.as_user:
            self.api.set_default_header("Impersonate-User", identity.as_user)
        if identity.as_group:
            self.api.set_default_header("Impersonate-Group", identity.as_group)
        self.namespace = namespace or (active.get("context") or {}).get("namespace") or "default"
        self.custom = client.CustomObjectsApi(self.api)
        self.core = client.CoreV1Api(self.api)

    # Reads of kubedet objects. `status=True` reads the status subresource: all that the statistics
    # roles (get on <kind>/status) grant, and it holds the whole object, metadata included.
    def get(self, plural: str, name: str, namespace: str | None = None, status: bool = False) -> dict:
        ns = namespace or self.namespace
        read = (
            self.custom.get_namespaced_custom_object_status
            if status
            else self.custom.get_namespaced_custom_object
        )
        return dict(self.call(read, GROUP, VERSION, ns, plural, name, what=(plural, name, ns, status)))

    def list(self, plural: str, namespace: str | None, all_namespaces: bool = False) -> list[dict]:
        if all_namespaces:
            body = self.call(
                self.custom.list_cluster_custom_object,
                GROUP,
                VERSION,
                plural,
                what=(plural, None, None, False),
            )
        else:
            ns = namespace or self.namespace
            body = self.call(
                self.custom.list_namespaced_custom_object,
                GROUP,
                VERSION,
                ns,
                plural,
                what=(plural, None, ns, False),
            )
        return list(body.get("items", []))

    def patch(self, plural: str, name: str, patch: dict[str, Any]) -> dict:
        return dict(
            self.call(
                self.custom.patch_namespaced_custom_object,
                GROUP,
                VERSION,
                self.namespace,
                plural,
                name,
                patch,
                what=(plural, name, self.namespace, False),
                verb="patch",
            )
        )

    def create(self, plural: str, body: dict[str, Any]) -> dict:
        return dict(
            self.call(
                self.custom.create_namespaced_custom_object,
                GROUP,
                VERSION,
                self.namespace,
                plural,
                body,
                what=(plural, None, self.namespace, False),
                verb="create",
            )
        )

    def call(
        self,
        method: Any,
        *args: Any,
        what: tuple[str, str | None, str | None, bool],
        verb: str | None = None,
        **kwargs: Any,
    ) -> Any:
        try:
            return method(*args, **kwargs)
        except ApiException as error:
            raise api_error(error, what, verb) from error
        except Exception as error:  # connection refused, TLS, DNS: the cluster is not reachable
            raise CliError(f"cannot reach the cluster: {type(error).__name__}: {error}") from error


def api_error(
    error: ApiException, what: tuple[str, str | None, str | None, bool], verb: str | None = None
) -> CliError:
    plural, name, namespace, status = what
    resource = f"{plural}/status" if status else plural
    verb = verb or ("get" if name else "list")
    where = f" in namespace {namespace}" if namespace else " across all namespaces"
    if error.status == 404:
        kind = plural.removesuffix("s")
        return CliError(
            f"{kind} {name!r} not found{where}" if name else f"{plural} not found{where}", EXIT_NOT_FOUND
        )
    if error.status in (401, 403):
        said = _server_message(error)
        return CliError(
            f"{refusal_sentence(verb, resource, where, said)}\n  (the API server said: {said})",
            EXIT_FORBIDDEN,
        )
    return CliError(
        f"the API server refused the request ({error.status} {error.reason}): {_server_message(error)}"
    )


VIRTUAL_PERMISSIONS = (
    "trainedmodels/override-publish-gate",
    "trainedmodels/publish",
    "trainingruns/schedule",
)


def refusal_sentence(verb: str, resource: str, where: str, said: str) -> str:
    """What a 403 means for the user. Admission policies refuse with 403 too (publishing needs update on
    trainedmodels/publish, scheduling on trainingruns/schedule): their message names the permission
    that is really missing, not the verb the request used."""
    for virtual in VIRTUAL_PERMISSIONS:
        if virtual in said:
            return forbidden_message("update", virtual, where)
    return forbidden_message(verb, resource, where)


def forbidden_message(verb: str, resource: str, where: str) -> str:
    """'you lack permission X; role Y grants it', from the roles kubedet ships (kubedet.manifests.roles)."""
    group = "" if resource.split("/")[0] in ("pods", "pods/log", "events", "configmaps") else GROUP
    granting = grants(group, resource, verb)
    hint = (
        f"; the role {' or '.join(granting)} grants it (ask your cluster admin for a RoleBinding)"
        if granting
        else "; ask your cluster admin for a Role that grants it"
    )
    api = f"{group}/" if group else ""
    return f"you lack permission to {verb} {api}{resource}{where}{hint}"


def grants(group: str, resource: str, verb: str) -> list[str]:
    """Names of the kubedet claim roles whose rules allow `verb` on `resource` in `group`."""
    return [
        role.name
        for role in CLAIM_ROLES
        if any(
            group in rule.api_groups and resource in rule.resources and verb in rule.verbs
            for rule in role.rules
        )
    ]


def _server_message(error: ApiException) -> str:
    try:
        return str(json.loads(error.body or "{}").get("message") or error.body)
    except ValueError:
        return str(error.body)
