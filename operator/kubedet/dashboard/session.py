"""What one dashboard process holds: the user's cluster connection, the namespaces it shows, the answers
to 'may I?' (cached briefly: a RoleBinding granted while the page is open shows within a refresh), the
page's access token, and where pictures on claims can be read."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path

from kubedet.cli.kube import forbidden_message
from kubedet.dashboard.cluster import Cluster

PERMISSION_TTL_SECONDS = 10.0

# What the pages ask, by name: (verb, resource). Statistics are the status subresources (the
# statistics roles); actions are the RBAC verbs the patches need (admission decides the rest).
QUESTIONS = {
    "runStatistics": ("get", "trainingruns/status"),
    "modelStatistics": ("get", "trainedmodels/status"),
    "suspendRuns": ("patch", "trainingruns"),
    "publishModels": ("patch", "trainedmodels"),
    "viewEvaluations": ("list", "modelevaluations"),
}


@dataclass
class Permissions:
    """SelfSubjectAccessReview answers per (namespace, question), each kept PERMISSION_TTL_SECONDS."""

    cluster: Cluster
    _answers: dict[tuple[str, str], tuple[float, bool]] = field(default_factory=dict)

    async def allowed(self, namespace: str, question: str) -> bool:
        key = (namespace, question)
        now = time.monotonic()
        cached = self._answers.get(key)
        if cached and now - cached[0] < PERMISSION_TTL_SECONDS:
            return cached[1]
        verb, resource = QUESTIONS[question]
        answer = await self.cluster.can(verb, resource, namespace)
        self._answers[key] = (now, answer)
        return answer

    async def all(self, namespace: str) -> dict[str, bool]:
        return {question: await self.allowed(namespace, question) for question in QUESTIONS}

    @staticmethod
    def refusal(namespace: str, question: str) -> str:
        """The sentence a page shows in place of what the question guards."""
        verb, resource = QUESTIONS[question]
        return forbidden_message(verb, resource, f" in namespace {namespace}")


@dataclass
class DashboardSession:
    cluster: Cluster
    namespaces: list[str] | None
    """The namespaces shown; None: all (one cluster-wide list and watch)."""
    pvc_root: Path | None = None
    token: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    permissions: Permissions = field(init=False)

    def __post_init__(self) -> None:
        self.permissions = Permissions(self.cluster)
