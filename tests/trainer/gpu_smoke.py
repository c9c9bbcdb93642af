"""GPU smoke check of the trainer (not a pytest test: run it on a machine with a GPU).

    python tests/trainer/gpu_smoke.py OUT_DIR

Trains RTMDet-tiny (160 px, AMP) and Faster R-CNN R50 (2 epochs, AMP: RoIAlign on CUDA) on synthetic
shapes through `python -m kubedet_trainer train` with gpus=1, and prints each result's summary.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from trainer_harness import IMAGE_SIZE, Trainer, run_spec

from kubedet_trainer.synthetic import make_shapes_dataset, write_small_rtmdet_config


def main() -> int:
    root = Path(sys.argv[1])
    trainer = Trainer(root)
    make_shapes_dataset(trainer.pvc / "data" / "shapes", images=160, size=IMAGE_SIZE, seed=1)
    write_small_rtmdet_config(trainer.pvc / "models" / "rtmdet-tiny-160" / "config.py", IMAGE_SIZE)
    runs = {
        "rtmdet-amp": run_spec("rtmdet-amp", "shapes", ["circle", "square"], 30, amp=True, valInterval=10),
        "faster-rcnn-amp": run_spec(
            "faster-rcnn-amp",
            "shapes",
            ["circle", "square"],
            2,
            base={"name": "frcnn", "config": "mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py"},
            amp=True,
            valInterval=1,
        ),
    }
    failed = 0
    for name, spec in runs.items():
        spec["gpus"] = 1
        spec["workers"] = 4
        started = time.monotonic()
        run = trainer.run(spec, root / f"work-{name}", timeout=400)
        config = (trainer.pvc / "models" / name / "config.py").read_text() if run.returncode == 0 else ""
        summary = {
            "name": name,
            "returncode": run.returncode,
            "seconds": round(time.monotonic() - started, 1),
            "amp": "AmpOptimWrapper" in config,
            "message": json.loads(run.message.serialize()),
        }
        print(json.dumps(summary), flush=True)
        if run.returncode != 0:
            failed += 1
            print(run.stderr[-4000:], flush=True)
    return failed


if __name__ == "__main__":
    sys.exit(main())
