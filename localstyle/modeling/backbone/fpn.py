"""Feature Pyramid Network over a ResNet (detectron2's names: fpn_lateral{2..5}, fpn_output{2..5}, bottom_up)."""
import math

from torch import nn
from torch.nn import functional as F

from localstyle.modeling.backbone.build import BACKBONE_REGISTRY
from localstyle.modeling.backbone.resnet import build_resnet_backbone
from localstyle.modeling.layers import Conv2d, c2_xavier_fill, get_norm
from localstyle.utils.errors import LocalstyleError


class LastLevelMaxPool(nn.Module):
    """P6 = max-pool(P5, kernel 1, stride 2), as detectron2's default FPN top block."""

    num_levels = 1
    in_feature = "p5"

    def forward(self, x):
        return [F.max_pool2d(x, kernel_size=1, stride=2, padding=0)]


class FPN(nn.Module):
    """Top-down pathway with lateral 1x1 and output 3x3 convs; outputs ``p2..p6`` (``size_divisibility`` 32)."""

    def __init__(self, bottom_up, in_features, out_channels, norm="", top_block=None, fuse_type="sum"):
        super().__init__()
        if fuse_type not in ("sum", "avg"):
            raise LocalstyleError(f"MODEL.FPN.FUSE_TYPE must be 'sum' or 'avg', got {fuse_type!r}")
        shapes = bottom_up.output_shape()
        for f in in_features:
            if f not in shapes:
                raise LocalstyleError(f"MODEL.FPN.IN_FEATURES: {f!r} is not a backbone output ({sorted(shapes)})")
        strides = [shapes[f][1] for f in in_features]
        for a, b in zip(strides, strides[1:]):
            if b != 2 * a:
                raise LocalstyleError(f"MODEL.FPN.IN_FEATURES strides must double level to level, got {strides}")
        use_bias = norm == ""
        lateral_convs, output_convs = [], []
        for idx, f in enumerate(in_features):
            lateral = Conv2d(shapes[f][0], out_channels, kernel_size=1, bias=use_bias,
                             norm=get_norm(norm, out_channels))
            output = Conv2d(out_channels, out_channels, kernel_size=3, stride=1, padding=1, bias=use_bias,
                            norm=get_norm(norm, out_channels))
            c2_xavier_fill(lateral)
            c2_xavier_fill(output)
            stage = int(math.log2(strides[idx]))
            self.add_module(f"fpn_lateral{stage}", lateral)
            self.add_module(f"fpn_output{stage}", output)
            lateral_convs.append(lateral)
            output_convs.append(output)
        # plain lists (not ModuleList) so the state_dict keys are detectron2's
        self.lateral_convs = lateral_convs[::-1]
        self.output_convs = output_convs[::-1]
        self.top_block = top_block
        self.in_features = tuple(in_features)
        self.bottom_up = bottom_up
        self._out_feature_strides = {f"p{int(math.log2(s))}": s for s in strides}
        if top_block is not None:
            last = int(math.log2(strides[-1]))
            for s in range(last, last + top_block.num_levels):
                self._out_feature_strides[f"p{s + 1}"] = 2 ** (s + 1)
        self._out_features = list(self._out_feature_strides)
        self.out_channels = out_channels
        self._fuse_type = fuse_type
        self.size_divisibility = strides[-1]

    def output_shape(self):
        """``{name: (channels, stride)}`` of p2..p6."""
        return {f: (self.out_channels, s) for f, s in self._out_feature_strides.items()}

    def forward(self, x):
        bottom_up = self.bottom_up(x)
        prev = self.lateral_convs[0](bottom_up[self.in_features[-1]])
        results = [self.output_convs[0](prev)]
        for idx in range(1, len(self.lateral_convs)):
            features = bottom_up[self.in_features[-idx - 1]]
            top_down = F.interpolate(prev, scale_factor=2.0, mode="nearest")
            prev = self.lateral_convs[idx](features) + top_down
            if self._fuse_type == "avg":
                prev = prev / 2
            results.insert(0, self.output_convs[idx](prev))
        if self.top_block is not None:
            src = bottom_up.get(self.top_block.in_feature)
            if src is None:
                src = results[self._out_features.index(self.top_block.in_feature)]
            results.extend(self.top_block(src))
        return dict(zip(self._out_features, results))


@BACKBONE_REGISTRY.register()
def build_resnet_fpn_backbone(cfg):
    """detectron2's ``build_resnet_fpn_backbone``: ResNet + FPN (MODEL.FPN.*) + P6 max-pool."""
    bottom_up = build_resnet_backbone(cfg)
    return FPN(bottom_up, cfg.MODEL.FPN.IN_FEATURES, cfg.MODEL.FPN.OUT_CHANNELS, norm=cfg.MODEL.FPN.NORM,
               top_block=LastLevelMaxPool(), fuse_type=cfg.MODEL.FPN.FUSE_TYPE)
