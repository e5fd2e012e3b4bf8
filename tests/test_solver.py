"""Solver: detectron2's LR schedules, parameter groups and gradient clipping."""
import math

import pytest
import torch

from localstyle.config import ConfigError, get_cfg
from localstyle.solver import build_gradient_clipper, build_lr_scheduler, build_optimizer


def _cfg(**solver):
    cfg = get_cfg()
    for k, v in solver.items():
        setattr(cfg.SOLVER, k, v)
    return cfg


def _lrs(cfg, n):
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=cfg.SOLVER.BASE_LR)
    sched = build_lr_scheduler(cfg, opt)
    out = []
    for _ in range(n):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out


def test_warmup_multistep_matches_detectron2_formula():
    base, wf, wi = 0.02, 0.001, 10
    cfg = _cfg(BASE_LR=base, WARMUP_FACTOR=wf, WARMUP_ITERS=wi, STEPS=(20, 30), GAMMA=0.1, MAX_ITER=40)
    lrs = _lrs(cfg, 40)
    for it, lr in enumerate(lrs):
        alpha = it / wi
        warm = wf * (1 - alpha) + alpha if it < wi else 1.0
        expected = base * warm * 0.1 ** sum(it >= s for s in (20, 30))
        assert lr == pytest.approx(expected, rel=1e-9), it
    assert lrs[0] == pytest.approx(base * wf)
    assert lrs[29] == pytest.approx(base * 0.1) and lrs[30] == pytest.approx(base * 0.01)


def test_constant_warmup_and_steps_beyond_max_iter_ignored():
    cfg = _cfg(BASE_LR=0.1, WARMUP_FACTOR=0.5, WARMUP_ITERS=3, WARMUP_METHOD="constant", STEPS=(5, 100),
               MAX_ITER=10)
    assert _lrs(cfg, 10) == pytest.approx([0.05] * 3 + [0.1] * 2 + [0.01] * 5)


def test_cosine_schedule_and_base_lr_end():
    cfg = _cfg(LR_SCHEDULER_NAME="WarmupCosineLR", BASE_LR=1.0, BASE_LR_END=0.1, WARMUP_ITERS=0, MAX_ITER=100)
    lrs = _lrs(cfg, 100)
    assert lrs[0] == pytest.approx(1.0)
    assert lrs[50] == pytest.approx(0.1 + 0.9 * 0.5)
    assert all(a >= b for a, b in zip(lrs, lrs[1:]))
    expected = [0.1 + 0.45 * (1 + math.cos(math.pi * i / 100)) for i in range(100)]
    assert lrs == pytest.approx(expected)


def test_scheduler_state_dict_resumes_identically():
    cfg = _cfg(BASE_LR=0.02, WARMUP_ITERS=5, STEPS=(8,), MAX_ITER=12)
    full = _lrs(cfg, 12)
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.02)
    sched = build_lr_scheduler(cfg, opt)
    for _ in range(6):
        opt.step()
        sched.step()
    state = sched.state_dict()
    opt2 = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.02)
    sched2 = build_lr_scheduler(cfg, opt2)
    sched2.load_state_dict(state)
    resumed = []
    for _ in range(6):
        resumed.append(sched2.get_last_lr()[0])
        opt2.step()
        sched2.step()
    assert resumed == pytest.approx(full[6:])


def test_bad_scheduler_config_is_a_config_error():
    with pytest.raises(ConfigError, match="LR_SCHEDULER_NAME"):
        _lrs(_cfg(LR_SCHEDULER_NAME="Nope"), 1)
    with pytest.raises(ConfigError, match="WARMUP_METHOD"):
        _lrs(_cfg(WARMUP_METHOD="cubic"), 1)


class _Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3)
        self.bn = torch.nn.BatchNorm2d(4)
        self.gn = torch.nn.GroupNorm(2, 4)
        self.fc = torch.nn.Linear(4, 2)
        self.frozen = torch.nn.Linear(2, 2)
        self.frozen.requires_grad_(False)


def _group_of(opt, param):
    return next(g for g in opt.param_groups if any(p is param for p in g["params"]))


