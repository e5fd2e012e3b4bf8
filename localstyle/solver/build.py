"""Build the SGD optimizer (per-parameter lr / weight decay), the gradient clipper and the LR scheduler from cfg."""
import logging

import torch

from localstyle.config import ConfigError
from localstyle.solver.lr_scheduler import WarmupCosineLR, WarmupMultiStepLR

_NORM_TYPES = (torch.nn.modules.batchnorm._NormBase, torch.nn.GroupNorm, torch.nn.LayerNorm, torch.nn.LocalResponseNorm)


def get_default_optimizer_params(model, base_lr, weight_decay, weight_decay_norm=0.0, bias_lr_factor=1.0,
                                 weight_decay_bias=None):
    """detectron2's parameter groups: norm-layer params use ``weight_decay_norm``; params named ``bias`` use
    ``base_lr * bias_lr_factor`` and ``weight_decay_bias`` (when not None). Frozen and shared params are skipped
    or counted once; groups with equal hyper-parameters are merged."""
    groups, seen = {}, set()
    for module in model.modules():
        for name, param in module.named_parameters(recurse=False):
            if not param.requires_grad or param in seen:
                continue
            seen.add(param)
            lr, wd = base_lr, weight_decay
            if isinstance(module, _NORM_TYPES) and weight_decay_norm is not None:
                wd = weight_decay_norm
            if name == "bias":
                lr = base_lr * bias_lr_factor
                if weight_decay_bias is not None:
                    wd = weight_decay_bias
            groups.setdefault((lr, wd), []).append(param)
    return [{"params": params, "lr": lr, "weight_decay": wd} for (lr, wd), params in groups.items()]


def build_optimizer(cfg, model):
    """SGD with ``SOLVER.BASE_LR``, ``MOMENTUM``, ``NESTEROV`` and the parameter groups above."""
    s = cfg.SOLVER
    params = get_default_optimizer_params(
        model, s.BASE_LR, s.WEIGHT_DECAY, s.WEIGHT_DECAY_NORM, s.BIAS_LR_FACTOR, s.WEIGHT_DECAY_BIAS
    )
    if not params:
        raise ConfigError("the model has no trainable parameters (check MODEL.BACKBONE.FREEZE_AT)")
    return torch.optim.SGD(params, lr=s.BASE_LR, momentum=s.MOMENTUM, nesterov=s.NESTEROV, weight_decay=s.WEIGHT_DECAY)


def build_gradient_clipper(cfg):
    """Return ``clip(params)`` for ``SOLVER.CLIP_GRADIENTS`` or None when disabled.

    detectron2 clips each parameter separately: "value" clamps every gradient element to
    ``[-CLIP_VALUE, CLIP_VALUE]``; "norm" rescales each parameter's gradient whose ``NORM_TYPE``-norm exceeds
    ``CLIP_VALUE`` (as ``clip_grad_norm_`` applied to that parameter alone).
    """
    c = cfg.SOLVER.CLIP_GRADIENTS
    if not c.ENABLED:
        return None
    clip_value, norm_type = float(c.CLIP_VALUE), float(c.NORM_TYPE)
    if c.CLIP_TYPE == "value":
        def clip(params):
            torch.nn.utils.clip_grad_value_(params, clip_value)
    elif c.CLIP_TYPE == "norm":
        def clip(params):
            grads = [p.grad for p in params if p.grad is not None]
            if not grads:
                return
            norms = torch._foreach_norm(grads, norm_type)
            coefs = [torch.clamp(clip_value / (n + 1e-6), max=1.0) for n in norms]
            torch._foreach_mul_(grads, coefs)
    else:
        raise ConfigError(f"SOLVER.CLIP_GRADIENTS.CLIP_TYPE must be 'value' or 'norm', got {c.CLIP_TYPE!r}")
    return clip


def build_lr_scheduler(cfg, optimizer):
    """``SOLVER.LR_SCHEDULER_NAME``: WarmupMultiStepLR (``STEPS``, ``GAMMA``) or WarmupCosineLR (``BASE_LR_END``)."""
    s = cfg.SOLVER
    warmup = dict(warmup_factor=s.WARMUP_FACTOR, warmup_iters=s.WARMUP_ITERS, warmup_method=s.WARMUP_METHOD,
                  rescale_interval=s.RESCALE_INTERVAL)
    if s.LR_SCHEDULER_NAME == "WarmupMultiStepLR":
        steps = [x for x in s.STEPS if x <= s.MAX_ITER]
        if len(steps) != len(s.STEPS):
            logging.getLogger(__name__).warning(f"SOLVER.STEPS larger than MAX_ITER ({s.MAX_ITER}) are ignored")
        return WarmupMultiStepLR(optimizer, steps, s.GAMMA, max_iter=s.MAX_ITER, **warmup)
    if s.LR_SCHEDULER_NAME == "WarmupCosineLR":
        return WarmupCosineLR(optimizer, s.MAX_ITER, end_factor=s.BASE_LR_END / s.BASE_LR, **warmup)
    raise ConfigError(
        f"SOLVER.LR_SCHEDULER_NAME {s.LR_SCHEDULER_NAME!r} is not supported (WarmupMultiStepLR, WarmupCosineLR)"
    )
