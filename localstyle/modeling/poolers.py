"""Multi-level ROIAlign (detectron2's ROIPooler): each box is pooled from one FPN level chosen by its size."""
import math

import torch
from torch import nn
from torchvision.ops import roi_align

from localstyle.utils.errors import LocalstyleError


def assign_boxes_to_levels(boxes, min_level, max_level, canonical_box_size=224, canonical_level=4):
    """Level index (0-based from ``min_level``): floor(4 + log2(sqrt(w*h) / 224 + 1e-8)) clamped to the levels."""
    sizes = torch.sqrt((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]))
    levels = torch.floor(canonical_level + torch.log2(sizes / canonical_box_size + 1e-8))
    return (torch.clamp(levels, min=min_level, max=max_level) - min_level).to(torch.int64)


class ROIPooler(nn.Module):
    """ROIAlign (``aligned`` for ROIAlignV2) of boxes from a list of feature maps with the given strides."""

    def __init__(self, output_size, scales, sampling_ratio, pooler_type="ROIAlignV2"):
        super().__init__()
        if pooler_type not in ("ROIAlign", "ROIAlignV2"):
            raise LocalstyleError(f"POOLER_TYPE {pooler_type!r} is not supported (ROIAlign, ROIAlignV2)")
        self.output_size = (output_size, output_size) if isinstance(output_size, int) else tuple(output_size)
        self.scales = list(scales)
        self.sampling_ratio = int(sampling_ratio)
        self.aligned = pooler_type == "ROIAlignV2"
        self.min_level = int(-math.log2(self.scales[0]))
        self.max_level = int(-math.log2(self.scales[-1]))

    def forward(self, features, box_lists):
        """``features``: list of N x C x H x W; ``box_lists``: per-image R_i x 4. Returns sum(R_i) x C x out x out."""
        rois = torch.cat([torch.cat([torch.full((len(b), 1), i, dtype=b.dtype, device=b.device), b], dim=1)
                          for i, b in enumerate(box_lists)])
        if len(features) == 1:
            return roi_align(features[0], rois, self.output_size, self.scales[0], self.sampling_ratio, self.aligned)
        levels = assign_boxes_to_levels(rois[:, 1:], self.min_level, self.max_level)
        out = features[0].new_zeros((len(rois), features[0].shape[1]) + self.output_size)
        for level, (x, scale) in enumerate(zip(features, self.scales)):
            inds = torch.nonzero(levels == level, as_tuple=True)[0]
            if len(inds):
                out[inds] = roi_align(x, rois[inds], self.output_size, scale, self.sampling_ratio, self.aligned)
        return out
