"""The trainer image takes its versions from constraints.txt and keeps build tools out of its final stage."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
DOCKERFILE = REPO / "trainer_image" / "Dockerfile"
STACK = ("torch", "mmcv", "mmdet", "mmengine")


def pinned_versions() -> dict[str, str]:
    pins = {}
    for line in (REPO / "constraints.txt").read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.-]+)==(\S+)", line.strip())
        if match:
            pins[match.group(1).lower()] = match.group(2)
    return pins


def stages() -> list[str]:
    return re.split(r"(?m)^FROM ", DOCKERFILE.read_text())[1:]


def test_the_stack_is_pinned_once_in_constraints() -> None:
    pins = pinned_versions()
    assert all(package in pins for package in STACK), pins
    text = DOCKERFILE.read_text()
    for package in STACK:
        assert not re.search(rf"\b{package}\s*[=<>~!]=", text), (
            f"{package} version repeated in the Dockerfile"
        )
        versions = re.findall(r"(?<![\d.])\d+\.\d+\.\d+(?![\d.])", text)
        assert pins[package] not in versions, (
            f"{package}'s version {pins[package]} repeated in the Dockerfile"
        )


def test_every_pip_install_uses_the_constraints() -> None:
    installs = [line for line in DOCKERFILE.read_text().splitlines() if "pip install" in line]
    assert installs
    assert all("-c constraints.txt" in line for line in installs), installs


def test_multi_stage_with_cuda_ops_for_hopper() -> None:
    build, _final = stages()
    assert "AS build" in build.splitlines()[0]
    assert "TORCH_CUDA_ARCH_LIST" in build and "9.0" in build and "MMCV_WITH_OPS=1" in build
    # mmcv is compiled (as a wheel) against the installed torch, unless the wheelhouse brings one.
    assert re.search(r"pip wheel [^\n]*--no-build-isolation[^\n]* mmcv", build)


def test_final_stage_runs_as_uid_1000_without_build_tools() -> None:
    final = stages()[-1]
    assert re.search(r"(?m)^USER 1000\s*$", final)
    for tool in ("build-essential", "gcc", "g++", "ninja", "python3-dev", "git"):
        assert not re.search(rf"\b{re.escape(tool)}\b", final), f"{tool} in the final stage"
    # The final stage installs the build stage's wheels (mounted, not copied) into its own venv.
    assert "--mount=type=bind,from=build,source=/wheels,target=/wheels" in final
    assert "COPY --from=build /opt/" not in final
    assert 'ENTRYPOINT ["python", "-m", "kubedet_trainer"]' in final


def pyproject_requirements() -> dict[str, list[str]]:
    """Distribution names (lower case, extras dropped) of the dependencies and of each extra."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    groups = {"dependencies": project["dependencies"], **project["optional-dependencies"]}
    return {
        group: [re.split(r"[\s\[<>=!~;]", item, maxsplit=1)[0].lower() for item in items]
        for group, items in groups.items()
    }


def test_every_dependency_is_pinned_in_the_constraints() -> None:
    pins = pinned_versions()
    for group, names in pyproject_requirements().items():
        missing = [name for name in names if name not in pins]
        assert not missing, f"{group} of pyproject.toml has no pin in constraints.txt: {missing}"


def test_remote_storage_is_in_the_image_and_pinned_with_fsspec() -> None:
    """s3:// needs s3fs in the trainer extra the image installs; s3fs releases track fsspec's version."""
    pins = pinned_versions()
    assert "s3fs" in pyproject_requirements()["trainer"]
    assert "fsspec" in pyproject_requirements()["trainer"]
    assert pins["s3fs"] == pins["fsspec"], "s3fs X requires fsspec X: pin them to the same version"
    for package in ("s3fs", "aiobotocore", "botocore", "aiohttp"):
        assert package in pins, f"{package} is not pinned"
    text = DOCKERFILE.read_text()
    assert re.search(r'pip install -c constraints\.txt "\$\(ls wheel/kubedet-\*\.whl\)\[trainer\]"', text)
    for package in ("s3fs", "aiobotocore", "botocore", "fsspec", "aiohttp"):
        assert not re.search(rf"\b{package}\s*[=<>~!]=", text), (
            f"{package} version repeated in the Dockerfile"
        )
    (check,) = [line for line in text.splitlines() if "python -c" in line and "import" in line]
    assert "s3fs" in check and "fsspec.implementations.http" in check, check


def test_the_storage_test_server_is_a_dev_dependency_only() -> None:
    groups = pyproject_requirements()
    assert "moto" in groups["dev"] and "moto" in pinned_versions()
    assert "moto" not in groups["trainer"] and "moto" not in groups["dependencies"]
