"""Region Proposal Network (detectron2's RPN + StandardRPNHead), vectorized over anchors."""
import torch
from torch import nn
from torch.nn import functional as F

from localstyle.modeling.anchor_generator import DefaultAnchorGenerator
from localstyle.modeling.box_regression import Box2BoxTransform
from localstyle.modeling.layers import smooth_l1_loss
from localstyle.modeling.matcher import Matcher, pairwise_iou, subsample_labels
from localstyle.modeling.proposal_utils import find_top_rpn_proposals
from localstyle.utils.errors import LocalstyleError


class StandardRPNHead(nn.Module):
    """Shared 3x3 conv + ReLU, then 1x1 ``objectness_logits`` (A) and ``anchor_deltas`` (4A) per level."""

    def __init__(self, in_channels, num_anchors, box_dim=4, conv_dims=(-1,)):
        super().__init__()
        if len(conv_dims) != 1:
            raise LocalstyleError("MODEL.RPN.CONV_DIMS: only a single conv is supported")
        out = in_channels if conv_dims[0] == -1 else conv_dims[0]
        self.conv = nn.Conv2d(in_channels, out, kernel_size=3, stride=1, padding=1)
        self.objectness_logits = nn.Conv2d(out, num_anchors, kernel_size=1)
        self.anchor_deltas = nn.Conv2d(out, num_anchors * box_dim, kernel_size=1)
        for layer in (self.conv, self.objectness_logits, self.anchor_deltas):
            nn.init.normal_(layer.weight, std=0.01)
            nn.init.constant_(layer.bias, 0)

    def forward(self, features):
        logits, deltas = [], []
        for x in features:
            t = F.relu(self.conv(x))
            logits.append(self.objectness_logits(t))
            deltas.append(self.anchor_deltas(t))
        return logits, deltas


