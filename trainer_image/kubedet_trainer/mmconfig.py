"""The MMDetection config of a run, built with mmengine's Config API from the base model's config."""

from __future__ import annotations

import colorsys
import inspect
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubedet.api import cfgoptions
from kubedet.api.common import Hyperparameters
from kubedet.api.runspec import MMDET_CONFIG_PREFIX
from kubedet_trainer.datasets import PreparedDataset
from kubedet_trainer.errors import ConfigInvalid

BEST_METRIC = "coco/bbox_mAP"
LOADERS = ("train_dataloader", "val_dataloader", "test_dataloader")
# Iteration-based warmups of stock configs (500-1000 iterations) are sized for COCO; a small dataset
# would never leave warmup, so a warmup may take at most this share of the run.
MAX_WARMUP_SHARE = 0.1


def resolve_mmdet_config(reference: str) -> str:
    """The file behind `mmdet::<dir>/<file>.py` in the installed mmdet (which ships its configs)."""
    if not reference.startswith(MMDET_CONFIG_PREFIX):
        return reference
    import mmdet

    configs = Path(mmdet.__file__).parent / ".mim" / "configs"
    relative = reference[len(MMDET_CONFIG_PREFIX) :]
    path = (configs / relative).resolve()
    if not path.is_relative_to(configs.resolve()) or not path.is_file():
        raise ConfigInvalid(f"base model config {reference!r} is not among mmdet's configs")
    return str(path)


def check_cfg_options(options: dict[str, Any]) -> None:
    """The operator's policy (kubedet.api.cfgoptions) again: the spec may not have come through it."""
    try:
        cfgoptions.check_cfg_options(options)
    except ValueError as error:
        raise ConfigInvalid(str(error)) from error


def palette(count: int) -> list[tuple[int, int, int]]:
    """Distinct colours spread around the hue circle, the same for the same class count."""
    colours = []
    for index in range(count):
        r, g, b = colorsys.hsv_to_rgb((index * 0.618034) % 1.0, 0.75, 0.95)
        colours.append((int(r * 255), int(g * 255), int(b * 255)))
    return colours


def walk_dicts(node: Any) -> Iterator[dict]:
    """Every dict inside a nested dict/list structure, outermost first."""
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from walk_dicts(value)
    elif isinstance(node, list | tuple):
        for value in node:
            yield from walk_dicts(value)


def set_num_classes(model: dict, count: int) -> int:
    """Set every num_classes key under the model (RoI heads, dense heads, cascades); returns how many.
    RPN heads are class-agnostic and keep their single class."""
    changed = 0
    for node in walk_dicts(model):
        if "num_classes" in node and "RPN" not in str(node.get("type", "")):
            node["num_classes"] = count
            changed += 1
    if not changed:
        raise ConfigInvalid("the base model config has no num_classes to set; is it a detection model?")
    return changed


def drop_pretrained_downloads(model: dict) -> None:
    """Nothing may be downloaded: the run's weights come from the base checkpoint (load_from) only."""
    for node in walk_dicts(model):
        init_cfg = node.get("init_cfg")
        if isinstance(init_cfg, dict) and init_cfg.get("type") == "Pretrained":
            node["init_cfg"] = None
        if "pretrained" in node and isinstance(node["pretrained"], str):
            node["pretrained"] = None


def supports_argument(type_name: Any, argument: str) -> bool:
    from mmdet.registry import MODELS

    cls = MODELS.get(type_name) if isinstance(type_name, str) else type_name
    if not isinstance(cls, type):
        return False
    # Subclasses often pass **kwargs on, so look at every class's own signature.
    return any(argument in inspect.signature(klass).parameters for klass in inspect.getmro(cls)[:-1])


def innermost_dataset(loader: dict) -> dict:
    dataset = loader["dataset"]
    while "dataset" in dataset:  # wrappers: RepeatDataset, MultiImageMixDataset, ClassBalancedDataset
        dataset = dataset["dataset"]
    if "datasets" in dataset:
        raise ConfigInvalid("base configs with ConcatDataset loaders are not supported")
    return dataset


def scale_epoch_schedules(cfg: Any, old_epochs: int, new_epochs: int, total_iterations: int) -> None:
    """Stretch or shrink the base config's epoch-based schedules to the run's epoch count."""

    def scaled(epoch: float) -> int:
        return max(0, min(new_epochs, round(epoch * new_epochs / old_epochs)))

    kept = []
    for scheduler in cfg.get("param_scheduler") or []:
        if scheduler.get("by_epoch", True):
            begin = scaled(scheduler.get("begin", 0))
            end = scaled(scheduler.get("end", old_epochs)) if "end" in scheduler else new_epochs
            if begin >= new_epochs:
                continue
            end = max(end, begin + 1)
            scheduler["begin"], scheduler["end"] = begin, end
            if "T_max" in scheduler:
                scheduler["T_max"] = end - begin
            if "milestones" in scheduler:
                scheduler["milestones"] = sorted({max(1, scaled(m)) for m in scheduler["milestones"]})
        elif "end" in scheduler:
            scheduler["end"] = min(scheduler["end"], max(1, int(total_iterations * MAX_WARMUP_SHARE)))
        kept.append(scheduler)
    cfg.param_scheduler = kept
    for hook in cfg.get("custom_hooks") or []:
        if "switch_epoch" in hook:  # RTMDet: drop Mosaic/MixUp for the last epochs
            hook["switch_epoch"] = max(
                0, new_epochs - max(1, round((old_epochs - hook["switch_epoch"]) * new_epochs / old_epochs))
            )
        if "num_last_epochs" in hook:  # YOLOX: same idea
            hook["num_last_epochs"] = min(
                new_epochs, max(1, round(hook["num_last_epochs"] * new_epochs / old_epochs))
            )


