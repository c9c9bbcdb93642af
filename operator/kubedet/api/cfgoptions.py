"""spec.cfgOptions of a TrainingRun: dotted mmengine config keys, like tools/train.py --cfg-options.

Some keys are kubedet's: the paths it mounts, the checkpoints it keeps and resumes from, the hooks that
report progress, the distributed launch, and the settings that have a typed spec field. FORBIDDEN_KEYS
is the one list of them; the pydantic validator and the CEL rule of the CRD are both generated from it,
so the API server and the operator refuse exactly the same keys.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

# Dotted path of identifiers and list indices, as mmengine's Config.merge_from_dict accepts.
CFG_OPTION_KEY_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*(\.([A-Za-z_][A-Za-z0-9_]*|[0-9]+))*$"
MAX_CFG_OPTIONS = 64
MAX_CFG_OPTION_KEY_LENGTH = 256


@dataclass(frozen=True)
class ForbiddenKey:
    """A config key kubedet sets itself. A dotted `key` also forbids its sub-keys and its parents (a
    parent would replace the whole subtree); a `segment` forbids every key with that segment anywhere,
    e.g. data_root in val_dataloader.dataset.data_root."""

    key: str
    why: str
    segment: bool = False


_PATHS = "controls where files are read or written, which kubedet decides"
FORBIDDEN_KEYS: tuple[ForbiddenKey, ...] = (
    ForbiddenKey("work_dir", _PATHS, segment=True),
    ForbiddenKey("load_from", "set by spec.baseModelRef", segment=True),
    ForbiddenKey("resume", "kubedet resumes from its own checkpoints after a disruption", segment=True),
    ForbiddenKey("launcher", "set by spec.resources (nodes, gpusPerNode)", segment=True),
    ForbiddenKey("default_hooks", "hooks run registered code; kubedet's keep the best one", segment=True),
    ForbiddenKey("custom_hooks", "hooks run registered code; kubedet's report progress", segment=True),
    ForbiddenKey("custom_imports", "imports run arbitrary code", segment=True),
    ForbiddenKey("_base_", "set by the base model's config", segment=True),
    ForbiddenKey("_delete_", "would drop settings kubedet relies on", segment=True),
    ForbiddenKey("data_root", _PATHS, segment=True),
    ForbiddenKey("ann_file", "set by the Dataset's annotations", segment=True),
    ForbiddenKey("data_prefix", "set by the Dataset's images folder", segment=True),
    ForbiddenKey("img_prefix", "set by the Dataset's images folder", segment=True),
    ForbiddenKey("backend_args", _PATHS, segment=True),
    ForbiddenKey("file_client_args", _PATHS, segment=True),
    ForbiddenKey("out_dir", _PATHS, segment=True),
    ForbiddenKey("save_dir", _PATHS, segment=True),
    ForbiddenKey("outfile_prefix", _PATHS, segment=True),
    ForbiddenKey("filename", _PATHS, segment=True),
    ForbiddenKey("vis_backends", _PATHS, segment=True),
    ForbiddenKey("init_cfg", "would load weights other than the base model's", segment=True),
    ForbiddenKey("pretrained", "would load weights other than the base model's", segment=True),
    ForbiddenKey("checkpoint", "kubedet keeps the best checkpoint", segment=True),
    ForbiddenKey("metainfo", "set by the Dataset's classes", segment=True),
    ForbiddenKey("num_classes", "set by the Dataset's classes", segment=True),
    ForbiddenKey("env_cfg.dist_cfg", "set by spec.resources (nodes, gpusPerNode)"),
    ForbiddenKey("train_cfg.max_epochs", "set by spec.hyperparameters.epochs"),
    ForbiddenKey("train_cfg.val_interval", "set by spec.hyperparameters.valInterval"),
    ForbiddenKey("train_dataloader.batch_size", "set by spec.hyperparameters.batchSize"),
    ForbiddenKey("model.backbone.frozen_stages", "set by spec.hyperparameters.frozenStages"),
    ForbiddenKey("optim_wrapper.optimizer.lr", "set by spec.hyperparameters.learningRate"),
    ForbiddenKey("randomness.seed", "set by spec.hyperparameters.seed"),
    ForbiddenKey("auto_scale_lr", "kubedet scales the learning rate by the effective batch size"),
)


def _ancestors(key: str) -> Iterator[str]:
    parts = key.split(".")
    for end in range(1, len(parts)):
        yield ".".join(parts[:end])


def _segments() -> list[str]:
    return sorted(k.key for k in FORBIDDEN_KEYS if k.segment)


def _whole_keys() -> list[str]:
    """Dotted keys refused as they are: the forbidden ones and their parents."""
    dotted = [k.key for k in FORBIDDEN_KEYS if not k.segment]
    return sorted(set(dotted) | {a for key in dotted for a in _ancestors(key)})


def _prefixes() -> list[str]:
    return sorted(k.key + "." for k in FORBIDDEN_KEYS if not k.segment)


def forbidden_reason(key: str) -> str | None:
    """Why `key` may not be set in cfgOptions, or None when it may."""
    segments = key.split(".")
    for forbidden in FORBIDDEN_KEYS:
        if forbidden.segment:
            if forbidden.key in segments:
                return forbidden.why
        elif key == forbidden.key or key.startswith(forbidden.key + "."):
            return forbidden.why
        elif forbidden.key.startswith(key + "."):
            return f"it contains {forbidden.key}, which is {forbidden.why}"
    return None


def _contains_object(value: Any) -> bool:
    if isinstance(value, Mapping):
        return True
    if isinstance(value, list):
        return any(_contains_object(item) for item in value)
    return False


def check_cfg_options(options: Mapping[str, Any]) -> None:
    """Raise ValueError naming the first malformed key, key kubedet owns, or key with an object value."""
    if len(options) > MAX_CFG_OPTIONS:
        raise ValueError(f"spec.cfgOptions: at most {MAX_CFG_OPTIONS} keys")
    for key in sorted(options):
        if len(key) > MAX_CFG_OPTION_KEY_LENGTH or not re.fullmatch(CFG_OPTION_KEY_PATTERN, key):
            raise ValueError(f"spec.cfgOptions: key {key!r} is not a dotted mmengine config key")
        reason = forbidden_reason(key)
        if reason is not None:
            raise ValueError(f"spec.cfgOptions: key {key!r} cannot be set: {reason}")
        if _contains_object(options[key]):
            raise ValueError(
                f"spec.cfgOptions: key {key!r} has an object value; use one dotted key per setting, "
                "as with tools/train.py --cfg-options"
            )


# CEL of the admission policy (kubedet.manifests.cfgoptions_policy). The API server cannot type a
# map of arbitrary JSON values, so CRD rules cannot see cfgOptions; an admission policy sees the
# object untyped.


def _cel_list(values: list[str]) -> str:
    return "[" + ", ".join(f"'{v}'" for v in values) + "]"


def cel_is_malformed(var: str) -> str:
    return f"!(size({var}) <= {MAX_CFG_OPTION_KEY_LENGTH} && {var}.matches(r'{CFG_OPTION_KEY_PATTERN}'))"


def cel_is_forbidden(var: str) -> str:
    return (
        f"{var}.split('.').exists(s, s in {_cel_list(_segments())})"
        f" || {var} in {_cel_list(_whole_keys())}"
        f" || {_cel_list(_prefixes())}.exists(p, {var}.startsWith(p))"
    )


def cel_has_object_value(options: str, var: str) -> str:
    value = f"{options}[{var}]"
    return f"type({value}) == map || (type({value}) == list && {value}.exists(e, type(e) == map))"
