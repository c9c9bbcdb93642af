"""The trainer image takes its versions from constraints.txt and keeps build tools out of its final stage."""

from __future__ import annotations

import re
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
    assert "--no-build-isolation mmcv" in build


def test_final_stage_runs_as_uid_1000_without_build_tools() -> None:
    final = stages()[-1]
    assert re.search(r"(?m)^USER 1000\s*$", final)
    for tool in ("build-essential", "gcc", "g++", "ninja", "python3-dev", "git"):
        assert not re.search(rf"\b{re.escape(tool)}\b", final), f"{tool} in the final stage"
    assert "COPY --from=build /opt/venv" in final
    assert 'ENTRYPOINT ["python", "-m", "kubedet_trainer"]' in final
