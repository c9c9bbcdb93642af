"""One storage layer for every input and output of a run.

- local paths (absolute or relative) are used in place;
- `pvc://<claim>/<path>` is `<root>/<claim>/<path>` where the claim is mounted (root `/mnt/pvc`, or env
  KUBEDET_PVC_ROOT) and is used in place too;
- `s3://` and `https://` go through fsspec, imported only when such a URI is met, and are copied into the
  work directory.
Every path is resolved (symlinks included) and must stay inside the root it was given against.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kubedet_trainer.errors import DatasetInvalid, StorageUnavailable

DEFAULT_PVC_ROOT = "/mnt/pvc"
REMOTE_SCHEMES = ("s3://", "https://")


class PathEscapesRoot(DatasetInvalid):
    """A relative path climbs out of the location it is relative to (`..`, an absolute path, a symlink)."""


def contained_path(root: Path, relative: str, what: str = "path") -> Path:
    """`root/relative`, refused unless it resolves (symlinks followed) to a place inside root."""
    if "\x00" in relative:
        raise PathEscapesRoot(f"{what} {relative!r} contains a NUL character")
    resolved_root = root.resolve()
    candidate = (resolved_root / relative).resolve()
    if candidate != resolved_root and not candidate.is_relative_to(resolved_root):
        raise PathEscapesRoot(f"{what} {relative!r} escapes {root}")
    return candidate


def join_uri(base: str, relative: str) -> str:
    """`base/relative` for a URI or a local path; `..` segments and absolute paths are refused."""
    parts = [p for p in relative.replace("\\", "/").split("/") if p not in ("", ".")]
    if relative.startswith("/") or ".." in parts:
        raise PathEscapesRoot(f"{relative!r} must be a path inside {base}")
    return base.rstrip("/") + "/" + "/".join(parts) if parts else base


class Storage:
    """Reads and writes storage URIs; remote ones through fsspec with the pod's credentials env."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        self.pvc_root = Path(env.get("KUBEDET_PVC_ROOT", DEFAULT_PVC_ROOT))

    @staticmethod
    def is_remote(uri: str) -> bool:
        return uri.startswith(REMOTE_SCHEMES)

    def local_path(self, uri: str) -> Path:
        """The filesystem path of a local or pvc:// URI (it need not exist yet)."""
        if uri.startswith("pvc://"):
            claim, _, rest = uri[len("pvc://") :].partition("/")
            if not claim:
                raise StorageUnavailable(f"{uri!r} names no claim")
            claim_root = self.pvc_root / claim
            return contained_path(claim_root, rest, what=f"path of {uri!r}") if rest else claim_root
        if self.is_remote(uri) or "://" in uri:
            raise StorageUnavailable(f"{uri!r} is not on a local filesystem")
        return Path(uri)

    def exists(self, uri: str) -> bool:
        if self.is_remote(uri):
            return bool(self._remote(uri, lambda fs, path: fs.exists(path)))
        return self.local_path(uri).exists()

    def fetch(self, uri: str, cache_dir: Path) -> Path:
        """A local path holding the file or folder at uri: the path itself when local, else a copy."""
        if not self.is_remote(uri):
            path = self.local_path(uri)
            if not path.exists():
                raise StorageUnavailable(f"{uri} does not exist")
            return path
        target = cache_dir / _cache_name(uri)
        if not target.exists():
            self.download(uri, target)
        return target

    def download(self, uri: str, target: Path) -> None:
        """Copy a remote file or folder to target, which appears only once complete."""
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".partial")
        self._remote(uri, lambda fs, path: fs.get(path, str(partial), recursive=fs.isdir(path)))
        partial.rename(target)

    def put(self, local: Path, uri: str) -> None:
        """Copy a local file to uri; it appears there whole or not at all."""
        if self.is_remote(uri):
            # Object stores publish an object only when its upload completes.
            self._remote(uri, lambda fs, path: fs.put_file(str(local), path))
            return
        target = self.local_path(uri)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_name(target.name + ".partial")
            shutil.copyfile(local, partial)
            os.replace(partial, target)
        except OSError as error:
            raise StorageUnavailable(f"cannot write {uri}: {error}") from error

    def remove(self, uri: str) -> None:
        """Delete a file or folder at uri if it exists."""
        if self.is_remote(uri):
            self._remote(uri, lambda fs, path: fs.rm(path, recursive=True) if fs.exists(path) else None)
            return
        path = self.local_path(uri)
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()

    def _remote(self, uri: str, action: Any) -> Any:
        try:
            import fsspec  # imported here so local-only runs never need it

            fs, path = fsspec.core.url_to_fs(uri)
            return action(fs, path)
        except FileNotFoundError as error:
            raise StorageUnavailable(f"{uri} does not exist") from error
        except (OSError, ImportError, ValueError) as error:
            raise StorageUnavailable(f"cannot reach {uri}: {error}") from error


def _cache_name(uri: str) -> str:
    scheme, _, rest = uri.partition("://")
    return scheme + "_" + rest.strip("/").replace("/", "__")
