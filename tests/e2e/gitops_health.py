"""Evaluate the Argo CD health checks in manifests/gitops/health/ as Argo CD does.

Argo CD runs a health script with gopher-lua (Lua 5.1) and the object as the global `obj`; the script
returns a table with `status` (Healthy, Progressing, Degraded, Suspended, Missing, Unknown) and
`message`. lupa's Lua 5.1 runtime is the closest match, so what passes here passes there.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
HEALTH = ROOT / "manifests" / "gitops" / "health"
ARGO_STATUSES = {"Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown"}


@dataclass(frozen=True)
class Health:
    status: str
    message: str


def script(kind: str) -> Path:
    return HEALTH / f"kubedet.io_{kind}.lua"


def evaluate(kind: str, obj: dict[str, Any]) -> Health:
    from lupa import lua51

    lua = lua51.LuaRuntime(unpack_returned_tuples=True)
    lua.globals().obj = _to_lua(lua, obj)
    # A chunk may `return` at top level, as Argo CD's scripts do; its value is the result.
    result = lua.execute(script(kind).read_text())
    status, message = str(result["status"]), str(result["message"] or "")
    assert status in ARGO_STATUSES, status
    return Health(status, message)


def _to_lua(lua: Any, value: Any) -> Any:
    """JSON to Lua tables: dicts become tables, lists become 1-based arrays (as gopher-lua's decoder)."""
    if isinstance(value, dict):
        return lua.table_from({k: _to_lua(lua, v) for k, v in value.items()})
    if isinstance(value, list):
        return lua.table_from([_to_lua(lua, v) for v in value])
    return value
