"""Shared fixtures: the devcluster, a namespace per test, the kubedet CRDs."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Tests import the package from the source tree (the venv installs it editable too) and the helpers.
for path in (ROOT / "operator", ROOT / "trainer_image", ROOT):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from tests.devcluster import Devcluster, ensure_devcluster, install_kubedet_api, wait_for  # noqa: E402
from tests.operator_process import OperatorProcess, install_operator_identity  # noqa: E402


@pytest.fixture(scope="session")
def devcluster() -> Devcluster:
    return ensure_devcluster()


@pytest.fixture(scope="session")
def kubedet_crds(devcluster: Devcluster) -> list[str]:
    """The CRDs and admission policies, as `make install` applies them; the CRDs Established."""
    return install_kubedet_api(devcluster)


@pytest.fixture
def namespace(devcluster: Devcluster, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace for one test, deleted afterwards (without waiting for finalizers)."""
    base = request.node.name.lower().replace("_", "-")[:40].strip("-")
    name = f"t-{base}-{uuid.uuid4().hex[:6]}"
    devcluster.kubectl("create", "namespace", name)
    wait_for(
        lambda: "serviceaccount/default" in devcluster.kubectl("get", "sa", "-n", name, "-o", "name").stdout,
        timeout=30,
        message=f"default ServiceAccount in {name}",
    )
    yield name
    devcluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture(scope="session")
def operator(devcluster: Devcluster, kubedet_crds: list[str]) -> Iterator[OperatorProcess]:
    """The operator, under its own ServiceAccount with the shipped ClusterRole (not cluster-admin)."""
    kubeconfig = install_operator_identity(devcluster)
    process = OperatorProcess(
        kubeconfig=kubeconfig,
        log_path=devcluster.kubeconfig.parent / "logs" / "operator.log",
        env={"KUBEDET_IMAGE_PULL_GRACE_SECONDS": "2", "KUBEDET_CLEANUP_TIMEOUT_SECONDS": "20"},
    )
    process.start()
    yield process
    process.stop()
