"""Fixtures for tests that need the operator running against the devcluster."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tests.devcluster import Devcluster
from tests.operator_process import OperatorProcess, install_operator_identity


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
