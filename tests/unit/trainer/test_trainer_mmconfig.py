"""Config generation for the four supported architectures, checked by building the models."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("mmdet")

from mmengine.config import Config

from kubedet.api.common import Hyperparameters
from kubedet_trainer.datasets import PreparedDataset
from kubedet_trainer.errors import ConfigInvalid
from kubedet_trainer.mmconfig import RunSettings, generate_config
from kubedet_trainer.preflight import SplitCounts

CLASSES = ["dump", "tyre", "barrel"]
ARCHITECTURES = {
    "faster_rcnn": "mmdet::faster_rcnn/faster-rcnn_r101_fpn_1x_coco.py",
    "retinanet": "mmdet::retinanet/retinanet_r50_fpn_1x_coco.py",
    "rtmdet": "mmdet::rtmdet/rtmdet_tiny_8xb32-300e_coco.py",
    "yolox": "mmdet::yolox/yolox_s_8xb8-300e_coco.py",
}


def prepared(tmp_path: Path, test_split: bool = True) -> PreparedDataset:
    files = {name: tmp_path / f"{name}.json" for name in ("train", "val", "test")[: 3 if test_split else 2]}
    counts = {name: SplitCounts(40, 80, dict.fromkeys(CLASSES, 1)) for name in files}
    return PreparedDataset(tmp_path / "images", files, CLASSES, counts)


def settings(tmp_path: Path, checkpoint: bool = False, options: dict[str, Any] | None = None) -> RunSettings:
    return RunSettings(
        hyperparameters=Hyperparameters(epochs=6, batch_size=4, frozen_stages=2, learning_rate=0.01),
        work_dir=tmp_path / "work",
        checkpoint_path=tmp_path / "base.pth" if checkpoint else None,
        workers=0,
        cfg_options=options or {},
    )


@pytest.mark.parametrize("architecture", sorted(ARCHITECTURES))
def test_generated_config_builds_with_every_head_sized(architecture: str, tmp_path: Path) -> None:
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules

    generated = generate_config(ARCHITECTURES[architecture], prepared(tmp_path), settings(tmp_path))
    # The dumped config is what gets published: it must load back on its own.
    generated.cfg.dump(str(tmp_path / "config.py"))
    cfg = Config.fromfile(str(tmp_path / "config.py"))
    register_all_modules()
    model = MODELS.build(cfg.model)
    heads = [m for name, m in model.named_modules() if hasattr(m, "num_classes") and "rpn" not in name]
    assert heads, "no head with num_classes"
    assert all(head.num_classes == len(CLASSES) for head in heads), [(type(h), h.num_classes) for h in heads]
    assert "Pretrained" not in cfg.pretty_text

    assert cfg.train_cfg.max_epochs == 6 and cfg.train_cfg.val_interval == 1
    assert cfg.train_dataloader.batch_size == 4 and cfg.train_dataloader.num_workers == 0
    assert cfg.train_dataloader.persistent_workers is False
    inner = cfg.train_dataloader.dataset
    while "dataset" in inner:
        inner = inner.dataset
    assert inner.ann_file == str(tmp_path / "train.json")
    assert list(inner.metainfo.classes) == CLASSES and len(inner.metainfo.palette) == 3
    assert cfg.test_evaluator.ann_file == str(tmp_path / "test.json")
    assert cfg.val_evaluator.classwise is True
    checkpoint_hook = cfg.default_hooks.checkpoint
    assert checkpoint_hook.save_best == "coco/bbox_mAP" and checkpoint_hook.save_last
    assert cfg.auto_scale_lr.enable
    assert generated.learning_rate == pytest.approx(0.01 * 4 / cfg.auto_scale_lr.base_batch_size)
    assert cfg.optim_wrapper.type == "OptimWrapper"  # no AMP without a GPU
    assert cfg.load_from is None
    for scheduler in cfg.param_scheduler:
        if scheduler.get("by_epoch", True):
            assert 0 <= scheduler.begin < scheduler.end <= 6
        else:
            assert scheduler.end <= 6 * 10 * 0.1 + 1
    for hook in cfg.get("custom_hooks", []):
        assert hook.get("switch_epoch", 0) <= 6 and hook.get("num_last_epochs", 0) <= 6


def test_frozen_stages_apply_only_with_a_checkpoint(tmp_path: Path) -> None:
    from_scratch = generate_config(ARCHITECTURES["faster_rcnn"], prepared(tmp_path), settings(tmp_path))
    assert from_scratch.cfg.model.backbone.frozen_stages == -1
    assert from_scratch.notes
    fine_tune = generate_config(ARCHITECTURES["faster_rcnn"], prepared(tmp_path), settings(tmp_path, True))
    assert fine_tune.cfg.model.backbone.frozen_stages == 2
    assert fine_tune.cfg.load_from == str(tmp_path / "base.pth")
    rtmdet = generate_config(ARCHITECTURES["rtmdet"], prepared(tmp_path), settings(tmp_path, True))
    assert rtmdet.cfg.model.backbone.frozen_stages == 2


def test_missing_test_split_evaluates_on_val(tmp_path: Path) -> None:
    generated = generate_config(
        ARCHITECTURES["retinanet"], prepared(tmp_path, test_split=False), settings(tmp_path)
    )
    assert generated.cfg.test_evaluator.ann_file == str(tmp_path / "val.json")


@pytest.mark.parametrize(
    "key",
    [
        "work_dir",
        "load_from",
        "resume",
        "default_hooks.checkpoint.interval",
        "custom_hooks",
        "custom_imports",
        "train_dataloader.dataset.data_root",
        "val_evaluator.ann_file",
        "train_dataloader.dataset.data_prefix.img",
        "model.backbone.init_cfg",
        "train_cfg.max_epochs",
        "model.bbox_head.num_classes",
    ],
)
def test_cfg_options_controlling_paths_or_hooks_are_refused(key: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigInvalid, match=key.replace(".", r"\.")):
        generate_config(ARCHITECTURES["retinanet"], prepared(tmp_path), settings(tmp_path, options={key: 1}))


def test_other_cfg_options_are_merged(tmp_path: Path) -> None:
    options = {"optim_wrapper.clip_grad.max_norm": 10, "model.test_cfg.max_per_img": 50}
    generated = generate_config(
        ARCHITECTURES["retinanet"], prepared(tmp_path), settings(tmp_path, options=options)
    )
    assert generated.cfg.optim_wrapper.clip_grad.max_norm == 10
    assert generated.cfg.model.test_cfg.max_per_img == 50


def test_unknown_base_config_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigInvalid, match="not among mmdet's configs"):
        generate_config("mmdet::nothing/here.py", prepared(tmp_path), settings(tmp_path))


def test_ranks_on_cpus_get_gloo_and_a_cpu_ddp_wrapper(tmp_path: Path) -> None:
    from dataclasses import replace

    one = generate_config(ARCHITECTURES["rtmdet"], prepared(tmp_path), settings(tmp_path))
    assert one.cfg.launcher == "none" and "model_wrapper_cfg" not in one.cfg
    cpus = generate_config(
        ARCHITECTURES["rtmdet"], prepared(tmp_path), replace(settings(tmp_path), world_size=2)
    )
    assert cpus.cfg.launcher == "pytorch" and cpus.cfg.env_cfg.dist_cfg.backend == "gloo"
    assert cpus.cfg.model_wrapper_cfg.device_ids is None, "DDP takes no device ids for a CPU module"
    # Pods share no folder: evaluation results are gathered through the process group.
    assert cpus.cfg.val_evaluator.collect_device == cpus.cfg.test_evaluator.collect_device == "gpu"
    assert "collect_device" not in one.cfg.val_evaluator
    assert "SyncBN" in str(one.cfg.model) and "SyncBN" not in str(cpus.cfg.model), "SyncBN needs GPUs"
    assert any("SyncBN" in note for note in cpus.notes) and cpus.cfg.model.use_syncbn is False
    gpus = replace(settings(tmp_path), world_size=2, use_gpu=True)
    on_gpus = generate_config(ARCHITECTURES["rtmdet"], prepared(tmp_path), gpus)
    assert on_gpus.cfg.env_cfg.dist_cfg.backend == "nccl" and "model_wrapper_cfg" not in on_gpus.cfg
    assert "SyncBN" in str(on_gpus.cfg.model)
