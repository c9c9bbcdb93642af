"""Reading the run spec the operator mounts from a ConfigMap (JSON or YAML)."""

from __future__ import annotations

import os
from pathlib import Path

import yaml
from pydantic import ValidationError

from kubedet.api.preflight import PreflightSpec
from kubedet.api.runspec import RunSpec
from kubedet_trainer.errors import ConfigInvalid


def load_spec(path: Path) -> RunSpec:
    try:
        # JSON is YAML, so one parser reads both.
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError as error:
        raise ConfigInvalid(f"run spec {path} not found") from error
    except yaml.YAMLError as error:
        raise ConfigInvalid(f"run spec {path} is neither JSON nor YAML: {error}") from error
    try:
        return RunSpec.model_validate(data)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in item['loc']) or '(top level)'}: {item['msg']}"
            for item in error.errors()[:10]
        )
        raise ConfigInvalid(f"run spec {path} is invalid: {problems}") from error


def load_preflight_spec(variable: str) -> PreflightSpec:
    """The preflight spec the operator passes in an environment variable."""
    text = os.environ.get(variable)
    if not text:
        raise ConfigInvalid(f"environment variable {variable} with the preflight spec is not set")
    try:
        return PreflightSpec.model_validate_json(text)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in item['loc']) or '(top level)'}: {item['msg']}"
            for item in error.errors()[:10]
        )
        raise ConfigInvalid(f"preflight spec in {variable} is invalid: {problems}") from error
