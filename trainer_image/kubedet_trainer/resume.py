"""Surviving a restart: the latest and best checkpoints are mirrored to `<outputUri>/_resume/`.

An evicted pod comes back with an empty work directory, so after every epoch the latest checkpoint, the
best one and a small state file (validation history, lineage) are copied to the output location; a
restarted run finds them there and resumes. The state file is written last, so it never names a
checkpoint that is not there yet.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mmengine.hooks import Hook

from kubedet_trainer.storage import Storage, join_uri

RESUME_FOLDER = "_resume"
STATE_FILE = "state.json"


@dataclass
class ResumeState:
    latest: str | None = None
    """File name of the latest checkpoint in the work dir."""
    best: str | None = None
    history: dict[int, dict[str, float]] = field(default_factory=dict)
    lineage: dict[str, Any] | None = None
    latest_saved_at: str | None = None
    """When the latest checkpoint was saved (RFC 3339, UTC): the attempt that resumes from it reports
    it, and the operator counts the time the interrupted attempt trained after it as lost."""

    def to_json(self) -> str:
        return json.dumps(
            {
                "latest": self.latest,
                "best": self.best,
                "history": self.history,
                "lineage": self.lineage,
                "latestSavedAt": self.latest_saved_at,
            }
        )

    @classmethod
    def from_json(cls, text: str) -> ResumeState:
        raw = json.loads(text)
        history = {int(epoch): metrics for epoch, metrics in raw.get("history", {}).items()}
        return cls(raw.get("latest"), raw.get("best"), history, raw.get("lineage"), raw.get("latestSavedAt"))


class ResumeMirror:
    def __init__(self, storage: Storage, output_uri: str, work_dir: Path) -> None:
        self.storage = storage
        self.folder_uri = join_uri(output_uri, RESUME_FOLDER)
        self.work_dir = work_dir
        self._uploaded: dict[str, float] = {}

    def restore(self) -> ResumeState | None:
        """The state of an earlier attempt with its checkpoints back in the work dir, or None."""
        local_state = self.work_dir / STATE_FILE
        if local_state.exists():
            state = ResumeState.from_json(local_state.read_text())
            if state.latest and (self.work_dir / state.latest).exists():
                return state
        state_uri = join_uri(self.folder_uri, STATE_FILE)
        if not self.storage.exists(state_uri):
            return None
        self.work_dir.mkdir(parents=True, exist_ok=True)
        fetched = self.storage.fetch(state_uri, self.work_dir / "fetched")
        state = ResumeState.from_json(Path(fetched).read_text())
        for name in (state.latest, state.best):
            if name and not (self.work_dir / name).exists():
                self._copy_in(join_uri(self.folder_uri, name), self.work_dir / name)
        local_state.write_text(state.to_json())
        return state if state.latest else None

    def _copy_in(self, uri: str, target: Path) -> None:
        if self.storage.is_remote(uri):
            self.storage.download(uri, target)
        else:
            self.storage.put(self.storage.local_path(uri), str(target))

    def save(self, state: ResumeState) -> None:
        for name in (state.latest, state.best):
            if not name:
                continue
            path = self.work_dir / name
            stamp = path.stat().st_mtime
            if self._uploaded.get(name) != stamp:
                self.storage.put(path, join_uri(self.folder_uri, name))
                self._uploaded[name] = stamp
        (self.work_dir / STATE_FILE).write_text(state.to_json())
        self.storage.put(self.work_dir / STATE_FILE, join_uri(self.folder_uri, STATE_FILE))
        for stale in set(self._uploaded) - {state.latest, state.best}:
            self.storage.remove(join_uri(self.folder_uri, stale))
            del self._uploaded[stale]

    def clear(self) -> None:
        self.storage.remove(self.folder_uri)


def utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def latest_checkpoint_name(work_dir: Path) -> str | None:
    """mmengine's CheckpointHook records the latest checkpoint's path in work_dir/last_checkpoint."""
    marker = work_dir / "last_checkpoint"
    if not marker.exists():
        return None
    return Path(marker.read_text().strip()).name


class ResumeMirrorHook(Hook):
    """Runs after mmengine's CheckpointHook (priority VERY_LOW) has written the epoch's checkpoints."""

    priority = "LOWEST"

    def __init__(
        self, mirror: ResumeMirror, state: ResumeState, history: dict[int, dict[str, float]]
    ) -> None:
        self.mirror = mirror
        self.state = state
        self.history = history

    def _sync(self, runner: Any) -> None:
        if runner.rank != 0:
            return
        best_path = runner.message_hub.get_info("best_ckpt")
        latest = latest_checkpoint_name(self.mirror.work_dir)
        if latest != self.state.latest:
            # CheckpointHook (an earlier hook of the same epoch's end) has just written it.
            self.state.latest_saved_at = utc_now()
        self.state.latest = latest
        self.state.best = Path(best_path).name if best_path else self.state.best
        self.state.history = dict(self.history)
        self.mirror.save(self.state)

    def after_train_epoch(self, runner: Any) -> None:
        self._sync(runner)

    def after_val_epoch(self, runner: Any, metrics: dict[str, float] | None = None) -> None:
        self._sync(runner)
