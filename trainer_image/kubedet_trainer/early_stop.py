"""Early stopping (spec.hyperparameters.earlyStopping): mmengine's EarlyStoppingHook on validation
bbox mAP, made to survive a resume.

The hook is registered on the runner, not written into the config: the published config.py is the base
config of every model fine-tuned from this one, and a run's stopping rule must not ride along into them.
"""

from __future__ import annotations

from typing import Any

from mmengine.hooks import EarlyStoppingHook

from kubedet.api.common import EarlyStopping
from kubedet_trainer.mmconfig import BEST_METRIC

FLOAT_TOLERANCE = 1e-9


class ResumableEarlyStopping(EarlyStoppingHook):
    """mmengine's EarlyStoppingHook counts from nothing in every process (its count is not in the
    checkpoint), so a resumed run would wait `patience` rounds afresh. The validations of the earlier
    attempts are replayed into it before training goes on: a resumed run stops where an uninterrupted
    one would."""

    # After ProgressHook (LOW), which fills in the mAP of a validation that detected nothing.
    priority = "LOWEST"

    def __init__(self, rule: EarlyStopping, earlier_validations: dict[int, dict[str, float]]) -> None:
        # mmengine counts a rise as an improvement when best + min_delta > score is false: COCO's mAP
        # has three decimals, so a rise of exactly minDelta (0.412 -> 0.413 with 0.001) would fail on
        # 0.412 + 0.001 = 0.41300000000000003. The tolerance keeps it an improvement, as documented.
        min_delta = rule.min_delta - FLOAT_TOLERANCE if rule.min_delta > 0 else 0.0
        super().__init__(monitor=BEST_METRIC, rule="greater", min_delta=min_delta, patience=rule.patience)
        self.earlier_validations = dict(earlier_validations)

    def before_train(self, runner: Any) -> None:
        stop = False
        for epoch in sorted(self.earlier_validations):
            score = self.earlier_validations[epoch].get(BEST_METRIC)
            if score is not None:
                stop, _ = self._check_stop_condition(score)
        if stop:
            # The earlier attempt ended between deciding to stop and finishing: finish now.
            runner.train_loop.stop_training = True
