"""Render docs/api-reference.md from the kinds' structural schemas and the api constants."""

from __future__ import annotations

import ast
import inspect
import itertools
import json
from enum import StrEnum
from typing import Any

from kubedet.api import cfgoptions
from kubedet.api.constants import API_VERSION, Annotation, ConditionType, Label, Phase, Reason
from kubedet.api.resource import KubedetObject

# The ported app's run states and what kubedet calls them.
APP_PHASES = (
    ("Waiting", Phase.PENDING, "created (or a suspended draft), being validated, or queued"),
    ("Processing", Phase.RUNNING, "the training Job's pods run"),
    ("Success", Phase.SUCCEEDED, "training finished and the TrainedModel exists"),
    ("Error", Phase.FAILED, "a step failed; the Failed condition and errorConfigMapRef say why"),
)


def member_docs(enum: type[StrEnum]) -> dict[str, str]:
    """The docstrings written under an enum's members (Python keeps none of them at runtime)."""
    tree = ast.parse(inspect.getsource(enum))
    body = tree.body[0].body  # type: ignore[attr-defined]
    docs: dict[str, str] = {}
    for assign, following in itertools.pairwise(body):
        if (
            isinstance(assign, ast.Assign)
            and isinstance(following, ast.Expr)
            and isinstance(following.value, ast.Constant)
            and isinstance(following.value.value, str)
        ):
            name = assign.targets[0].id  # type: ignore[attr-defined]
            docs[getattr(enum, name).value] = " ".join(following.value.value.split())
    return docs


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _type_of(node: dict[str, Any]) -> str:
    if node.get("x-kubernetes-int-or-string"):
        return "quantity (int or string)"
    if node.get("x-kubernetes-preserve-unknown-fields") and "type" not in node:
        return "any JSON"
    kind = node.get("type", "")
    if kind == "array":
        return f"[]{_type_of(node['items'])}"
    if kind == "object" and "additionalProperties" in node:
        return f"map[string]{_type_of(node['additionalProperties'])}"
    if node.get("format") == "date-time":
        return "time (RFC 3339)"
    return str(kind)


def _constraints(node: dict[str, Any]) -> list[str]:
    notes = []
    if "enum" in node:
        notes.append("one of " + ", ".join(f"`{v}`" for v in node["enum"]))
    low, high = node.get("minimum"), node.get("maximum")
    if low is not None or high is not None:
        lo = "" if low is None else f"{low} {'<' if node.get('exclusiveMinimum') else '≤'} "
        hi = "" if high is None else f" {'<' if node.get('exclusiveMaximum') else '≤'} {high}"
        notes.append(f"{lo}x{hi}")
    for key, label in (
        ("minLength", "min length"),
        ("maxLength", "max length"),
        ("minItems", "min items"),
        ("maxItems", "max items"),
        ("maxProperties", "max entries"),
    ):
        if key in node:
            notes.append(f"{label} {node[key]}")
    if node.get("x-kubernetes-list-type") == "set":
        notes.append("unique items")
    if "pattern" in node:
        notes.append(f"pattern `{node['pattern']}`")
    rules = node.get("x-kubernetes-validations", [])
    notes.extend(rule.get("message", "checked by a CEL rule") for rule in rules)
    return notes


def _rows(node: dict[str, Any], path: str) -> list[str]:
    rows = []
    required = set(node.get("required", []))
    for name, sub in node.get("properties", {}).items():
        field = f"{path}.{name}"
        if "default" in sub:
            default = f"`{json.dumps(sub['default'])}`"
        else:
            default = "required" if name in required else ""
        description = sub.get("description", "")
        notes = _constraints(sub)
        if notes:
            description += " *(" + "; ".join(notes) + ")*"
        rows.append(f"| `{field}` | {_cell(_type_of(sub))} | {_cell(default)} | {_cell(description)} |")
        child = sub.get("items", sub) if sub.get("type") == "array" else sub
        rows.extend(_rows(child, field + ("[]" if child is not sub else "")))
    return rows


