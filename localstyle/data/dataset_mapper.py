"""Dataset dict -> model input: read the image, convert masks, augment, build ``Instances``."""
import numpy as np
import torch
from torchvision import tv_tensors

from localstyle.data.annotations import annotations_to_boxes, segmentation_to_mask
from localstyle.data.transforms import apply_augmentations, build_augmentation, contiguous_chw
from localstyle.structures import Boxes, Instances, PolygonMasks
from localstyle.utils.errors import LocalstyleError
from localstyle.utils.image_io import read_image


class DatasetMapper:
    """detectron2's DatasetMapper: ``mapper(dataset_dict, seed) -> dict`` with ``image`` (uint8 CHW in
    ``cfg.INPUT.FORMAT``) and, for training, ``instances`` (gt_boxes, gt_classes, gt_masks; crowd dropped).

    ``augmentations`` replaces the config's (e.g. the test resize with training outputs, for validation losses).

    ``gt_masks`` is a :class:`PolygonMasks` when ``cfg.INPUT.MASK_FORMAT`` is "polygon" and every annotation
    of the image is a polygon (rasterized later, per ROI); otherwise (RLE annotations, or "bitmask") an
    N x H x W bool tensor.

    All augmentation randomness comes from ``numpy.random.default_rng(seed)``, so a (sample, seed) pair
    always maps to the same tensors whatever process or worker runs it.
    """

    def __init__(self, cfg, is_train=True, augmentations=None):
        self.is_train = is_train
        self.format = cfg.INPUT.FORMAT
        if cfg.INPUT.MASK_FORMAT not in ("polygon", "bitmask"):
            raise LocalstyleError(f"INPUT.MASK_FORMAT must be 'polygon' or 'bitmask', got {cfg.INPUT.MASK_FORMAT!r}")
        self.polygons = cfg.INPUT.MASK_FORMAT == "polygon"
        self.augmentations = build_augmentation(cfg, is_train) if augmentations is None else augmentations

    def read(self, dataset_dict):
        """``(copy of dataset_dict without annotations, H x W x C uint8 image)``; checks the recorded size."""
        d = {k: v for k, v in dataset_dict.items() if k != "annotations"}
        image = read_image(d["file_name"], self.format)
        if image.shape[:2] != (d["height"], d["width"]):
            raise LocalstyleError(f"{d['file_name']}: image is {image.shape[1]}x{image.shape[0]} but its dataset "
                                  f"entry says {d['width']}x{d['height']}")
        return d, image

    def __call__(self, dataset_dict, seed=None):
        d, image = self.read(dataset_dict)
        rng = np.random.default_rng(seed)
        inputs = (tv_tensors.Image(torch.from_numpy(image).permute(2, 0, 1)),)
        if not self.is_train:
            (img,) = apply_augmentations(self.augmentations, inputs, rng)
            d["image"] = contiguous_chw(img)
            return d
        anns = [a for a in dataset_dict.get("annotations", []) if not a.get("iscrowd", 0)]
        h, w = image.shape[:2]
        inputs += (tv_tensors.BoundingBoxes(torch.from_numpy(annotations_to_boxes(anns)), format="XYXY",
                                            canvas_size=(h, w)),
                   self._masks(anns, h, w))
        img, boxes, masks = apply_augmentations(self.augmentations, inputs, rng)
        size = tuple(img.shape[-2:])
        boxes = Boxes(boxes.as_subclass(torch.Tensor))
        boxes.clip(size)
        keep = boxes.nonempty(threshold=1e-5)
        if not isinstance(masks, PolygonMasks):
            masks = masks.as_subclass(torch.Tensor).bool()
        d["image"] = contiguous_chw(img)
        d["instances"] = Instances(size, gt_boxes=boxes[keep],
                                   gt_classes=torch.tensor([a["category_id"] for a in anns], dtype=torch.int64)[keep],
                                   gt_masks=masks[keep])
        return d

    def _masks(self, anns, height, width):
        """PolygonMasks if allowed and every annotation is a polygon, else an N x H x W uint8 tv_tensors.Mask."""
        if self.polygons and all(isinstance(a["segmentation"], list) for a in anns):
            return PolygonMasks([a["segmentation"] for a in anns])
        masks = np.stack([segmentation_to_mask(a["segmentation"], height, width) for a in anns]) if anns \
            else np.zeros((0, height, width), dtype=np.uint8)
        return tv_tensors.Mask(torch.from_numpy(masks))
