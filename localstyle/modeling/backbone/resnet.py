"""ResNet bottom-up backbone with detectron2's structure and names (stem.conv1, res2..res5, conv1..3, shortcut)."""
from torch import nn
from torch.nn import functional as F

from localstyle.modeling.backbone.build import BACKBONE_REGISTRY
from localstyle.modeling.layers import Conv2d, c2_msra_fill, freeze_module, get_norm
from localstyle.utils.errors import LocalstyleError

NUM_BLOCKS = {18: [2, 2, 2, 2], 34: [3, 4, 6, 3], 50: [3, 4, 6, 3], 101: [3, 4, 23, 3], 152: [3, 8, 36, 3]}


class BasicStem(nn.Module):
    """7x7 stride-2 conv + norm + ReLU, then 3x3 stride-2 max-pool (total stride 4)."""

    def __init__(self, in_channels=3, out_channels=64, norm="BN"):
        super().__init__()
        self.out_channels = out_channels
        self.stride = 4
        self.conv1 = Conv2d(in_channels, out_channels, kernel_size=7, stride=2, padding=3, bias=False,
                            norm=get_norm(norm, out_channels))
        c2_msra_fill(self.conv1)

    def forward(self, x):
        x = F.relu_(self.conv1(x))
        return F.max_pool2d(x, kernel_size=3, stride=2, padding=1)


def _projection_shortcut(in_channels, out_channels, stride, norm):
    """detectron2's block shortcut: a strided 1x1 conv + norm, only when the channel count changes (else None)."""
    if in_channels == out_channels:
        return None
    return Conv2d(in_channels, out_channels, kernel_size=1, stride=stride, bias=False,
                  norm=get_norm(norm, out_channels))


class BasicBlock(nn.Module):
    """Two 3x3 convs (ResNet-18/34)."""

    def __init__(self, in_channels, out_channels, *, stride=1, norm="BN"):
        super().__init__()
        self.stride, self.out_channels = stride, out_channels
        self.shortcut = _projection_shortcut(in_channels, out_channels, stride, norm)
        self.conv1 = Conv2d(in_channels, out_channels, kernel_size=3, stride=stride, padding=1, bias=False,
                            norm=get_norm(norm, out_channels))
        self.conv2 = Conv2d(out_channels, out_channels, kernel_size=3, stride=1, padding=1, bias=False,
                            norm=get_norm(norm, out_channels))
        for layer in (self.shortcut, self.conv1, self.conv2):
            if layer is not None:
                c2_msra_fill(layer)

    def forward(self, x):
        out = F.relu_(self.conv1(x))
        out = self.conv2(out)
        shortcut = self.shortcut(x) if self.shortcut is not None else x
        return F.relu_(out + shortcut)


class BottleneckBlock(nn.Module):
    """1x1 -> 3x3 -> 1x1 bottleneck; ``stride_in_1x1`` puts the stride on conv1 (MSRA/Caffe2) instead of conv2."""

    def __init__(self, in_channels, out_channels, *, bottleneck_channels, stride=1, num_groups=1, norm="BN",
                 stride_in_1x1=False, dilation=1):
        super().__init__()
        self.stride, self.out_channels = stride, out_channels
        self.shortcut = _projection_shortcut(in_channels, out_channels, stride, norm)
        stride_1x1, stride_3x3 = (stride, 1) if stride_in_1x1 else (1, stride)
        self.conv1 = Conv2d(in_channels, bottleneck_channels, kernel_size=1, stride=stride_1x1, bias=False,
                            norm=get_norm(norm, bottleneck_channels))
        self.conv2 = Conv2d(bottleneck_channels, bottleneck_channels, kernel_size=3, stride=stride_3x3,
                            padding=dilation, bias=False, groups=num_groups, dilation=dilation,
                            norm=get_norm(norm, bottleneck_channels))
        self.conv3 = Conv2d(bottleneck_channels, out_channels, kernel_size=1, bias=False,
                            norm=get_norm(norm, out_channels))
        for layer in (self.shortcut, self.conv1, self.conv2, self.conv3):
            if layer is not None:
                c2_msra_fill(layer)

    def forward(self, x):
        out = F.relu_(self.conv1(x))
        out = F.relu_(self.conv2(out))
        out = self.conv3(out)
        shortcut = self.shortcut(x) if self.shortcut is not None else x
        return F.relu_(out + shortcut)


