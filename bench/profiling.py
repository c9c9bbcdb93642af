"""Where the operator's CPU time and memory go during a benchmark phase.

`profiled(pid, folder, label)` wraps a phase: py-spy samples the operator's stacks (its own process,
no code in the operator) and a thread records its RSS every quarter second. Afterwards `folder` holds
`cpu-<label>.txt` (py-spy's collapsed stacks), `rss-<label>.json` (the timeline with the phase's
marks) and `cpu-<label>-top.json` (the functions that hold the most samples, inclusive and self).

    python bench/profiling.py bench/results/profile/cpu-1000.txt     # the summary of a recorded profile
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

SAMPLE_RATE = 50  # per second: enough to rank functions over minutes, light on a 2-core machine
RSS_INTERVAL = 0.25


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class RssTimeline:
    """The process's RSS over time, with named marks (e.g. "created", "done")."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.start = time.monotonic()
        self.points: list[tuple[float, float]] = []
        self.marks: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            try:
                self.points.append((round(time.monotonic() - self.start, 2), round(rss_mib(self.pid), 1)))
            except OSError:
                return
            self._stop.wait(RSS_INTERVAL)

    def mark(self, name: str) -> None:
        self.marks[name] = round(time.monotonic() - self.start, 2)

    def __enter__(self) -> RssTimeline:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def to_json(self) -> dict[str, Any]:
        peak = max(self.points, key=lambda p: p[1], default=(0.0, 0.0))
        return {"peak_mib": peak[1], "peak_at_s": peak[0], "marks": self.marks, "points": self.points}


def _function(frame: str) -> str:
    """ "name (file.py:12)" -> "name (file.py)": samples of one function at different lines add up."""
    name, _, where = frame.partition(" (")
    return f"{name} ({where.rsplit(':', 1)[0].rstrip(')')})" if where else name


def top_functions(collapsed: Path, limit: int = 40) -> dict[str, Any]:
    """From py-spy's collapsed stacks ("frame;frame;... count" lines, outermost first): the share of
    samples in which each function appears (inclusive) and is innermost (self)."""
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_function(frame) for frame in stack.split(";")]
        total += count
        for frame in set(frames):
            inclusive[frame] += count
        own[frames[-1]] += count

    def share(counter: Counter[str]) -> list[dict[str, Any]]:
        return [
            {"function": f, "samples": c, "percent": round(100 * c / max(total, 1), 1)}
            for f, c in counter.most_common(limit)
        ]

    return {"samples": total, "inclusive": share(inclusive), "self": share(own)}


@contextmanager
def profiled(pid: int, folder: Path, label: str) -> Iterator[RssTimeline]:
    folder.mkdir(parents=True, exist_ok=True)
    cpu = folder / f"cpu-{label}.txt"
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    sampler = subprocess.Popen(
        [spy, "record", "--pid", str(pid), "--rate", str(SAMPLE_RATE), "--format", "raw", "--nonblocking",
         "-o", str(cpu)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        with RssTimeline(pid) as timeline:
            yield timeline
    finally:
        sampler.send_signal(signal.SIGINT)
        try:
            sampler.wait(timeout=60)
        except subprocess.TimeoutExpired:
            sampler.kill()
        (folder / f"rss-{label}.json").write_text(json.dumps(timeline.to_json()) + "\n")
        if cpu.exists():
            (folder / f"cpu-{label}-top.json").write_text(json.dumps(top_functions(cpu), indent=1) + "\n")


if __name__ == "__main__":
    limit = int(sys.argv[2]) if len(sys.argv) > 2 else 40
    print(json.dumps(top_functions(Path(sys.argv[1]), limit), indent=1))