@dataclass
class RunSettings:
    """What the config depends on besides the base config and the dataset."""

    hyperparameters: Hyperparameters
    work_dir: Path
    checkpoint_path: Path | None
    workers: int
    cfg_options: dict[str, Any]
    world_size: int = 1
    use_gpu: bool = False


@dataclass
class GeneratedConfig:
    cfg: Any
    """The mmengine Config."""
    learning_rate: float
    """After scaling by the effective batch size."""
    seed: int
    iterations_per_epoch: int
    notes: list[str]


def generate_config(base_config: str, dataset: PreparedDataset, settings: RunSettings) -> GeneratedConfig:
    """Load the base config and set everything the run decides; raises ConfigInvalid."""
    from mmdet.utils import register_all_modules
    from mmengine.config import Config

    register_all_modules(init_default_scope=False)
    check_cfg_options(settings.cfg_options)
    try:
        cfg = Config.fromfile(resolve_mmdet_config(base_config))
    except ConfigInvalid:
        raise
    except Exception as error:
        raise ConfigInvalid(f"cannot load the base model config {base_config!r}: {error}") from error
    if "model" not in cfg or "train_dataloader" not in cfg:
        raise ConfigInvalid(
            f"{base_config!r} is not a complete training config (no model or train_dataloader)"
        )
    hyper = settings.hyperparameters
    notes: list[str] = []
    _set_datasets(cfg, dataset, hyper.batch_size, settings.workers)
    _set_model(cfg, dataset, hyper, settings.checkpoint_path is not None, notes)

    old_epochs = int(cfg.get("train_cfg", {}).get("max_epochs") or 12)
    train_images = dataset.counts["train"].images
    iterations_per_epoch = max(1, -(-train_images // (hyper.batch_size * settings.world_size)))
    cfg.train_cfg = dict(type="EpochBasedTrainLoop", max_epochs=hyper.epochs, val_interval=hyper.val_interval)
    cfg.val_cfg = dict(type="ValLoop")
    cfg.test_cfg = dict(type="TestLoop")
    scale_epoch_schedules(cfg, old_epochs, hyper.epochs, iterations_per_epoch * hyper.epochs)

    learning_rate = _set_optimizer(cfg, hyper, settings)
    seed = hyper.seed if hyper.seed is not None else random.SystemRandom().randrange(2**31)
    cfg.randomness = dict(seed=seed, deterministic=False)
    cfg.default_hooks.checkpoint = dict(
        type="CheckpointHook",
        interval=1,  # every epoch, so an evicted pod loses at most one epoch
        by_epoch=True,
        max_keep_ckpts=1,
        save_last=True,
        save_best=BEST_METRIC,
        rule="greater",
    )
    if "logger" in cfg.default_hooks:
        cfg.default_hooks.logger.interval = min(
            cfg.default_hooks.logger.get("interval", 50), iterations_per_epoch
        )
    cfg.default_hooks.pop("visualization", None)
    cfg.env_cfg = dict(
        cudnn_benchmark=False,
        mp_cfg=dict(mp_start_method="fork", opencv_num_threads=0),
        dist_cfg=dict(backend="nccl" if settings.use_gpu else "gloo"),
    )
    cfg.launcher = "pytorch" if settings.world_size > 1 else "none"
    if settings.world_size > 1:
        # mmengine's default ("cpu") gathers evaluation results through files in one folder that every
        # rank must share; the pods of a multi-node run share none. "gpu" gathers them through the
        # process group instead (NCCL, or gloo on CPUs).
        for key in ("val_evaluator", "test_evaluator"):
            evaluators = cfg.get(key)
            for metric in evaluators if isinstance(evaluators, list) else [evaluators]:
                if isinstance(metric, dict):
                    metric["collect_device"] = "gpu"
    if settings.world_size > 1 and not settings.use_gpu:
        # mmengine wraps the model in DDP with device_ids=[LOCAL_RANK], which only a GPU module takes.
        cfg.model_wrapper_cfg = dict(
            type="MMDistributedDataParallel", device_ids=None, broadcast_buffers=False
        )
        # SyncBatchNorm runs on GPUs only: CPU ranks keep batch statistics of their own. It comes from
        # norm layers of type SyncBN and from detectors that convert every BN themselves (RTMDet).
        replaced = _replace_norm(cfg.model, "SyncBN", "BN")
        if supports_argument(cfg.model.get("type"), "use_syncbn"):
            cfg.model.use_syncbn = False
            replaced += 1
        if replaced:
            notes.append("CPU ranks: SyncBN layers train as BN (SyncBatchNorm needs GPUs)")
    cfg.work_dir = str(settings.work_dir)
    cfg.load_from = str(settings.checkpoint_path) if settings.checkpoint_path else None
    cfg.resume = False
    try:
        cfg.merge_from_dict(settings.cfg_options)
    except Exception as error:
        raise ConfigInvalid(f"cfgOptions cannot be merged into the config: {error}") from error
    return GeneratedConfig(cfg, learning_rate, seed, iterations_per_epoch, notes)


def _set_datasets(cfg: Any, dataset: PreparedDataset, batch_size: int, workers: int) -> None:
    metainfo = dict(classes=tuple(dataset.classes), palette=palette(len(dataset.classes)))
    files = dataset.annotation_files
    split_of_loader = {"train_dataloader": "train", "val_dataloader": "val", "test_dataloader": "test"}
    for loader_key in LOADERS:
        if loader_key not in cfg or cfg[loader_key] is None:
            cfg[loader_key] = cfg.val_dataloader.copy()  # a base config may lack a test loader
        loader = cfg[loader_key]
        ann_file = files.get(split_of_loader[loader_key], files["val"])
        inner = innermost_dataset(loader)
        inner.update(
            type="CocoDataset",
            data_root=str(ann_file.parent),
            ann_file=str(ann_file),
            data_prefix=dict(img=str(dataset.images_dir) + "/"),
            metainfo=metainfo,
            backend_args=None,
        )
        loader.batch_size = batch_size
        loader.num_workers = workers
        # DataLoader refuses persistent workers without workers.
        loader.persistent_workers = workers > 0
    for evaluator_key, split in (("val_evaluator", "val"), ("test_evaluator", "test")):
        cfg[evaluator_key] = dict(
            type="CocoMetric",
            ann_file=str(files.get(split, files["val"])),
            metric="bbox",
            classwise=True,
            format_only=False,
            backend_args=None,
        )


def _replace_norm(node: Any, old: str, new: str) -> int:
    """Replace norm layers of type `old` by `new` in a config tree; how many were replaced."""
    replaced = 0
    if isinstance(node, dict):
        if node.get("type") == old:
            node["type"] = new
            replaced += 1
        for value in node.values():
            replaced += _replace_norm(value, old, new)
    elif isinstance(node, (list, tuple)):
        for value in node:
            replaced += _replace_norm(value, old, new)
    return replaced


def _set_model(
    cfg: Any, dataset: PreparedDataset, hyper: Hyperparameters, has_checkpoint: bool, notes: list[str]
) -> None:
    set_num_classes(cfg.model, len(dataset.classes))
    drop_pretrained_downloads(cfg.model)
    backbone = cfg.model.get("backbone")
    if backbone is None:
        return
    # Freezing makes sense only for loaded weights; random stages would stay random for ever.
    stages = hyper.frozen_stages if has_checkpoint else 0
    if not has_checkpoint and hyper.frozen_stages:
        notes.append("no base checkpoint: training from scratch, so no backbone stage is frozen")
    if "frozen_stages" in backbone or supports_argument(backbone.get("type"), "frozen_stages"):
        # mmdet backbones count the stem as stage 0 and use -1 for "nothing frozen".
        backbone["frozen_stages"] = stages if stages > 0 else -1
    elif stages:
        notes.append(f"backbone {backbone.get('type')} has no frozen_stages; frozenStages ignored")


def _set_optimizer(cfg: Any, hyper: Hyperparameters, settings: RunSettings) -> float:
    optim_wrapper = cfg.optim_wrapper
    optimizer = optim_wrapper.get("optimizer")
    if optimizer is None or "lr" not in optimizer:
        raise ConfigInvalid("the base config's optim_wrapper has no optimizer.lr to train with")
    if hyper.learning_rate is not None:
        optimizer["lr"] = hyper.learning_rate
    amp = hyper.amp and settings.use_gpu
    if amp:
        optim_wrapper.type = "AmpOptimWrapper"
        optim_wrapper.setdefault("loss_scale", "dynamic")
    elif optim_wrapper.get("type") == "AmpOptimWrapper":
        optim_wrapper.type = "OptimWrapper"
        optim_wrapper.pop("loss_scale", None)
    base_batch_size = int((cfg.get("auto_scale_lr") or {}).get("base_batch_size") or 16)
    cfg.auto_scale_lr = dict(enable=True, base_batch_size=base_batch_size)
    effective_batch = hyper.batch_size * settings.world_size
    return float(optimizer["lr"]) * effective_batch / base_batch_size


def unreferenced_config(cfg: Any) -> Any:
    """The config as published: no load_from or resume pointing into this pod's filesystem."""
    published = cfg.copy()
    published.load_from = None
    published.resume = False
    return published
