"""``MASKS.SOURCE: annotations``: instances from a registered dataset's ground-truth annotations."""
import os
import re

import numpy as np

from localstyle.data.annotations import annotations_to_boxes, segmentation_to_mask
from localstyle.masks.base import Detections, MaskSource
from localstyle.masks.build import MASK_SOURCE_REGISTRY
from localstyle.utils.errors import LocalstyleError


@MASK_SOURCE_REGISTRY.register(name="annotations")
class AnnotationMasks(MaskSource):
    """Instances from a registered dataset's annotations (MASKS.DATASET), matched by file name.

    An input matches a dataset image with the same file name, or else one whose ``image_id`` equals the
    trailing number of the input's stem (``coco_train2017_000000204805.jpg`` -> 204805). Crowd regions
    are not instances and are left out. Scores are 1.
    """

    def __init__(self, cfg):
        from localstyle.data import DatasetCatalog, MetadataCatalog

        super().__init__(cfg)
        name = cfg.MASKS.DATASET
        if not name:
            raise LocalstyleError("MASKS.SOURCE annotations needs MASKS.DATASET (a registered dataset name)")
        if name not in DatasetCatalog.list():
            raise LocalstyleError(f"MASKS.DATASET: dataset {name!r} is not registered "
                                  f"(add it to DATASETS.REGISTER_COCO); known: {sorted(DatasetCatalog.list())}")
        dicts = DatasetCatalog.get(name)
        self.name = name
        self.by_name = {os.path.basename(d["file_name"]): d for d in dicts}
        self.by_id = {d["image_id"]: d for d in dicts}
        self.thing_classes = list(MetadataCatalog.get(name).thing_classes)

    def lookup(self, path):
        """The dataset dict of input ``path`` (by file name, else by the trailing COCO id)."""
        base = os.path.basename(path)
        if base in self.by_name:
            return self.by_name[base]
        m = re.search(r"(\d+)$", os.path.splitext(base)[0])
        if m and int(m.group(1)) in self.by_id:
            return self.by_id[int(m.group(1))]
        raise LocalstyleError(f"{path}: no image with this file name (or COCO id) in dataset {self.name!r}")

    def detections(self, record):
        """The non-crowd annotations of ``record``'s image as :class:`Detections`."""
        d = self.lookup(record.path)
        h, w = record.image.shape[:2]
        if (d["height"], d["width"]) != (h, w):
            raise LocalstyleError(f"{record.path}: image is {w}x{h} but dataset {self.name!r} says "
                                  f"{d['width']}x{d['height']}")
        anns = [a for a in d.get("annotations", []) if not a.get("iscrowd", 0)]
        if not anns:
            return Detections.empty(h, w)
        masks = np.stack([segmentation_to_mask(a["segmentation"], h, w).astype(bool) for a in anns])
        return Detections([a["category_id"] for a in anns], np.ones(len(anns)), annotations_to_boxes(anns, np.float64),
                          masks)

    def __call__(self, records):
        out = []
        for r in records:
            try:
                out.append(self.detections(r))
            except LocalstyleError as e:
                out.append(e)
        return out
