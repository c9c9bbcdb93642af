"""One training run from spec to published result."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

from kubedet.api.runspec import Lineage, RunSpec, TrainerResult, TrainerStatistics
from kubedet_trainer.datasets import PreparedDataset, prepare_dataset
from kubedet_trainer.errors import ConfigInvalid, TrainerError
from kubedet_trainer.mmconfig import RunSettings, generate_config, unreferenced_config
from kubedet_trainer.results import CONFIG_NAME, RunOutcome, best_checkpoint_file, publish
from kubedet_trainer.storage import Storage

if TYPE_CHECKING:
    from kubedet_trainer.progress import ProgressReporter


def fetch_base_model(spec: RunSpec, storage: Storage, cache: Path) -> tuple[str, Path | None]:
    """(config path or mmdet:: reference, local checkpoint path or None)."""
    config = spec.base_model.config
    if not config.startswith("mmdet::"):
        config = str(storage.fetch(config, cache))
        if not config.endswith(".py"):
            raise ConfigInvalid(f"base model config {spec.base_model.config!r} must be a .py file")
    checkpoint = None
    if spec.base_model.checkpoint_uri:
        checkpoint = storage.fetch(spec.base_model.checkpoint_uri, cache)
    return config, checkpoint


def run_preflight(spec: RunSpec, storage: Storage, workdir: Path) -> PreparedDataset:
    return prepare_dataset(spec.dataset, storage, workdir / "data")


def run_training(
    spec: RunSpec, workdir: Path, storage: Storage, reporters: list[ProgressReporter]
) -> TrainerResult | None:
    """Train and publish; returns the result on rank 0, None on the other ranks."""
    import torch
    from mmengine.runner import Runner

    from kubedet_trainer.lineage import LineageHook
    from kubedet_trainer.progress import ProgressHook
    from kubedet_trainer.resume import ResumeMirror, ResumeMirrorHook, ResumeState, latest_checkpoint_name

    started = time.monotonic()
    work_dir = workdir / "work"
    dataset = run_preflight(spec, storage, workdir)
    print(json.dumps(dataset.report(), separators=(",", ":")), flush=True)
    base_config, base_checkpoint = fetch_base_model(spec, storage, workdir / "base")
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    settings = RunSettings(
        hyperparameters=spec.hyperparameters,
        work_dir=work_dir,
        checkpoint_path=base_checkpoint,
        workers=spec.workers,
        cfg_options=dict(spec.cfg_options),
        world_size=world_size,
        use_gpu=spec.gpus > 0 and torch.cuda.is_available(),
    )
    generated = generate_config(base_config, dataset, settings)
    for note in generated.notes:
        print(json.dumps({"kind": "note", "message": note}), flush=True)
    cfg = generated.cfg

    mirror = ResumeMirror(storage, spec.output_uri, work_dir)
    state = mirror.restore() or ResumeState()
    if state.latest:
        cfg.resume = True
        cfg.load_from = str(work_dir / state.latest)
    if world_size > 1 and not settings.use_gpu and not torch.distributed.is_initialized():
        # mmengine's "pytorch" launcher pins a CUDA device before it joins the group, whatever the
        # backend: on CPU nodes the ranks join here (gloo, torchrun's env://) and mmengine skips it.
        torch.distributed.init_process_group(backend="gloo")
    try:
        runner = Runner.from_cfg(cfg)
    except TrainerError:
        raise
    except Exception as error:
        raise ConfigInvalid(
            f"the generated config does not build: {type(error).__name__}: {error}"
        ) from error

    progress = ProgressHook(
        reporters,
        history=state.history,
        resumed_checkpoint_saved_at=state.latest_saved_at if state.latest else None,
    )
    runner.register_hook(progress)
    runner.register_hook(ResumeMirrorHook(mirror, state, progress.history))
    rule = spec.hyperparameters.early_stopping
    if rule is not None:
        from kubedet_trainer.early_stop import ResumableEarlyStopping

        runner.register_hook(ResumableEarlyStopping(rule, state.history))
    if base_checkpoint is not None and state.lineage is None:
        runner.register_hook(LineageHook(base_checkpoint, state))
    runner.train()

    if runner.rank != 0:
        return None
    best = progress.best()
    if best is None:
        raise TrainerError("training finished without any validation result")
    best_epoch, best_metrics = best
    artifacts = workdir / "artifacts"
    artifacts.mkdir(parents=True, exist_ok=True)
    config_file = artifacts / CONFIG_NAME
    unreferenced_config(cfg).dump(str(config_file))
    model = getattr(runner.model, "module", runner.model)
    best_checkpoint = best_checkpoint_file(work_dir, best_epoch, state.best)
    outcome = RunOutcome(
        best_epoch=best_epoch,
        best_metrics=best_metrics,
        history=progress.history,
        best_checkpoint=best_checkpoint,
        config_file=config_file,
        classes=dataset.classes,
        statistics=TrainerStatistics(
            duration_seconds=round(time.monotonic() - started, 1),
            total_parameters=sum(p.numel() for p in model.parameters()),
            epochs=runner.epoch,
            requested_epochs=spec.hyperparameters.epochs,
            stopped_early=runner.epoch < spec.hyperparameters.epochs,
            learning_rate=generated.learning_rate,
            final_loss=progress.last_loss,
            best_epoch=best_epoch,
            seed=generated.seed,
        ),
        lineage=Lineage.model_validate(state.lineage) if state.lineage else None,
        train_history=progress.train_history,
        samples=_validation_samples(runner, best_checkpoint),
    )
    result = publish(outcome, storage, spec.output_uri, artifacts)
    mirror.clear()
    _remove_intermediate_checkpoints(
        work_dir, {outcome.best_checkpoint.name, latest_checkpoint_name(work_dir)}
    )
    return result


def _validation_samples(runner: object, best_checkpoint: Path) -> list[object]:
    """Predictions of the kept (best) weights on a few validation images, for the pictures; none when
    that fails, which must not fail a training that produced a model."""
    try:
        from kubedet_trainer.plots import collect_samples

        runner.load_checkpoint(str(best_checkpoint), map_location="cpu")  # type: ignore[attr-defined]
        return list(collect_samples(runner))
    except Exception as error:
        print(json.dumps({"kind": "note", "message": f"no validation pictures: {error}"}), flush=True)
        return []


def _remove_intermediate_checkpoints(work_dir: Path, keep: set[str | None]) -> None:
    for path in work_dir.glob("*.pth"):
        if path.name not in keep:
            path.unlink()
