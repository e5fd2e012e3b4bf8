"""``MASKS.SOURCE: semantic`` and ``predictor+semantic``: class probabilities of a semantic model (DeepLabv3).

- ``semantic``: ``MODEL.*`` is the semantic model (e.g. a semantic run's own ``OUTPUT_DIR/config.yaml``). Each
  image gets one detection per foreground class whose probability exceeds 0.5 somewhere; its mask is where the
  probability exceeds 0.5 (then MASKS.DILATE / FEATHER as for instances), or, with MASKS.SEMANTIC_SOFT, the
  probability map itself is the alpha.
- ``predictor+semantic``: instances from the Mask R-CNN of ``MODEL.*`` (per-instance styles work), each edge
  refined by the semantic model of ``MASKS.SEMANTIC_CONFIG``: within ``MASKS.SEMANTIC_BAND`` pixels of the
  instance mask's edge the alpha is the semantic probability of its class; elsewhere the instance mask stays.
"""
import numpy as np

from localstyle.compose import refine_mask
from localstyle.data.sem_seg import is_semantic
from localstyle.masks.base import Detections, MaskSource
from localstyle.masks.build import MASK_SOURCE_REGISTRY
from localstyle.masks.predictor import PredictorMasks, require_all_weights
from localstyle.utils.errors import LocalstyleError


class SemanticPredictor:
    """A semantic model's ``DefaultPredictor``: ``class_names`` (``background`` first) and ``probabilities``."""

    def __init__(self, cfg, key="MODEL"):
        from localstyle.engine.predictor import DefaultPredictor

        if not is_semantic(cfg):
            raise LocalstyleError(f"{key}: {cfg.MODEL.META_ARCHITECTURE} is not a semantic model (use "
                                  "SemanticSegmentor, e.g. configs/person/deeplabv3_R_50.yaml)")
        if not cfg.MODEL.WEIGHTS:
            raise LocalstyleError(f"{key}: the semantic model needs MODEL.WEIGHTS (a DeepLabv3 trained for this "
                                  "config; an untrained model finds nothing)")
        self.predictor = DefaultPredictor(cfg)
        require_all_weights(self.predictor)
        self.class_names = list(self.predictor.model.class_names)

    def probabilities(self, records):
        """C x H x W float32 class probabilities per record (its RGB ``image``, original size)."""
        outputs = self.predictor.predict_batch([np.ascontiguousarray(r.image[:, :, ::-1]) for r in records])
        return [o["sem_seg"].numpy().astype(np.float32) for o in outputs]


def _box(mask):
    ys, xs = np.nonzero(mask)
    return [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1] if len(xs) else [0, 0, 0, 0]


def class_detections(probs, soft=False):
    """:class:`Detections` of one image's C x H x W probabilities: one per foreground class c >= 1 whose
    probability exceeds 0.5 (class id c - 1, score = its highest probability, mask = probability > 0.5). With
    ``soft`` the probability map is the alpha (``soft_masks``); otherwise the hard mask is, as for instances."""
    fg = probs[1:]
    present = [k for k in range(len(fg)) if fg[k].max() > 0.5]
    masks = fg[present] > 0.5
    return Detections(present, [float(fg[k].max()) for k in present], [_box(m) for m in masks], masks,
                      soft_masks=fg[present] if soft else None)


@MASK_SOURCE_REGISTRY.register(name="semantic")
class SemanticMasks(MaskSource):
    """Per-class detections (:func:`class_detections`, soft with MASKS.SEMANTIC_SOFT) from the semantic model of
    ``MODEL.*``."""

    def __init__(self, cfg):
        super().__init__(cfg)
        self.model = SemanticPredictor(cfg)
        self.thing_classes = self.model.class_names[1:]

    def __call__(self, records):
        return [class_detections(p, self.cfg.MASKS.SEMANTIC_SOFT) for p in self.model.probabilities(records)]


def refine_edges(det, probs, channel_of, band):
    """``det`` with ``soft_masks``: each instance's mask, the pixels within ``band`` of its edge replaced by the
    probabilities ``probs[channel_of[class]]`` (instances of classes without a channel keep their hard mask)."""
    soft = det.masks.astype(np.float32)
    for i, c in enumerate(det.classes):
        channel = channel_of.get(int(c))
        if channel is not None and band > 0:
            edge = refine_mask(det.masks[i], band) & ~refine_mask(det.masks[i], -band)
            soft[i][edge] = probs[channel][edge]
    return Detections(det.classes, det.scores, det.boxes, det.masks, soft_masks=soft)


@MASK_SOURCE_REGISTRY.register(name="predictor+semantic")
class RefinedPredictorMasks(MaskSource):
    """Mask R-CNN instances (``MODEL.*``) whose edges take the probabilities of the semantic model in
    ``MASKS.SEMANTIC_CONFIG`` (weights: ``MASKS.SEMANTIC_WEIGHTS``, else that config's MODEL.WEIGHTS)."""

    def __init__(self, cfg):
        from localstyle.config import load_config

        super().__init__(cfg)
        if not cfg.MASKS.SEMANTIC_CONFIG:
            raise LocalstyleError("MASKS.SOURCE predictor+semantic needs MASKS.SEMANTIC_CONFIG (the semantic "
                                  "model's config, e.g. a DeepLabv3 run's OUTPUT_DIR/config.yaml)")
        opts = ["MODEL.DEVICE", cfg.MODEL.DEVICE]
        if cfg.MASKS.SEMANTIC_WEIGHTS:
            opts += ["MODEL.WEIGHTS", cfg.MASKS.SEMANTIC_WEIGHTS]
        self.instances = PredictorMasks(cfg)
        self.semantic = SemanticPredictor(load_config(cfg.MASKS.SEMANTIC_CONFIG, opts),
                                          f"MASKS.SEMANTIC_CONFIG {cfg.MASKS.SEMANTIC_CONFIG}")
        self.thing_classes = self.instances.thing_classes
        names = self.semantic.class_names
        self.channel_of = {i: names.index(n) for i, n in enumerate(self.thing_classes) if n in names[1:]}
        if not self.channel_of:
            raise LocalstyleError(f"MASKS.SEMANTIC_CONFIG: its classes {names[1:]} share none with the instance "
                                  f"model's {list(self.thing_classes)}")

    def __call__(self, records):
        probs = self.semantic.probabilities(records)
        return [d if isinstance(d, Exception) else refine_edges(d, p, self.channel_of, self.cfg.MASKS.SEMANTIC_BAND)
                for d, p in zip(self.instances(records), probs)]
