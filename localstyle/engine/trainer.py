"""A plain training loop (in the spirit of torchvision's references/detection) with detectron2's behaviour:
SGD + warmup/multi-step LR, optional gradient clipping, AMP on CUDA, DDP, periodic checkpoints and evaluation,
metrics.json / TensorBoard / console with ETA, exact resume, and a hard stop on non-finite losses."""
import logging
import os
import time

import torch
from torch.nn.parallel import DistributedDataParallel

from localstyle.engine.best_checkpoint import BestCheckpointer
from localstyle.engine.checkpointer import Checkpointer, PeriodicCheckpointer, unwrap_model
from localstyle.engine.defaults import seed_all_rng
from localstyle.engine.hooks import MetricsWriter, plot_training_curves
from localstyle.engine.precise_bn import precise_bn
from localstyle.engine.validation_loss import validation_loss
from localstyle.evaluation import build_evaluator, inference_on_dataset, save_evaluation
from localstyle.solver import build_gradient_clipper, build_lr_scheduler, build_optimizer
from localstyle.utils import comm
from localstyle.utils.errors import LocalstyleError
from localstyle.utils.file_io import safe_path_component

logger = logging.getLogger(__name__)


def iteration_seed(seed, iteration, rank=0):
    """The RNG seed of one iteration on one process (used when SEED >= 0)."""
    return seed + 1_000_003 * iteration + 7919 * rank


