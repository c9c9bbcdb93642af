"""Scoring a trained model on one split of a dataset (`python -m kubedet_trainer evaluate`).

The split is read and checked by the dataset code training uses, so it is cut, checked and normalized
exactly as the trainer validated on it. The model's config is rewired with mmengine's Config API to test
on that split; mmengine's test loop runs mmdet's CocoMetric (classwise), whose numbers are the ones a
training reports for its validation. Per-class recall comes from pycocotools' COCOeval over the
detections the metric dumped.

Only the modules of the spec and of storage are imported up front: loading a spec needs neither torch nor
PIL, so the contract can be checked where the trainer stack is absent.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from kubedet.api.evaluation import EvaluatedModel, EvaluationResult, EvaluationSpec, coco_score
from kubedet.api.runspec import MMDET_CONFIG_PREFIX, RunDataset
from kubedet_trainer.errors import ConfigInvalid, DatasetInvalid, StorageUnavailable
from kubedet_trainer.storage import Storage, join_uri

# Where CocoMetric dumps its detections (it appends ".bbox.json"), inside the runner's work_dir.
DETECTIONS_PREFIX = "detections"
RECALL_MAX_DETECTIONS = 100


def load_evaluation_spec(path: Path | None = None, variable: str | None = None) -> EvaluationSpec:
    """The spec from a file (JSON or YAML) or from an environment variable (the operator's way)."""
    if variable is not None:
        where = f"environment variable {variable}"
        text = os.environ.get(variable)
        if not text:
            raise ConfigInvalid(f"{where} with the evaluation spec is not set")
    else:
        assert path is not None, "give a spec file or an environment variable"
        where = str(path)
        try:
            text = path.read_text()
        except FileNotFoundError as error:
            raise ConfigInvalid(f"evaluation spec {path} not found") from error
    try:
        data = yaml.safe_load(text)  # JSON is YAML
    except yaml.YAMLError as error:
        raise ConfigInvalid(f"evaluation spec in {where} is neither JSON nor YAML: {error}") from error
    try:
        return EvaluationSpec.model_validate(data)
    except ValidationError as error:
        raise ConfigInvalid(f"evaluation spec in {where} is invalid: {_problems(error)}") from error


def _problems(error: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(part) for part in item['loc']) or '(top level)'}: {item['msg']}"
        for item in error.errors()[:10]
    )


def check_classes(checkpoint_classes: Any, dataset_classes: list[str]) -> None:
    """Refuse a checkpoint trained on other classes: its label i would be scored as the dataset's class i."""
    if checkpoint_classes is None:
        return  # no record; the strict weight load still refuses another class count
    trained = [str(name) for name in checkpoint_classes]
    if trained == dataset_classes:
        return
    if sorted(trained) == sorted(dataset_classes):
        raise ConfigInvalid(
            f"the checkpoint's classes {trained} are the dataset's {dataset_classes} in another order; "
            "its labels would be scored as the wrong classes"
        )
    raise ConfigInvalid(f"the checkpoint's classes {trained} differ from the dataset's {dataset_classes}")


@dataclass
class PreparedSplit:
    name: str
    annotation_file: Path
    """The normalized COCO file (categories 1..N in class order), what the metric scores against."""
    images_dir: Path
    classes: list[str]
    images: int
    annotations: int


