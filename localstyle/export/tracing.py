"""The whole Mask R-CNN predictor as one traceable module, for ONNX and TorchScript export.

:class:`TracingPredictor` computes what ``GeneralizedRCNN.inference`` + ``detector_postprocess`` compute, with
control flow that does not depend on data: every shape comes from a tensor (so one trace serves every image size),
per-level and per-class loops run over fixed counts, and an image with no detections flows through with empty
tensors. Masks are pasted with a separable bilinear interpolation (two small matrix products per detection), which
equals ``grid_sample``'s bilinear paste up to float rounding.
"""
import torch
from torch import nn
from torch.nn import functional as F
from torchvision.ops import nms, roi_align

from localstyle.modeling.poolers import assign_boxes_to_levels


def _size(x, dim):
    """``x.shape[dim]`` as a 0-dim int64 tensor (tracing records it, so the graph stays shape-generic)."""
    return torch._shape_as_tensor(x)[dim]


def _topk_count(x, k):
    """``min(k, x.shape[0])``: an int in eager mode, a traced tensor when tracing."""
    if torch.jit.is_tracing():
        return torch.clamp(_size(x, 0), max=k)
    return min(k, x.shape[0])


def first_n(keep, count):
    """``keep[:count]`` for a 0-dim int64 tensor ``count`` (all of ``keep`` when negative), traceable."""
    position = torch.ones_like(keep).cumsum(0)
    return keep[(position <= count) | (count < 0)]


def clip_boxes(boxes, height, width):
    """Clamp XYXY ``boxes`` to [0, width] x [0, height] (``height``/``width``: 0-dim tensors)."""
    h, w = height.to(boxes.dtype), width.to(boxes.dtype)
    return torch.stack((torch.minimum(boxes[:, 0].clamp(min=0), w), torch.minimum(boxes[:, 1].clamp(min=0), h),
                        torch.minimum(boxes[:, 2].clamp(min=0), w), torch.minimum(boxes[:, 3].clamp(min=0), h)),
                       dim=1)


def grouped_nms(boxes, scores, groups, num_groups, iou_threshold):
    """torchvision's per-group ``batched_nms`` (one ``nms`` per group id in ``range(num_groups)``).

    Returns the kept indices sorted by decreasing score, exactly as the per-class loop of ``batched_nms``.
    """
    keep = []
    for g in range(num_groups):
        idx = torch.nonzero(groups == g).flatten()
        keep.append(idx[nms(boxes[idx], scores[idx], iou_threshold)])
    keep = torch.cat(keep).sort()[0]
    return keep[scores[keep].sort(descending=True)[1]]


def pool_rois(pooler, features, boxes):
    """``ROIPooler(features, [boxes])`` for one image: each level pools its boxes, then the rows are put back in order."""
    rois = torch.cat([torch.zeros_like(boxes[:, :1]), boxes], dim=1)
    if len(features) == 1:
        return roi_align(features[0], rois, pooler.output_size, pooler.scales[0], pooler.sampling_ratio,
                         pooler.aligned)
    levels = assign_boxes_to_levels(boxes, pooler.min_level, pooler.max_level)
    pooled, order = [], []
    for level, (x, scale) in enumerate(zip(features, pooler.scales)):
        inds = torch.nonzero(levels == level).flatten()
        pooled.append(roi_align(x, rois[inds], pooler.output_size, scale, pooler.sampling_ratio, pooler.aligned))
        order.append(inds)
    return torch.cat(pooled)[torch.argsort(torch.cat(order))]


def _bilinear_weights(lo, hi, length, side):
    """N x length x side weights of grid_sample's bilinear (zero padding) sampling of ``side`` cells spread over
    [lo, hi] at the pixel centres ``0.5 .. length - 0.5``."""
    centres = torch.arange(length, dtype=torch.float32, device=lo.device) + 0.5
    grid = (centres[None] - lo[:, None]) / (hi - lo)[:, None] * 2 - 1
    pos = grid * (side / 2) + (side - 1) / 2
    cell = pos.floor()
    frac = pos - cell
    cells = torch.arange(side, dtype=torch.float32, device=lo.device)
    return (1 - frac)[..., None] * (cell[..., None] == cells) + frac[..., None] * (cell[..., None] + 1 == cells)


def paste_masks_separable(masks, boxes, height, width, threshold=0.5):
    """Paste N x M x M probabilities at ``boxes`` into N x height x width bool masks (``>= threshold``).

    Bilinear sampling on a grid that is a product of rows and columns is ``Wy @ mask @ Wx^T``.
    """
    side = masks.shape[-1]
    wy = _bilinear_weights(boxes[:, 1], boxes[:, 3], height, side)
    wx = _bilinear_weights(boxes[:, 0], boxes[:, 2], width, side)
    return torch.matmul(torch.matmul(wy, masks), wx.transpose(1, 2)) >= threshold


