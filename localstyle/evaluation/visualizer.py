"""Drawing instances (masks, boxes, class names, scores) on images: one helper shared by the tools that show
ground truth, training-loader batches and predictions. Built on compose's segmentation overlay."""
import dataclasses

import numpy as np

from localstyle.compose.strip import captioned_row, segmentation_overlay
from localstyle.data.annotations import annotations_to_boxes, segmentation_to_mask
from localstyle.structures import PolygonMasks


@dataclasses.dataclass
class VisInstances:
    """What gets drawn: N XYXY ``boxes``, contiguous ``class_ids``, optional ``scores`` and ``masks`` (N bool
    H x W arrays, or ``None`` entries for box-only instances), ``crowd`` flags."""

    boxes: np.ndarray
    class_ids: list
    scores: list = None
    masks: list = None
    crowd: list = None

    def __len__(self):
        return len(self.boxes)

    def labels(self, class_names):
        names = [class_names[c] if 0 <= c < len(class_names) else str(c) for c in self.class_ids]
        if self.scores is not None:
            return [f"{n} {s:.2f}" for n, s in zip(names, self.scores)]
        return [f"{n} (crowd)" if c else n for n, c in zip(names, self.crowd or [False] * len(names))]

    def above(self, score_thresh):
        """The instances scoring at least ``score_thresh`` (all of them without scores)."""
        if self.scores is None:
            return self
        keep = [i for i, s in enumerate(self.scores) if s >= score_thresh]
        return VisInstances(self.boxes[keep], [self.class_ids[i] for i in keep], [self.scores[i] for i in keep],
                            [self.masks[i] for i in keep] if self.masks is not None else None)


def from_annotations(annotations, height, width):
    """From dataset-dict annotations (contiguous ``category_id``, ``bbox`` + ``bbox_mode``, optional
    ``segmentation`` and ``score``)."""
    masks = [segmentation_to_mask(a["segmentation"], height, width).astype(bool) if a.get("segmentation")
             else None for a in annotations]
    scores = [float(a["score"]) for a in annotations] if annotations and "score" in annotations[0] else None
    return VisInstances(annotations_to_boxes(annotations), [int(a["category_id"]) for a in annotations],
                        scores, masks, [bool(a.get("iscrowd", 0)) for a in annotations])


def from_results(results, height, width, dataset_id_to_contiguous=None):
    """From COCO result dicts (``coco_instances_results.json`` entries of one image: dataset category ids)."""
    mapping = dataset_id_to_contiguous or {}
    anns = [dict(r, category_id=mapping.get(r["category_id"], r["category_id"])) for r in results]
    return from_annotations(anns, height, width)


def from_instances(instances):
    """From an ``Instances`` with ``gt_boxes``/``gt_classes``/``gt_masks`` (what the training loader yields) or
    ``pred_boxes``/``pred_classes``/``scores``/``pred_masks``."""
    prefix = "gt" if instances.has("gt_boxes") else "pred"
    boxes = getattr(instances, f"{prefix}_boxes").tensor.detach().cpu().numpy()
    masks = instances.get(f"{prefix}_masks") if instances.has(f"{prefix}_masks") else None
    if isinstance(masks, PolygonMasks):
        masks = masks.rasterize(*instances.image_size)
    masks = list(masks.detach().cpu().numpy().astype(bool)) if masks is not None else None
    scores = instances.scores.detach().cpu().tolist() if instances.has("scores") else None
    return VisInstances(boxes, getattr(instances, f"{prefix}_classes").detach().cpu().tolist(), scores, masks)


def draw_instances(image, instances, class_names):
    """RGB uint8 ``image`` with ``instances`` drawn: tinted masks, boxes and "class score" labels."""
    masks = instances.masks if instances.masks is not None else [None] * len(instances)
    return segmentation_overlay(image, masks, instances.boxes, instances.labels(class_names))


def prediction_vs_truth(image, record, results, metadata, score_thresh=0.0, caption="predictions"):
    """One picture: ``record``'s ground truth (a dataset dict) left, ``results`` (its COCO result dicts, scores
    >= ``score_thresh``) right, captioned."""
    h, w = image.shape[:2]
    names = metadata.get("thing_classes", [])
    truth = draw_instances(image, from_annotations(record.get("annotations", []), h, w), names)
    predicted = from_results(results, h, w, metadata.get("thing_dataset_id_to_contiguous_id")).above(score_thresh)
    return captioned_row([truth, draw_instances(image, predicted, names)],
                         ["ground truth", f"{caption} (score >= {score_thresh:g})"], height=h)
