"""Deterministic names of the objects a run owns: a retry or a restarted operator finds, rather than
duplicates, what an earlier attempt created."""

from __future__ import annotations

import hashlib

MAX_NAME = 63  # Job names become pod labels (job-name), which are limited to 63 characters.


def _fit(base: str, suffix: str, limit: int = MAX_NAME) -> str:
    name = f"{base}-{suffix}"
    if len(name) <= limit:
        return name
    digest = hashlib.sha256(base.encode()).hexdigest()[:8]
    keep = limit - len(suffix) - len(digest) - 2
    return f"{base[:keep].rstrip('-.')}-{digest}-{suffix}"


def job_name(run_name: str) -> str:
    # Indexed Job pods are named <job>-<index>-<random>; leave room for that in the 63-char pod label.
    return _fit(run_name, "train", limit=52)


def error_configmap_name(run_name: str) -> str:
    return _fit(run_name, "error", limit=253)


def workers_service_name(run_name: str) -> str:
    # A Service name is a DNS label: 63 characters.
    return _fit(run_name, "workers")


def trained_model_name(run_name: str, run_uid: str | None = None) -> str:
    """<run>-model; with the run's uid, the name a run's model takes when <run>-model is someone
    else's (a model imported under that name, or kept from an earlier run of the same name)."""
    base = f"{run_name}-{run_uid.replace('-', '')[:8]}" if run_uid else run_name
    return _fit(base, "model", limit=253)


def preflight_job_name(dataset_name: str, fingerprint: str) -> str:
    return _fit(dataset_name, f"preflight-{fingerprint}", limit=52)


def cleanup_job_name(run_name: str) -> str:
    return _fit(run_name, "cleanup", limit=52)


def gate_evaluation_name(model: str, dataset: str, split: str, weights: str) -> str:
    return _fit(f"{model}-on-{dataset}-{split}", weights, limit=253)


def evaluation_job_name(evaluation_name: str) -> str:
    return _fit(evaluation_name, "eval", limit=52)