def test_parameter_groups_follow_detectron2_rules():
    cfg = _cfg(BASE_LR=0.1, WEIGHT_DECAY=1e-4, WEIGHT_DECAY_NORM=0.0, BIAS_LR_FACTOR=2.0, WEIGHT_DECAY_BIAS=0.5,
               MOMENTUM=0.8, NESTEROV=True)
    net = _Net()
    opt = build_optimizer(cfg, net)
    assert isinstance(opt, torch.optim.SGD) and opt.defaults["momentum"] == 0.8 and opt.defaults["nesterov"]
    grouped = [p for g in opt.param_groups for p in g["params"]]
    assert len(grouped) == 8 and not any(p is net.frozen.weight for p in grouped)
    assert (_group_of(opt, net.conv.weight)["lr"], _group_of(opt, net.conv.weight)["weight_decay"]) == (0.1, 1e-4)
    assert (_group_of(opt, net.conv.bias)["lr"], _group_of(opt, net.conv.bias)["weight_decay"]) == (0.2, 0.5)
    assert (_group_of(opt, net.bn.weight)["lr"], _group_of(opt, net.bn.weight)["weight_decay"]) == (0.1, 0.0)
    assert _group_of(opt, net.gn.weight)["weight_decay"] == 0.0
    # a norm layer's bias takes the bias rules, applied after the norm rule (as detectron2)
    assert (_group_of(opt, net.bn.bias)["lr"], _group_of(opt, net.bn.bias)["weight_decay"]) == (0.2, 0.5)
    # WEIGHT_DECAY_BIAS None keeps WEIGHT_DECAY for biases
    opt = build_optimizer(_cfg(WEIGHT_DECAY=3e-4, WEIGHT_DECAY_BIAS=None), net)
    assert _group_of(opt, net.fc.bias)["weight_decay"] == 3e-4


def _params_with_grads():
    torch.manual_seed(0)
    params = [torch.nn.Parameter(torch.zeros(s)) for s in [(3, 4), (5,), (2, 2, 2)]]
    for p, scale in zip(params, [10.0, 0.01, 3.0]):
        p.grad = torch.randn_like(p) * scale
    return params


def test_norm_clipping_is_per_parameter():
    cfg = _cfg()
    cfg.SOLVER.CLIP_GRADIENTS.update(ENABLED=True, CLIP_TYPE="norm", CLIP_VALUE=1.0, NORM_TYPE=2.0)
    params, reference = _params_with_grads(), _params_with_grads()
    build_gradient_clipper(cfg)(params)
    for p, r in zip(params, reference):
        torch.nn.utils.clip_grad_norm_([r], 1.0, 2.0)
        torch.testing.assert_close(p.grad, r.grad)
    norms = [p.grad.norm().item() for p in params]
    assert norms[0] == pytest.approx(1.0, abs=1e-5) and norms[1] < 1.0  # small gradients untouched


def test_value_clipping_and_disabled():
    cfg = _cfg()
    assert build_gradient_clipper(cfg) is None
    cfg.SOLVER.CLIP_GRADIENTS.update(ENABLED=True, CLIP_TYPE="value", CLIP_VALUE=0.5)
    params = _params_with_grads()
    build_gradient_clipper(cfg)(params)
    assert max(p.grad.abs().max().item() for p in params) == pytest.approx(0.5)
    cfg.SOLVER.CLIP_GRADIENTS.CLIP_TYPE = "full"
    with pytest.raises(ConfigError, match="CLIP_TYPE"):
        build_gradient_clipper(cfg)


def test_auto_scale_workers_is_detectron2_linear_scaling():
    from localstyle.engine.defaults import auto_scale_workers

    cfg = _cfg(IMS_PER_BATCH=16, BASE_LR=0.02, MAX_ITER=90000, WARMUP_ITERS=1000, STEPS=(60000, 80000),
               CHECKPOINT_PERIOD=5000, REFERENCE_WORLD_SIZE=8)
    cfg.TEST.EVAL_PERIOD = 10000
    assert auto_scale_workers(cfg, 8) is cfg
    scaled = auto_scale_workers(cfg, 4)
    s = scaled.SOLVER
    assert (s.IMS_PER_BATCH, s.MAX_ITER, s.WARMUP_ITERS, s.STEPS, s.CHECKPOINT_PERIOD) == (8, 180000, 2000,
                                                                                           (120000, 160000), 10000)
    assert s.BASE_LR == pytest.approx(0.01) and scaled.TEST.EVAL_PERIOD == 20000 and s.REFERENCE_WORLD_SIZE == 4
    assert cfg.SOLVER.IMS_PER_BATCH == 16  # the input config is left alone
    cfg.SOLVER.REFERENCE_WORLD_SIZE = 0
    assert auto_scale_workers(cfg, 4) is cfg
