"""Optimizer, gradient clipping and learning-rate schedules with detectron2's ``SOLVER.*`` semantics."""
from localstyle.solver.build import (
    build_gradient_clipper,
    build_lr_scheduler,
    build_optimizer,
    get_default_optimizer_params,
)
from localstyle.solver.lr_scheduler import WarmupCosineLR, WarmupMultiStepLR

__all__ = [
    "build_gradient_clipper",
    "build_lr_scheduler",
    "build_optimizer",
    "get_default_optimizer_params",
    "WarmupCosineLR",
    "WarmupMultiStepLR",
]
