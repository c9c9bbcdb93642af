"""Pictures the trainer wrote beside a model (the validation samples grid), read where this machine can
reach them. The dashboard adds nothing to the cluster to serve them, so what it reaches is:

- `pvc://<claim>/<path>` under `--pvc-root` (`<root>/<claim>/<path>`: a claim's export mounted here);
- else, `pvc://` through the claim's PersistentVolume when that is a hostPath or local volume whose
  directory exists on this machine (the devcluster's real node, kind with extraMounts, minikube);
- `https://` fetched without credentials; local paths as they are.

Anything else (s3://, a claim on remote storage) is answered with a sentence saying where the picture is
and how to make it reachable.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

MAX_PICTURE_BYTES = 32 * 1024 * 1024


class Unreachable(Exception):
    """The picture is not readable from here; the message says where it is and what would help."""


@dataclass(frozen=True)
class PvcLocation:
    claim: str
    path: str


def parse_pvc(uri: str) -> PvcLocation:
    claim, _, path = uri.removeprefix("pvc://").partition("/")
    if not claim or not path:
        raise Unreachable(f"{uri} is not a pvc://<claim>/<path> URI")
    return PvcLocation(claim, path)


def contained(root: Path, relative: str) -> Path:
    """root/relative, refused when it resolves outside root (`..`, absolute paths, symlinks)."""
    resolved_root = root.resolve()
    candidate = (resolved_root / relative).resolve()
    if candidate != resolved_root and resolved_root not in candidate.parents:
        raise Unreachable(f"{relative!r} leaves {root}")
    return candidate


def read_file(path: Path, uri: str) -> bytes:
    try:
        if path.stat().st_size > MAX_PICTURE_BYTES:
            raise Unreachable(f"{uri} is larger than {MAX_PICTURE_BYTES // 2**20} MiB")
        return path.read_bytes()
    except FileNotFoundError as error:
        raise Unreachable(f"{uri} does not exist (looked at {path} on this machine)") from error
    except OSError as error:
        raise Unreachable(f"{uri} cannot be read at {path}: {error.strerror}") from error


def volume_directory(persistent_volume: dict) -> Path | None:
    """The directory a hostPath or local PersistentVolume names, when it exists on this machine."""
    spec = persistent_volume.get("spec") or {}
    raw = (spec.get("hostPath") or {}).get("path") or (spec.get("local") or {}).get("path")
    if not raw:
        return None
    directory = Path(raw)
    return directory if directory.is_dir() else None


def unreachable_hint(uri: str) -> str:
    if uri.startswith("pvc://"):
        return (
            f"the picture is at {uri}, on a claim this machine cannot read: mount the claim's storage "
            "here and start the dashboard with --pvc-root DIR (DIR/<claim>/<path>)"
        )
    return f"the picture is at {uri}; the dashboard reads pvc://, https:// and local paths only"