def prepare_split(dataset: RunDataset, split: str, storage: Storage, data_dir: Path) -> PreparedSplit:
    """Read, cut, check and normalize one split; raises DatasetInvalid or StorageUnavailable.

    Built from prepare_dataset's steps rather than calling it, so that only this split's images are
    fetched and checked: scoring a test split must not download the training images."""
    from kubedet_trainer.coco import write_coco
    from kubedet_trainer.datasets import fetch_images, normalized, read_splits
    from kubedet_trainer.preflight import preflight

    spec = dataset.spec
    splits = read_splits(dataset, storage, data_dir)
    chosen = next((candidate for candidate in splits if candidate.name == split), None)
    if chosen is None:
        present = ", ".join(candidate.name for candidate in splits)
        raise DatasetInvalid(
            f"dataset {dataset.name} has no {split} split to evaluate (it has {present}): "
            "too few images to give it any"
        )
    classes = list(spec.classes)
    images_uri = join_uri(spec.source.uri, spec.images)
    if storage.is_remote(images_uri):
        images_dir = data_dir / "images"
        fetch_images([chosen], images_uri, storage, images_dir)
    else:
        images_dir = storage.local_path(images_uri)
    counts = preflight([chosen], images_dir, classes)[split]  # refuses a split without images
    if counts.annotations == 0:
        raise DatasetInvalid(
            f"{chosen.label}: the {split} split has no annotations, so there is nothing to score "
            "the model's detections against"
        )
    path = data_dir / "annotations" / f"{split}.json"
    write_coco(normalized(chosen.data, classes), path)
    return PreparedSplit(split, path, images_dir.resolve(), classes, counts.images, counts.annotations)


def fetch_model(model: EvaluatedModel, storage: Storage, cache: Path) -> tuple[str, Path]:
    """(config path or mmdet:: reference, local checkpoint path)."""
    config = model.config
    if not config.startswith(MMDET_CONFIG_PREFIX):
        try:
            config = str(storage.fetch(config, cache))
        except StorageUnavailable as error:
            raise StorageUnavailable(f"cannot read the model's config: {error}") from error
    try:
        checkpoint = storage.fetch(model.checkpoint_uri, cache)
    except StorageUnavailable as error:
        raise StorageUnavailable(f"cannot read the model's checkpoint: {error}") from error
    if not checkpoint.is_file():
        raise ConfigInvalid(f"the model's checkpoint {model.checkpoint_uri} is not a file")
    return config, checkpoint


def read_checkpoint_classes(path: Path, uri: str) -> Any:
    """The classes the checkpoint records (mmengine saves the training dataset's metainfo), or None."""
    import torch

    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as error:
        raise ConfigInvalid(
            f"the checkpoint {uri} cannot be loaded: {type(error).__name__}: {error}"
        ) from error
    if not isinstance(checkpoint, dict):
        raise ConfigInvalid(f"the checkpoint {uri} is not an mmengine checkpoint (a dict of weights)")
    meta = checkpoint.get("meta") or {}
    return (meta.get("dataset_meta") or {}).get("classes")