def _kind_section(model: type[KubedetObject], schema: dict[str, Any]) -> list[str]:
    names = model.NAMES
    lines = [
        f"## {names.kind}",
        "",
        schema.get("description", ""),
        "",
        f"`kubectl get {names.plural}` (short names: {', '.join(names.short_names)}; "
        f"categories: {', '.join(names.categories)}) shows "
        + ", ".join(c.name.upper() for c in model.PRINTER_COLUMNS if c.priority == 0)
        + (
            "; `-o wide` adds " + ", ".join(c.name.upper() for c in model.PRINTER_COLUMNS if c.priority)
            if any(c.priority for c in model.PRINTER_COLUMNS)
            else ""
        )
        + ".",
        "",
    ]
    if model.SELECTABLE_FIELDS:
        lines += ["Field selectors: " + ", ".join(f"`{f.lstrip('.')}`" for f in model.SELECTABLE_FIELDS), ""]
    rules = schema.get("x-kubernetes-validations", [])
    if rules:
        lines += ["Update rules:", ""] + [f"- {r['message']}" for r in rules] + [""]
    for part in ("spec", "status"):
        sub = schema["properties"][part]
        lines += [
            f"### {names.kind} {part}",
            "",
            sub.get("description", ""),
            "",
            "| Field | Type | Default | Description |",
            "| --- | --- | --- | --- |",
            *_rows(sub, part),
            "",
        ]
    return lines


def _enum_table(enum: type[StrEnum], heading: str) -> list[str]:
    docs = member_docs(enum)
    rows = [f"| `{m.value}` | {_cell(docs.get(m.value, ''))} |" for m in enum]
    return [f"| {heading} | Meaning |", "| --- | --- |", *rows, ""]


def _cfg_options_section() -> list[str]:
    whole = "the key, its sub-keys and its parents"
    rows = [
        f"| `{k.key}` | {'any key with this segment' if k.segment else whole} | {_cell(k.why)} |"
        for k in cfgoptions.FORBIDDEN_KEYS
    ]
    return [
        "## cfgOptions",
        "",
        "`spec.cfgOptions` of a TrainingRun takes dotted mmengine config keys and JSON values, like "
        "`tools/train.py --cfg-options`: values are scalars or lists, never objects. The keys below are "
        "kubedet's: the admission policy in manifests/crd refuses them, and so does the operator. "
        "Once a run is scheduled its cfgOptions are frozen like the rest of the training-shaping spec.",
        "",
        "| Key | Refuses | Why |",
        "| --- | --- | --- |",
        *rows,
        "",
    ]


def render_api_reference(schemas: dict[type[KubedetObject], dict[str, Any]]) -> str:
    lines = [
        "<!-- Generated by `python -m kubedet.manifests` from operator/kubedet/api. Do not edit. -->",
        "# kubedet API reference",
        "",
        f"All kinds are namespaced, in API version `{API_VERSION}`, and have a status subresource "
        "written only by the operator. `kubectl get kubedet` lists them all; "
        "`kubectl explain <kind>.spec` shows the same descriptions as this page.",
        "",
        "| Kind | Short name | Description |",
        "| --- | --- | --- |",
        *(
            f"| [{m.NAMES.kind}](#{m.NAMES.kind.lower()}) | `{m.NAMES.short_names[0]}` | "
            f"{_cell(s.get('description', ''))} |"
            for m, s in schemas.items()
        ),
        "",
    ]
    for model, schema in schemas.items():
        lines += _kind_section(model, schema)
    lines += ["## Phases", "", "| Ported app | kubedet phase | When |", "| --- | --- | --- |"]
    lines += [f"| {app} | `{phase.value}` | {when} |" for app, phase, when in APP_PHASES]
    lines += ["", "Datasets and models use `Pending`, `Ready`, `Published` (models) and `Failed`.", ""]
    lines += ["## Conditions", "", *_enum_table(ConditionType, "Type")]
    lines += ["Reasons (`status.conditions[].reason`):", ""]
    lines += [", ".join(f"`{r.value}`" for r in Reason), ""]
    lines += _cfg_options_section()
    lines += ["## Labels and annotations set by kubedet", ""]
    lines += [f"- label `{label.value}`" for label in Label]
    lines += [f"- annotation `{a.value}`" for a in Annotation]
    return "\n".join(lines).rstrip() + "\n"
