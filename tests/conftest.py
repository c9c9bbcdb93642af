"""Shared fixtures: the devcluster, a namespace per test, the kubedet CRDs; and the trainer stack's fence.

`make test-unit` runs on the base environment (`make venv`: the operator and the dev tools). Test
modules that import the trainer's packages (PIL, torch, mmengine, mmdet, ...) are listed in
TRAINER_STACK_TESTS: their tests are marked `trainer` and run in `make test-trainer`, which installs the
trainer stack. `--without-trainer-stack` (test-unit passes it) hides that stack even where it is
installed, so test-unit runs the same tests, importing the same packages, on every machine.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.metadata
import os
import subprocess
import sys
import tomllib
import uuid
from collections.abc import Generator, Iterator, Sequence
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Tests import the package from the source tree (the venv installs it editable too) and the helpers.
for path in (ROOT / "operator", ROOT / "trainer_image", ROOT):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from tests.devcluster import Devcluster, ensure_devcluster, install_kubedet_api, wait_for  # noqa: E402
from tests.operator_process import OperatorProcess, install_operator_identity  # noqa: E402

# --- the trainer stack ------------------------------------------------------------------------------

# Test modules (relative to tests/) that import the trainer stack, directly or through kubedet_trainer's
# modules that do (preflight, plots, progress, storage's s3fs). Their tests run in `make test-trainer`.
TRAINER_STACK_TESTS = frozenset(
    {
        "unit/test_cli_stats.py",
        "unit/test_plots.py",
        "unit/test_preflight_hostile.py",
        "unit/trainer/test_remote_storage.py",
        "unit/trainer/test_trainer_cli_contracts.py",
        "unit/trainer/test_trainer_mmconfig.py",
        "unit/trainer/test_trainer_preflight.py",
        "unit/trainer/test_trainer_progress.py",
    }
)
HIDDEN = "hidden by --without-trainer-stack"
# What hack/setup-python.sh's base layer installs besides the project's own requirements.
BASE_TOOLS = ("pip", "setuptools", "wheel")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--without-trainer-stack",
        action="store_true",
        help="hide the packages only the trainer extra installs (make venv-trainer), as on a machine with "
        "only `make venv`; a test that needs one fails instead of skipping (make test-unit passes this)",
    )


def _distributions(requirements: Sequence[str], extras: Sequence[str] = ()) -> set[str]:
    """The normalized names of the distributions these requirements pull in, transitively, as far as
    they are installed here."""
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    found: set[str] = set()
    seen: set[tuple[str, frozenset[str]]] = set()
    todo = [(Requirement(text), extra) for text in requirements for extra in ("", *extras)]
    while todo:
        requirement, extra = todo.pop()
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": extra}):
            continue
        name = canonicalize_name(requirement.name)
        if (name, frozenset(requirement.extras)) in seen:
            continue
        seen.add((name, frozenset(requirement.extras)))
        found.add(name)
        try:
            requires = importlib.metadata.distribution(requirement.name).requires or []
        except importlib.metadata.PackageNotFoundError:
            continue
        todo += [(Requirement(text), e) for text in requires for e in ("", *requirement.extras)]
    return found


def trainer_stack_modules() -> set[str]:
    """Top-level modules installed here whose distributions only the trainer extra pulls in (not the
    operator's requirements, nor the dev tools)."""
    from packaging.utils import canonicalize_name

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    base = _distributions([*project["dependencies"], *extras["dev"], *BASE_TOOLS])
    trainer_only = _distributions(extras["trainer"]) - base
    return {
        module
        for module, dists in importlib.metadata.packages_distributions().items()
        if "/" not in module and all(canonicalize_name(d) in trainer_only for d in dists)
    }


class HideModules(importlib.abc.MetaPathFinder):
    """Imports of these top-level modules fail as if they were not installed."""

    def __init__(self, modules: set[str]) -> None:
        self.modules = modules

    def find_spec(
        self, fullname: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname.partition(".")[0] in self.modules:
            raise ModuleNotFoundError(
                f"No module named {fullname!r} ({HIDDEN}: it is part of the trainer stack; "
                "list the test module in TRAINER_STACK_TESTS, tests/conftest.py)",
                name=fullname,
            )
        return None


hidden_modules = pytest.StashKey[set[str]]()


def pytest_configure(config: pytest.Config) -> None:
    if not config.getoption("--without-trainer-stack", default=False):
        return
    modules = trainer_stack_modules()
    # pytest loads every installed pytest11 plugin, the trainer stack's too (platformdirs, by way of
    # mmengine's yapf): unload them, as a base machine never has them.
    for plugin in config.pluginmanager.get_plugins():
        if getattr(plugin, "__name__", "").partition(".")[0] in modules:
            config.pluginmanager.unregister(plugin)
    for name in [name for name in sys.modules if name.partition(".")[0] in modules]:
        del sys.modules[name]
    config.stash[hidden_modules] = modules
    sys.meta_path.insert(0, HideModules(modules))


def needs_trainer_stack(path: Path) -> bool:
    tests = ROOT / "tests"
    return path.is_relative_to(tests) and path.relative_to(tests).as_posix() in TRAINER_STACK_TESTS


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """Under --without-trainer-stack, the modules that import it are not even imported."""
    return True if hidden_modules in config.stash and needs_trainer_stack(collection_path) else None


def pytest_itemcollected(item: pytest.Item) -> None:
    if needs_trainer_stack(item.path):
        item.add_marker(pytest.mark.trainer)


def _fail_hidden_skip(report: pytest.TestReport | pytest.CollectReport) -> None:
    """An importorskip of a hidden module would skip silently on a base machine: fail it instead."""
    if report.skipped and HIDDEN in str(report.longrepr):
        where = report.longrepr if isinstance(report.longrepr, tuple) else ("", 0, str(report.longrepr))
        report.outcome = "failed"
        report.longrepr = (
            f"{where[0]}:{where[1]}: needs the trainer stack, so it would skip on a base "
            f"machine: {where[2].removeprefix('Skipped: ')}"
        )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    _fail_hidden_skip(report)
    return report


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(
    collector: pytest.Collector,
) -> Generator[None, pytest.CollectReport, pytest.CollectReport]:
    report = yield
    _fail_hidden_skip(report)
    return report


def pytest_report_header(config: pytest.Config) -> str | None:
    if hidden_modules not in config.stash:
        return None
    modules = ", ".join(sorted(config.stash[hidden_modules])) or "none installed"
    return f"trainer stack hidden (--without-trainer-stack), top-level modules: {modules}"


# --- the devcluster ---------------------------------------------------------------------------------


def stop_demo_operator(cluster: Devcluster, config: pytest.Config) -> None:
    """The tests own the cluster they test. `make demo` leaves its operator running (the Deployment on
    the real node; `make demo-sim`'s is a local process), watching every namespace: it would act on the
    tests' objects beside the tests' own operators. Stop it as `make demo-down` does, and say so."""
    state = cluster.kubeconfig.parent
    stopped = subprocess.run(
        ["bash", str(ROOT / "hack" / "demo.sh"), "stop"],
        env={**os.environ, "DEVCLUSTER_DIR": str(state)},
        check=True,
        text=True,
        capture_output=True,
        timeout=120,
    ).stdout.strip()
    if stopped:
        capture = config.pluginmanager.getplugin("capturemanager")
        with capture.global_and_fixture_disabled():
            print(
                f"\n[tests] {stopped} on {state}: the tests own this devcluster "
                "(the demo's operator would do their operators' work); `make demo` starts it again",
                flush=True,
            )


@pytest.fixture(scope="session")
def devcluster(pytestconfig: pytest.Config) -> Devcluster:
    cluster = ensure_devcluster()
    stop_demo_operator(cluster, pytestconfig)
    return cluster


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
