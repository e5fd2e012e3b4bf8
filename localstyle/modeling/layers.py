"""Layers with detectron2's semantics and parameter names: FrozenBatchNorm2d, Conv2d (+norm, +activation), inits."""
import warnings

import torch
from torch import nn
from torch.nn import functional as F

from localstyle.utils.errors import LocalstyleError

with warnings.catch_warnings():  # fvcore.nn's __init__ jit-scripts its focal losses: torch's FutureWarning
    warnings.simplefilter("ignore", FutureWarning)
    from fvcore.nn import smooth_l1_loss  # noqa: F401  (detectron2's box-regression loss, used by rpn/roi_heads)


class FrozenBatchNorm2d(nn.Module):
    """BatchNorm with fixed statistics and affine parameters (detectron2.layers.FrozenBatchNorm2d, eps 1e-5).

    ``running_var`` starts at ``1 - eps`` so that a checkpoint with only ``weight``/``bias`` (Caffe2 affine BN)
    gives ``y = x * weight + bias`` exactly, as in detectron2.
    """

    def __init__(self, num_features, eps=1e-5):
        super().__init__()
        self.num_features = num_features
        self.eps = eps
        self.register_buffer("weight", torch.ones(num_features))
        self.register_buffer("bias", torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features) - eps)

    def forward(self, x):
        if x.requires_grad:
            scale = self.weight * (self.running_var + self.eps).rsqrt()
            bias = self.bias - self.running_mean * scale
            return x * scale.reshape(1, -1, 1, 1).to(x.dtype) + bias.reshape(1, -1, 1, 1).to(x.dtype)
        return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0, self.eps)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        state_dict.pop(prefix + "num_batches_tracked", None)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def extra_repr(self):
        return f"num_features={self.num_features}, eps={self.eps}"

    @classmethod
    def convert_frozen_batchnorm(cls, module):
        """Return ``module`` with every BatchNorm2d/SyncBatchNorm replaced by a FrozenBatchNorm2d (in place)."""
        if isinstance(module, (nn.BatchNorm2d, nn.SyncBatchNorm)):
            frozen = cls(module.num_features, module.eps)
            if module.affine:
                frozen.weight.data.copy_(module.weight.detach())
                frozen.bias.data.copy_(module.bias.detach())
            frozen.running_mean.data.copy_(module.running_mean)
            frozen.running_var.data.copy_(module.running_var)
            return frozen
        for name, child in module.named_children():
            new_child = cls.convert_frozen_batchnorm(child)
            if new_child is not child:
                module.add_module(name, new_child)
        return module


def get_norm(norm, out_channels):
    """Norm layer by detectron2's name: "" (none), "BN", "SyncBN", "FrozenBN", "GN"."""
    if not norm:
        return None
    if norm == "BN":
        return nn.BatchNorm2d(out_channels)
    if norm == "SyncBN":
        return nn.SyncBatchNorm(out_channels)
    if norm == "FrozenBN":
        return FrozenBatchNorm2d(out_channels)
    if norm == "GN":
        return nn.GroupNorm(32, out_channels)
    raise LocalstyleError(f"unsupported norm {norm!r} (use '', 'BN', 'SyncBN', 'FrozenBN' or 'GN')")


class Conv2d(nn.Conv2d):
    """``nn.Conv2d`` followed by optional ``norm`` and ``activation`` submodules (detectron2.layers.Conv2d)."""

    def __init__(self, *args, norm=None, activation=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.norm = norm
        self.activation = activation

    def forward(self, x):
        x = F.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)
        if self.norm is not None:
            x = self.norm(x)
        if self.activation is not None:
            x = self.activation(x)
        return x


def c2_msra_fill(module):
    """Kaiming normal (fan_out, relu) weight and zero bias, as Caffe2's MSRAFill."""
    nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
    if module.bias is not None:
        nn.init.constant_(module.bias, 0)


def c2_xavier_fill(module):
    """Kaiming uniform (a=1) weight and zero bias, as Caffe2's XavierFill."""
    nn.init.kaiming_uniform_(module.weight, a=1)
    if module.bias is not None:
        nn.init.constant_(module.bias, 0)


def freeze_module(module):
    """Stop training ``module``: parameters get ``requires_grad=False`` and BatchNorms become frozen."""
    for p in module.parameters():
        p.requires_grad_(False)
    return FrozenBatchNorm2d.convert_frozen_batchnorm(module)


@torch.no_grad()
def calibrate_frozen_batchnorm(module, run):
    """Set every FrozenBatchNorm2d's running_mean/var to the statistics of its input during ``run()``.

    For training from random weights: with identity FrozenBNs deep ResNet activations blow up and training
    diverges (detectron2 behaves the same). One calibration pass gives O(1) activations, like pretrained weights.
    Layers are calibrated in execution order, each seeing already-calibrated inputs.
    """

    def hook(layer, args):
        x = args[0].float()
        layer.running_mean.copy_(x.mean(dim=(0, 2, 3)))
        layer.running_var.copy_(x.var(dim=(0, 2, 3), unbiased=False))

    handles = [m.register_forward_pre_hook(hook) for m in module.modules() if isinstance(m, FrozenBatchNorm2d)]
    try:
        run()
    finally:
        for h in handles:
            h.remove()
