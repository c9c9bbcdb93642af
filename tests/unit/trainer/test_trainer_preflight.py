"""Preflight: a broken dataset fails fast with a message naming the file, the entry and the problem."""

from __future__ import annotations

import json
import struct
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("PIL")  # the trainer extra; absent from the base venv

from PIL import Image

from kubedet.api.runspec import EXIT_USER_ERROR, RunSpec
from kubedet_trainer.__main__ import main
from kubedet_trainer.datasets import prepare_dataset
from kubedet_trainer.errors import DatasetInvalid
from kubedet_trainer.storage import Storage


def edit_json(root: Path, name: str, change: Callable[[dict[str, Any]], object]) -> None:
    data = json.loads((root / name).read_text())
    change(data)
    (root / name).write_text(json.dumps(data))


def png_claiming_size(width: int, height: int) -> bytes:
    """A PNG whose header claims a huge size; PIL reads the size without decoding anything."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b""))
        + chunk(b"IEND", b"")
    )


def truncate_json(root: Path) -> None:
    text = (root / "train.json").read_text()
    (root / "train.json").write_text(text[: len(text) // 2])


def first_image(root: Path) -> Path:
    return root / "images" / "img_1.png"


def set_annotation(field: str, value: Any) -> Callable[[Path], None]:
    return lambda root: edit_json(root, "train.json", lambda d: d["annotations"][0].__setitem__(field, value))


def set_image(field: str, value: Any) -> Callable[[Path], None]:
    return lambda root: edit_json(root, "train.json", lambda d: d["images"][0].__setitem__(field, value))


def truncate_png(root: Path) -> None:
    image = first_image(root)
    Image.effect_noise((48, 48), 50).convert("RGB").save(image)
    image.write_bytes(image.read_bytes()[:200])


BROKEN_DATASETS: dict[str, tuple[Callable[[Path], object], list[str]]] = {
    "truncated json": (truncate_json, ["train.json", "not valid JSON"]),
    "not an object": (lambda r: (r / "val.json").write_text("[]"), ["val.json", "JSON object"]),
    "missing list": (lambda r: edit_json(r, "val.json", lambda d: d.pop("images")), ["val.json", "'images'"]),
    "image not an image": (lambda r: first_image(r).write_bytes(b"hello"), ["image id 1", "not an image"]),
    "truncated image": (truncate_png, ["image id 1", "broken image"]),
    "missing image": (lambda r: first_image(r).unlink(), ["image id 1", "img_1.png", "does not exist"]),
    "box outside image": (set_annotation("bbox", [40, 4, 16, 20]), ["annotation id 10", "outside the 48x48"]),
    "degenerate box": (set_annotation("bbox", [4, 4, 0, 20]), ["annotation id 10", "degenerate"]),
    "nan box": (set_annotation("bbox", [4, 4, float("nan"), 20]), ["annotation id 10", "non-finite"]),
    "malformed box": (set_annotation("bbox", [4, 4, 20]), ["annotation id 10", "bbox"]),
    "unknown category id": (set_annotation("category_id", 99), ["annotation id 10", "category id 99"]),
    "missing image id": (set_annotation("image_id", 999), ["annotation id 10", "image id 999"]),
    "unknown category name": (
        lambda r: edit_json(r, "train.json", lambda d: d["categories"][0].__setitem__("name", "triangle")),
        ["train.json", "'triangle'", "not one of the dataset's classes"],
    ),
    "empty split": (
        lambda r: edit_json(r, "val.json", lambda d: d.update(images=[], annotations=[])),
        ["val.json", "val split has no images"],
    ),
    "split without annotations": (
        lambda r: edit_json(r, "val.json", lambda d: d.update(annotations=[])),
        ["val.json", "no annotations"],
    ),
    "decompression bomb": (
        lambda r: first_image(r).write_bytes(png_claiming_size(40_000, 40_000)),
        ["image id 1", "decompression bomb"],
    ),
    "path escaping root": (set_image("file_name", "../../../outside.png"), ["image id 1", "escapes"]),
    "absolute path": (set_image("file_name", "/etc/hostname"), ["image id 1", "escapes"]),
    "size mismatch": (set_image("width", 64), ["image id 1", "declared 64x48 but the file is 48x48"]),
    "duplicate image id": (
        lambda r: edit_json(r, "train.json", lambda d: d["images"].append(dict(d["images"][0]))),
        ["image id 1 appears twice"],
    ),
}


@pytest.mark.parametrize("case", sorted(BROKEN_DATASETS))
def test_broken_dataset_is_refused_with_a_precise_message(
    case: str, dataset_dir: Path, make_spec: Callable[..., RunSpec], tmp_path: Path
) -> None:
    breaker, expected = BROKEN_DATASETS[case]
    breaker(dataset_dir)
    with pytest.raises(DatasetInvalid) as caught:
        prepare_dataset(make_spec().dataset, Storage(), tmp_path / "work")
    for fragment in expected:
        assert fragment in str(caught.value), f"{case}: {fragment!r} missing from {caught.value}"


def test_valid_dataset_counts_and_normalized_categories(
    dataset_dir: Path, make_spec: Callable[..., RunSpec], tmp_path: Path
) -> None:
    prepared = prepare_dataset(make_spec().dataset, Storage(), tmp_path / "work")
    report = prepared.report()
    assert report["splits"]["train"] == {
        "images": 4,
        "annotations": 8,
        "perClass": {"circle": 4, "square": 4},
    }
    assert report["splits"]["val"]["images"] == 2
    normalized = json.loads(prepared.annotation_files["train"].read_text())
    assert normalized["categories"] == [{"id": 1, "name": "circle"}, {"id": 2, "name": "square"}]
    # Annotation 10 was category 7 ("circle") in the source file.
    assert next(a for a in normalized["annotations"] if a["id"] == 10)["category_id"] == 1


def test_single_file_is_split(dataset_dir: Path, make_spec: Callable[..., RunSpec], tmp_path: Path) -> None:
    spec = make_spec(annotations={"file": "train.json", "split": {"train": 50, "val": 25, "test": 25}})
    prepared = prepare_dataset(spec.dataset, Storage(), tmp_path / "work")
    assert {name: counts.images for name, counts in prepared.counts.items()} == {
        "train": 2,
        "val": 1,
        "test": 1,
    }


def test_preflight_command_exits_with_the_user_error_code(
    dataset_dir: Path,
    run_spec_wire: dict[str, Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    termination = tmp_path / "termination-log"
    monkeypatch.setenv("KUBEDET_TERMINATION_LOG", str(termination))
    spec_file = tmp_path / "spec.json"
    spec_file.write_text(json.dumps(run_spec_wire))
    assert main(["preflight", "--spec", str(spec_file)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["kind"] == "preflight-report" and report["splits"]["val"]["annotations"] == 4
    assert [c["name"] for c in report["classes"]] == ["circle", "square"]
    assert report["annotations"] == sum(c["annotations"] for c in report["classes"])

    first_image(dataset_dir).unlink()
    assert main(["preflight", "--spec", str(spec_file)]) == EXIT_USER_ERROR
    message = json.loads(termination.read_text())
    assert message["reason"] == "DatasetInvalid" and "img_1.png" in message["message"]


def test_invalid_spec_is_a_config_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBEDET_TERMINATION_LOG", str(tmp_path / "termination-log"))
    (tmp_path / "spec.yaml").write_text("run: {namespace: a}\n")
    assert main(["preflight", "--spec", str(tmp_path / "spec.yaml")]) == EXIT_USER_ERROR
    message = json.loads((tmp_path / "termination-log").read_text())
    assert message["reason"] == "ConfigInvalid" and "dataset" in message["message"]


def test_ten_thousand_images_in_under_ten_seconds(
    pvc_root: Path, make_spec: Callable[..., RunSpec], tmp_path: Path
) -> None:
    root = pvc_root / "data" / "ds"
    (root / "images").mkdir(parents=True)
    sample = tmp_path / "sample.jpg"
    Image.effect_noise((64, 48), 40).convert("RGB").save(sample)
    content = sample.read_bytes()
    images, annotations = [], []
    for image_id in range(1, 10_001):
        (root / "images" / f"{image_id}.jpg").write_bytes(content)
        images.append({"id": image_id, "file_name": f"{image_id}.jpg", "width": 64, "height": 48})
        annotations.append(
            {"id": image_id, "image_id": image_id, "category_id": 1 + image_id % 2, "bbox": [1, 2, 30, 20]}
        )
    coco = {
        "images": images,
        "annotations": annotations,
        "categories": [{"id": 1, "name": "circle"}, {"id": 2, "name": "square"}],
    }
    (root / "all.json").write_text(json.dumps(coco))
    spec = make_spec(annotations={"file": "all.json"})
    started, cpu_started = time.monotonic(), time.process_time()
    prepared = prepare_dataset(spec.dataset, Storage(), tmp_path / "work")
    elapsed, cpu = time.monotonic() - started, time.process_time() - cpu_started
    assert sum(counts.images for counts in prepared.counts.values()) == 10_000
    # About 2 s on two idle cores. The budget is on the process's CPU time, so that other jobs sharing
    # the machine cannot fail it; the wall-clock bound only catches waiting that CPU time would miss.
    assert cpu < 10, f"preflight of 10,000 images used {cpu:.1f} s of CPU"
    assert elapsed < 60, f"preflight of 10,000 images took {elapsed:.1f} s"
