"""kubedet's trainer: the program inside a training Job (`python -m kubedet_trainer`)."""

import os

# mmengine 0.10.7 calls torch.load without weights_only, which torch >= 2.6 turns into weights-only
# loading that cannot read mmengine checkpoints; set before torch is imported anywhere.
os.environ.setdefault("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
