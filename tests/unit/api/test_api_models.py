"""The pydantic models: samples, round trips, condition helpers, cfgOptions rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from kubedet.api import cfgoptions
from kubedet.api.common import Condition
from kubedet.api.conditions import get_condition, is_condition_true, remove_condition, set_condition
from kubedet.api.constants import ConditionStatus, ConditionType, Phase, Reason
from kubedet.api.dataset import Dataset
from kubedet.api.kinds import model_for_kind
from kubedet.api.trainingrun import TrainingRun
from kubedet.manifests.cfgoptions_policy import admission_policy

SAMPLES = Path(__file__).resolve().parents[3] / "manifests" / "samples"
SAMPLE_FILES = sorted(p for p in SAMPLES.glob("*.yaml") if p.name != "kustomization.yaml")
NOW = datetime(2026, 5, 1, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize("path", SAMPLE_FILES, ids=lambda p: p.name)
def test_sample_validates_and_round_trips(path: Path) -> None:
    manifest = yaml.safe_load(path.read_text(encoding="utf-8"))
    obj = model_for_kind(manifest["kind"]).from_obj(manifest)
    wire = obj.to_obj()
    # Everything the sample says survives; the models only add defaults.
    assert _contains(wire, manifest)
    assert type(obj).from_obj(wire) == obj


def _contains(full: object, part: object) -> bool:
    if isinstance(part, dict):
        return isinstance(full, dict) and all(k in full and _contains(full[k], v) for k, v in part.items())
    if isinstance(part, int | float) and not isinstance(part, bool) and isinstance(full, str):
        return full == str(part)  # quantities: `cpu: 4` is kept as "4"
    return full == part


def test_kustomization_lists_every_sample() -> None:
    kustomization = yaml.safe_load((SAMPLES / "kustomization.yaml").read_text(encoding="utf-8"))
    assert sorted(kustomization["resources"]) == [p.name for p in SAMPLE_FILES]


def test_samples_cover_the_kinds_and_a_draft() -> None:
    manifests = [yaml.safe_load(p.read_text(encoding="utf-8")) for p in SAMPLE_FILES]
    kinds = [m["kind"] for m in manifests]
    assert {"Dataset", "TrainedModel", "TrainingRun"} <= set(kinds)
    assert any(m["kind"] == "TrainingRun" and m["spec"].get("suspend") for m in manifests)
    assert any(m["kind"] == "TrainedModel" and m["spec"].get("published") for m in manifests)
    assert any(m["kind"] == "TrainedModel" and m["spec"]["config"].startswith("mmdet::") for m in manifests)


def test_defaults_match_the_ported_app_and_the_issue() -> None:
    run = TrainingRun.from_obj(
        {"metadata": {"name": "r"}, "spec": {"datasetRef": {"name": "d"}, "baseModelRef": {"name": "m"}}}
    )
    wire = run.to_obj()
    assert wire["apiVersion"] == "kubedet.io/v1alpha1" and wire["kind"] == "TrainingRun"
    assert wire["spec"]["hyperparameters"] == {
        "epochs": 15,
        "batchSize": 2,
        "frozenStages": 2,
        "valInterval": 1,
        "amp": False,
    }
    assert wire["spec"]["resources"] == {"gpusPerNode": 1, "nodes": 1}
    assert wire["spec"]["suspend"] is False and wire["spec"]["publish"] is False
    assert wire["spec"]["backoffLimit"] == 3
    assert "status" not in wire


def test_kind_and_api_version_are_checked() -> None:
    with pytest.raises(ValidationError):
        Dataset.from_obj({"kind": "TrainingRun", "spec": {}})
    with pytest.raises(ValidationError):
        TrainingRun.from_obj(
            {
                "apiVersion": "kubedet.io/v2",
                "spec": {"datasetRef": {"name": "d"}, "baseModelRef": {"name": "m"}},
            }
        )
    with pytest.raises(KeyError):
        model_for_kind("Pod")


def test_status_round_trips_as_the_api_server_writes_it() -> None:
    obj = {
        "apiVersion": "kubedet.io/v1alpha1",
        "kind": "TrainingRun",
        "metadata": {"name": "r", "namespace": "n", "generation": 2},
        "spec": {"datasetRef": {"name": "d"}, "baseModelRef": {"name": "m"}, "resources": {"cpu": 4}},
        "status": {
            "phase": "Running",
            "conditions": [
                {
                    "type": "Running",
                    "status": "True",
                    "reason": "Training",
                    "message": "epoch 3/15",
                    "lastTransitionTime": "2026-05-01T12:00:00Z",
                    "observedGeneration": 2,
                },
            ],
            "progress": {"epoch": 3, "totalEpochs": 15, "percent": 20, "bestMAP": 0.41, "loss": 0.8},
            "startTime": "2026-05-01T11:58:00Z",
            "jobName": "r-train",
        },
    }
    run = TrainingRun.from_obj(obj)
    assert run.spec.resources.cpu == "4"
    assert run.status is not None and run.status.phase == Phase.RUNNING
    assert run.status.progress is not None and run.status.progress.best_map == 0.41
    assert run.generation == 2 and run.name == "r" and run.namespace == "n"
    wire = run.to_obj()
    assert wire["status"]["conditions"][0]["lastTransitionTime"] == "2026-05-01T12:00:00Z"
    assert wire["status"]["progress"]["bestMAP"] == 0.41
    assert wire["status"]["startTime"] == "2026-05-01T11:58:00Z"


def test_set_condition_adds_and_keeps_transition_time_while_status_holds() -> None:
    conditions = set_condition([], ConditionType.RUNNING, True, Reason.TRAINING, "epoch 1", 1, NOW)
    assert conditions[0].last_transition_time == NOW
    later = NOW + timedelta(minutes=5)
    same = set_condition(conditions, ConditionType.RUNNING, True, Reason.TRAINING, "epoch 2", 2, later)
    assert same[0].last_transition_time == NOW
    assert same[0].message == "epoch 2" and same[0].observed_generation == 2
    flipped = set_condition(same, ConditionType.RUNNING, False, Reason.TRAINING_FAILED, "oom", 2, later)
    assert flipped[0].last_transition_time == later
    assert flipped[0].status == ConditionStatus.FALSE


def test_set_condition_is_pure_and_keeps_order() -> None:
    first = set_condition([], ConditionType.VALIDATED, True, Reason.VALIDATED, "", 1, NOW)
    both = set_condition(first, ConditionType.SCHEDULED, ConditionStatus.UNKNOWN, Reason.QUEUED, "", 1, NOW)
    again = set_condition(both, ConditionType.VALIDATED, False, Reason.DATASET_NOT_FOUND, "no", 1, NOW)
    assert [c.type for c in again] == ["Validated", "Scheduled"]
    assert len(first) == 1 and first[0].status == ConditionStatus.TRUE
    assert is_condition_true(both, ConditionType.VALIDATED)
    assert not is_condition_true(again, ConditionType.VALIDATED)
    assert get_condition(again, ConditionType.SUCCEEDED) is None
    assert [c.type for c in remove_condition(again, ConditionType.VALIDATED)] == ["Scheduled"]


def test_condition_time_is_written_to_the_second_in_utc() -> None:
    local = datetime(2026, 5, 1, 14, 0, 0, 123456).astimezone()
    condition = Condition(
        type="Ready", status=ConditionStatus.TRUE, reason="Ready", last_transition_time=local
    )
    assert condition.to_wire()["lastTransitionTime"].endswith("Z")
    assert "." not in condition.to_wire()["lastTransitionTime"]


@pytest.mark.parametrize(
    "key",
    [
        "optim_wrapper.optimizer.weight_decay",
        "train_dataloader.num_workers",
        "model.test_cfg.score_thr",
        "model.bbox_head.loss_cls.loss_weight",
        "param_scheduler.1.milestones",
        "optim_wrapper.clip_grad.max_norm",
    ],
)
def test_cfg_options_allowed(key: str) -> None:
    assert cfgoptions.forbidden_reason(key) is None
    cfgoptions.check_cfg_options({key: 1})


@pytest.mark.parametrize(
    "key",
    [
        "work_dir",
        "load_from",
        "resume",
        "launcher",
        "env_cfg.dist_cfg.backend",
        "env_cfg",
        "default_hooks.checkpoint.interval",
        "default_hooks.logger.interval",
        "custom_hooks.0.type",
        "custom_imports.imports",
        "train_dataloader.dataset.data_root",
        "val_evaluator.ann_file",
        "test_dataloader.dataset.data_prefix.img",
        "model.backbone.init_cfg.checkpoint",
        "model.roi_head.bbox_head.num_classes",
        "train_cfg.max_epochs",
        "train_cfg",
        "model",
        "optim_wrapper.optimizer.lr",
        "randomness.seed",
        "visualizer.vis_backends",
    ],
)
def test_cfg_options_forbidden(key: str) -> None:
    assert cfgoptions.forbidden_reason(key)
    with pytest.raises(ValueError, match=key.replace(".", r"\.")):
        cfgoptions.check_cfg_options({key: 1})


def test_cfg_options_refuse_object_values_at_any_depth() -> None:
    cfgoptions.check_cfg_options({"train_dataloader.num_workers": 2, "model.test_cfg.nms.iou_threshold": 0.6})
    cfgoptions.check_cfg_options({"param_scheduler.1.milestones": [8, 11]})
    with pytest.raises(ValueError, match="object value"):
        cfgoptions.check_cfg_options({"model.neck": {"type": "FPN"}})
    with pytest.raises(ValueError, match="object value"):
        cfgoptions.check_cfg_options({"train_dataloader.dataset.datasets": [[{"data_root": "/"}]]})


def test_admission_policy_is_built_from_the_one_list() -> None:
    text = str(admission_policy())
    for forbidden in cfgoptions.FORBIDDEN_KEYS:
        assert f"'{forbidden.key}" in text


def test_status_phase_is_limited_to_the_kinds_phases() -> None:
    spec = {"datasetRef": {"name": "d"}, "baseModelRef": {"name": "m"}}
    TrainingRun.from_obj({"spec": spec, "status": {"phase": "Succeeded"}})
    with pytest.raises(ValidationError, match="phase must be one of"):
        TrainingRun.from_obj({"spec": spec, "status": {"phase": "Published"}})
