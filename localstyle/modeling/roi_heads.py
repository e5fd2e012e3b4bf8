"""detectron2's StandardROIHeads: FastRCNNConvFCHead + FastRCNNOutputLayers (box) and MaskRCNNConvUpsampleHead.

Class convention (as detectron2): ``cls_score`` has NUM_CLASSES + 1 rows with background LAST; ``bbox_pred`` has
4 * NUM_CLASSES rows (4 if class-agnostic); the mask predictor has NUM_CLASSES channels (1 if class-agnostic).
"""
import torch
from torch import nn
from torch.nn import functional as F
from torchvision.ops import batched_nms, roi_align

from localstyle.modeling.box_regression import Box2BoxTransform
from localstyle.modeling.layers import smooth_l1_loss
from localstyle.modeling.layers import Conv2d, c2_msra_fill, c2_xavier_fill, get_norm
from localstyle.modeling.matcher import Matcher, pairwise_iou, subsample_labels
from localstyle.modeling.poolers import ROIPooler
from localstyle.structures import Boxes, Instances, PolygonMasks
from localstyle.utils.errors import LocalstyleError


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


class FastRCNNConvFCHead(nn.Sequential):
    """``conv1..convN`` (3x3 + ReLU), then ``flatten``, ``fc1..fcM`` (+ ``fc_reluK``)."""

    def __init__(self, in_channels, resolution, num_conv, conv_dim, num_fc, fc_dim, norm=""):
        super().__init__()
        channels, size = in_channels, resolution
        for k in range(num_conv):
            conv = Conv2d(channels, conv_dim, kernel_size=3, padding=1, bias=not norm,
                          norm=get_norm(norm, conv_dim), activation=nn.ReLU())
            c2_msra_fill(conv)
            self.add_module(f"conv{k + 1}", conv)
            channels = conv_dim
        self.output_size = channels * size * size
        if num_fc:
            self.add_module("flatten", nn.Flatten())
        for k in range(num_fc):
            fc = nn.Linear(self.output_size, fc_dim)
            c2_xavier_fill(fc)
            self.add_module(f"fc{k + 1}", fc)
            self.add_module(f"fc_relu{k + 1}", nn.ReLU())
            self.output_size = fc_dim


class FastRCNNOutputLayers(nn.Module):
    """``cls_score`` (K + 1, background last) and ``bbox_pred`` (4K, or 4 if class-agnostic)."""

    def __init__(self, in_dim, num_classes, cls_agnostic_bbox_reg=False):
        super().__init__()
        self.num_classes = num_classes
        self.cls_score = nn.Linear(in_dim, num_classes + 1)
        self.bbox_pred = nn.Linear(in_dim, 4 * (1 if cls_agnostic_bbox_reg else num_classes))
        nn.init.normal_(self.cls_score.weight, std=0.01)
        nn.init.normal_(self.bbox_pred.weight, std=0.001)
        for layer in (self.cls_score, self.bbox_pred):
            nn.init.constant_(layer.bias, 0)

    def forward(self, x):
        x = x.flatten(1)
        return self.cls_score(x), self.bbox_pred(x)


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


