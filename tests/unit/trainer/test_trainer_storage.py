"""The storage layer: pvc:// mapping, containment, atomic writes."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubedet_trainer.errors import StorageUnavailable
from kubedet_trainer.storage import PathEscapesRoot, Storage, contained_path, join_uri


def test_pvc_uris_map_under_the_root(pvc_root: Path) -> None:
    assert Storage().local_path("pvc://claim/a/b.json") == (pvc_root / "claim" / "a" / "b.json").resolve()
    assert Storage({"KUBEDET_PVC_ROOT": "/elsewhere"}).local_path("pvc://c/x") == Path("/elsewhere/c/x")


def test_default_pvc_root() -> None:
    assert Storage({}).local_path("pvc://c/x") == Path("/mnt/pvc/c/x")


@pytest.mark.parametrize("relative", ["../x", "a/../../x", "/etc/passwd"])
def test_join_refuses_escapes(relative: str) -> None:
    with pytest.raises(PathEscapesRoot):
        join_uri("pvc://claim/data", relative)


def test_join_builds_uris() -> None:
    assert join_uri("s3://bucket/prefix/", "images/a.png") == "s3://bucket/prefix/images/a.png"
    assert join_uri("pvc://c/d", "./x//y") == "pvc://c/d/x/y"


def test_symlinks_out_of_the_root_are_refused(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (root / "link").symlink_to(tmp_path)
    with pytest.raises(PathEscapesRoot):
        contained_path(root, "link/secret")
    assert contained_path(root, "inside/file") == root.resolve() / "inside" / "file"


def test_put_creates_folders_and_replaces_whole(pvc_root: Path, tmp_path: Path) -> None:
    source = tmp_path / "file.txt"
    source.write_text("new")
    storage = Storage()
    storage.put(source, "pvc://out/run/file.txt")
    target = pvc_root / "out" / "run" / "file.txt"
    assert target.read_text() == "new"
    assert not list(target.parent.glob("*.partial"))
    storage.remove("pvc://out/run")
    assert not target.parent.exists()


def test_fetching_what_is_missing_is_a_storage_failure(pvc_root: Path, tmp_path: Path) -> None:
    with pytest.raises(StorageUnavailable, match="does not exist"):
        Storage().fetch("pvc://claim/missing.pth", tmp_path)


def test_local_fetch_uses_files_in_place(pvc_root: Path, tmp_path: Path) -> None:
    (pvc_root / "claim").mkdir()
    (pvc_root / "claim" / "w.pth").write_bytes(b"x")
    assert Storage().fetch("pvc://claim/w.pth", tmp_path) == (pvc_root / "claim" / "w.pth").resolve()