def evaluation_config(
    config_file: str, reference: str, split: PreparedSplit, work_dir: Path, workers: int
) -> Any:
    """The model's config, set to test on the prepared split and to do nothing else."""
    from mmdet.utils import register_all_modules
    from mmengine.config import Config

    from kubedet_trainer.mmconfig import (
        drop_pretrained_downloads,
        innermost_dataset,
        palette,
        resolve_mmdet_config,
        set_num_classes,
    )

    register_all_modules(init_default_scope=False)
    try:
        cfg = Config.fromfile(resolve_mmdet_config(config_file))
    except ConfigInvalid:
        raise
    except Exception as error:
        raise ConfigInvalid(f"cannot load the model's config {reference!r}: {error}") from error
    loader = cfg.get("test_dataloader") or cfg.get("val_dataloader")
    if "model" not in cfg or loader is None:
        raise ConfigInvalid(
            f"{reference!r} has no model or no test_dataloader to take the test pipeline from"
        )
    # The checkpoint's head must have one output per dataset class: with this count, a checkpoint of
    # another class count fails the strict weight load instead of being scored with shuffled labels.
    set_num_classes(cfg.model, len(split.classes))
    drop_pretrained_downloads(cfg.model)
    dataset = innermost_dataset(loader)
    dataset.update(
        type="CocoDataset",
        data_root=str(split.annotation_file.parent),
        ann_file=str(split.annotation_file),
        data_prefix=dict(img=str(split.images_dir) + "/"),
        metainfo=dict(classes=tuple(split.classes), palette=palette(len(split.classes))),
        backend_args=None,
        test_mode=True,  # every image counts, those without boxes too (a false positive there is one)
    )
    # Wrappers (repeat, class balancing) would score some images twice: each image once.
    loader.dataset = dataset
    loader.sampler = dict(type="DefaultSampler", shuffle=False)
    loader.num_workers = workers
    loader.persistent_workers = workers > 0
    cfg.test_dataloader = loader
    cfg.test_evaluator = dict(
        type="CocoMetric",
        ann_file=str(split.annotation_file),
        metric="bbox",
        classwise=True,
        format_only=False,
        backend_args=None,
        outfile_prefix=str(work_dir / DETECTIONS_PREFIX),
    )
    cfg.test_cfg = dict(type="TestLoop")
    for unused in ("train_dataloader", "train_cfg", "optim_wrapper", "param_scheduler", "auto_scale_lr"):
        cfg[unused] = None
    for unused in ("val_dataloader", "val_cfg", "val_evaluator"):
        cfg[unused] = None
    # The checkpoint's state_dict is what inference loads (a training's EMA weights already swapped in);
    # an EMA hook would average it with nothing, and training hooks have nothing to do.
    cfg.custom_hooks = []
    if cfg.get("default_hooks"):
        cfg.default_hooks.pop("visualization", None)
    cfg.work_dir = str(work_dir)
    cfg.load_from = None
    cfg.resume = False
    cfg.launcher = "none"
    return cfg


@dataclass
class CocoScores:
    """What pycocotools computes over the dumped detections (recall at 100 detections per image)."""

    summary: dict[str, float | None]
    """bbox_mAP ... bbox_mAP_l, under mmdet's names."""
    per_class_ap: dict[str, float | None]
    per_class_recall: dict[str, float | None]


def _mean_defined(values: Any) -> float | None:
    defined = values[values > -1]
    return coco_score(float(defined.mean())) if defined.size else None


