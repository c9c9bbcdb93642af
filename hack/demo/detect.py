"""Stock MMDetection inference with a model kubedet published: what `make demo` runs in a pod.

    python detect.py CONFIG CHECKPOINT IMAGE [ANNOTATIONS]

Loads the config and checkpoint with mmdet.apis (nothing of kubedet), detects objects in IMAGE and
prints each detection above a 0.3 score; with the dataset's COCO ANNOTATIONS it prints the image's
ground truth beside them.
"""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

SCORE_THRESHOLD = 0.3


def ground_truth(annotations: Path, image: Path) -> list[str]:
    coco = json.loads(annotations.read_text())
    names = {c["id"]: c["name"] for c in coco["categories"]}
    (entry,) = [i for i in coco["images"] if Path(i["file_name"]).name == image.name]
    lines = []
    for annotation in coco["annotations"]:
        if annotation["image_id"] == entry["id"]:
            x, y, w, h = annotation["bbox"]
            lines.append(f"{names[annotation['category_id']]:<8} box [{x}, {y}, {x + w}, {y + h}]")
    return lines


def main(argv: list[str]) -> None:
    # torch's and mmdet's deprecation notices say nothing about the model; the answer is what counts.
    warnings.simplefilter("ignore")
    from mmdet.apis import inference_detector, init_detector

    config, checkpoint, image = argv[:3]
    model = init_detector(config, checkpoint, device="cpu")
    classes = model.dataset_meta["classes"]
    found = inference_detector(model, image).pred_instances
    confident = found[found.scores > SCORE_THRESHOLD]
    print(f"detections in {Path(image).name} (score > {SCORE_THRESHOLD}):")
    for label, score, box in zip(
        confident.labels.tolist(), confident.scores.tolist(), confident.bboxes.tolist(), strict=True
    ):
        print(f"  {classes[label]:<8} score {score:.2f} box {[round(v) for v in box]}")
    if not len(confident):
        print("  none")
    if len(argv) > 3:
        print("ground truth:")
        for line in ground_truth(Path(argv[3]), Path(image)):
            print(f"  {line}")


if __name__ == "__main__":
    main(sys.argv[1:])
