"""The generated CRDs are current, structural, documented, and shaped for kubectl."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubedet.api.kinds import KINDS
from kubedet.api.resource import KubedetObject
from kubedet.api.trainingrun import FROZEN_SPEC_FIELDS, UNTYPED_SPEC_FIELDS
from kubedet.manifests import crds as crdgen
from kubedet.manifests import files as generated
from kubedet.manifests.__main__ import main as manifests_main

ROOT = Path(__file__).resolve().parents[3]
# The only maps of the API; every other object lists its properties.
MAPS = {
    "spec.cfgOptions",
    "spec.nodeSelector",
    "spec.podMetadata.labels",
    "spec.podMetadata.annotations",
    "spec.preflight.podMetadata.labels",
    "spec.preflight.podMetadata.annotations",
    "status.metrics.perClassAP",
    "status.metrics.perClassRecall",
    "spec.publishPolicy.minClassAP",
    *(
        f"spec.publishPolicy.evaluation.{field}"
        for field in ("nodeSelector", "podMetadata.labels", "podMetadata.annotations")
    ),
}


def test_generated_files_are_current() -> None:
    stale = generated.stale(crdgen.render(Path("crds")), ROOT)
    assert not stale, f"run `make manifests`: {[str(p) for p in stale]}"


def test_generation_is_deterministic() -> None:
    assert crdgen.render(Path("crds")) == crdgen.render(Path("crds"))


def test_crds_folder_holds_exactly_the_crds() -> None:
    # The test fixtures and users apply crds/ as a whole; a non-CRD there would break both.
    assert sorted(p.name for p in (ROOT / "crds").iterdir()) == sorted(crdgen.crd_file_name(m) for m in KINDS)


def _nodes(node: dict[str, Any], path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    yield path, node
    for name, sub in node.get("properties", {}).items():
        yield from _nodes(sub, f"{path}.{name}" if path else name)
    if "items" in node:
        yield from _nodes(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        yield from _nodes(node["additionalProperties"], f"{path}{{}}")


@pytest.fixture(params=KINDS, ids=lambda m: m.NAMES.kind)
def crd(request: pytest.FixtureRequest) -> dict[str, Any]:
    model: type[KubedetObject] = request.param
    return yaml.safe_load((ROOT / "crds" / crdgen.crd_file_name(model)).read_text(encoding="utf-8"))


def _schema(crd: dict[str, Any]) -> dict[str, Any]:
    return crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


def test_schema_is_structural(crd: dict[str, Any]) -> None:
    forbidden = {"$ref", "$defs", "title", "anyOf", "oneOf", "allOf", "not", "const", "additionalItems"}
    for path, node in _nodes(_schema(crd), ""):
        assert not forbidden & node.keys(), f"{path}: {forbidden & node.keys()}"
        untyped_ok = node.get("x-kubernetes-int-or-string") or node.get(
            "x-kubernetes-preserve-unknown-fields"
        )
        assert "type" in node or untyped_ok, f"{path} has no type"
        assert not isinstance(node.get("exclusiveMinimum"), int | float) or isinstance(
            node.get("exclusiveMinimum"), bool
        ), path
        if "additionalProperties" in node:
            assert path in MAPS, f"{path} is a map; add it to MAPS if that is intended"
            assert "properties" not in node, path
        if node.get("type") == "array":
            assert "items" in node, path
        # (metadata is the API server's own: it validates it whatever the schema says)
        if (
            node.get("type") == "object"
            and "properties" not in node
            and not untyped_ok
            and path != "metadata"
        ):
            # An object without properties or additionalProperties keeps nothing: the API server prunes
            # every key of it (class-name maps once lost their entries that way).
            assert "additionalProperties" in node, f"{path}: its keys would all be pruned"


def test_every_field_is_documented(crd: dict[str, Any]) -> None:
    for path, node in _nodes(_schema(crd), ""):
        if path.endswith(("[]", "{}")) or path == "metadata":
            continue
        assert node.get("description"), f"{path} has no description (kubectl explain would be empty)"


def test_bounded_for_cel(crd: dict[str, Any]) -> None:
    # The API server estimates CEL cost from these bounds and refuses rules on unbounded data.
    for path, node in _nodes(_schema(crd), ""):
        if node.get("type") == "array":
            assert "maxItems" in node, path


def test_kubectl_shape(crd: dict[str, Any]) -> None:
    spec = crd["spec"]
    version = spec["versions"][0]
    assert spec["group"] == "kubedet.io" and spec["scope"] == "Namespaced"
    assert version["name"] == "v1alpha1" and version["served"] and version["storage"]
    assert version["subresources"] == {"status": {}}
    assert "kubedet" in spec["names"]["categories"]
    assert spec["names"]["shortNames"]
    schema = _schema(crd)
    for column in version["additionalPrinterColumns"]:
        _assert_path_exists(schema, column["jsonPath"])
    conditions = schema["properties"]["status"]["properties"]["conditions"]
    assert conditions["x-kubernetes-list-type"] == "map"
    assert conditions["x-kubernetes-list-map-keys"] == ["type"]
    assert {"type", "status", "lastTransitionTime", "reason"} <= set(conditions["items"]["required"])


def _assert_path_exists(schema: dict[str, Any], json_path: str) -> None:
    node = schema
    # A filter such as [?(@.type=="Ready")] selects list items; its dots are not path separators.
    json_path = re.sub(r"\[\?\(.*?\)\]", "[]", json_path)
    for part in json_path.lstrip(".").split("."):
        name = part.split("[", 1)[0]
        if name == "creationTimestamp" and node is schema["properties"]["metadata"]:
            return
        assert name in node.get("properties", {}), f"printer column path {json_path} is not in the schema"
        node = node["properties"][name]
        if "[" in part:
            node = node["items"]


def test_training_run_freezes_every_training_shaping_field() -> None:
    crd = yaml.safe_load((ROOT / "crds" / "trainingruns.kubedet.io.yaml").read_text(encoding="utf-8"))
    rules = [r for r in _schema(crd)["x-kubernetes-validations"] if "immutable" in r["message"]]
    frozen_by_crd = {r["fieldPath"].removeprefix(".spec.") for r in rules}
    policy = (ROOT / "manifests" / "crd" / crdgen.POLICY_FILE).read_text(encoding="utf-8")
    assert frozen_by_crd == set(FROZEN_SPEC_FIELDS) - set(UNTYPED_SPEC_FIELDS)
    for field in UNTYPED_SPEC_FIELDS:
        assert f"spec.{field} is immutable once the run is scheduled" in policy
    for rule in rules:
        assert rule["message"].startswith(rule["fieldPath"].lstrip(".") + " is immutable")


def test_defaults_of_nested_objects_are_complete() -> None:
    # The API server checks an object default against CEL rules before nested defaulting, so object
    # defaults must be whole (e.g. split ratios that add up to 100).
    crd = yaml.safe_load((ROOT / "crds" / "datasets.kubedet.io.yaml").read_text(encoding="utf-8"))
    split = _schema(crd)["properties"]["spec"]["properties"]["annotations"]["properties"]["split"]
    assert split["default"] == {"seed": 0, "test": 10, "train": 70, "val": 20}


def test_kustomization_lists_crds_and_policy() -> None:
    kustomization = yaml.safe_load((ROOT / "manifests" / "crd" / "kustomization.yaml").read_text())
    for resource in kustomization["resources"]:
        assert (ROOT / "manifests" / "crd" / resource).is_file()
    assert crdgen.POLICY_FILE in kustomization["resources"]


def test_check_mode_reports_stale_files(tmp_path: Path) -> None:
    assert manifests_main(["--root", str(tmp_path), "--check"]) == 1
    assert manifests_main(["--root", str(tmp_path)]) == 0
    assert manifests_main(["--root", str(tmp_path), "--check"]) == 0
