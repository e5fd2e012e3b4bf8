"""``MASKS.SOURCE: predictor``: instances from the trained Mask R-CNN, a whole batch per call."""
import numpy as np

from localstyle.masks.base import Detections, MaskSource
from localstyle.masks.build import MASK_SOURCE_REGISTRY
from localstyle.utils.errors import LocalstyleError


def detections_from_instances(inst):
    """:class:`Detections` from a predictor's ``Instances`` (pred_classes, scores, pred_boxes, pred_masks)."""
    h, w = inst.image_size
    if len(inst) == 0:
        return Detections.empty(h, w)
    return Detections(inst.pred_classes.cpu().numpy(), inst.scores.cpu().numpy(),
                      inst.pred_boxes.tensor.cpu().numpy(), inst.pred_masks.cpu().numpy())


def model_thing_classes(cfg):
    """Class names of ``cfg``'s model: the metadata of its datasets, else ["person"] for a one-class model."""
    from localstyle.data import MetadataCatalog

    for name in list(cfg.DATASETS.TEST) + list(cfg.DATASETS.TRAIN):
        classes = MetadataCatalog.get(name).get("thing_classes")
        if classes:
            return list(classes)
    n = cfg.MODEL.ROI_HEADS.NUM_CLASSES
    if n == 1:
        return ["person"]
    raise LocalstyleError(f"cannot name the model's {n} classes: set DATASETS.TEST to a dataset whose "
                          "metadata has thing_classes")


@MASK_SOURCE_REGISTRY.register(name="predictor")
class PredictorMasks(MaskSource):
    """Instances from ``DefaultPredictor(cfg)`` (MODEL.WEIGHTS), one ``predict_batch`` per batch of records."""

    def __init__(self, cfg):
        from localstyle.engine.predictor import DefaultPredictor

        super().__init__(cfg)
        self.predictor = DefaultPredictor(cfg)
        self.thing_classes = model_thing_classes(cfg)

    def __call__(self, records):
        outputs = self.predictor.predict_batch([np.ascontiguousarray(r.image[:, :, ::-1]) for r in records])
        return [detections_from_instances(o["instances"]) for o in outputs]
