"""`publish`/`unpublish MODEL` and `suspend`/`resume RUN`: one merge patch of one spec field each."""

from __future__ import annotations

from collections.abc import Callable

from kubedet.cli.kube import MODELS, RUNS, Kube


def set_published(kube: Kube, name: str, published: bool, out: Callable[[str], None]) -> int:
    # Admission asks the authorizer for update on trainedmodels/publish; a refusal reads as a 403.
    kube.patch(MODELS, name, {"spec": {"published": published}})
    out(f"trainedmodel {name} {'published' if published else 'unpublished'}")
    return 0


def set_suspended(kube: Kube, name: str, suspend: bool, out: Callable[[str], None]) -> int:
    kube.patch(RUNS, name, {"spec": {"suspend": suspend}})
    out(f"trainingrun {name} {'suspended' if suspend else 'resumed'}")
    return 0