class RPN(nn.Module):
    """Proposals (per-level top-k, clip, per-level NMS, top-k) and, in training, the RPN losses."""

    def __init__(self, cfg, input_shape):
        super().__init__()
        r = cfg.MODEL.RPN
        self.in_features = list(r.IN_FEATURES)
        for f in self.in_features:
            if f not in input_shape:
                raise LocalstyleError(f"MODEL.RPN.IN_FEATURES: {f!r} is not a backbone output ({sorted(input_shape)})")
        channels = {input_shape[f][0] for f in self.in_features}
        if len(channels) != 1:
            raise LocalstyleError("MODEL.RPN.IN_FEATURES must all have the same number of channels")
        if r.HEAD_NAME != "StandardRPNHead":
            raise LocalstyleError(f"MODEL.RPN.HEAD_NAME {r.HEAD_NAME!r} is not supported (StandardRPNHead)")
        a = cfg.MODEL.ANCHOR_GENERATOR
        if a.NAME != "DefaultAnchorGenerator":
            raise LocalstyleError(f"MODEL.ANCHOR_GENERATOR.NAME {a.NAME!r} is not supported (DefaultAnchorGenerator)")
        self.anchor_generator = DefaultAnchorGenerator(a.SIZES, a.ASPECT_RATIOS,
                                                       [input_shape[f][1] for f in self.in_features], a.OFFSET)
        self.rpn_head = StandardRPNHead(channels.pop(), self.anchor_generator.num_anchors, 4, list(r.CONV_DIMS))
        self.anchor_matcher = Matcher(r.IOU_THRESHOLDS, r.IOU_LABELS, allow_low_quality_matches=True)
        self.box2box_transform = Box2BoxTransform(r.BBOX_REG_WEIGHTS)
        if r.BBOX_REG_LOSS_TYPE != "smooth_l1":
            raise LocalstyleError(f"MODEL.RPN.BBOX_REG_LOSS_TYPE {r.BBOX_REG_LOSS_TYPE!r} is not supported (smooth_l1)")
        self.boundary_threshold = r.BOUNDARY_THRESH
        self.pre_nms_topk = {True: r.PRE_NMS_TOPK_TRAIN, False: r.PRE_NMS_TOPK_TEST}
        self.post_nms_topk = {True: r.POST_NMS_TOPK_TRAIN, False: r.POST_NMS_TOPK_TEST}
        self.nms_thresh = r.NMS_THRESH
        self.min_box_size = float(cfg.MODEL.PROPOSAL_GENERATOR.MIN_SIZE)
        self.batch_size_per_image = r.BATCH_SIZE_PER_IMAGE
        self.positive_fraction = r.POSITIVE_FRACTION
        self.smooth_l1_beta = r.SMOOTH_L1_BETA
        self.loss_weight = {"loss_rpn_cls": r.LOSS_WEIGHT, "loss_rpn_loc": r.BBOX_REG_LOSS_WEIGHT * r.LOSS_WEIGHT}

    def forward(self, image_sizes, features, gt_instances=None):
        """Return ``(proposals, losses)``; proposals are per image ``(boxes R x 4, objectness_logits R)``."""
        features = [features[f] for f in self.in_features]
        anchors = self.anchor_generator(features)
        logits, deltas = self.rpn_head(features)
        # (N, A, H, W) -> (N, H*W*A); (N, A*4, H, W) -> (N, H*W*A, 4)
        logits = [x.permute(0, 2, 3, 1).flatten(1) for x in logits]
        deltas = [x.view(x.shape[0], -1, 4, x.shape[-2], x.shape[-1]).permute(0, 3, 4, 1, 2).flatten(1, -2)
                  for x in deltas]
        losses = {}
        if self.training:
            gt_labels, gt_boxes = self.label_and_sample_anchors(anchors, gt_instances, image_sizes)
            losses = self.losses(anchors, logits, gt_labels, deltas, gt_boxes)
        proposals = self.predict_proposals(anchors, logits, deltas, image_sizes)
        return proposals, losses

    @torch.no_grad()
    def label_and_sample_anchors(self, anchors, gt_instances, image_sizes):
        """Per image: labels (1 fg / 0 bg / -1 ignored) of all anchors after sampling, and matched gt boxes.

        With BOUNDARY_THRESH >= 0, anchors reaching further than that outside the image are ignored.
        """
        anchors = torch.cat(anchors)
        gt_labels, matched_gt_boxes = [], []
        for inst, (h, w) in zip(gt_instances, image_sizes):
            gt_boxes = inst.gt_boxes.tensor
            matched_idxs, labels = self.anchor_matcher(pairwise_iou(gt_boxes, anchors))
            labels = labels.to(torch.int64)
            if self.boundary_threshold >= 0:
                t = self.boundary_threshold
                inside = (anchors[:, 0] >= -t) & (anchors[:, 1] >= -t) & (anchors[:, 2] < w + t) & \
                    (anchors[:, 3] < h + t)
                labels[~inside] = -1
            pos_idx, neg_idx = subsample_labels(labels, self.batch_size_per_image, self.positive_fraction, 0)
            labels.fill_(-1)
            labels[pos_idx] = 1
            labels[neg_idx] = 0
            gt_labels.append(labels)
            matched_gt_boxes.append(gt_boxes[matched_idxs] if len(gt_boxes) else torch.zeros_like(anchors))
        return gt_labels, matched_gt_boxes

    def losses(self, anchors, logits, gt_labels, deltas, gt_boxes):
        """``loss_rpn_cls`` (BCE) and ``loss_rpn_loc`` (smooth L1), both / (BATCH_SIZE_PER_IMAGE * images)."""
        num_images = len(gt_labels)
        gt_labels = torch.stack(gt_labels)
        anchors = torch.cat(anchors)
        pos_mask = gt_labels == 1
        gt_deltas = torch.stack([self.box2box_transform.get_deltas(anchors, b) for b in gt_boxes])
        loc_loss = smooth_l1_loss(torch.cat(deltas, dim=1)[pos_mask], gt_deltas[pos_mask], self.smooth_l1_beta,
                                  reduction="sum")
        valid = gt_labels >= 0
        cls_loss = F.binary_cross_entropy_with_logits(torch.cat(logits, dim=1)[valid], gt_labels[valid].float(),
                                                      reduction="sum")
        normalizer = self.batch_size_per_image * num_images
        losses = {"loss_rpn_cls": cls_loss / normalizer, "loss_rpn_loc": loc_loss / normalizer}
        return {k: v * self.loss_weight[k] for k, v in losses.items()}

    @torch.no_grad()
    def predict_proposals(self, anchors, logits, deltas, image_sizes):
        """:func:`find_top_rpn_proposals` with this RPN's settings: proposals are fixed for the ROI heads."""
        return find_top_rpn_proposals(anchors, logits, deltas, image_sizes, self.box2box_transform,
                                      self.pre_nms_topk[self.training], self.post_nms_topk[self.training],
                                      self.nms_thresh, self.min_box_size, self.training)
