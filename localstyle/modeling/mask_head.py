"""detectron2's MaskRCNNConvUpsampleHead with its training targets, loss and inference.

The mask predictor has NUM_CLASSES channels (1 if class-agnostic)."""
import torch
from torch import nn
from torch.nn import functional as F
from torchvision.ops import roi_align

from localstyle.modeling.layers import Conv2d, c2_msra_fill, get_norm
from localstyle.structures import PolygonMasks


def mask_targets(gt_masks, gt_idx, boxes, side):
    """``side`` x ``side`` bool targets: gt mask ``gt_idx[i]`` cropped to ``boxes[i]``.

    Bitmaps: detectron2's ``BitMasks.crop_and_resize`` (ROIAlignV2, then >= 0.5; each ROI reads its gt mask
    through roi_align's batch index). :class:`PolygonMasks`: the polygons cut to the box and rasterized there.
    """
    if len(boxes) == 0:
        return torch.zeros((0, side, side), dtype=torch.bool, device=boxes.device)
    if isinstance(gt_masks, PolygonMasks):
        return gt_masks.crop_and_resize(boxes, gt_idx, side).to(boxes.device)
    if not isinstance(gt_masks, torch.Tensor):
        gt_masks = gt_masks.tensor
    rois = torch.cat([gt_idx[:, None].to(boxes.dtype), boxes], dim=1)
    masks = gt_masks.to(device=boxes.device, dtype=torch.float32)[:, None]
    return roi_align(masks, rois, (side, side), 1.0, 0, aligned=True).squeeze(1) >= 0.5


def mask_rcnn_loss(logits, fg_classes, fg_targets):
    """BCE of ``logits`` (R x C x side x side) on the gt class channel against :func:`mask_targets`;
    ``fg_classes`` and ``fg_targets`` (``(gt_masks, gt_idx, boxes)``) are per image."""
    if logits.shape[0] == 0:
        return {"loss_mask": logits.sum() * 0}
    side = logits.shape[2]
    gt_masks = torch.cat([mask_targets(masks, gt_idx, boxes, side) for masks, gt_idx, boxes in fg_targets]).float()
    if logits.shape[1] == 1:
        pred = logits[:, 0]
    else:
        pred = logits[torch.arange(len(logits), device=logits.device), torch.cat(fg_classes)]
    return {"loss_mask": F.binary_cross_entropy_with_logits(pred, gt_masks, reduction="mean")}


def mask_rcnn_inference(logits, instances):
    """Adds ``pred_masks`` (R x 1 x side x side probabilities of the predicted class) to each Instances."""
    if logits.shape[1] == 1:
        probs = logits.sigmoid()
    else:
        classes = torch.cat([i.pred_classes for i in instances])
        probs = logits[torch.arange(len(logits), device=logits.device), classes][:, None].sigmoid()
    for inst, p in zip(instances, probs.split([len(i) for i in instances])):
        inst.pred_masks = p
    return instances


class MaskRCNNConvUpsampleHead(nn.Module):
    """``mask_fcn1..N`` (3x3 + ReLU), ``deconv`` (2x2 stride 2 + ReLU), 1x1 ``predictor``."""

    def __init__(self, in_channels, num_conv, conv_dim, num_mask_classes, norm=""):
        super().__init__()
        channels = in_channels
        self.conv_norm_relus = []
        for k in range(num_conv):
            conv = Conv2d(channels, conv_dim, kernel_size=3, stride=1, padding=1, bias=not norm,
                          norm=get_norm(norm, conv_dim), activation=nn.ReLU())
            self.add_module(f"mask_fcn{k + 1}", conv)
            self.conv_norm_relus.append(conv)
            channels = conv_dim
        self.deconv = nn.ConvTranspose2d(channels, conv_dim, kernel_size=2, stride=2, padding=0)
        self.predictor = nn.Conv2d(conv_dim, num_mask_classes, kernel_size=1)
        for layer in self.conv_norm_relus + [self.deconv]:
            c2_msra_fill(layer)
        nn.init.normal_(self.predictor.weight, std=0.001)
        nn.init.constant_(self.predictor.bias, 0)

    def forward(self, x):
        for layer in self.conv_norm_relus:
            x = layer(x)
        return self.predictor(F.relu(self.deconv(x)))
