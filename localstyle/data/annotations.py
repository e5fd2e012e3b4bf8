"""COCO annotation fields as arrays: segmentations (polygons, RLE) -> masks, ``bbox`` -> XYXY boxes.

Numpy only (no torch), so the stylization path (annotation mask source) starts quickly.
"""
import numpy as np
from pycocotools import mask as mask_utils

from localstyle.data.coco import BoxMode


def polygons_to_mask(polygons, height, width):
    """Rasterize one instance's polygons (flat xy sequences) into a ``height`` x ``width`` uint8 0/1 array."""
    if not polygons:
        return np.zeros((height, width), dtype=np.uint8)
    return mask_utils.decode(mask_utils.merge(mask_utils.frPyObjects(list(polygons), height, width)))


def segmentation_to_mask(segmentation, height, width):
    """Polygons (list of flat xy lists), uncompressed or compressed RLE -> H x W uint8 mask."""
    if isinstance(segmentation, list):
        return polygons_to_mask(segmentation, height, width)
    if isinstance(segmentation.get("counts"), list):
        rle = mask_utils.frPyObjects(segmentation, height, width)
    else:
        rle = segmentation
    return mask_utils.decode(rle)


def annotations_to_boxes(annotations, dtype=np.float32):
    """N x 4 XYXY boxes (a ``dtype`` array) from annotation dicts (XYWH_ABS or XYXY_ABS)."""
    boxes = np.array([a["bbox"] for a in annotations], dtype=dtype).reshape(-1, 4)
    modes = [a.get("bbox_mode", BoxMode.XYWH_ABS) for a in annotations]
    xywh = np.array([m == BoxMode.XYWH_ABS for m in modes], dtype=bool)
    boxes[xywh, 2:] += boxes[xywh, :2]
    return boxes
