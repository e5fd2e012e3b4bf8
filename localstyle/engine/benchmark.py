"""Speed of the three parts of a run (detectron2's tools/benchmark.py): the training step, inference, the data loader.

Each measurement runs ``warmup`` untimed steps, then ``iters`` timed ones, logging progress with an ETA.
"""
import datetime
import itertools
import logging
import time
from dataclasses import dataclass

import torch

logger = logging.getLogger(__name__)


@dataclass
class BenchmarkResult:
    """``iters`` steps of ``images`` images in total took ``seconds``."""

    task: str
    iters: int
    images: int
    seconds: float

    def summary(self):
        """One line: steps/s, s/step and images/s (ms/image for eval)."""
        per_image = f"{self.seconds / self.images * 1000:.1f} ms/image" if self.task == "eval" else \
            f"{self.images / self.seconds:.2f} images/s"
        return (f"{self.task}: {self.iters / self.seconds:.3f} iterations/s ({self.seconds / self.iters:.4f} s/iter), "
                f"{per_image}, {self.iters} timed iterations")


def _synchronize():
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def timed_loop(task, step, items, warmup, iters, log_period_s=5.0):
    """Call ``step(item)`` (returning the number of images it handled) on ``warmup + iters`` items of the
    iterable ``items`` (cycled); time the last ``iters``."""
    items = itertools.cycle(items) if isinstance(items, (list, tuple)) else iter(items)
    for _ in range(warmup):
        step(next(items))
    _synchronize()
    images, start = 0, time.perf_counter()
    last_log = start
    for k in range(iters):
        images += step(next(items))
        now = time.perf_counter()
        if now - last_log > log_period_s:
            _synchronize()
            eta = (now - start) / (k + 1) * (iters - k - 1)
            logger.info(f"{task}: {k + 1}/{iters} iterations, {(k + 1) / (now - start):.3f} it/s, "
                        f"ETA={datetime.timedelta(seconds=int(eta))}")
            last_log = now
    _synchronize()
    result = BenchmarkResult(task, iters, images, time.perf_counter() - start)
    logger.info(result.summary())
    return result


def benchmark_train(cfg, warmup, iters, num_batches=10):
    """Training steps (forward, backward, optimizer and LR steps) of the Trainer on ``num_batches`` batches of
    DATASETS.TRAIN loaded beforehand, so that data loading is not measured."""
    from localstyle.data.build import build_detection_train_loader
    from localstyle.engine.trainer import Trainer

    trainer = Trainer(cfg)
    trainer.resume_or_load(resume=False)
    batches = list(itertools.islice(build_detection_train_loader(cfg), num_batches))
    trainer.model.train()

    def step(batch):
        trainer.run_step(batch)
        return len(batch)

    return timed_loop("train", step, batches, warmup, iters)


def benchmark_eval(cfg, warmup, iters, num_inputs=10):
    """Inference (model forward with postprocessing, no evaluation) over the first ``num_inputs`` images of
    DATASETS.TEST[0], loaded beforehand; MODEL.WEIGHTS loaded when set."""
    from localstyle.data import register_datasets_from_cfg
    from localstyle.data.build import build_detection_test_loader
    from localstyle.engine.checkpointer import Checkpointer
    from localstyle.modeling import build_model
    from localstyle.utils.errors import LocalstyleError

    if not cfg.DATASETS.TEST:
        raise LocalstyleError("--task eval needs DATASETS.TEST")
    register_datasets_from_cfg(cfg)
    model = build_model(cfg)
    Checkpointer(model, cfg.OUTPUT_DIR, save_to_disk=False).resume_or_load(cfg.MODEL.WEIGHTS, resume=False,
                                                                          allow_missing=True)  # speed only
    model.eval()
    inputs = list(itertools.islice(build_detection_test_loader(cfg, cfg.DATASETS.TEST[0]), num_inputs))

    def step(batch):
        with torch.no_grad():
            model(batch)
        return len(batch)

    return timed_loop("eval", step, inputs, warmup, iters)


def benchmark_data(cfg, warmup, iters):
    """Batches per second of the training data loader of DATASETS.TRAIN (DATALOADER.NUM_WORKERS workers)."""
    from localstyle.data import register_datasets_from_cfg
    from localstyle.data.build import build_detection_train_loader

    register_datasets_from_cfg(cfg)
    logger.info(f"data: {cfg.DATASETS.TRAIN}, {cfg.SOLVER.IMS_PER_BATCH} images per batch, "
                f"{cfg.DATALOADER.NUM_WORKERS} workers")
    return timed_loop("data", len, build_detection_train_loader(cfg), warmup, iters)
