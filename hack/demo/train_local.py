"""`make train-local`: the real trainer, on this machine's CPU, on a synthetic dataset.

It runs `python -m kubedet_trainer train` exactly as the tests in tests/trainer do (their harness
is reused: a fake PVC root, the run spec, the termination log), streams the trainer's progress lines
and ends with the COCO metrics from the trainer's result message.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "operator"), str(ROOT / "trainer_image")]

from tests.trainer.trainer_harness import FIRST_RUN_EPOCHS, IMAGE_SIZE, Trainer, run_spec  # noqa: E402

from kubedet.api.runspec import TrainerResult, parse_termination_message  # noqa: E402

CLASSES = ["circle", "square"]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    # Fewer epochs from scratch may detect nothing, and the trainer then has no best epoch to report.
    parser.add_argument("--epochs", type=int, default=FIRST_RUN_EPOCHS)
    parser.add_argument("--images", type=int, default=80)
    parser.add_argument(
        "--workdir", type=Path, default=None, help="keep everything here (default: a temp dir)"
    )
    parser.add_argument("--timeout", type=float, default=900.0)
    args = parser.parse_args()
    from kubedet_trainer.synthetic import make_shapes_dataset, write_small_rtmdet_config

    root = args.workdir or Path(tempfile.mkdtemp(prefix="kubedet-train-local-"))
    trainer = Trainer(root)
    print(
        f"synthetic dataset: {args.images} images of {IMAGE_SIZE}px, classes {CLASSES}, under {trainer.pvc}"
    )
    make_shapes_dataset(trainer.pvc / "data" / "shapes", images=args.images, size=IMAGE_SIZE, seed=1)
    write_small_rtmdet_config(trainer.pvc / "models" / "rtmdet-tiny-160" / "config.py", IMAGE_SIZE)
    # Validate at the last epoch at least: the trainer reports the best validated epoch.
    spec = run_spec("local", "shapes", CLASSES, args.epochs, valInterval=5 if args.epochs % 5 == 0 else 1)
    workdir = root / "work"
    print(
        f"training RTMDet-tiny from scratch for {args.epochs} epochs on the CPU (workdir {workdir})",
        flush=True,
    )
    t0 = time.monotonic()
    process = trainer.start(spec, workdir)
    assert process.stdout is not None and process.stderr is not None
    # mmengine logs to stderr; drain it beside stdout so a full pipe never stalls the trainer.
    stderr_lines: list[str] = []
    drain = threading.Thread(target=lambda: stderr_lines.extend(process.stderr or []), daemon=True)
    drain.start()
    for line in process.stdout:
        # The trainer's progress events are JSON lines; show them as one short line each.
        if line.startswith('{"kind":"progress"'):
            event = json.loads(line)
            fields = ("phase", "epoch", "maxEpochs", "percent", "loss", "bestMAP", "etaSeconds")
            print("  " + "  ".join(f"{k}={event[k]}" for k in fields if event.get(k) is not None), flush=True)
        if time.monotonic() - t0 > args.timeout:
            process.kill()
            raise SystemExit(f"training took longer than {args.timeout:.0f}s; stopped")
    process.wait(timeout=60)
    drain.join(timeout=10)
    message = parse_termination_message((workdir / "termination-log").read_text())
    if not isinstance(message, TrainerResult):
        raise SystemExit(f"training failed: {message}\n{''.join(stderr_lines)[-3000:]}")
    best = message.statistics.best_epoch
    print(f"\ndone in {time.monotonic() - t0:.0f}s; COCO metrics of the best epoch ({best}):")
    for name, value in sorted(message.metrics.items()):
        print(f"  {name:14} {value:.3f}")
    print(f"checkpoint: {message.checkpoint_uri}  (the pvc:// root is {trainer.pvc})")


if __name__ == "__main__":
    main()