class TracingPredictor(nn.Module):
    """``forward(image, size, score_thresh, detections_per_image)`` -> ``(boxes, scores, classes, masks)`` for one
    image.

    ``image``: 3 x H x W float32, resized as the predictor resizes (``INPUT.FORMAT`` channel order, 0-255);
    ``size``: int64 (height, width) of the output (the original image); ``score_thresh`` (float32) and
    ``detections_per_image`` (int64, negative: all): the run's ROI_HEADS.SCORE_THRESH_TEST and
    TEST.DETECTIONS_PER_IMAGE, inputs so that one export serves every run (NMS_THRESH_TEST is traced in).
    Outputs: R x 4 boxes and R x height x width
    bool masks in output coordinates, R scores, R int64 classes. Wraps (shares) an eval-mode ``GeneralizedRCNN``.
    """

    def __init__(self, model):
        super().__init__()
        self.model = model

    def preprocess(self, image):
        """Normalize and zero-pad to the backbone's size divisibility: 1 x 3 x H' x W'."""
        m = self.model
        x = (image - m.pixel_mean) / m.pixel_std
        d = m.backbone.size_divisibility
        h, w = _size(x, 1), _size(x, 2)
        return F.pad(x, [0, (d - w % d) % d, 0, (d - h % d) % d])[None]

    def proposals(self, features, height, width):
        """RPN proposals (boxes, objectness) of one image, as ``RPN.predict_proposals`` at test time."""
        rpn = self.model.proposal_generator
        features = [features[f] for f in rpn.in_features]
        anchors = rpn.anchor_generator(features)
        logits, deltas = rpn.rpn_head(features)
        boxes, scores, levels = [], [], []
        for level, (a, lg, d) in enumerate(zip(anchors, logits, deltas)):
            lg = lg[0].permute(1, 2, 0).reshape(-1)
            d = d[0].reshape(-1, 4, d.shape[-2], d.shape[-1]).permute(2, 3, 0, 1).reshape(-1, 4)
            top, idx = lg.topk(_topk_count(lg, rpn.pre_nms_topk[False]))
            boxes.append(rpn.box2box_transform.apply_deltas(d[idx], a[idx]))
            scores.append(top)
            levels.append(torch.full_like(idx, level))
        boxes, scores, levels = torch.cat(boxes), torch.cat(scores), torch.cat(levels)
        valid = torch.isfinite(boxes).all(dim=1) & torch.isfinite(scores)
        boxes, scores, levels = clip_boxes(boxes[valid], height, width), scores[valid], levels[valid]
        keep = ((boxes[:, 2] - boxes[:, 0]) > rpn.min_box_size) & ((boxes[:, 3] - boxes[:, 1]) > rpn.min_box_size)
        boxes, scores, levels = boxes[keep], scores[keep], levels[keep]
        keep = grouped_nms(boxes, scores, levels, len(anchors), rpn.nms_thresh)[:rpn.post_nms_topk[False]]
        return boxes[keep]

    def detect(self, features, proposals, height, width, score_thresh, detections_per_image):
        """Box head, per-class NMS and the mask head: boxes, scores, classes, M x M mask probabilities."""
        heads = self.model.roi_heads
        features = [features[f] for f in heads.in_features]
        logits, deltas = heads.box_predictor(heads.box_head(pool_rois(heads.box_pooler, features, proposals)))
        boxes = heads.box2box_transform.apply_deltas(deltas, proposals)
        probs = F.softmax(logits, dim=-1)
        valid = torch.isfinite(boxes).all(dim=1) & torch.isfinite(probs).all(dim=1)
        boxes, probs = boxes[valid], probs[valid][:, :-1]
        num_reg = deltas.shape[1] // 4
        boxes = clip_boxes(boxes.reshape(-1, 4), height, width).reshape(-1, num_reg, 4)
        mask = probs > score_thresh
        inds = mask.nonzero()
        boxes = boxes[inds[:, 0], 0] if num_reg == 1 else boxes[mask]
        scores, classes = probs[mask], inds[:, 1]
        keep = grouped_nms(boxes, scores, classes, heads.num_classes, heads.test_nms_thresh)
        keep = first_n(keep, detections_per_image)
        boxes, scores, classes = boxes[keep], scores[keep], classes[keep]
        mask_logits = heads.mask_head(pool_rois(heads.mask_pooler, features, boxes))
        side = mask_logits.shape[-1]
        if mask_logits.shape[1] > 1:
            mask_logits = mask_logits.gather(1, classes.view(-1, 1, 1, 1).expand(-1, 1, side, side))
        return boxes, scores, classes, mask_logits[:, 0].sigmoid()

    def forward(self, image, size, score_thresh, detections_per_image):
        x = self.preprocess(image)
        height, width = _size(image, 1), _size(image, 2)
        features = self.model.backbone(x)
        boxes, scores, classes, masks = self.detect(features, self.proposals(features, height, width), height, width,
                                                    score_thresh, detections_per_image)
        out_h, out_w = size[0], size[1]
        scale = torch.stack([out_w / width, out_h / height, out_w / width, out_h / height]).to(boxes.dtype)
        boxes = clip_boxes(boxes * scale, out_h, out_w)
        keep = ((boxes[:, 2] - boxes[:, 0]) > 0) & ((boxes[:, 3] - boxes[:, 1]) > 0)
        boxes, scores, classes, masks = boxes[keep], scores[keep], classes[keep], masks[keep]
        return boxes, scores, classes, paste_masks_separable(masks, boxes, out_h, out_w)
