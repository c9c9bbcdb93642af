"""Writing generated files, or checking that the committed ones are current (`make manifests`)."""

from __future__ import annotations

import sys
from pathlib import Path


def stale(files: dict[Path, str], root: Path) -> list[Path]:
    """Generated files whose committed content differs from what the code gives now."""
    return [
        path
        for path, text in files.items()
        if not (root / path).is_file() or (root / path).read_text(encoding="utf-8") != text
    ]


def write_or_check(files: dict[Path, str], root: Path, check: bool) -> int:
    """With `check`, report stale files and return 1 if any; otherwise write the ones that changed."""
    if check:
        outdated = stale(files, root)
        for path in outdated:
            print(f"stale: {path} (run `make manifests`)", file=sys.stderr)
        return 1 if outdated else 0
    for path, text in files.items():
        target = root / path
        if not target.is_file() or target.read_text(encoding="utf-8") != text:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
            print(f"wrote {path}")
    return 0
