"""What to do about a run's condition reason, in plain words. Each kubedet Reason that can stop or hold
a run has an entry (a unit test checks that none is missing)."""

from __future__ import annotations

from kubedet.api.constants import Reason

ADVICE: dict[str, str] = {
    Reason.DATASET_NOT_FOUND: "The run names a Dataset that does not exist in this namespace. Create it, "
    "or fix spec.datasetRef (a draft run can still be edited; otherwise create a new run).",
    Reason.DATASET_NOT_PUBLISHED: "The Dataset exists but is not published. Set spec.published: true on "
    "it (someone with the curate-datasets role can); the run then starts by itself.",
    Reason.DATASET_NOT_READY: "The Dataset is still being checked or its check failed. See "
    "`kubectl describe dataset <name>`; the run starts by itself once the Dataset is Ready.",
    Reason.DATASET_INVALID: "The dataset's files or annotations are wrong (missing images, boxes outside "
    "the image, unknown classes). Read the message and the error ConfigMap, fix the data, and create a new "
    "run. Retrying the same run cannot help.",
    Reason.BASE_MODEL_NOT_FOUND: "The base model does not exist in this namespace. Import it as a "
    "TrainedModel, or fix spec.baseModelRef.",
    Reason.BASE_MODEL_NOT_READY: "The base model is not Ready (its own training failed or has not "
    "finished). See `kubectl kubedet status` of the run that made it.",
    Reason.CONFIG_INVALID: "The MMDetection config built from the base model, hyperparameters and "
    "cfgOptions is invalid. Read the message, fix spec.hyperparameters or spec.cfgOptions, and create a new "
    "run.",
    Reason.STORAGE_UNAVAILABLE: "The trainer could not read or write its storage (a volume claim, an "
    "object store or its credentials). Check that the claims exist and are bound and that the output "
    "Secret is right; the Job retries this by itself up to spec.backoffLimit.",
    Reason.CHECKPOINT_NOT_FOUND: "The base model's checkpoint file was not found where its spec says. "
    "Fix the model's checkpoint URI (models are immutable: import a new one).",
    Reason.UNSCHEDULABLE: "No node can take the training pods (too many GPUs per node, not enough CPU or "
    "memory, taints, or a node selector nobody matches). Lower spec.resources, add tolerations, or ask for "
    "capacity. The run waits; it has not failed.",
    Reason.IMAGE_PULL_FAILED: "The trainer image could not be pulled. Fix spec.image (or the operator's "
    "default image) or the registry credentials, then create a new run.",
    Reason.OUT_OF_MEMORY: "The training ran out of memory. Lower spec.hyperparameters.batchSize or raise "
    "spec.resources.memory (CPU) / use a GPU with more memory, then create a new run.",
    Reason.EVICTED: "The kubelet evicted the training pods for node pressure more often than "
    "spec.backoffLimit allows. The run usually wrote more scratch (/workspace, /tmp, logs) than "
    "spec.resources.ephemeralStorage, or the node is short of disk or memory: raise it or write less, "
    "then create a new run. (Preemptions and drains are retried without counting.)",
    Reason.DEADLINE_EXCEEDED: "The run hit spec.activeDeadlineSeconds. Raise it, train fewer epochs, or "
    "use more GPUs.",
    Reason.BACKOFF_LIMIT_EXCEEDED: "Every retry failed. The last pod's exit code and log tail in the error "
    "ConfigMap tell why; fix that and create a new run.",
    Reason.TRAINING_DIVERGED: "The loss became NaN or infinite. Lower spec.hyperparameters.learningRate, "
    "add gradient clipping (cfgOptions optim_wrapper.clip_grad.max_norm), or check the boxes in the "
    "dataset; then create a new run.",
    Reason.TRAINING_FAILED: "The training ended with an error. Read the message and the log tail in the "
    "error ConfigMap.",
    Reason.JOB_DELETED: "The training Job was deleted before its result was recorded (by hand, or by "
    "ttlSecondsAfterFinished while the operator was down). Create a new run.",
    Reason.QUEUED: "The Job waits in its Kueue queue for quota. Nothing is wrong; `kubectl get workloads` "
    "shows the queue position. Ask for more quota or use another queue to start sooner.",
    Reason.PREEMPTED: "Kueue took the run's quota back for a higher-priority workload. Nothing is lost: "
    "the run waits in its queue and, once admitted again, resumes from its last checkpoint "
    "(status.preemptions counts how often). A higher spec.priorityClassName (Kueue takes it as the "
    "workload's priority) avoids it.",
    Reason.JOB_NAME_TAKEN: "A Job of the run's name from an earlier run of the same name is still being "
    "deleted (`kubectl get job <run>-train -o yaml` shows its finalizers). The run starts when it is gone.",
    Reason.SUSPENDED: "spec.suspend is true. Run `kubectl kubedet resume <run>` to schedule it.",
    Reason.PENDING: "The pods are waiting to start (pulling the image, or waiting for a node). Give it a "
    "minute; the Events below say what the pods wait for.",
    Reason.MODEL_NOT_FOUND: "The evaluation names a TrainedModel that does not exist in this namespace. "
    "Create another ModelEvaluation with the right spec.modelRef (evaluations are immutable); this one "
    "starts by itself if the model appears.",
    Reason.MODEL_NOT_READY: "The model to evaluate is not Ready yet (being checked, or its run has not "
    "succeeded). The evaluation starts by itself once it is.",
    Reason.EVALUATION_INVALID: "The dataset cannot be scored as asked (usually: it has no such split). "
    "Create another ModelEvaluation with spec.split val or train, or give the dataset a test split.",
    Reason.EVALUATION_FAILED: "An evaluation the publish gate needs failed, so the gate cannot pass. "
    "`kubectl describe meval <name>` (named in the message) says why; fix it and delete that evaluation: "
    "the gate creates it again.",
    Reason.GATE_FAILED: "The model did not pass its publish policy's gate: the message names each failed "
    "check with both numbers. It stays unpublished; train a better model, or have someone who may "
    "override gates publish it.",
    Reason.UNKNOWN: "kubedet could not tell why. Read the error ConfigMap's log tail and the Events; if "
    "they do not explain it, report it to your cluster admin with `kubectl kubedet why <run> -o yaml`.",
}

HEALTHY = {
    Reason.VALIDATED,
    Reason.JOB_CREATED,
    Reason.POD_RUNNING,
    Reason.NO_POD_RUNNING,
    Reason.TRAINING,
    Reason.NOT_SUSPENDED,
    Reason.TRAINING_SUCCEEDED,
    Reason.EARLY_STOPPED,
    Reason.READY,
    Reason.PUBLISHED,
    Reason.NOT_PUBLISHED,
    Reason.NOT_READY,
    Reason.EVALUATION_SUCCEEDED,
    Reason.EVALUATING,
    Reason.GATE_PASSED,
    Reason.REPLACED,
}
"""Reasons of progress rather than of a problem: they need no advice."""


def advice_for(reason: str | None) -> str:
    if reason and reason in ADVICE:
        return ADVICE[reason]
    return ADVICE[Reason.UNKNOWN] if reason not in HEALTHY else "Nothing is wrong."
