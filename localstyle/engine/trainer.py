"""A plain training loop (in the spirit of torchvision's references/detection) with detectron2's behaviour:
SGD + warmup/multi-step LR, optional gradient clipping, AMP on CUDA, DDP, periodic checkpoints and evaluation,
metrics.json / TensorBoard / console with ETA, exact resume, and a hard stop on non-finite losses."""
import logging
import time

import torch
from torch.nn.parallel import DistributedDataParallel

from localstyle.engine.best_checkpoint import BestCheckpointer
from localstyle.engine.checkpointer import Checkpointer, PeriodicCheckpointer
from localstyle.engine.defaults import seed_all_rng
from localstyle.engine.early_stopping import EarlyStopping
from localstyle.engine.evaluation_loop import eval_and_log, test, test_with_TTA
from localstyle.engine.hooks import MetricsWriter, plot_training_curves
from localstyle.engine.train_step import TrainStep
from localstyle.solver import build_gradient_clipper, build_lr_scheduler, build_optimizer
from localstyle.utils import comm
from localstyle.utils.errors import LocalstyleError

logger = logging.getLogger(__name__)


def iteration_seed(seed, iteration, rank=0):
    """The RNG seed of one iteration on one process (used when SEED >= 0)."""
    return seed + 1_000_003 * iteration + 7919 * rank


class TrainingDivergedError(LocalstyleError, FloatingPointError):
    """A loss or a weight became infinite or NaN; the message names the iteration and the losses."""


def diverged_error(error, iteration, start_iter, writer, checkpointer):
    """The TrainingDivergedError for ``error`` at ``iteration``: the losses before it, metrics.json (``writer``,
    main process only) and the last checkpoint."""
    before, metrics = "", "no iteration finished"
    if writer is not None and iteration > start_iter:
        writer.flush(iteration - 1)
        losses = ", ".join(f"{k}={v:.4g}" for k, v in writer.latest().items() if "loss" in k)
        before = f"; losses at iteration {iteration - 1}: {losses}"
        metrics = f"metrics up to iteration {iteration - 1} are in {writer.json_file}"
    last = checkpointer.get_checkpoint_file()
    e = str(error)
    cause = e if "iteration=" in e else f"Training diverged at iteration={iteration}: {e}{before}"
    return TrainingDivergedError(f"{cause}; {metrics}; last good checkpoint: {last or 'none'} (lower "
                                 f"SOLVER.BASE_LR or enable SOLVER.CLIP_GRADIENTS)")


