"""The training Job and the objects created with it."""

from __future__ import annotations

import json

from tests.unit.operator import fixtures as f

from kubedet.api.constants import TRAINER_SERVICE_ACCOUNT, Annotation
from kubedet.api.runspec import EXIT_USER_ERROR, RunSpec
from kubedet.builders import naming
from kubedet.builders.job import build_training_job, build_workers_service
from kubedet.builders.rbac import (
    build_trainer_role,
    build_trainer_role_binding,
    build_trainer_service_account,
)
from kubedet.builders.runspec import build_run_spec, output_uri
from kubedet.config import OperatorConfig

CONFIG = OperatorConfig(trainer_image="registry.example/kubedet/trainer:1", artifact_store_uri="pvc://store")


def job_for(**spec):  # type: ignore[no-untyped-def]
    run = f.run(**spec)
    run_spec = build_run_spec(run, f.dataset(), f.model(), CONFIG)
    return run, build_training_job(run, run_spec, CONFIG)


def test_job_is_owned_labelled_and_deterministic() -> None:
    _run, job = job_for()
    assert job["metadata"]["name"] == naming.job_name("run-1") == "run-1-train"
    labels = job["metadata"]["labels"]
    assert labels["kubedet.io/training-run"] == "run-1" and labels["kubedet.io/training-run-uid"] == f.UID
    owner = job["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["uid"], owner["controller"]) == ("TrainingRun", f.UID, True)
    assert job == job_for()[1], "the same run always gives the same Job"


def test_pod_passes_restricted_pod_security() -> None:
    _, job = job_for()
    pod = job["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    container = pod["containers"][0]["securityContext"]
    assert container["allowPrivilegeEscalation"] is False and container["capabilities"] == {"drop": ["ALL"]}


def test_gpus_shm_and_failure_policy() -> None:
    _, job = job_for(
        resources={"gpusPerNode": 4, "sharedMemory": "8Gi", "memory": "64Gi"},
        backoffLimit=5,
        activeDeadlineSeconds=3600,
        ttlSecondsAfterFinished=600,
    )
    pod = job["spec"]["template"]["spec"]
    limits = pod["containers"][0]["resources"]["limits"]
    assert limits["nvidia.com/gpu"] == "4" and limits["memory"] == "64Gi"
    shm = next(v for v in pod["volumes"] if v["name"] == "dshm")
    assert shm["emptyDir"] == {"medium": "Memory", "sizeLimit": "8Gi"}
    assert job["spec"]["backoffLimit"] == 5
    assert job["spec"]["activeDeadlineSeconds"] == 3600 and job["spec"]["ttlSecondsAfterFinished"] == 600
    fail_fast, ignore = job["spec"]["podFailurePolicy"]["rules"]
    assert fail_fast["action"] == "FailJob" and fail_fast["onExitCodes"]["values"] == [EXIT_USER_ERROR]
    assert ignore["action"] == "Ignore" and ignore["onPodConditions"][0]["type"] == "DisruptionTarget"


def test_cpu_run_asks_for_no_gpu() -> None:
    _, job = job_for(resources={"gpusPerNode": 0})
    assert "nvidia.com/gpu" not in job["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]


def test_queue_name_creates_a_suspended_job_for_kueue() -> None:
    _, job = job_for(queueName="team-a-gpus")
    assert job["spec"]["suspend"] is True
    assert job["metadata"]["labels"]["kueue.x-k8s.io/queue-name"] == "team-a-gpus"


def test_claims_are_mounted_read_only_except_the_output() -> None:
    _, job = job_for()
    pod = job["spec"]["template"]["spec"]
    claims = {
        v["persistentVolumeClaim"]["claimName"]: v["persistentVolumeClaim"]["readOnly"]
        for v in pod["volumes"]
        if "persistentVolumeClaim" in v
    }
    assert claims == {"datasets": True, "models": True, "store": False}


def test_pod_metadata_is_copied_but_kubedet_labels_win() -> None:
    _, job = job_for(
        podMetadata={
            "labels": {"cost-center": "ml", "kubedet.io/training-run": "spoof"},
            "annotations": {"sidecar.istio.io/inject": "false"},
        }
    )
    template = job["spec"]["template"]["metadata"]
    assert template["labels"]["cost-center"] == "ml"
    assert template["labels"]["kubedet.io/training-run"] == "run-1"
    assert template["annotations"]["sidecar.istio.io/inject"] == "false"
    assert set(template["annotations"]) == {"sidecar.istio.io/inject", Annotation.RUN_SPEC}


def test_s3_credentials_come_from_the_secret_not_the_spec() -> None:
    run = f.run(output={"uri": "s3://bucket/models", "secretRef": {"name": "s3-creds"}})
    job = build_training_job(run, build_run_spec(run, f.dataset(), f.model(), CONFIG), CONFIG)
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["envFrom"] == [{"secretRef": {"name": "s3-creds"}}]
    assert "s3-creds" not in json.dumps(container["env"])


def test_the_base_models_checkpoint_secret_reaches_the_trainer_too() -> None:
    run = f.run(output={"uri": "s3://bucket/models", "secretRef": {"name": "s3-creds"}})
    base = f.model(checkpoint={"uri": "s3://zoo/rtmdet.pth", "secretRef": {"name": "s3-creds"}})
    run_spec = build_run_spec(run, f.dataset(), base, CONFIG)
    assert run_spec.base_model.checkpoint_secret_ref is not None
    container = build_training_job(run, run_spec, CONFIG)["spec"]["template"]["spec"]["containers"][0]
    assert container["envFrom"] == [{"secretRef": {"name": "s3-creds"}}]
    alone = build_training_job(f.run(), build_run_spec(f.run(), f.dataset(), base, CONFIG), CONFIG)
    assert alone["spec"]["template"]["spec"]["containers"][0]["envFrom"] == [
        {"secretRef": {"name": "s3-creds"}}
    ]


def test_progress_service_account_is_optional() -> None:
    run = f.run()
    quiet = OperatorConfig(progress_reports=False)
    pod = build_training_job(run, build_run_spec(run, f.dataset(), f.model(), quiet), quiet)["spec"][
        "template"
    ]["spec"]
    assert pod["automountServiceAccountToken"] is False and "serviceAccountName" not in pod
    _, job = job_for()
    assert job["spec"]["template"]["spec"]["serviceAccountName"] == TRAINER_SERVICE_ACCOUNT


def test_multi_node_job_is_indexed_with_rendezvous_env() -> None:
    run, job = job_for(resources={"gpusPerNode": 8, "nodes": 4})
    assert job["spec"]["completionMode"] == "Indexed" and job["spec"]["completions"] == 4
    env = {e["name"]: e for e in job["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["NNODES"]["value"] == "4" and env["NPROC_PER_NODE"]["value"] == "8"
    assert env["MASTER_ADDR"]["value"] == "run-1-train-0.run-1-workers"
    service = build_workers_service(run)
    assert service["spec"]["clusterIP"] == "None" and service["metadata"]["name"] == "run-1-workers"


def test_the_trainer_knows_its_pod_name_to_say_which_attempt_reports() -> None:
    _, job = job_for()
    env = {e["name"]: e for e in job["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["KUBEDET_POD_NAME"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}


def test_run_spec_reaches_the_trainer_as_a_file_from_the_pod_annotation() -> None:
    run = f.run(
        hyperparameters={"epochs": 7, "batchSize": 4}, cfgOptions={"optim_wrapper.clip_grad.max_norm": 10}
    )
    job = build_training_job(run, build_run_spec(run, f.dataset(), f.model(), CONFIG), CONFIG)
    template = job["spec"]["template"]
    spec = RunSpec.model_validate_json(template["metadata"]["annotations"][Annotation.RUN_SPEC])
    assert spec.hyperparameters.epochs == 7 and spec.hyperparameters.batch_size == 4
    assert spec.dataset.spec.classes == ["circle", "square"]
    assert spec.base_model.checkpoint_uri == "pvc://models/rtmdet.pth"
    assert spec.output_uri == output_uri(run, CONFIG) == "pvc://store/team-a/run-1-0f1e2d3c"
    volume = next(v for v in template["spec"]["volumes"] if v["name"] == "runspec")
    item = volume["downwardAPI"]["items"][0]
    assert item["fieldRef"]["fieldPath"] == f"metadata.annotations['{Annotation.RUN_SPEC}']"
    container = template["spec"]["containers"][0]
    mount = next(m for m in container["volumeMounts"] if m["name"] == "runspec")
    assert container["args"][container["args"].index("--spec") + 1] == f"{mount['mountPath']}/{item['path']}"
    assert mount["readOnly"] is True


def test_users_pod_annotations_cannot_replace_the_run_spec() -> None:
    run = f.run(podMetadata={"annotations": {Annotation.RUN_SPEC: "{}", "team": "a"}})
    job = build_training_job(run, build_run_spec(run, f.dataset(), f.model(), CONFIG), CONFIG)
    annotations = job["spec"]["template"]["metadata"]["annotations"]
    assert annotations["team"] == "a" and RunSpec.model_validate_json(annotations[Annotation.RUN_SPEC])


def test_trainer_identity_is_one_per_namespace_and_may_only_patch_run_status() -> None:
    role = build_trainer_role("team-a")
    assert role["rules"] == [
        {"apiGroups": ["kubedet.io"], "resources": ["trainingruns/status"], "verbs": ["get", "patch"]}
    ]
    account = build_trainer_service_account("team-a")
    binding = build_trainer_role_binding("team-a")
    assert account["metadata"]["name"] == role["metadata"]["name"] == TRAINER_SERVICE_ACCOUNT
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": TRAINER_SERVICE_ACCOUNT, "namespace": "team-a"}
    ]
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert all("ownerReferences" not in o["metadata"] for o in (account, role, binding))
    # The per-run narrowing is the admission policy's (tests/unit/test_run_admission.py).


def test_long_names_stay_within_limits() -> None:
    long = "r" * 250
    assert len(naming.job_name(long)) <= 52
    assert naming.job_name(long) == naming.job_name(long)
    assert naming.job_name(long) != naming.job_name("r" * 249 + "s")
    assert len(naming.workers_service_name(long)) <= 63
