"""Text output: tables, progress bars, durations, trees, and the -o json|yaml forms."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import yaml


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A kubectl-style table: upper-case headers, columns padded with three spaces."""
    cells = [[str(h).upper() for h in headers]] + [["" if c is None else str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    return "\n".join(
        "   ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    )


def structured(obj: Any, output: str) -> str:
    if output == "json":
        return json.dumps(obj, indent=2, sort_keys=False)
    return str(yaml.safe_dump(obj, sort_keys=False))


def bar(percent: float | None, width: int = 30) -> str:
    """[#########.............]  42%"""
    if percent is None:
        return "[" + "?" * width + "]    ?"
    filled = max(0, min(width, round(width * percent / 100)))
    return f"[{'#' * filled}{'.' * (width - filled)}] {percent:3.0f}%"


def duration(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "-"
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    if seconds < 86400:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 86400}d{seconds % 86400 // 3600}h"


def age(timestamp: str | None, now: datetime | None = None) -> str:
    if not timestamp:
        return "-"
    then = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    return duration(((now or datetime.now(UTC)) - then).total_seconds())


def number(value: Any, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def progress_line(progress: dict[str, Any] | None) -> str:
    """epoch 3/12 [#####.....]  25%  ETA 4m10s  loss 0.412  best mAP 0.512 (epoch 2)"""
    p = progress or {}
    epoch = f"epoch {p.get('epoch', '?')}/{p.get('totalEpochs', '?')}"
    best = f"best mAP {number(p.get('bestMAP'))}"
    if p.get("bestEpoch"):
        best += f" (epoch {p['bestEpoch']})"
    return (
        f"{epoch}  {bar(p.get('percent'))}  ETA {duration(p.get('etaSeconds'))}  "
        f"loss {number(p.get('loss'))}  {best}"
    )


def tree(label: str, children: Sequence[Any], prefix: str = "") -> list[str]:
    """Lines of a tree; `children` are (label, children) pairs."""
    lines = [label] if not prefix else []
    for i, (child, grandchildren) in enumerate(children):
        last = i == len(children) - 1
        lines.append(f"{prefix}{'└── ' if last else '├── '}{child}")
        lines += tree(child, grandchildren, prefix + ("    " if last else "│   "))
    return lines


def conditions(body: dict[str, Any]) -> list[list[str]]:
    return [
        [c.get("type", ""), c.get("status", ""), c.get("reason", ""), c.get("message", "")]
        for c in (body.get("status") or {}).get("conditions", [])
    ]
