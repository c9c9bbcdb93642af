"""Turn pydantic's JSON schema into a Kubernetes structural schema (OpenAPI v3 as CRDs take it).

What differs: no $ref (everything inlined), no `title`, no `null` types (optional fields are simply not
required), exclusive bounds are booleans, `const` is a one-value enum, a model default is `{}` so the
API server fills in the nested defaults, and an untyped JSON value preserves unknown fields.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue, NoDefault
from pydantic_core import core_schema

# Keywords a structural schema may carry over from JSON schema as they are.
_PASSTHROUGH = {
    "description",
    "type",
    "enum",
    "default",
    "minimum",
    "maximum",
    "minLength",
    "maxLength",
    "minItems",
    "maxItems",
    "minProperties",
    "maxProperties",
    "pattern",
    "multipleOf",
    "uniqueItems",
}
_FORMATS = {"date-time", "int32", "int64", "double", "float", "byte"}


class KubeSchemaGenerator(GenerateJsonSchema):
    """pydantic's generator, with defaults from default factories where the API server can apply them."""

    def get_default_value(self, schema: core_schema.WithDefaultSchema) -> Any:
        factory = schema.get("default_factory")
        if factory is None:
            return super().get_default_value(schema)
        if schema.get("default_factory_takes_data"):
            return NoDefault
        value = factory()  # type: ignore[call-arg]
        # The whole default object, not `{}`: the API server checks a default against the object's CEL
        # rules before it fills in nested defaults.
        if isinstance(value, BaseModel):
            return value.model_dump(by_alias=True, exclude_none=True, mode="json")
        # An empty list default would make the server write `[]` into every object: leave it out.
        return NoDefault


class StructuralSchemaError(ValueError):
    """The model uses a construct that has no structural-schema equivalent."""


def json_schema_of(model: type[BaseModel]) -> JsonSchemaValue:
    return model.model_json_schema(by_alias=True, schema_generator=KubeSchemaGenerator)


def structural(model: type[BaseModel]) -> dict[str, Any]:
    """The structural schema of `model`, every $ref inlined."""
    schema = json_schema_of(model)
    return _convert(schema, schema.get("$defs", {}), path="")


def _resolve(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """Merge a $ref (or a one-element allOf) into the node, the node's own keywords winning: a field's
    description is more specific than its type's."""
    if "$ref" in node:
        target = defs[node["$ref"].rsplit("/", 1)[-1]]
        rest = {k: v for k, v in node.items() if k != "$ref"}
        return _resolve({**target, **rest}, defs)
    if "allOf" in node and len(node["allOf"]) == 1:
        rest = {k: v for k, v in node.items() if k != "allOf"}
        return _resolve({**node["allOf"][0], **rest}, defs)
    if "anyOf" in node:
        choices = [c for c in node["anyOf"] if c != {"type": "null"}]
        if len(choices) != 1:
            raise StructuralSchemaError(f"anyOf with {len(choices)} non-null choices is not structural")
        rest = {k: v for k, v in node.items() if k != "anyOf"}
        return _resolve({**_resolve(choices[0], defs), **rest}, defs)
    return node


def _convert(node: dict[str, Any], defs: dict[str, Any], path: str) -> dict[str, Any]:
    node = _resolve(node, defs)
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _PASSTHROUGH or key.startswith("x-kubernetes-") or (key == "format" and value in _FORMATS):
            out[key] = value
        elif key == "const":
            out["enum"] = [value]
        elif key in ("exclusiveMinimum", "exclusiveMaximum"):
            bound = "minimum" if key == "exclusiveMinimum" else "maximum"
            out[bound] = value
            out[key] = True
    if out.get("default", ...) is None:
        del out["default"]
    if "description" in out:
        # Docstrings wrap at the source's line length; kubectl explain wraps to the terminal itself.
        out["description"] = " ".join(out["description"].split())
    if "properties" in node:
        out["type"] = "object"
        out["properties"] = {
            name: _convert(sub, defs, f"{path}.{name}") for name, sub in sorted(node["properties"].items())
        }
        required = sorted(node.get("required", []))
        if required:
            out["required"] = required
    additional = node.get("additionalProperties")
    patterned = node.get("patternProperties") or {}
    if additional is None and len(patterned) == 1:
        # A map whose keys have a pattern (class names): structural schemas know no patternProperties,
        # and a map without additionalProperties would have every key pruned by the API server.
        (additional,) = patterned.values()
    if isinstance(additional, dict):
        out["additionalProperties"] = _convert(additional, defs, f"{path}[*]")
    if "items" in node:
        out["items"] = _convert(node["items"], defs, f"{path}[]")
    if "type" not in out and not _untyped_allowed(out):
        if node.get("properties") is None and set(node) <= {"description", "default", "title"}:
            # pydantic's JsonValue: any JSON value, kept as written.
            out["x-kubernetes-preserve-unknown-fields"] = True
        else:
            raise StructuralSchemaError(f"{path or '<root>'}: no type in {node}")
    return out


def _untyped_allowed(node: dict[str, Any]) -> bool:
    return bool(node.get("x-kubernetes-int-or-string") or node.get("x-kubernetes-preserve-unknown-fields"))
