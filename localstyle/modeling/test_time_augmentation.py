"""Test-time augmentation for Mask R-CNN (``TEST.AUG.*``), with the semantics of detectron2's GeneralizedRCNNWithTTA.

Every image is run at each of ``TEST.AUG.MIN_SIZES`` (long side capped at ``TEST.AUG.MAX_SIZE``), and flipped
horizontally too with ``TEST.AUG.FLIP``. The boxes of all views, mapped back to the original image, are merged by
per-class NMS (``MODEL.ROI_HEADS.NMS_THRESH_TEST``, top ``TEST.DETECTIONS_PER_IMAGE``); then the mask head runs on
the merged boxes in every view and the mask probabilities are averaged (flipped views un-flipped first). Each view
runs alone (no padding shared with other views).
"""
import contextlib
from dataclasses import dataclass

import torch
from torch import nn
from torchvision.ops import batched_nms
from torchvision.transforms.v2 import functional as F

from localstyle.data.transforms import get_output_shape
from localstyle.modeling.postprocessing import detector_postprocess
from localstyle.structures import Boxes, Instances


def hflip_boxes(boxes, width):
    """XYXY boxes mirrored in an image ``width`` pixels wide."""
    return torch.stack([width - boxes[:, 2], boxes[:, 1], width - boxes[:, 0], boxes[:, 3]], dim=1)


@dataclass(frozen=True)
class View:
    """One augmented view: the original (height, width) resized to (new_height, new_width), maybe flipped."""

    height: int
    width: int
    new_height: int
    new_width: int
    flip: bool

    def image(self, image):
        """The view of a C x height x width image."""
        out = F.resize(image, [self.new_height, self.new_width], antialias=True)
        return out.flip(-1) if self.flip else out

    def apply_boxes(self, boxes):
        """XYXY boxes in the original image -> in this view."""
        scale = boxes.new_tensor([self.new_width / self.width, self.new_height / self.height] * 2)
        boxes = boxes * scale
        return hflip_boxes(boxes, self.new_width) if self.flip else boxes

    def inverse_boxes(self, boxes):
        """XYXY boxes in this view -> in the original image."""
        if self.flip:
            boxes = hflip_boxes(boxes, self.new_width)
        return boxes * boxes.new_tensor([self.width / self.new_width, self.height / self.new_height] * 2)


def build_views(height, width, min_sizes, max_size, flip):
    """The views of an image of (height, width): each min size, then (with ``flip``) its mirror."""
    views = []
    for size in min_sizes:
        new_h, new_w = get_output_shape(height, width, size, max_size)
        views.append(View(height, width, new_h, new_w, False))
        if flip:
            views.append(View(height, width, new_h, new_w, True))
    return views


def merge_detections(boxes, scores, classes, image_size, nms_thresh, topk):
    """detectron2's TTA merge: clip, per-class NMS over the boxes of all views, keep the ``topk`` best."""
    boxes = Boxes(boxes)
    boxes.clip(image_size)
    keep = batched_nms(boxes.tensor, scores, classes, nms_thresh)
    if topk >= 0:
        keep = keep[:topk]
    return Instances(image_size, pred_boxes=boxes[keep], scores=scores[keep], pred_classes=classes[keep])


class GeneralizedRCNNWithTTA(nn.Module):
    """Wraps a GeneralizedRCNN: ``tta(batched_inputs)`` -> ``[{"instances": Instances}]`` in each input's
    ``height`` x ``width``, like the wrapped model's eval output."""

    def __init__(self, cfg, model):
        super().__init__()
        self.model = model
        aug = cfg.TEST.AUG
        self.min_sizes, self.max_size, self.flip = tuple(aug.MIN_SIZES), aug.MAX_SIZE, aug.FLIP
        self.nms_thresh = cfg.MODEL.ROI_HEADS.NMS_THRESH_TEST
        self.topk = cfg.TEST.DETECTIONS_PER_IMAGE
        self.mask_on = cfg.MODEL.MASK_ON

    @contextlib.contextmanager
    def _masks_off(self):
        heads = self.model.roi_heads
        old, heads.mask_on = heads.mask_on, False
        try:
            yield
        finally:
            heads.mask_on = old

    def forward(self, batched_inputs):
        with torch.no_grad():
            return [{"instances": self._inference_one(x)} for x in batched_inputs]

    def _inference_one(self, inp):
        image = inp["image"]
        height, width = inp.get("height", image.shape[-2]), inp.get("width", image.shape[-1])
        if tuple(image.shape[-2:]) != (height, width):  # back to the original size, as detectron2's TTA mapper
            image = F.resize(image, [height, width], antialias=True)
        views = build_views(height, width, self.min_sizes, self.max_size, self.flip)
        inputs = [{"image": v.image(image)} for v in views]
        with self._masks_off():  # the first pass only needs boxes
            detections = [self.model.inference([x], do_postprocess=False)[0] for x in inputs]
        merged = merge_detections(
            torch.cat([v.inverse_boxes(d.pred_boxes.tensor) for v, d in zip(views, detections)]),
            torch.cat([d.scores for d in detections]), torch.cat([d.pred_classes for d in detections]),
            (height, width), self.nms_thresh, self.topk)
        if self.mask_on:
            masks = []
            for view, x in zip(views, inputs):
                given = Instances((view.new_height, view.new_width), pred_classes=merged.pred_classes,
                                  pred_boxes=Boxes(view.apply_boxes(merged.pred_boxes.tensor)))
                m = self.model.inference([x], detected_instances=[given], do_postprocess=False)[0].pred_masks
                masks.append(m.flip(-1) if view.flip else m)
            merged.pred_masks = torch.stack(masks).mean(dim=0)
        return detector_postprocess(merged, height, width)