class Trainer:
    """``Trainer(cfg)`` builds model, optimizer, scheduler and checkpointer; ``resume_or_load(resume)`` then
    ``train()`` runs iterations ``start_iter .. SOLVER.MAX_ITER - 1``."""

    def __init__(self, cfg):
        from localstyle.data import register_datasets_from_cfg
        from localstyle.modeling import build_model

        self.cfg = cfg
        register_datasets_from_cfg(cfg)
        model = build_model(cfg)
        self.device = next(model.parameters()).device
        self.optimizer = build_optimizer(cfg, model)
        self.scheduler = build_lr_scheduler(cfg, self.optimizer)
        amp = bool(cfg.SOLVER.AMP.ENABLED) and self.device.type == "cuda"
        if cfg.SOLVER.AMP.ENABLED and not amp:
            logger.warning(f"SOLVER.AMP.ENABLED needs a CUDA device; training in float32 on {self.device}")
        self.scaler = torch.amp.GradScaler("cuda") if amp else None
        if comm.get_world_size() > 1:
            # Buffers are synced once at construction, then stay per-process (detectron2's broadcast_buffers=False):
            # use FrozenBN, GN or SyncBN for normalization statistics shared across processes.
            model = DistributedDataParallel(
                model, device_ids=[self.device.index] if self.device.type == "cuda" else None,
                forward_sync_buffers=False,
            )
        self.model = model
        self.step = TrainStep(model, self.optimizer, self.scheduler, build_gradient_clipper(cfg), self.scaler)
        self.checkpointer = Checkpointer(model, cfg.OUTPUT_DIR, optimizer=self.optimizer, scheduler=self.scheduler,
                                         grad_scaler=self.scaler)
        self.max_iter = int(cfg.SOLVER.MAX_ITER)
        self.start_iter = 0
        self.iter = 0
        # With SEED >= 0 every iteration reseeds the RNGs from (SEED, iteration, rank): runs are reproducible on
        # CPU and a resumed run continues exactly like an uninterrupted one.
        self.seed = cfg.SEED if cfg.SEED >= 0 else None

    def resume_or_load(self, resume=True):
        """Continue from OUTPUT_DIR/last_checkpoint (``resume``) or start from MODEL.WEIGHTS."""
        self.start_iter = self.checkpointer.resume_or_load(self.cfg.MODEL.WEIGHTS, resume=resume,
                                                           trusted=self.cfg.MODEL.WEIGHTS_TRUSTED,
                                                           allow_missing=self.cfg.MODEL.WEIGHTS_ALLOW_MISSING)
        return self.start_iter

    def train(self, data_iter=None):
        """Train; returns the final evaluation results (``{}`` without DATASETS.TEST). ``data_iter`` replaces
        the training loader (an iterator of batches, as in benchmarks)."""
        cfg = self.cfg
        if data_iter is None:
            from localstyle.data.build import build_detection_train_loader

            data_iter = iter(build_detection_train_loader(cfg, start_iter=self.start_iter))
        periodic = PeriodicCheckpointer(self.checkpointer, cfg.SOLVER.CHECKPOINT_PERIOD, self.max_iter)
        writer = MetricsWriter(cfg.OUTPUT_DIR, self.max_iter, self.start_iter) if comm.is_main_process() else None
        b = cfg.SOLVER.BEST_CHECKPOINT
        best = BestCheckpointer(self.checkpointer, b.METRIC, b.MODE, self.start_iter) \
            if b.ENABLED and comm.is_main_process() else None
        early = EarlyStopping.from_config(cfg, self.checkpointer, self.start_iter, writer)
        hooks = [h for h in (best, early) if h is not None]
        stopped = early is not None and early.should_stop()  # a resumed run that had stopped early
        logger.info(f"Starting training from iteration {self.start_iter} to {self.max_iter} "
                    f"({comm.get_world_size()} process(es), {cfg.SOLVER.IMS_PER_BATCH} images per iteration)")
        results = {}
        start = time.perf_counter()
        self.model.train()
        try:
            for self.iter in range(self.start_iter, self.start_iter if stopped else self.max_iter):
                t0 = time.perf_counter()
                if self.seed is not None:
                    seed_all_rng(iteration_seed(self.seed, self.iter, comm.get_rank()))
                batch = next(data_iter)
                data_time = time.perf_counter() - t0
                metrics = self.run_step(batch)
                metrics.update(data_time=data_time, time=time.perf_counter() - t0)
                if self.device.type == "cuda":
                    metrics["max_mem"] = torch.cuda.max_memory_allocated(self.device) / 2**20  # MiB, as detectron2
                if writer is not None:
                    writer.put(self.iter, **metrics)
                periodic.step(self.iter)
                eval_period = cfg.TEST.EVAL_PERIOD
                if eval_period > 0 and (self.iter + 1) % eval_period == 0 and self.iter + 1 < self.max_iter:
                    results = eval_and_log(cfg, self.model, self.iter, writer, hooks)
                    stopped = early is not None and early.should_stop()
                    if stopped:
                        break
            done = self.iter + 1 - self.start_iter
            if done > 0:
                total = time.perf_counter() - start
                logger.info(f"Total training time: {total:.1f} s ({total / done:.4f} s/it over {done} iterations)")
            if cfg.DATASETS.TEST and not stopped:  # training ends here anyway: no early stopping
                results = eval_and_log(cfg, self.model, self.iter, writer, [h for h in hooks if h is not early])
        except FloatingPointError as e:
            raise diverged_error(e, self.iter, self.start_iter, writer, self.checkpointer) from None
        finally:
            if writer is not None:
                writer.close()
        if comm.is_main_process():
            path = plot_training_curves(cfg.OUTPUT_DIR)
            if path:
                logger.info(f"Training curve: {path}")
        comm.synchronize()
        return results

    def run_step(self, batch):
        """One iteration (:class:`TrainStep`) on ``batch``; returns the scalars to log."""
        return self.step(batch, self.iter)

    test = staticmethod(test)
    test_with_TTA = staticmethod(test_with_TTA)
