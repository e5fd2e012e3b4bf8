"""detectron2's StandardROIHeads: proposal sampling, then the box head (``box_head.py``) and box predictor
(``fast_rcnn.py``), and the mask head (``mask_head.py``) when MASK_ON."""
import torch
from torch import nn

from localstyle.modeling.box_head import FastRCNNConvFCHead
from localstyle.modeling.fast_rcnn import FastRCNNOutputLayers
from localstyle.modeling.mask_head import MaskRCNNConvUpsampleHead, mask_rcnn_inference, mask_rcnn_loss, mask_targets
from localstyle.modeling.matcher import Matcher, pairwise_iou, subsample_labels
from localstyle.modeling.poolers import ROIPooler
from localstyle.utils.errors import LocalstyleError


def _check_supported(cfg, input_shape):
    """Raise a LocalstyleError naming the first MODEL.ROI_* setting this implementation does not support."""
    h, bh, mh = cfg.MODEL.ROI_HEADS, cfg.MODEL.ROI_BOX_HEAD, cfg.MODEL.ROI_MASK_HEAD
    if h.NAME != "StandardROIHeads":
        raise LocalstyleError(f"MODEL.ROI_HEADS.NAME {h.NAME!r} is not supported (StandardROIHeads)")
    if bh.NAME != "FastRCNNConvFCHead":
        raise LocalstyleError(f"MODEL.ROI_BOX_HEAD.NAME {bh.NAME!r} is not supported (FastRCNNConvFCHead)")
    if bh.BBOX_REG_LOSS_TYPE != "smooth_l1" or bh.USE_FED_LOSS or bh.USE_SIGMOID_CE or bh.TRAIN_ON_PRED_BOXES:
        raise LocalstyleError("MODEL.ROI_BOX_HEAD: only smooth_l1 loss with softmax CE is supported "
                              "(no fed loss, sigmoid CE or TRAIN_ON_PRED_BOXES)")
    for f in h.IN_FEATURES:
        if f not in input_shape:
            raise LocalstyleError(f"MODEL.ROI_HEADS.IN_FEATURES: {f!r} is not a backbone output")
    if cfg.MODEL.MASK_ON and mh.NAME != "MaskRCNNConvUpsampleHead":
        raise LocalstyleError(f"MODEL.ROI_MASK_HEAD.NAME {mh.NAME!r} is not supported")


class StandardROIHeads(nn.Module):
    """Samples proposals, runs the box head (and mask head if MASK_ON); training losses or final detections."""

    def __init__(self, cfg, input_shape):
        super().__init__()
        _check_supported(cfg, input_shape)
        h, bh, mh = cfg.MODEL.ROI_HEADS, cfg.MODEL.ROI_BOX_HEAD, cfg.MODEL.ROI_MASK_HEAD
        self.in_features = list(h.IN_FEATURES)
        scales = [1.0 / input_shape[f][1] for f in self.in_features]
        channels = input_shape[self.in_features[0]][0]
        self.num_classes = h.NUM_CLASSES
        self.batch_size_per_image = h.BATCH_SIZE_PER_IMAGE
        self.positive_fraction = h.POSITIVE_FRACTION
        self.proposal_append_gt = h.PROPOSAL_APPEND_GT
        self.proposal_matcher = Matcher(h.IOU_THRESHOLDS, h.IOU_LABELS, allow_low_quality_matches=False)

        self.box_pooler = ROIPooler(bh.POOLER_RESOLUTION, scales, bh.POOLER_SAMPLING_RATIO, bh.POOLER_TYPE)
        self.box_head = FastRCNNConvFCHead(channels, bh.POOLER_RESOLUTION, bh.NUM_CONV, bh.CONV_DIM, bh.NUM_FC,
                                           bh.FC_DIM, bh.NORM)
        self.box_predictor = FastRCNNOutputLayers(
            self.box_head.output_size, self.num_classes, bh.CLS_AGNOSTIC_BBOX_REG, bh.BBOX_REG_WEIGHTS,
            bh.SMOOTH_L1_BETA, bh.BBOX_REG_LOSS_WEIGHT)
        self.box2box_transform = self.box_predictor.box2box_transform  # shared; export/tracing.py reads these
        self.test_score_thresh = h.SCORE_THRESH_TEST
        self.test_nms_thresh = h.NMS_THRESH_TEST
        self.test_topk_per_image = cfg.TEST.DETECTIONS_PER_IMAGE
        self.mask_on = cfg.MODEL.MASK_ON
        if self.mask_on:
            self.mask_pooler = ROIPooler(mh.POOLER_RESOLUTION, scales, mh.POOLER_SAMPLING_RATIO, mh.POOLER_TYPE)
            self.mask_head = MaskRCNNConvUpsampleHead(channels, mh.NUM_CONV, mh.CONV_DIM,
                                                      1 if mh.CLS_AGNOSTIC_MASK else self.num_classes, mh.NORM)

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
            matched_boxes = gt_boxes[matched_idxs[idx]] if len(gt_boxes) else boxes.new_zeros((len(idx), 4))
            samples.append({"proposal_boxes": boxes[idx], "gt_classes": classes[idx], "gt_idx": matched_idxs[idx],
                            "gt_boxes": matched_boxes})
        return samples

    def mask_loss(self, features, samples, targets):
        """``loss_mask`` (:func:`mask_rcnn_loss`) on the foreground samples."""
        fg_boxes, fg_classes, fg_targets = [], [], []
        for s, tgt in zip(samples, targets):
            fg = torch.nonzero((s["gt_classes"] != -1) & (s["gt_classes"] != self.num_classes), as_tuple=True)[0]
            fg_boxes.append(s["proposal_boxes"][fg])
            fg_classes.append(s["gt_classes"][fg])
            fg_targets.append((tgt.gt_masks, s["gt_idx"][fg], s["proposal_boxes"][fg]))
        return mask_rcnn_loss(self.mask_head(self.mask_pooler(features, fg_boxes)), fg_classes, fg_targets)

    def mask_inference(self, features, instances):
        """Adds ``pred_masks`` (R x 1 x 28 x 28 probabilities of the predicted class) to each Instances."""
        logits = self.mask_head(self.mask_pooler(features, [i.pred_boxes.tensor for i in instances]))
        return mask_rcnn_inference(logits, instances)

    def forward(self, image_sizes, features, proposals, targets=None):
        """Training: dict of losses. Inference: list of Instances in the resized image coordinates."""
        features = [features[f] for f in self.in_features]
        if self.training:
            samples = self.label_and_sample_proposals(proposals, targets)
            x = self.box_head(self.box_pooler(features, [s["proposal_boxes"] for s in samples]))
            losses = self.box_predictor.losses(self.box_predictor(x), samples)
            if self.mask_on:
                losses.update(self.mask_loss(features, samples, targets))
            return losses
        x = self.box_head(self.box_pooler(features, [p[0] for p in proposals]))
        instances = self.box_predictor.inference(self.box_predictor(x), proposals, image_sizes, self.test_score_thresh,
                                                 self.test_nms_thresh, self.test_topk_per_image)
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
