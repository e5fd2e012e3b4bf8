"""Warmup + multi-step / cosine learning-rate schedules, stepped once per iteration (detectron2 semantics).

The learning rate at iteration ``it`` is ``BASE_LR * m(it)``. After warmup ``m`` is the main schedule; during
the first ``WARMUP_ITERS`` iterations it goes linearly from ``WARMUP_FACTOR * main(0)`` to ``main(WARMUP_ITERS)``
("linear") or stays at ``WARMUP_FACTOR * main(0)`` ("constant"), as detectron2's ``WarmupParamScheduler``.
"""
import bisect
import math

import torch

from localstyle.config import ConfigError


class _WarmupLR(torch.optim.lr_scheduler.LRScheduler):
    def __init__(self, optimizer, max_iter, warmup_factor=0.001, warmup_iters=1000, warmup_method="linear",
                 rescale_interval=False, last_epoch=-1):
        if warmup_method not in ("linear", "constant"):
            raise ConfigError(f"SOLVER.WARMUP_METHOD must be 'linear' or 'constant', got {warmup_method!r}")
        if max_iter <= 0:
            raise ConfigError(f"SOLVER.MAX_ITER must be positive, got {max_iter}")
        self.max_iter = int(max_iter)
        self.warmup_factor = float(warmup_factor)
        self.warmup_iters = int(warmup_iters)
        self.warmup_method = warmup_method
        self.rescale_interval = bool(rescale_interval)
        super().__init__(optimizer, last_epoch)

    def _main(self, iteration):
        """Main-schedule multiplier at ``iteration`` (a float when RESCALE_INTERVAL stretches the schedule)."""
        raise NotImplementedError

    def multiplier(self, iteration):
        """The factor applied to each group's base learning rate at ``iteration``."""
        warmup_iters = min(self.warmup_iters, self.max_iter)
        if iteration < warmup_iters:
            start = self.warmup_factor * self._main(0)
            if self.warmup_method == "constant":
                return start
            alpha = iteration / warmup_iters
            return self._main(warmup_iters) * alpha + start * (1 - alpha)
        if self.rescale_interval and warmup_iters < self.max_iter:
            iteration = (iteration - warmup_iters) / (self.max_iter - warmup_iters) * self.max_iter
        return self._main(iteration)

    def get_lr(self):
        factor = self.multiplier(self.last_epoch)
        return [base_lr * factor for base_lr in self.base_lrs]


class WarmupMultiStepLR(_WarmupLR):
    """Multiply the learning rate by ``gamma`` at each iteration in ``milestones``."""

    def __init__(self, optimizer, milestones, gamma=0.1, max_iter=90000, **warmup):
        if list(milestones) != sorted(milestones):
            raise ConfigError(f"SOLVER.STEPS must be increasing, got {list(milestones)}")
        self.milestones = [int(m) for m in milestones]
        self.gamma = float(gamma)
        super().__init__(optimizer, max_iter, **warmup)

    def _main(self, iteration):
        return self.gamma ** bisect.bisect_right(self.milestones, iteration)


class WarmupCosineLR(_WarmupLR):
    """Half-cosine from 1 to ``end_factor`` (``BASE_LR_END / BASE_LR``) over ``max_iter`` iterations."""

    def __init__(self, optimizer, max_iter, end_factor=0.0, **warmup):
        self.end_factor = float(end_factor)
        super().__init__(optimizer, max_iter, **warmup)

    def _main(self, iteration):
        where = iteration / self.max_iter
        return self.end_factor + 0.5 * (1.0 - self.end_factor) * (1.0 + math.cos(math.pi * where))
