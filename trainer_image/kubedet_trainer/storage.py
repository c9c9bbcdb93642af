"""One storage layer for every input and output of a run.

- local paths (absolute or relative) are used in place;
- `pvc://<claim>/<path>` is `<root>/<claim>/<path>` where the claim is mounted (root `/mnt/pvc`, or env
  KUBEDET_PVC_ROOT) and is used in place too;
- `s3://` and `https://` go through fsspec (s3fs, and aiohttp for https), imported only when such a URI is
  met, and are copied into the work directory.
Every path is resolved (symlinks included) and must stay inside the root it was given against.

Remote settings come from the environment (the pod's: a Dataset's or output's Secret arrives by envFrom):
- s3://: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN; AWS_ENDPOINT_URL_S3 or
  AWS_ENDPOINT_URL for a store that is not AWS (MinIO, Ceph; path-style addressing); AWS_REGION or
  AWS_DEFAULT_REGION; AWS_CA_BUNDLE for an endpoint whose certificate a private CA signed. Unset keys
  leave botocore's own chain (web identity, instance profile) in charge; its retries follow
  AWS_MAX_ATTEMPTS and AWS_RETRY_MODE.
- https://: read-only, no credentials; SSL_CERT_FILE names the CA bundle for a private CA.
Failures become StorageUnavailable (ConfigInvalid for a write to https://) naming the URI and what to check;
no credential value ever appears in a message.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kubedet_trainer.errors import ConfigInvalid, DatasetInvalid, StorageUnavailable

DEFAULT_PVC_ROOT = "/mnt/pvc"
REMOTE_SCHEMES = ("s3://", "https://")
SECRET_ENV = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")
S3_CREDENTIALS_HINT = (
    "check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the Secret named by secretRef "
    "(and AWS_ENDPOINT_URL for a store that is not AWS), and that the key may use this bucket"
)


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
        self.environ = env
        self.pvc_root = Path(env.get("KUBEDET_PVC_ROOT", DEFAULT_PVC_ROOT))
        self._filesystems: dict[str, Any] = {}
        self._lock = threading.Lock()

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
        # A leftover of an interrupted copy: a folder copied onto an existing folder would land inside it.
        if partial.is_dir():
            shutil.rmtree(partial)
        partial.unlink(missing_ok=True)

        def get(fs: Any, path: str) -> None:
            # An https:// URL is always a file (listing one would download and parse it as a page).
            folder = uri.startswith("s3://") and fs.isdir(path)
            fs.get(path, str(partial), recursive=folder)

        self._remote(uri, get)
        partial.rename(target)

    def put(self, local: Path, uri: str) -> None:
        """Copy a local file to uri; it appears there whole or not at all."""
        if self.is_remote(uri):
            self._refuse_read_only(uri)
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
            self._refuse_read_only(uri)
            self._remote(uri, lambda fs, path: fs.rm(path, recursive=True) if fs.exists(path) else None)
            return
        path = self.local_path(uri)
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()

    @staticmethod
    def _refuse_read_only(uri: str) -> None:
        if uri.startswith("https://"):
            raise ConfigInvalid(
                f"cannot write to {uri}: https:// is read-only; give an s3:// or pvc:// output"
            )

    def s3_options(self) -> dict[str, Any]:
        """S3FileSystem arguments from the environment; unset values are left to botocore's defaults."""
        env = self.environ
        options: dict[str, Any] = {"use_listings_cache": False}
        client: dict[str, Any] = {}
        for variable, option in (
            ("AWS_ACCESS_KEY_ID", "key"),
            ("AWS_SECRET_ACCESS_KEY", "secret"),
            ("AWS_SESSION_TOKEN", "token"),
        ):
            if env.get(variable):
                options[option] = env[variable]
        endpoint = env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL")
        if endpoint:
            options["endpoint_url"] = endpoint
            # MinIO and most self-hosted stores serve buckets as paths, not as host names.
            options["config_kwargs"] = {"s3": {"addressing_style": "path"}}
        region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
        if region:
            client["region_name"] = region
        if env.get("AWS_CA_BUNDLE"):
            client["verify"] = env["AWS_CA_BUNDLE"]
        if client:
            options["client_kwargs"] = client
        return options

    def https_options(self) -> dict[str, Any]:
        """HTTPFileSystem arguments: SSL_CERT_FILE as the CA bundle when set.

        Passed explicitly: aiohttp reads SSL_CERT_FILE only once, when it is imported."""
        cafile = self.environ.get("SSL_CERT_FILE")
        if not cafile:
            return {}
        import ssl

        return {"ssl": ssl.create_default_context(cafile=cafile)}

    def _filesystem(self, uri: str) -> tuple[Any, str]:
        protocol = "s3" if uri.startswith("s3://") else "https"
        with self._lock:
            fs = self._filesystems.get(protocol)
            if fs is None:
                import fsspec  # imported here so local-only runs never need it

                options = self.s3_options() if protocol == "s3" else self.https_options()
                fs = fsspec.filesystem(protocol, skip_instance_cache=True, **options)
                self._filesystems[protocol] = fs
        return fs, fs._strip_protocol(uri)

    def _remote(self, uri: str, action: Any) -> Any:
        try:
            fs, path = self._filesystem(uri)
            return action(fs, path)
        except Exception as error:
            failure = self._explain(uri, error)
            if failure is None:
                raise
            raise failure from error

    def _explain(self, uri: str, error: Exception) -> StorageUnavailable | None:
        """The StorageUnavailable for a failed remote operation, or None for an error of another kind."""
        s3 = uri.startswith("s3://")
        detail = _detail(error)
        kind = type(error).__name__
        endpoint = (
            (self.environ.get("AWS_ENDPOINT_URL_S3") or self.environ.get("AWS_ENDPOINT_URL")) if s3 else None
        )
        where = f" at {endpoint}" if endpoint else ""
        message: str | None = None
        if isinstance(error, ImportError):
            message = f"cannot read {uri}: {detail}; the trainer image lacks the package for this scheme"
        elif isinstance(error, FileNotFoundError):
            message = f"{uri} does not exist ({detail}); check the bucket and path in the spec"
            if not s3:
                message = f"{uri} does not exist (HTTP 404); check the URL in the spec"
        elif isinstance(error, PermissionError):
            hint = S3_CREDENTIALS_HINT if s3 else "kubedet sends no credentials to https://; use s3:// for it"
            message = f"access to {uri}{where} was refused ({detail}); {hint}"
        elif kind in ("NoCredentialsError", "PartialCredentialsError"):
            message = (
                f"no credentials for {uri}: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in a Secret "
                "and name it in secretRef"
            )
        elif _is_tls_failure(error):
            bundle = "AWS_CA_BUNDLE" if s3 else "SSL_CERT_FILE"
            message = (
                f"cannot reach {uri}{where}: its TLS certificate was not accepted ({detail}); "
                f"if a private CA signed it, set {bundle} to that CA's bundle"
            )
        elif _is_http_status(error):
            message = f"{uri} answered {detail}; check the URL and that the server serves it"
        elif isinstance(error, (OSError, ValueError)) or _from_client_library(error):
            check = "AWS_ENDPOINT_URL and the network" if s3 else "the URL and the network"
            message = f"cannot reach {uri}{where} ({detail}); check {check}"
        if message is None:
            return None
        return StorageUnavailable(self._redact(message))

    def _redact(self, message: str) -> str:
        """The message without any credential value the environment holds (a store could echo one)."""
        for variable in SECRET_ENV:
            value = self.environ.get(variable)
            if value and len(value) >= 4:
                message = message.replace(value, "***")
        return message


def _detail(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return text if len(text) <= 300 else text[:297] + "..."


def _is_tls_failure(error: BaseException) -> bool:
    import ssl

    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, ssl.SSLError) or type(seen).__name__ in (
            "SSLError",
            "ClientConnectorCertificateError",
            "ClientSSLError",
            "ClientConnectorSSLError",
        ):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _is_http_status(error: BaseException) -> bool:
    return type(error).__name__ == "ClientResponseError"


def _from_client_library(error: BaseException) -> bool:
    """botocore's and aiohttp's own errors (endpoint unreachable, timeouts) derive from no builtin one."""
    modules = ("botocore.", "aiobotocore.", "aiohttp.")
    return any(base.__module__.startswith(modules) for base in type(error).__mro__)


def _cache_name(uri: str) -> str:
    scheme, _, rest = uri.partition("://")
    return scheme + "_" + rest.strip("/").replace("/", "__")
