"""Inference-only rewrites that keep a model's outputs within float rounding: FrozenBN folded into convs."""
import torch
from torch import nn

from localstyle.modeling.layers import Conv2d, FrozenBatchNorm2d


@torch.no_grad()
def fold_frozen_batchnorm(module):
    """Fold every ``Conv2d(norm=FrozenBatchNorm2d)`` into the conv's weight and bias (in place); returns the count.

    ``y = conv(x) * s + (b - mean * s)`` with ``s = weight / sqrt(var + eps)`` becomes one conv with weight
    ``W * s`` and bias ``bias * s + b - mean * s``. Only for inference: the folded model no longer trains like
    the original.
    """
    count = 0
    for m in module.modules():
        if isinstance(m, Conv2d) and isinstance(m.norm, FrozenBatchNorm2d):
            bn = m.norm
            scale = bn.weight * (bn.running_var + bn.eps).rsqrt()
            shift = bn.bias - bn.running_mean * scale
            m.weight.copy_(m.weight * scale.reshape(-1, 1, 1, 1))
            bias = shift if m.bias is None else m.bias * scale + shift
            m.bias = nn.Parameter(bias.to(m.weight.dtype), requires_grad=False)
            m.norm = None
            count += 1
    return count
