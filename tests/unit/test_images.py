"""`make images` (hack/images/, docs/images.md): the static parts, checked without building anything.

The Dockerfiles build non-root images with no compiler in their final stage, take the bases and the torch
build from build arguments (one Dockerfile for the Debian image built here and the CUDA image for users),
and the scripts never store the Debian mirror. Building is `make images` itself (buildah, minutes).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILES = {"operator": ROOT / "operator" / "Dockerfile", "trainer": ROOT / "trainer_image" / "Dockerfile"}
USERS = {"operator": "65532", "trainer": "1000"}
SCRIPTS = sorted((ROOT / "hack" / "images").glob("*.sh"))
COMPILERS = ("build-essential", "gcc", "g++", "clang", "ninja", "python3-dev", "git", "nvcc")


def stages(path: Path) -> list[str]:
    return re.split(r"(?m)^FROM ", path.read_text())[1:]


def instructions(stage: str) -> str:
    """The stage without its comment lines (comments may name what the stage leaves out)."""
    return "\n".join(line for line in stage.splitlines() if not line.lstrip().startswith("#"))


@pytest.mark.parametrize("image", sorted(DOCKERFILES))
def test_final_stage_is_non_root_and_has_no_compiler(image: str) -> None:
    final = instructions(stages(DOCKERFILES[image])[-1])
    users = re.findall(r"(?m)^USER\s+(\S+)\s*$", final)
    assert users and users[-1].split(":")[0] == USERS[image], users
    assert users[-1].split(":")[0] not in ("0", "root")
    for tool in COMPILERS:
        assert not re.search(rf"(?<![\w-]){re.escape(tool)}(?![\w-])", final), (
            f"{tool} in {image}'s final stage"
        )


@pytest.mark.parametrize("image", sorted(DOCKERFILES))
def test_python_is_called_python3_where_the_base_may_be_debian(image: str) -> None:
    """Debian's python3 package has no `python` command: only the venv's `python` exists in every base."""
    for stage in stages(DOCKERFILES[image]):
        before_venv = instructions(stage).split("/opt/venv", 1)[0]
        assert not re.search(r"\bpython -m\b", before_venv), before_venv


def test_trainer_bases_and_torch_build_are_build_arguments() -> None:
    text = DOCKERFILES["trainer"].read_text()
    first = text.split("FROM ", 1)[0]
    for arg in ("BUILD_IMAGE", "RUNTIME_IMAGE"):
        assert re.search(rf"(?m)^ARG {arg}=nvidia/cuda:", first), f"{arg} must default to the CUDA image"
    build, final = stages(DOCKERFILES["trainer"])
    assert build.startswith("${BUILD_IMAGE} AS build") and final.startswith("${RUNTIME_IMAGE}")
    for arg in ("BUILD_PACKAGES", "TORCH_INDEX_URL", "WHEELHOUSE", "WHEELS_ONLY", "FORCE_CUDA"):
        assert re.search(rf"(?m)^ARG {arg}=", build), arg
    assert "RUNTIME_PACKAGES" in final
    # The wheelhouse is mounted, never copied into a layer, and the folder it defaults to exists (a
    # bind mount of a missing folder fails the build).
    assert not re.search(r"(?m)^COPY .*WHEELHOUSE", text)
    assert text.count("--mount=type=bind,source=${WHEELHOUSE},target=/wheelhouse") == 4
    assert (ROOT / "trainer_image" / "wheels" / ".gitignore").is_file()


def test_trainer_venv_is_written_once() -> None:
    """The final stage installs the wheels into its own venv in one layer keyed by constraints.txt and the
    wheels only: a venv copied from the build stage was written twice (and recopied on every change to the
    package), which ran a CI machine out of disk."""
    build, final = (instructions(stage) for stage in stages(DOCKERFILES["trainer"]))
    assert "/opt/venv" not in build
    assert not re.search(r"(?m)^COPY --from=build /opt/", final)
    heavy = [run for run in re.split(r"(?m)^(?=[A-Z]+ )", final) if run.startswith("RUN") and "torch" in run]
    assert len(heavy) == 1, heavy
    assert "--mount=type=bind,from=build,source=/wheels,target=/wheels" in heavy[0]
    assert "--no-index" in heavy[0]
    before_heavy = final.split(heavy[0], 1)[0]
    copied = re.findall(r"(?m)^COPY (?:--\S+ )*(\S+)", before_heavy)
    assert copied == ["constraints.txt"], copied


def test_operator_base_is_a_build_argument() -> None:
    text = DOCKERFILES["operator"].read_text()
    assert re.search(r"(?m)^ARG PYTHON_IMAGE=", text)
    assert all(stage.startswith("${PYTHON_IMAGE}") for stage in stages(DOCKERFILES["operator"]))


def test_build_script_passes_the_local_base_and_the_wheelhouse() -> None:
    build = (ROOT / "hack" / "images" / "build.sh").read_text()
    for arg in (
        "PYTHON_IMAGE=$base",
        "BUILD_IMAGE=$trainer_base",
        "RUNTIME_IMAGE=$trainer_base",
        "WHEELS_ONLY=1",
        "WHEELHOUSE=",
    ):
        assert arg in build, arg
    assert "--isolation chroot" in build and "oci-archive:" in build


def test_no_script_stores_a_mirror_or_registry_address() -> None:
    for path in [*SCRIPTS, ROOT / "hack" / "make" / "images.mk"]:
        assert not re.search(r"https?://", path.read_text()), f"{path.name} names a URL"
    base = (ROOT / "hack" / "images" / "base.sh").read_text()
    assert "apt-get indextargets" in base
    assert "sources.list" in base  # removed from the root filesystem before the commit


def test_scripts_parse() -> None:
    for path in SCRIPTS:
        subprocess.run(["bash", "-n", str(path)], check=True)


def test_only_what_runs_real_pods_waits_for_the_images() -> None:
    """`make demo` and the real-node tests run kubedet's images, so they build them (cached); the
    unit, integration and trainer tests need none and never wait for a build."""
    makefile = (ROOT / "Makefile").read_text()

    def prerequisites(target: str) -> list[str]:
        line = re.search(rf"(?m)^{re.escape(target)}:([^#]*)", makefile)
        assert line, target
        return line.group(1).split()

    for target in ("demo", "test-realnode"):
        assert "images" in prerequisites(target), target
    for target in ("test-unit", "test-integration", "test-trainer", "demo-sim"):
        assert "images" not in prerequisites(target), target
    ci = (ROOT / ".ci" / "run").read_text()
    assert not re.search(r"make[^\n]*\bimages\b|hack/images", ci), (
        "CI builds them only through the README's path"
    )