class ResNet(nn.Module):
    """Stem + stages ``res2``..``res5`` (only up to the last requested feature); returns a dict of features."""

    def __init__(self, stem, stages, out_features, freeze_at=0, stride_in_1x1=True):
        """``stride_in_1x1`` records the bottleneck layout (checked when loading torchvision weights)."""
        super().__init__()
        self.stem = stem
        self.stride_in_1x1 = stride_in_1x1
        self._out_feature_strides = {"stem": stem.stride}
        self._out_feature_channels = {"stem": stem.out_channels}
        self.stage_names = []
        stride = stem.stride
        for i, blocks in enumerate(stages):
            name = f"res{i + 2}"
            for block in blocks:
                stride *= block.stride
            self.add_module(name, nn.Sequential(*blocks))
            self.stage_names.append(name)
            self._out_feature_strides[name] = stride
            self._out_feature_channels[name] = blocks[-1].out_channels
        self._out_features = list(out_features)
        self.freeze(freeze_at)

    def freeze(self, freeze_at):
        """Freeze the stem (freeze_at >= 1) and stages res2..res{freeze_at} (detectron2 semantics)."""
        if freeze_at >= 1:
            freeze_module(self.stem)
        for idx, name in enumerate(self.stage_names, start=2):
            if freeze_at >= idx:
                freeze_module(getattr(self, name))
        return self

    def output_shape(self):
        """``{name: (channels, stride)}`` of the returned features."""
        return {f: (self._out_feature_channels[f], self._out_feature_strides[f]) for f in self._out_features}

    def forward(self, x):
        outputs = {}
        x = self.stem(x)
        if "stem" in self._out_features:
            outputs["stem"] = x
        for name in self.stage_names:
            x = getattr(self, name)(x)
            if name in self._out_features:
                outputs[name] = x
        return outputs


@BACKBONE_REGISTRY.register()
def build_resnet_backbone(cfg, stage_dilations=None):
    """ResNet from ``cfg.MODEL.RESNETS`` (DEPTH 18/34/50/101/152, groups, widths, stride_in_1x1, dilation, norm).

    ``stage_dilations`` maps a stage index (4, 5) to ``(first_block_dilation, dilation)``; a dilated stage keeps
    stride 1. Default: detectron2's ``{5: (RES5_DILATION, RES5_DILATION)}``.
    """
    r = cfg.MODEL.RESNETS
    depth = r.DEPTH
    if depth not in NUM_BLOCKS:
        raise LocalstyleError(f"MODEL.RESNETS.DEPTH {depth} is not supported (use 18, 34, 50, 101 or 152)")
    if any(r.DEFORM_ON_PER_STAGE):
        raise LocalstyleError("MODEL.RESNETS.DEFORM_ON_PER_STAGE: deformable convolutions are not supported")
    if stage_dilations is None:
        if r.RES5_DILATION not in (1, 2):
            raise LocalstyleError(f"MODEL.RESNETS.RES5_DILATION must be 1 or 2, got {r.RES5_DILATION}")
        stage_dilations = {5: (r.RES5_DILATION, r.RES5_DILATION)}
    out_features = list(r.OUT_FEATURES)
    norm = r.NORM
    stem = BasicStem(3, r.STEM_OUT_CHANNELS, norm)
    in_channels, out_channels = r.STEM_OUT_CHANNELS, r.RES2_OUT_CHANNELS
    bottleneck_channels = r.NUM_GROUPS * r.WIDTH_PER_GROUP
    dilated = any(d != 1 for pair in stage_dilations.values() for d in pair)
    if depth in (18, 34) and (out_channels != 64 or dilated or r.NUM_GROUPS != 1):
        raise LocalstyleError("ResNet-18/34 need RES2_OUT_CHANNELS 64, no dilation and NUM_GROUPS 1")
    max_stage = max(int(f[3:]) for f in out_features if f.startswith("res")) if out_features else 5
    stages = []
    for idx, stage_idx in enumerate(range(2, max_stage + 1)):
        first_dilation, dilation = stage_dilations.get(stage_idx, (1, 1))
        first_stride = 1 if idx == 0 or dilation > 1 else 2
        blocks = []
        for b in range(NUM_BLOCKS[depth][idx]):
            stride = first_stride if b == 0 else 1
            if depth in (18, 34):
                blocks.append(BasicBlock(in_channels, out_channels, stride=stride, norm=norm))
            else:
                blocks.append(BottleneckBlock(in_channels, out_channels, bottleneck_channels=bottleneck_channels,
                                              stride=stride, num_groups=r.NUM_GROUPS, norm=norm,
                                              stride_in_1x1=r.STRIDE_IN_1X1,
                                              dilation=first_dilation if b == 0 else dilation))
            in_channels = out_channels
        stages.append(blocks)
        out_channels *= 2
        bottleneck_channels *= 2
    return ResNet(stem, stages, out_features, freeze_at=cfg.MODEL.BACKBONE.FREEZE_AT,
                  stride_in_1x1=r.STRIDE_IN_1X1 and depth >= 50)


@BACKBONE_REGISTRY.register()
def build_resnet_deeplab_backbone(cfg):
    """Dilated ResNet as torchvision's DeepLabv3 builds it (``replace_stride_with_dilation``): res4 and res5 keep
    stride 1 with dilations ``MODEL.RESNETS.RES4_DILATION`` (1, 2) and ``RES5_DILATION`` (1, 2, 4); the first
    block of a dilated stage keeps the previous stage's dilation. Output stride 8 with 2/4, 16 with 1/2."""
    r = cfg.MODEL.RESNETS
    if r.RES4_DILATION not in (1, 2) or r.RES5_DILATION not in (1, 2, 4) or r.RES5_DILATION < r.RES4_DILATION:
        raise LocalstyleError(f"MODEL.RESNETS.RES4_DILATION/RES5_DILATION must be 1/1, 1/2, 2/2 or 2/4 (or 1/4), "
                              f"got {r.RES4_DILATION}/{r.RES5_DILATION}")
    return build_resnet_backbone(cfg, {4: (1, r.RES4_DILATION), 5: (r.RES4_DILATION, r.RES5_DILATION)})