class TrainingDivergedError(LocalstyleError, FloatingPointError):
    """A loss or a weight became infinite or NaN; the message names the iteration and the losses."""


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
        self.clip_gradients = build_gradient_clipper(cfg)
        self.amp = bool(cfg.SOLVER.AMP.ENABLED) and self.device.type == "cuda"
        if cfg.SOLVER.AMP.ENABLED and not self.amp:
            logger.warning(f"SOLVER.AMP.ENABLED needs a CUDA device; training in float32 on {self.device}")
        self.scaler = torch.amp.GradScaler("cuda") if self.amp else None
        if comm.get_world_size() > 1:
            # Buffers are synced once at construction, then stay per-process (detectron2's broadcast_buffers=False):
            # use FrozenBN, GN or SyncBN for normalization statistics shared across processes.
            model = DistributedDataParallel(
                model, device_ids=[self.device.index] if self.device.type == "cuda" else None,
                forward_sync_buffers=False,
            )
        self.model = model
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
                                                           trusted=self.cfg.MODEL.WEIGHTS_TRUSTED)
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
        logger.info(f"Starting training from iteration {self.start_iter} to {self.max_iter} "
                    f"({comm.get_world_size()} process(es), {cfg.SOLVER.IMS_PER_BATCH} images per iteration)")
        results = {}
        start = time.perf_counter()
        self.model.train()
        try:
            for self.iter in range(self.start_iter, self.max_iter):
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
                    self._eval_and_log(writer, best)
            done = self.max_iter - self.start_iter
            if done > 0:
                total = time.perf_counter() - start
                logger.info(f"Total training time: {total:.1f} s ({total / done:.4f} s/it over {done} iterations)")
            if cfg.DATASETS.TEST:
                results = self._eval_and_log(writer, best)
        except FloatingPointError as e:
            before, metrics = "", "no iteration finished"
            if writer is not None and self.iter > self.start_iter:
                writer.flush(self.iter - 1)
                losses = ", ".join(f"{k}={v:.4g}" for k, v in writer.latest().items() if "loss" in k)
                before = f"; losses at iteration {self.iter - 1}: {losses}"
                metrics = f"metrics up to iteration {self.iter - 1} are in {writer.json_file}"
            last = self.checkpointer.get_checkpoint_file()
            cause = str(e) if "iteration=" in str(e) else f"Training diverged at iteration={self.iter}: {e}{before}"
            raise TrainingDivergedError(f"{cause}; {metrics}; last good checkpoint: {last or 'none'} (lower "
                                        f"SOLVER.BASE_LR or enable SOLVER.CLIP_GRADIENTS)") from None
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
        """Forward, loss check, backward, (clip), optimizer and scheduler step for one batch; returns the scalars
        to log: losses averaged over processes, ``total_loss``, ``lr`` and ``images`` (global batch size)."""
        with torch.autocast(device_type=self.device.type, enabled=self.amp):
            loss_dict = self.model(batch)
        losses = sum(loss_dict.values())
        names = sorted(loss_dict)
        stats = torch.stack([loss_dict[k].detach().float() for k in names]
                            + [torch.tensor(float(len(batch)), device=losses.device)])
        stats = comm.all_reduce_sum(stats).tolist()
        world = comm.get_world_size()
        metrics = {k: v / world for k, v in zip(names, stats)}
        metrics["total_loss"] = sum(metrics.values())
        if not torch.isfinite(torch.tensor(stats)).all():
            raise FloatingPointError(
                f"Loss became infinite or NaN at iteration={self.iter}! loss_dict = "
                + ", ".join(f"{k}={v:.6g}" for k, v in metrics.items())
            )
        self.optimizer.zero_grad(set_to_none=True)
        if self.scaler is not None:
            self.scaler.scale(losses).backward()
            if self.clip_gradients is not None:
                self.scaler.unscale_(self.optimizer)
                self.clip_gradients(self._params())
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            losses.backward()
            if self.clip_gradients is not None:
                self.clip_gradients(self._params())
            self.optimizer.step()
        metrics["lr"] = self.optimizer.param_groups[0]["lr"]
        self.scheduler.step()
        metrics["images"] = stats[-1]
        return metrics

    def _params(self):
        return [p for group in self.optimizer.param_groups for p in group["params"]]

    def _eval_and_log(self, writer, best=None):
        """TEST.PRECISE_BN, evaluation, TEST.VAL_LOSS; metrics.json gets ``[<dataset>/]{bbox,segm}/<metric>`` and
        ``val_*``; then SOLVER.BEST_CHECKPOINT."""
        if self.cfg.DATASETS.TEST:
            precise_bn(self.cfg, self.model, self.iter + 1)
        results = self.test(self.cfg, self.model, iteration=self.iter)
        flat = {f"{name}/{task}/{k}" if len(results) > 1 else f"{task}/{k}": v for name, res in results.items()
                for task in ("bbox", "segm", "sem_seg") for k, v in res.get(task, {}).items()}
        if self.cfg.TEST.VAL_LOSS and self.cfg.DATASETS.TEST:
            flat.update(validation_loss(self.cfg, self.model))
        if writer is not None and flat:
            writer.write_scalars(self.iter, flat)
        if best is not None:
            best.step(self.iter, flat)
        comm.synchronize()
        return results

    @classmethod
    def test_with_TTA(cls, cfg, model):
        """:meth:`test` with TEST.AUG's test-time augmentation, into ``OUTPUT_DIR/inference_TTA``; returns
        ``{"<dataset>_TTA": results}``."""
        from localstyle.modeling.test_time_augmentation import GeneralizedRCNNWithTTA

        logger.info(f"Evaluating with test-time augmentation: sizes {tuple(cfg.TEST.AUG.MIN_SIZES)}, "
                    f"flip {cfg.TEST.AUG.FLIP}")
        results = cls.test(cfg, GeneralizedRCNNWithTTA(cfg, unwrap_model(model)), output_name="inference_TTA")
        return {f"{name}_TTA": res for name, res in results.items()}

    @staticmethod
    def test(cfg, model, iteration=None, output_name="inference"):
        """Evaluate ``model`` on every DATASETS.TEST entry; on the main process returns ``{dataset: results}``,
        writes ``OUTPUT_DIR/<output_name>[/<dataset>]/{coco_instances_results.json, results.json, pr_curves.npz,
        ap_table.md}`` (results.json has ``sem_seg`` figures for semantic models and, merged per image, for
        instance models) and logs the tables."""
        from localstyle.data.build import build_detection_test_loader

        model = unwrap_model(model)
        all_results = {}
        for name in cfg.DATASETS.TEST:
            output_dir = os.path.join(cfg.OUTPUT_DIR, output_name)
            if len(cfg.DATASETS.TEST) > 1:
                output_dir = os.path.join(output_dir, safe_path_component(name))
            loader = build_detection_test_loader(cfg, name)
            results = inference_on_dataset(model, loader, build_evaluator(cfg, name, output_dir))
            if comm.is_main_process():
                extra = {"dataset": name, "iteration": iteration, "weights": cfg.MODEL.WEIGHTS}
                table = save_evaluation(results, output_dir, extra=extra)
                logger.info(f"Evaluation results for {name} (iteration {iteration}), "
                            f"{results['timing']['inference_ms_per_image']:.1f} ms/image:\n{table}")
                all_results[name] = results
        return all_results
