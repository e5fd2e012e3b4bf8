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


def require_all_weights(predictor):
    """A one-line error unless MODEL.WEIGHTS gave every tensor of the predictor's model."""
    from localstyle.modeling.weight_loading import require_all_tensors

    if predictor.load_report is not None:  # None: an exported model loaded as is (MODEL.EXPORTED), no weights file
        require_all_tensors(predictor.load_report, "MASKS.SOURCE predictor needs a detector trained for this config")


def predictor_config(cfg):
    """``cfg`` for the predictor of a mask source: ROI_HEADS.SCORE_THRESH_TEST raised to MASKS.SCORE_THRESH.

    Every consumer of a mask source (stylize plans, video tracks) drops detections scored below MASKS.SCORE_THRESH,
    so the model need not run its mask head on them. The kept detections are the same either way: the score filter
    comes before the per-class NMS, NMS only suppresses a box in favour of a higher-scoring one, and the top-k keeps
    the highest scores (for models with several classes, up to float rounding of the IoU in torchvision's
    ``batched_nms``, which offsets boxes by the largest coordinate of the set). The model keeps scores (float32)
    strictly above its threshold, so that is the largest float32 below MASKS.SCORE_THRESH.
    """
    cfg = cfg.clone()
    below = float(np.nextafter(np.float32(cfg.MASKS.SCORE_THRESH), np.float32(-np.inf)))
    cfg.MODEL.ROI_HEADS.SCORE_THRESH_TEST = max(cfg.MODEL.ROI_HEADS.SCORE_THRESH_TEST, below)
    return cfg


def model_thing_classes(cfg):
    """Class names of ``cfg``'s model: DATASETS.CLASSES, the metadata of its datasets, else ["person"] for a
    one-class model."""
    from localstyle.data import MetadataCatalog

    if cfg.DATASETS.CLASSES:
        return list(cfg.DATASETS.CLASSES)
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
    """Instances from ``DefaultPredictor(cfg)`` (MODEL.WEIGHTS; the mask head runs only on detections scored at
    least MASKS.SCORE_THRESH, see :func:`predictor_config`), one ``predict_batch`` per batch of records."""

    def __init__(self, cfg):
        from localstyle.engine.predictor import DefaultPredictor

        super().__init__(cfg)
        if not cfg.MODEL.WEIGHTS:
            raise LocalstyleError("MASKS.SOURCE predictor needs MODEL.WEIGHTS, a detector trained for this config "
                                  "(an untrained model finds nothing)")
        self.predictor = DefaultPredictor(predictor_config(cfg))
        require_all_weights(self.predictor)
        self.thing_classes = model_thing_classes(cfg)

    def __call__(self, records):
        outputs = self.predictor.predict_batch([np.ascontiguousarray(r.image[:, :, ::-1]) for r in records])
        return [detections_from_instances(o["instances"]) for o in outputs]
