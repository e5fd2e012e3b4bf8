"""detectron2's FastRCNNOutputLayers: box classification and regression, their losses and the final detections.

Class convention (as detectron2): ``cls_score`` has NUM_CLASSES + 1 rows with background LAST; ``bbox_pred`` has
4 * NUM_CLASSES rows (4 if class-agnostic).
"""
import torch
from torch import nn
from torch.nn import functional as F
from torchvision.ops import batched_nms

from localstyle.modeling.box_regression import Box2BoxTransform
from localstyle.modeling.layers import smooth_l1_loss
from localstyle.structures import Boxes, Instances


class FastRCNNOutputLayers(nn.Module):
    """``cls_score`` (K + 1, background last) and ``bbox_pred`` (4K, or 4 if class-agnostic); :meth:`losses` in
    training, :meth:`inference` (score threshold, per-class NMS, top-k per image) at test time."""

    def __init__(self, in_dim, num_classes, cls_agnostic_bbox_reg=False, bbox_reg_weights=(10.0, 10.0, 5.0, 5.0),
                 smooth_l1_beta=0.0, box_reg_loss_weight=1.0):
        super().__init__()
        self.num_classes = num_classes
        self.cls_score = nn.Linear(in_dim, num_classes + 1)
        self.bbox_pred = nn.Linear(in_dim, 4 * (1 if cls_agnostic_bbox_reg else num_classes))
        nn.init.normal_(self.cls_score.weight, std=0.01)
        nn.init.normal_(self.bbox_pred.weight, std=0.001)
        for layer in (self.cls_score, self.bbox_pred):
            nn.init.constant_(layer.bias, 0)
        self.box2box_transform = Box2BoxTransform(bbox_reg_weights)
        self.smooth_l1_beta = smooth_l1_beta
        self.box_reg_loss_weight = box_reg_loss_weight

    def forward(self, x):
        x = x.flatten(1)
        return self.cls_score(x), self.bbox_pred(x)

    def losses(self, predictions, samples):
        """``loss_cls`` (softmax CE) and ``loss_box_reg`` (smooth L1 on foreground, / number of sampled ROIs)."""
        scores, deltas = predictions
        gt_classes = torch.cat([s["gt_classes"] for s in samples])
        proposal_boxes = torch.cat([s["proposal_boxes"] for s in samples])
        gt_boxes = torch.cat([s["gt_boxes"] for s in samples])
        loss_cls = F.cross_entropy(scores, gt_classes, reduction="mean") if len(gt_classes) else scores.sum() * 0
        fg = torch.nonzero((gt_classes >= 0) & (gt_classes < self.num_classes), as_tuple=True)[0]
        if deltas.shape[1] == 4:
            fg_deltas = deltas[fg]
        else:
            fg_deltas = deltas.view(-1, self.num_classes, 4)[fg, gt_classes[fg]]
        gt_deltas = self.box2box_transform.get_deltas(proposal_boxes[fg], gt_boxes[fg])
        loss_box_reg = smooth_l1_loss(fg_deltas, gt_deltas, self.smooth_l1_beta, "sum")
        loss_box_reg = loss_box_reg / max(gt_classes.numel(), 1.0)
        return {"loss_cls": loss_cls, "loss_box_reg": loss_box_reg * self.box_reg_loss_weight}

    def inference(self, predictions, proposals, image_sizes, score_thresh=0.05, nms_thresh=0.5, topk_per_image=100):
        """Per image: decode per class, clip, keep scores > ``score_thresh``, per-class NMS, the ``topk_per_image``
        best (all if negative)."""
        scores, deltas = predictions
        num_per_image = [len(p[0]) for p in proposals]
        proposal_boxes = torch.cat([p[0] for p in proposals])
        boxes = self.box2box_transform.apply_deltas(deltas, proposal_boxes) if len(proposal_boxes) else \
            deltas.new_zeros((0, deltas.shape[1]))
        probs = F.softmax(scores, dim=-1)
        results = []
        for boxes_i, probs_i, (h, w) in zip(boxes.split(num_per_image), probs.split(num_per_image), image_sizes):
            valid = torch.isfinite(boxes_i).all(dim=1) & torch.isfinite(probs_i).all(dim=1)
            if not valid.all():
                boxes_i, probs_i = boxes_i[valid], probs_i[valid]
            probs_i = probs_i[:, :-1]
            num_reg = boxes_i.shape[1] // 4
            boxes_i = boxes_i.reshape(-1, 4)
            boxes_i = torch.stack((boxes_i[:, 0].clamp(0, w), boxes_i[:, 1].clamp(0, h),
                                   boxes_i[:, 2].clamp(0, w), boxes_i[:, 3].clamp(0, h)), dim=1).view(-1, num_reg, 4)
            mask = probs_i > score_thresh
            inds = mask.nonzero()
            boxes_i = boxes_i[inds[:, 0], 0] if num_reg == 1 else boxes_i[mask]
            probs_i = probs_i[mask]
            keep = batched_nms(boxes_i, probs_i, inds[:, 1], nms_thresh)
            if topk_per_image >= 0:
                keep = keep[:topk_per_image]
            results.append(Instances((h, w), pred_boxes=Boxes(boxes_i[keep]), scores=probs_i[keep],
                                     pred_classes=inds[keep, 1]))
        return results
