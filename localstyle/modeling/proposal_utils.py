"""detectron2's ``find_top_rpn_proposals``: from RPN outputs to the proposals of the ROI heads."""
import torch
from torchvision.ops import batched_nms


def find_top_rpn_proposals(anchors, logits, deltas, image_sizes, box2box_transform, pre_nms_topk, post_nms_topk,
                           nms_thresh, min_box_size, training):
    """Per image ``(boxes R x 4, objectness_logits R)``: the ``pre_nms_topk`` best anchors of each level decoded,
    non-finite ones dropped (an error in ``training``), clipped, boxes not over ``min_box_size`` dropped, per-level
    NMS, then the ``post_nms_topk`` best."""
    num_images = logits[0].shape[0]
    device = logits[0].device
    batch_idx = torch.arange(num_images, device=device)
    topk_scores, topk_boxes, level_ids = [], [], []
    for level, (anchors_i, logits_i, deltas_i) in enumerate(zip(anchors, logits, deltas)):
        boxes_i = box2box_transform.apply_deltas(
            deltas_i.reshape(-1, 4), anchors_i.unsqueeze(0).expand(num_images, -1, -1).reshape(-1, 4)
        ).view(num_images, -1, 4)
        k = min(logits_i.shape[1], pre_nms_topk)
        scores, idx = logits_i.topk(k, dim=1)
        topk_scores.append(scores)
        topk_boxes.append(boxes_i[batch_idx[:, None], idx])
        level_ids.append(torch.full((k,), level, dtype=torch.int64, device=device))
    topk_scores = torch.cat(topk_scores, dim=1)
    topk_boxes = torch.cat(topk_boxes, dim=1)
    level_ids = torch.cat(level_ids)
    results = []
    for n, (h, w) in enumerate(image_sizes):
        boxes, scores, lvl = topk_boxes[n], topk_scores[n], level_ids
        valid = torch.isfinite(boxes).all(dim=1) & torch.isfinite(scores)
        if not valid.all():
            if training:
                raise FloatingPointError("Predicted boxes or scores contain Inf/NaN. Training has diverged.")
            boxes, scores, lvl = boxes[valid], scores[valid], lvl[valid]
        boxes = torch.stack((boxes[:, 0].clamp(0, w), boxes[:, 1].clamp(0, h),
                             boxes[:, 2].clamp(0, w), boxes[:, 3].clamp(0, h)), dim=1)
        keep = ((boxes[:, 2] - boxes[:, 0]) > min_box_size) & ((boxes[:, 3] - boxes[:, 1]) > min_box_size)
        if not keep.all():
            boxes, scores, lvl = boxes[keep], scores[keep], lvl[keep]
        keep = batched_nms(boxes.float(), scores, lvl, nms_thresh)[:post_nms_topk]
        results.append((boxes[keep], scores[keep]))
    return results
