"""The mask-source interface: :class:`Detections` (instances of one image) and :class:`MaskSource`.

A mask source turns decoded input images into instances to style. The stylize runner calls it once per
batch with records that have ``.path`` (str) and ``.image`` (H x W x 3 RGB uint8 numpy array), and gets
back, per record, one :class:`Detections` or the :class:`~localstyle.utils.errors.LocalstyleError` that
explains why that image has none (the runner reports it and goes on with the others).
"""
from dataclasses import dataclass
from typing import Optional

import cv2
import numpy as np

from localstyle.utils.image_io import resize_image


@dataclass
class Detections:
    """Instances of one H x W image as numpy arrays (converted on construction).

    - ``classes``: int64 [N], contiguous ids into the source's ``thing_classes``
    - ``scores``: float64 [N], 1 for ground truth
    - ``boxes``: float64 [N, 4], XYXY in pixels
    - ``masks``: bool [N, H, W], True inside the instance (hard masks; the runner refines and feathers them
      into the alpha it blends with). A source with probabilities thresholds them before returning.
    - ``soft_masks``: optional float32 [N, H, W] in 0..1 (e.g. a semantic model's probabilities): when given,
      the alpha is built from them instead of ``masks`` (soft edges); selection and overlays still use ``masks``.
    """

    classes: np.ndarray
    scores: np.ndarray
    boxes: np.ndarray
    masks: np.ndarray
    soft_masks: Optional[np.ndarray] = None

    def __post_init__(self):
        self.classes = np.asarray(self.classes, np.int64).reshape(-1)
        self.scores = np.asarray(self.scores, np.float64).reshape(-1)
        self.boxes = np.asarray(self.boxes, np.float64).reshape(-1, 4)
        self.masks = np.asarray(self.masks, bool)
        if self.soft_masks is not None:
            self.soft_masks = np.clip(np.asarray(self.soft_masks, np.float32), 0.0, 1.0)

    def alpha_masks(self, idx):
        """The masks the alpha of instances ``idx`` is built from: ``soft_masks`` if any, else ``masks``."""
        return (self.masks if self.soft_masks is None else self.soft_masks)[idx]

    def resized(self, height, width):
        """These instances in the same image scaled to ``height`` x ``width`` (masks by area, boxes scaled)."""
        h, w = self.masks.shape[1:]
        if (h, w) == (height, width):
            return self
        masks = np.stack([resize_image(m.view(np.uint8), height, width, cv2.INTER_AREA) for m in self.masks]) >= 0.5 \
            if len(self) else np.zeros((0, height, width), bool)
        soft = None if self.soft_masks is None else \
            np.stack([resize_image(m, height, width, cv2.INTER_AREA) for m in self.soft_masks]).reshape(masks.shape)
        boxes = self.boxes * [width / w, height / h, width / w, height / h]
        return Detections(self.classes, self.scores, boxes, masks, soft)

    @classmethod
    def empty(cls, height, width):
        """No instances in an ``height`` x ``width`` image."""
        return cls([], [], np.zeros((0, 4)), np.zeros((0, height, width), bool))

    def __len__(self):
        return len(self.classes)


class MaskSource:
    """Base of the mask sources: ``MaskSource(cfg)``, then ``source(records) -> [Detections | LocalstyleError]``.

    Subclasses set ``thing_classes`` (the names of the class ids they return) in ``__init__`` and
    implement ``__call__``; they register with ``@MASK_SOURCE_REGISTRY.register(name=...)``.
    """

    thing_classes = ()

    def __init__(self, cfg):
        self.cfg = cfg

    def __call__(self, records):
        """One :class:`Detections` or LocalstyleError per record, in order."""
        raise NotImplementedError
