"""detectron2's DefaultAnchorGenerator: unrounded cell anchors per FPN level, tiled over the feature grid."""
import math

import torch
from torch import nn

from localstyle.utils.errors import LocalstyleError


def _broadcast(params, num_features, name):
    """One list per level, or a single list shared by every level."""
    params = [list(p) if isinstance(p, (list, tuple)) else [p] for p in params]
    if len(params) == 1:
        return params * num_features
    if len(params) != num_features:
        raise LocalstyleError(f"MODEL.ANCHOR_GENERATOR.{name} has {len(params)} lists for {num_features} levels")
    return params


def generate_cell_anchors(sizes, aspect_ratios):
    """XYXY anchors centred at 0: for each size, for each ratio r = h/w, w = size/sqrt(r), h = r*w."""
    anchors = []
    for size in sizes:
        area = size ** 2.0
        for aspect_ratio in aspect_ratios:
            w = math.sqrt(area / aspect_ratio)
            h = aspect_ratio * w
            anchors.append([-w / 2.0, -h / 2.0, w / 2.0, h / 2.0])
    return torch.tensor(anchors)


class DefaultAnchorGenerator(nn.Module):
    """Anchors for each level: grid shifts (x*stride + offset*stride) + cell anchors, location-major."""

    box_dim = 4

    def __init__(self, sizes, aspect_ratios, strides, offset=0.0):
        super().__init__()
        n = len(strides)
        sizes = _broadcast(sizes, n, "SIZES")
        aspect_ratios = _broadcast(aspect_ratios, n, "ASPECT_RATIOS")
        if not 0.0 <= offset < 1.0:
            raise LocalstyleError(f"MODEL.ANCHOR_GENERATOR.OFFSET must be in [0, 1), got {offset}")
        self.strides = list(strides)
        self.offset = offset
        self.cell_anchors = [generate_cell_anchors(s, a) for s, a in zip(sizes, aspect_ratios)]
        counts = {len(c) for c in self.cell_anchors}
        if len(counts) != 1:
            raise LocalstyleError("MODEL.ANCHOR_GENERATOR: every level needs the same number of anchors per location")

    @property
    def num_anchors(self):
        return len(self.cell_anchors[0])

    def forward(self, features):
        """List of (H*W*A) x 4 anchor tensors, one per feature map."""
        anchors = []
        for x, stride, base in zip(features, self.strides, self.cell_anchors):
            h, w = x.shape[-2:]
            device = x.device
            shifts_x = torch.arange(self.offset * stride, w * stride, step=stride, dtype=torch.float32, device=device)
            shifts_y = torch.arange(self.offset * stride, h * stride, step=stride, dtype=torch.float32, device=device)
            shift_y, shift_x = torch.meshgrid(shifts_y, shifts_x, indexing="ij")
            shift_x, shift_y = shift_x.reshape(-1), shift_y.reshape(-1)
            shifts = torch.stack((shift_x, shift_y, shift_x, shift_y), dim=1)
            anchors.append((shifts.view(-1, 1, 4) + base.to(device).view(1, -1, 4)).reshape(-1, 4))
        return anchors
