"""``SOLVER.EARLY_STOPPING``: stop training when ``SOLVER.BEST_CHECKPOINT.METRIC`` has not improved (by more than
MIN_DELTA, in MODE's direction) for PATIENCE evaluations in a row, as Keras' and Lightning's EarlyStopping."""
import logging

from localstyle.engine.best_checkpoint import MetricTracker, logged_values
from localstyle.utils import comm
from localstyle.utils.errors import LocalstyleError

logger = logging.getLogger(__name__)


class EarlyStopping:
    """An evaluation hook: :meth:`step` (main process) counts the evaluations since ``metric`` last improved; at
    ``patience`` it logs why, records it in metrics.json (``writer``) and saves ``model_final`` through
    ``checkpointer``. :meth:`should_stop` tells every process. On resume the count is replayed from the
    evaluations of earlier iterations in ``OUTPUT_DIR/metrics.json``."""

    def __init__(self, checkpointer, metric, mode, patience, min_delta=0.0, start_iter=0, writer=None):
        if patience < 1 or min_delta < 0:
            raise LocalstyleError(f"SOLVER.EARLY_STOPPING: PATIENCE must be >= 1 (0: off) and MIN_DELTA >= 0, got "
                                  f"{patience} and {min_delta}")
        self.checkpointer, self.metric, self.patience, self.writer = checkpointer, metric, patience, writer
        self.tracker = MetricTracker(mode, min_delta)
        self.stale = 0  # evaluations since the last improvement
        self.stopped_at = None
        for iteration, value in logged_values(checkpointer.save_dir, metric, start_iter):
            self._count(value, iteration)
        if self.stopped_at is not None:
            logger.info(f"Early stopping: patience ran out at iteration {self.stopped_at}, before this resumed run "
                        f"({self.message()}); not training further (raise SOLVER.EARLY_STOPPING.PATIENCE to "
                        f"continue)")

    @classmethod
    def from_config(cls, cfg, checkpointer, start_iter, writer=None):
        """The hook of ``cfg`` (None when PATIENCE is 0); needs periodic evaluation."""
        e, b = cfg.SOLVER.EARLY_STOPPING, cfg.SOLVER.BEST_CHECKPOINT
        if e.PATIENCE == 0:
            return None
        if cfg.TEST.EVAL_PERIOD <= 0 or not cfg.DATASETS.TEST:
            raise LocalstyleError(f"SOLVER.EARLY_STOPPING.PATIENCE {e.PATIENCE} needs evaluations during training: "
                                  f"set TEST.EVAL_PERIOD > 0 and DATASETS.TEST")
        return cls(checkpointer, b.METRIC, b.MODE, e.PATIENCE, e.MIN_DELTA, start_iter, writer)

    def _count(self, value, iteration):
        self.stale = 0 if self.tracker.update(value, iteration) else self.stale + 1
        if self.stale >= self.patience and self.stopped_at is None:
            self.stopped_at = iteration

    def message(self):
        return (f"{self.metric} has not improved for {self.stale} evaluations; best "
                f"{self.tracker.describe()}")

    def step(self, iteration, metrics):
        """Count the evaluation after ``iteration``; when patience runs out, stop there. Returns whether it did."""
        if self.stopped_at is not None:
            return True
        if self.metric not in metrics:
            logger.warning(f"SOLVER.BEST_CHECKPOINT.METRIC {self.metric} was not computed; early stopping skips "
                           f"the evaluation after iteration {iteration}")
            return False
        self._count(float(metrics[self.metric]), iteration)
        if self.stopped_at is None:
            return False
        logger.info(f"early stopping at iteration {iteration}: {self.message()}")
        if self.writer is not None:
            self.writer.flush(iteration)  # the training scalars of this last iteration
            record = {"early_stopping/stale_evaluations": self.stale}
            if self.tracker.best_value is not None:
                record.update({"early_stopping/best_iteration": self.tracker.best_iter,
                               "early_stopping/best_value": self.tracker.best_value})
            self.writer.write_scalars(iteration, record)
        self.checkpointer.save("model_final", iteration=iteration)
        return True

    def should_stop(self):
        """Whether training stops now: the main process's decision, on every process."""
        return comm.all_gather(self.stopped_at is not None)[0]
