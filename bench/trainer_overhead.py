"""Trainer overhead: the same small training through `python -m kubedet_trainer` and through stock
MMDetection `tools/train.py` with the config the trainer generated, alternated, on this machine's CPU.

    python bench/trainer_overhead.py [--repetitions 3] [--epochs 3] [--images 48]

Prints, per way, the median wall time and the training loop's images/s (from mmengine's per-iteration
`time`), and their ratios; the trainer's work outside the loop (preflight, result reporting) is shown
separately, and a 10,000-image preflight is timed on its own. Results go to bench/results/.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "operator"), str(ROOT / "trainer_image"), str(ROOT / "tests" / "trainer")]

from trainer_harness import IMAGE_SIZE, Trainer, run_spec  # noqa: E402

from kubedet_trainer.synthetic import make_shapes_dataset, write_small_rtmdet_config  # noqa: E402


@dataclass
class Measurement:
    way: str
    wall_seconds: float
    loop_seconds: float
    iterations: int
    images_per_second: float


def loop_stats(work_dir: Path, batch_size: int) -> tuple[float, int]:
    """Seconds spent in training iterations and their count, from mmengine's scalars.json.

    mmengine logs, every `interval` iterations, the mean `time` of the iterations since the last log
    and the iteration count (`step`); the mean over the logs times the last step is the loop's time.
    """
    scalars = sorted(work_dir.rglob("vis_data/scalars.json"), key=lambda p: p.stat().st_mtime)
    if not scalars:
        raise RuntimeError(f"no scalars.json under {work_dir}")
    times, steps = [], []
    for line in scalars[-1].read_text().splitlines():
        record = json.loads(line)
        if "time" in record and "loss" in record:
            times.append(float(record["time"]))
            steps.append(int(record["step"]))
    if not times:
        raise RuntimeError(f"no training iterations logged in {scalars[-1]}")
    iterations = max(steps)
    return statistics.fmean(times) * iterations, iterations


def run_kubedet(
    trainer: Trainer, name: str, epochs: int, batch_size: int, root: Path
) -> tuple[Measurement, Path]:
    spec = run_spec(name, "shapes", ["circle", "square"], epochs, batchSize=batch_size, valInterval=epochs)
    workdir = root / f"work-{name}"
    started = time.monotonic()
    result = trainer.run(spec, workdir, timeout=1800)
    wall = time.monotonic() - started
    if result.returncode != 0:
        raise RuntimeError(f"kubedet trainer failed: {result.stderr[-2000:]}")
    loop, iterations = loop_stats(workdir, batch_size)
    config = trainer.pvc / "models" / name / "config.py"
    return Measurement("kubedet", wall, loop, iterations, iterations * batch_size / loop), config


def run_stock(config: Path, name: str, batch_size: int, root: Path) -> Measurement:
    import mmdet

    train_py = Path(mmdet.__file__).parent / ".mim" / "tools" / "train.py"
    work_dir = root / f"stock-{name}"
    env = {**os.environ, "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD": "1", "OMP_NUM_THREADS": str(os.cpu_count() or 1)}
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, str(train_py), str(config), "--work-dir", str(work_dir)],
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    wall = time.monotonic() - started
    if done.returncode != 0:
        raise RuntimeError(f"stock tools/train.py failed: {done.stderr[-2000:]}")
    loop, iterations = loop_stats(work_dir, batch_size)
    return Measurement("stock", wall, loop, iterations, iterations * batch_size / loop)


def time_large_preflight(root: Path, images: int) -> float:
    from kubedet.api.runspec import RunDataset
    from kubedet_trainer.datasets import prepare_dataset
    from kubedet_trainer.storage import Storage

    target = root / "pvc" / "data" / "large"
    make_shapes_dataset(target, images=images, size=32, seed=5)
    dataset = RunDataset.model_validate(
        {
            "name": "large",
            "spec": {
                "source": {"uri": "pvc://data/large"},
                "annotations": {"file": "annotations.json"},
                "classes": ["circle", "square"],
            },
        }
    )
    os.environ["KUBEDET_PVC_ROOT"] = str(root / "pvc")
    started = time.monotonic()
    prepare_dataset(dataset, Storage(), root / "large-work")
    return time.monotonic() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repetitions", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--images", type=int, default=48)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--preflight-images", type=int, default=10_000)
    parser.add_argument("--root", type=Path, default=Path("/tmp/kubedet-bench-trainer"))
    args = parser.parse_args()
    shutil.rmtree(args.root, ignore_errors=True)
    trainer = Trainer(args.root)
    make_shapes_dataset(trainer.pvc / "data" / "shapes", images=args.images, size=IMAGE_SIZE, seed=1)
    write_small_rtmdet_config(trainer.pvc / "models" / "rtmdet-tiny-160" / "config.py", IMAGE_SIZE)

    measurements: list[Measurement] = []
    for repetition in range(args.repetitions):
        # Alternate the order so drift in machine load hits both ways alike.
        name = f"rep{repetition}"
        kubedet, config = run_kubedet(trainer, name, args.epochs, args.batch_size, args.root)
        stock = run_stock(config, name, args.batch_size, args.root)
        pair = [kubedet, stock] if repetition % 2 == 0 else [stock, kubedet]
        measurements += pair
        print(json.dumps([asdict(m) for m in pair]), flush=True)

    def median(way: str, field: str) -> float:
        return statistics.median(getattr(m, field) for m in measurements if m.way == way)

    summary = {
        way: {
            "wall_seconds": median(way, "wall_seconds"),
            "loop_seconds": median(way, "loop_seconds"),
            "images_per_second": median(way, "images_per_second"),
        }
        for way in ("kubedet", "stock")
    }
    loop_overhead = summary["kubedet"]["loop_seconds"] / summary["stock"]["loop_seconds"] - 1
    outside = (summary["kubedet"]["wall_seconds"] - summary["kubedet"]["loop_seconds"]) - (
        summary["stock"]["wall_seconds"] - summary["stock"]["loop_seconds"]
    )
    preflight_seconds = time_large_preflight(args.root, args.preflight_images)
    report = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "settings": vars(args) | {"root": str(args.root)},
        "median": summary,
        "ratio_images_per_second_kubedet_over_stock": summary["kubedet"]["images_per_second"]
        / summary["stock"]["images_per_second"],
        "ratio_wall_kubedet_over_stock": summary["kubedet"]["wall_seconds"]
        / summary["stock"]["wall_seconds"],
        "loop_overhead_fraction": loop_overhead,
        "extra_seconds_outside_loop": outside,
        "preflight_seconds": {"images": args.preflight_images, "seconds": preflight_seconds},
        "targets": {
            "loop_overhead_at_most_5_percent": loop_overhead <= 0.05,
            "preflight_10k_under_10s": preflight_seconds < 10,
        },
    }
    out = ROOT / "bench" / "results" / f"trainer-{report['date']}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, default=str))
    print(json.dumps(report, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
