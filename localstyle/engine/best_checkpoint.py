"""``SOLVER.BEST_CHECKPOINT``: keep ``model_best.pth``, the checkpoint with the best evaluation metric so far
(detectron2's BestCheckpointer), and :class:`MetricTracker`, the best value of a metric (shared with early
stopping)."""
import dataclasses
import logging
import math
import os

from localstyle.engine.hooks import read_metrics
from localstyle.utils.errors import LocalstyleError

logger = logging.getLogger(__name__)


@dataclasses.dataclass
class MetricTracker:
    """The best finite value of a metric so far and its iteration; a value is better when it beats the best by
    more than ``min_delta`` in ``mode``'s direction ("max" or "min")."""

    mode: str = "max"
    min_delta: float = 0.0
    best_value: float = None
    best_iter: int = None

    def __post_init__(self):
        if self.mode not in ("max", "min"):
            raise LocalstyleError(f"SOLVER.BEST_CHECKPOINT.MODE must be 'max' or 'min', got {self.mode!r}")

    def update(self, value, iteration):
        """Take ``value`` as the new best if it is better; returns whether it was."""
        if not math.isfinite(value):
            return False
        if self.best_value is not None:
            gain = value - self.best_value if self.mode == "max" else self.best_value - value
            if not gain > self.min_delta:
                return False
        self.best_value, self.best_iter = value, iteration
        return True

    def describe(self):
        """``"<value> at iteration <iteration>"`` of the best, or ``"none"``."""
        return "none" if self.best_value is None else f"{self.best_value:.5f} at iteration {self.best_iter}"


def logged_values(output_dir, metric, before_iter):
    """``[(iteration, value)]`` of ``metric`` in ``output_dir/metrics.json`` at iterations before ``before_iter``
    (what a resumed run evaluated earlier)."""
    json_file = os.path.join(output_dir, "metrics.json")
    if before_iter <= 0 or not os.path.isfile(json_file):
        return []
    return [(row["iteration"], float(row[metric])) for row in read_metrics(json_file)
            if row.get("iteration", math.inf) < before_iter and metric in row]


class BestCheckpointer:
    """After each evaluation, :meth:`step` saves ``model_best`` through ``checkpointer`` when ``metric`` (a
    metrics.json key such as ``segm/AP``) beats the best value so far (``mode`` "max" or "min"). On resume the
    best so far is read back from the evaluations of earlier iterations in ``OUTPUT_DIR/metrics.json``.
    Unlike detectron2, ``last_checkpoint`` keeps naming the periodic checkpoints."""

    def __init__(self, checkpointer, metric="segm/AP", mode="max", start_iter=0):
        self.checkpointer, self.metric = checkpointer, metric
        self.tracker = MetricTracker(mode)
        for iteration, value in logged_values(checkpointer.save_dir, metric, start_iter):
            self.tracker.update(value, iteration)

    def step(self, iteration, metrics):
        """Save ``model_best`` if ``metrics[self.metric]`` improved; returns whether it did."""
        if self.metric not in metrics:
            logger.warning(f"SOLVER.BEST_CHECKPOINT.METRIC {self.metric} was not computed (have: "
                           f"{', '.join(sorted(metrics))}); not checkpointing on it")
            return False
        value = float(metrics[self.metric])
        previous = self.tracker.describe()
        if not self.tracker.update(value, iteration):
            logger.info(f"Not saving model_best: {self.metric} = {value:.5f} is not better than "
                        f"{'a number' if previous == 'none' else 'the best ' + previous}")
            return False
        self.checkpointer.save("model_best", tag_last=False, iteration=iteration)  # resume keeps the periodic chain
        logger.info(f"Saved model_best: {self.metric} = {value:.5f} at iteration {iteration}"
                    + (f" (previously the best {previous})" if previous != "none" else ""))
        return True
