"""``SOLVER.BEST_CHECKPOINT``: keep ``model_best.pth``, the checkpoint with the best evaluation metric so far
(detectron2's BestCheckpointer)."""
import logging
import math
import operator
import os

from localstyle.engine.hooks import read_metrics
from localstyle.utils.errors import LocalstyleError

logger = logging.getLogger(__name__)


class BestCheckpointer:
    """After each evaluation, :meth:`step` saves ``model_best`` through ``checkpointer`` when ``metric`` (a
    metrics.json key such as ``segm/AP``) beats the best value so far (``mode`` "max" or "min"). On resume the
    best so far is read back from the evaluations of earlier iterations in ``OUTPUT_DIR/metrics.json``.
    Unlike detectron2, ``last_checkpoint`` keeps naming the periodic checkpoints."""

    def __init__(self, checkpointer, metric="segm/AP", mode="max", start_iter=0):
        if mode not in ("max", "min"):
            raise LocalstyleError(f"SOLVER.BEST_CHECKPOINT.MODE must be 'max' or 'min', got {mode!r}")
        self.checkpointer, self.metric = checkpointer, metric
        self.better = operator.gt if mode == "max" else operator.lt
        self.best_value, self.best_iter = None, None
        json_file = os.path.join(checkpointer.save_dir, "metrics.json")
        if start_iter > 0 and os.path.isfile(json_file):
            for row in read_metrics(json_file):
                if row.get("iteration", math.inf) < start_iter and metric in row:
                    self._consider(row[metric], row["iteration"])

    def _consider(self, value, iteration):
        if not math.isfinite(value) or (self.best_value is not None and not self.better(value, self.best_value)):
            return False
        self.best_value, self.best_iter = value, iteration
        return True

    def step(self, iteration, metrics):
        """Save ``model_best`` if ``metrics[self.metric]`` improved; returns whether it did."""
        if self.metric not in metrics:
            logger.warning(f"SOLVER.BEST_CHECKPOINT.METRIC {self.metric} was not computed (have: "
                           f"{', '.join(sorted(metrics))}); not checkpointing on it")
            return False
        value = float(metrics[self.metric])
        previous = "" if self.best_value is None else f"the best {self.best_value:.5f} at iteration {self.best_iter}"
        if not self._consider(value, iteration):
            logger.info(f"Not saving model_best: {self.metric} = {value:.5f} is not better than "
                        f"{previous or 'a number'}")
            return False
        self.checkpointer.save("model_best", tag_last=False, iteration=iteration)  # resume keeps the periodic chain
        logger.info(f"Saved model_best: {self.metric} = {value:.5f} at iteration {iteration}"
                    + (f" (previously {previous})" if previous else ""))
        return True
