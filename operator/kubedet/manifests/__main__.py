"""`python -m kubedet.manifests [--check]`: every generated file, written or checked in one pass."""

from __future__ import annotations

import argparse
from pathlib import Path

from kubedet.manifests import crds, rbac
from kubedet.manifests.files import write_or_check


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kubedet.manifests", description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path("."), help="repository root (default: .)")
    parser.add_argument("--check", action="store_true", help="only report stale files; exit 1 if any")
    args = parser.parse_args(argv)
    files = crds.render(Path("crds")) | rbac.render(rbac.RBAC_DIR, rbac.POLICIES_DIR)
    return write_or_check(files, args.root, args.check)


if __name__ == "__main__":
    raise SystemExit(main())