class StandardROIHeads(nn.Module):
    """Samples proposals, runs the box head (and mask head if MASK_ON); training losses or final detections."""

    def __init__(self, cfg, input_shape):
        super().__init__()
        h, bh, mh = cfg.MODEL.ROI_HEADS, cfg.MODEL.ROI_BOX_HEAD, cfg.MODEL.ROI_MASK_HEAD
        if h.NAME != "StandardROIHeads":
            raise LocalstyleError(f"MODEL.ROI_HEADS.NAME {h.NAME!r} is not supported (StandardROIHeads)")
        if bh.NAME != "FastRCNNConvFCHead":
            raise LocalstyleError(f"MODEL.ROI_BOX_HEAD.NAME {bh.NAME!r} is not supported (FastRCNNConvFCHead)")
        if bh.BBOX_REG_LOSS_TYPE != "smooth_l1" or bh.USE_FED_LOSS or bh.USE_SIGMOID_CE or bh.TRAIN_ON_PRED_BOXES:
            raise LocalstyleError("MODEL.ROI_BOX_HEAD: only smooth_l1 loss with softmax CE is supported "
                                  "(no fed loss, sigmoid CE or TRAIN_ON_PRED_BOXES)")
        self.in_features = list(h.IN_FEATURES)
        for f in self.in_features:
            if f not in input_shape:
                raise LocalstyleError(f"MODEL.ROI_HEADS.IN_FEATURES: {f!r} is not a backbone output")
        scales = [1.0 / input_shape[f][1] for f in self.in_features]
        channels = input_shape[self.in_features[0]][0]
        self.num_classes = h.NUM_CLASSES
        self.batch_size_per_image = h.BATCH_SIZE_PER_IMAGE
        self.positive_fraction = h.POSITIVE_FRACTION
        self.proposal_append_gt = h.PROPOSAL_APPEND_GT
        self.proposal_matcher = Matcher(h.IOU_THRESHOLDS, h.IOU_LABELS, allow_low_quality_matches=False)
        self.test_score_thresh = h.SCORE_THRESH_TEST
        self.test_nms_thresh = h.NMS_THRESH_TEST
        self.test_topk_per_image = cfg.TEST.DETECTIONS_PER_IMAGE
        self.box2box_transform = Box2BoxTransform(bh.BBOX_REG_WEIGHTS)
        self.smooth_l1_beta = bh.SMOOTH_L1_BETA
        self.box_reg_loss_weight = bh.BBOX_REG_LOSS_WEIGHT

        self.box_pooler = ROIPooler(bh.POOLER_RESOLUTION, scales, bh.POOLER_SAMPLING_RATIO, bh.POOLER_TYPE)
        self.box_head = FastRCNNConvFCHead(channels, bh.POOLER_RESOLUTION, bh.NUM_CONV, bh.CONV_DIM, bh.NUM_FC,
                                           bh.FC_DIM, bh.NORM)
        self.box_predictor = FastRCNNOutputLayers(self.box_head.output_size, self.num_classes,
                                                  bh.CLS_AGNOSTIC_BBOX_REG)
        self.mask_on = cfg.MODEL.MASK_ON
        if self.mask_on:
            if mh.NAME != "MaskRCNNConvUpsampleHead":
                raise LocalstyleError(f"MODEL.ROI_MASK_HEAD.NAME {mh.NAME!r} is not supported")
            self.mask_pooler = ROIPooler(mh.POOLER_RESOLUTION, scales, mh.POOLER_SAMPLING_RATIO, mh.POOLER_TYPE)
            self.mask_head = MaskRCNNConvUpsampleHead(channels, mh.NUM_CONV, mh.CONV_DIM,
                                                      1 if mh.CLS_AGNOSTIC_MASK else self.num_classes, mh.NORM)

    # ------------------------------------------------------------------ training
    @torch.no_grad()
    def label_and_sample_proposals(self, proposals, targets):
        """Append gt boxes, match to gt, sample fg/bg; returns per-image dicts of tensors."""
        samples = []
        for (boxes, _), tgt in zip(proposals, targets):
            gt_boxes, gt_classes = tgt.gt_boxes.tensor, tgt.gt_classes
            if self.proposal_append_gt:
                boxes = torch.cat([boxes, gt_boxes.to(boxes.dtype)])
            matched_idxs, matched_labels = self.proposal_matcher(pairwise_iou(gt_boxes, boxes))
            if len(gt_boxes):
                classes = gt_classes[matched_idxs].clone()
                classes[matched_labels == 0] = self.num_classes
                classes[matched_labels == -1] = -1
            else:
                classes = torch.full_like(matched_idxs, self.num_classes)
            fg, bg = subsample_labels(classes, self.batch_size_per_image, self.positive_fraction, self.num_classes)
            idx = torch.cat([fg, bg])
            sample = {"proposal_boxes": boxes[idx], "gt_classes": classes[idx]}
            if len(gt_boxes):
                sample["gt_boxes"] = gt_boxes[matched_idxs[idx]]
                sample["gt_idx"] = matched_idxs[idx]
            else:
                sample["gt_boxes"] = boxes.new_zeros((len(idx), 4))
                sample["gt_idx"] = matched_idxs[idx]
            samples.append(sample)
        return samples

    def box_losses(self, predictions, samples):
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

    def mask_loss(self, features, samples, targets):
        """BCE on the gt class channel against 28x28 targets (:func:`mask_targets` of the gt masks)."""
        fg_boxes, fg_classes, fg_targets = [], [], []
        for s, tgt in zip(samples, targets):
            fg = torch.nonzero((s["gt_classes"] != -1) & (s["gt_classes"] != self.num_classes), as_tuple=True)[0]
            fg_boxes.append(s["proposal_boxes"][fg])
            fg_classes.append(s["gt_classes"][fg])
            fg_targets.append((tgt, s["gt_idx"][fg], s["proposal_boxes"][fg]))
        logits = self.mask_head(self.mask_pooler(features, fg_boxes))
        if logits.shape[0] == 0:
            return {"loss_mask": logits.sum() * 0}
        side = logits.shape[2]
        gt_masks = torch.cat([mask_targets(tgt.gt_masks, gt_idx, boxes, side)
                              for tgt, gt_idx, boxes in fg_targets]).float()
        if logits.shape[1] == 1:
            pred = logits[:, 0]
        else:
            pred = logits[torch.arange(len(logits), device=logits.device), torch.cat(fg_classes)]
        return {"loss_mask": F.binary_cross_entropy_with_logits(pred, gt_masks, reduction="mean")}

    # ------------------------------------------------------------------ inference
    def box_inference(self, predictions, proposals, image_sizes):
        """Per image: decode per class, clip, keep scores > SCORE_THRESH_TEST, per-class NMS, top DETECTIONS."""
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
            mask = probs_i > self.test_score_thresh
            inds = mask.nonzero()
            boxes_i = boxes_i[inds[:, 0], 0] if num_reg == 1 else boxes_i[mask]
            probs_i = probs_i[mask]
            keep = batched_nms(boxes_i, probs_i, inds[:, 1], self.test_nms_thresh)
            if self.test_topk_per_image >= 0:
                keep = keep[:self.test_topk_per_image]
            results.append(Instances((h, w), pred_boxes=Boxes(boxes_i[keep]), scores=probs_i[keep],
                                     pred_classes=inds[keep, 1]))
        return results

    def mask_inference(self, features, instances):
        """Adds ``pred_masks`` (R x 1 x 28 x 28 probabilities of the predicted class) to each Instances."""
        logits = self.mask_head(self.mask_pooler(features, [i.pred_boxes.tensor for i in instances]))
        if logits.shape[1] == 1:
            probs = logits.sigmoid()
        else:
            classes = torch.cat([i.pred_classes for i in instances])
            probs = logits[torch.arange(len(logits), device=logits.device), classes][:, None].sigmoid()
        for inst, p in zip(instances, probs.split([len(i) for i in instances])):
            inst.pred_masks = p
        return instances

    def forward(self, image_sizes, features, proposals, targets=None):
        """Training: dict of losses. Inference: list of Instances in the resized image coordinates."""
        features = [features[f] for f in self.in_features]
        if self.training:
            samples = self.label_and_sample_proposals(proposals, targets)
            x = self.box_head(self.box_pooler(features, [s["proposal_boxes"] for s in samples]))
            losses = self.box_losses(self.box_predictor(x), samples)
            if self.mask_on:
                losses.update(self.mask_loss(features, samples, targets))
            return losses
        x = self.box_head(self.box_pooler(features, [p[0] for p in proposals]))
        instances = self.box_inference(self.box_predictor(x), proposals, image_sizes)
        if self.mask_on:
            instances = self.mask_inference(features, instances)
        return instances

    def forward_with_given_boxes(self, features, instances):
        """Inference on given detections (``pred_boxes``, ``pred_classes``): adds ``pred_masks`` when MASK_ON."""
        if self.mask_on:
            instances = self.mask_inference([features[f] for f in self.in_features], instances)
        return instances


def build_roi_heads(cfg, input_shape):
    """StandardROIHeads from ``cfg`` over backbone features ``{name: (channels, stride)}``."""
    return StandardROIHeads(cfg, input_shape)


__all__ = ["mask_targets", "FastRCNNConvFCHead", "FastRCNNOutputLayers", "MaskRCNNConvUpsampleHead", "StandardROIHeads",
           "build_roi_heads"]