def coco_scores(annotation_file: Path, detections: list[dict[str, Any]]) -> CocoScores:
    """COCO bbox scores of `detections` (COCO result entries) against the annotation file."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    # pycocotools reports its progress on stdout, where the result's JSON line goes.
    with contextlib.redirect_stdout(io.StringIO()):
        truth = COCO(str(annotation_file))
        if detections:
            found = truth.loadRes(detections)
        else:  # loadRes cannot read an empty list; no detection scores 0 wherever there is ground truth
            found = COCO()
            found.dataset = {**truth.dataset, "annotations": []}
            found.createIndex()
        scoring = COCOeval(truth, found, "bbox")
        scoring.params.maxDets = [1, 10, RECALL_MAX_DETECTIONS]
        scoring.evaluate()
        scoring.accumulate()
    # precision: [IoU threshold, recall point, class, area, max detections]; recall: the same without
    # recall points. -1 marks "no ground truth" there.
    precision = scoring.eval["precision"][..., -1]
    recall = scoring.eval["recall"][..., -1]
    names = [truth.cats[category]["name"] for category in scoring.params.catIds]
    summary = {
        "bbox_mAP": _mean_defined(precision[:, :, :, 0]),
        "bbox_mAP_50": _mean_defined(precision[0, :, :, 0]),
        "bbox_mAP_75": _mean_defined(precision[5, :, :, 0]),
    }
    for suffix, area in (("s", 1), ("m", 2), ("l", 3)):
        summary[f"bbox_mAP_{suffix}"] = _mean_defined(precision[:, :, :, area])
    return CocoScores(
        summary=summary,
        per_class_ap={name: _mean_defined(precision[:, :, k, 0]) for k, name in enumerate(names)},
        per_class_recall={name: _mean_defined(recall[:, k, 0]) for k, name in enumerate(names)},
    )


def run_test(cfg: Any, checkpoint: Path, classes: list[str] | None = None) -> tuple[dict[str, float], int]:
    """mmengine's test loop with the checkpoint's weights; (metrics, images tested)."""
    from mmengine.runner import Runner

    try:
        runner = Runner.from_cfg(cfg)
    except Exception as error:
        raise ConfigInvalid(
            f"the evaluation config does not build: {type(error).__name__}: {error}"
        ) from error
    try:
        # Strict: a missing or misshapen tensor (another class count, another architecture) must fail,
        # where mmengine's default would only warn and score random weights.
        runner.load_checkpoint(str(checkpoint), map_location="cpu", strict=True)
    except Exception as error:
        # A checkpoint without class names (a model trained elsewhere) shows another class count only
        # here, as a shape mismatch of the classification head: say what that means.
        hint = (
            f" (the config is set to the dataset's {len(classes)} classes, {', '.join(classes)}: a model "
            "scored on a dataset must have been trained for exactly its classes)"
            if classes and "size mismatch" in str(error)
            else ""
        )
        raise ConfigInvalid(f"the checkpoint does not fit the model's config{hint}: {error}") from error
    metrics = runner.test()
    return dict(metrics), len(runner.test_dataloader.dataset)


def evaluate(spec: EvaluationSpec, workdir: Path, storage: Storage) -> EvaluationResult:
    """Score the spec's model on its split; raises a TrainerError subclass when it cannot."""
    from kubedet_trainer.results import sha256_of, split_metrics

    started = time.monotonic()
    split = prepare_split(spec.dataset, spec.split, storage, workdir / "data")
    print(
        json.dumps({"kind": "evaluation-split", "split": split.name, "images": split.images}),
        flush=True,
    )
    config, checkpoint = fetch_model(spec.model, storage, workdir / "model")
    digest = sha256_of(checkpoint)
    expected = spec.model.checkpoint_sha256
    if expected is not None and digest != expected:
        raise ConfigInvalid(
            f"the checkpoint {spec.model.checkpoint_uri} has sha256 {digest}, the spec expects {expected}"
        )
    check_classes(read_checkpoint_classes(checkpoint, spec.model.checkpoint_uri), split.classes)
    work_dir = workdir / "work"
    cfg = evaluation_config(config, spec.model.config, split, work_dir, spec.workers)
    metrics, images = run_test(cfg, checkpoint, list(split.classes))
    detections = json.loads((work_dir / f"{DETECTIONS_PREFIX}.bbox.json").read_text())
    scores = coco_scores(split.annotation_file, detections)
    summary, per_class = split_metrics(metrics, split.classes)
    if "bbox_mAP" not in summary:
        # CocoMetric gives up on an empty detection list (it logs an error and returns nothing); COCO's
        # own definition then applies: 0 wherever there is ground truth.
        summary = {name: value for name, value in scores.summary.items() if value is not None}
        per_class = {name: value for name, value in scores.per_class_ap.items() if value is not None}
    return EvaluationResult(
        split=spec.split,
        images=images,
        bbox_map=coco_score(summary.get("bbox_mAP")) or 0.0,
        bbox_map50=coco_score(summary.get("bbox_mAP_50")) or 0.0,
        bbox_map75=coco_score(summary.get("bbox_mAP_75")) or 0.0,
        bbox_map_small=coco_score(summary.get("bbox_mAP_s")),
        bbox_map_medium=coco_score(summary.get("bbox_mAP_m")),
        bbox_map_large=coco_score(summary.get("bbox_mAP_l")),
        per_class_ap={name: coco_score(per_class.get(name)) for name in split.classes},
        per_class_recall={name: scores.per_class_recall.get(name) for name in split.classes},
        checkpoint_sha256=digest,
        dataset_digest=sha256_of(split.annotation_file),
        duration_seconds=round(time.monotonic() - started, 1),
    )
