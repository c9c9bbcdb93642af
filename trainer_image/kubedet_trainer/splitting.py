"""Splitting one COCO file into train/val/test, seeded and stratified by class.

Each class is first given one image in train, then in val, then in test (rarest class first, as long as
the class has images left), so small classes still get validated; the shuffled rest fills each split up
to its ratio. The same file and seed always give the same split.
"""

from __future__ import annotations

import random
from collections import defaultdict

from kubedet.api.dataset import SplitRatios
from kubedet_trainer.coco import Coco

SPLIT_ORDER = ("train", "val", "test")


def split_sizes(total: int, ratios: SplitRatios) -> dict[str, int]:
    """Images per split: val and test rounded from their ratio (at least one when the ratio is > 0 and
    there are images to spare), train the rest, which always keeps at least one."""
    sizes = {"val": round(total * ratios.val / 100), "test": round(total * ratios.test / 100)}
    if ratios.val and sizes["val"] == 0 and total >= 2:
        sizes["val"] = 1
    if ratios.test and sizes["test"] == 0 and total >= 3:
        sizes["test"] = 1
    while sizes["val"] + sizes["test"] > max(0, total - 1):
        sizes["test" if sizes["test"] else "val"] -= 1
    sizes["train"] = total - sizes["val"] - sizes["test"]
    return sizes


def split_coco(data: Coco, ratios: SplitRatios) -> dict[str, Coco]:
    """The split files; a split with no images (a tiny dataset) is left out."""
    rng = random.Random(ratios.seed)
    image_ids = [image["id"] for image in data["images"]]
    rng.shuffle(image_ids)
    sizes = split_sizes(len(image_ids), ratios)

    images_of_class: dict[int, list[int]] = defaultdict(list)
    seen_pairs: set[tuple[int, int]] = set()
    for annotation in data["annotations"]:
        pair = (annotation["category_id"], annotation["image_id"])
        if pair not in seen_pairs:
            seen_pairs.add(pair)
            images_of_class[annotation["category_id"]].append(annotation["image_id"])
    shuffled_rank = {image_id: rank for rank, image_id in enumerate(image_ids)}
    for members in images_of_class.values():
        members.sort(key=lambda image_id: shuffled_rank.get(image_id, -1))

    assignment: dict[int, str] = {}
    counts = dict.fromkeys(SPLIT_ORDER, 0)
    rarest_first = sorted(images_of_class, key=lambda category: (len(images_of_class[category]), category))
    for split in SPLIT_ORDER:
        for category in rarest_first:
            if counts[split] >= sizes[split]:
                break
            members = images_of_class[category]
            if any(assignment.get(image_id) == split for image_id in members):
                continue
            free = [image_id for image_id in members if image_id not in assignment]
            if free:
                assignment[free[0]] = split
                counts[split] += 1
    for image_id in image_ids:
        if image_id in assignment:
            continue
        split = next(s for s in SPLIT_ORDER if counts[s] < sizes[s])
        assignment[image_id] = split
        counts[split] += 1

    result: dict[str, Coco] = {}
    for split in SPLIT_ORDER:
        members_set = {image_id for image_id, chosen in assignment.items() if chosen == split}
        if not members_set:
            continue
        result[split] = {
            **{key: value for key, value in data.items() if key not in ("images", "annotations")},
            "images": [image for image in data["images"] if image["id"] in members_set],
            "annotations": [a for a in data["annotations"] if a["image_id"] in members_set],
        }
    return result
