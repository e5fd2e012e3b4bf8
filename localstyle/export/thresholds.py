"""The run's detection thresholds, given to an exported predictor at run time (one export serves every run)."""
import logging
import os
from dataclasses import dataclass

import torch
import yaml

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Thresholds:
    """MODEL.ROI_HEADS.SCORE_THRESH_TEST, NMS_THRESH_TEST and TEST.DETECTIONS_PER_IMAGE of a run."""

    score: float
    nms: float
    detections_per_image: int

    @staticmethod
    def from_cfg(cfg):
        """The thresholds of ``cfg``."""
        h = cfg.MODEL.ROI_HEADS
        return Thresholds(float(h.SCORE_THRESH_TEST), float(h.NMS_THRESH_TEST), int(cfg.TEST.DETECTIONS_PER_IMAGE))

    def inputs(self):
        """The exported graph's ``score_thresh`` (float32) and ``detections_per_image`` (int64) inputs."""
        return torch.tensor(self.score, dtype=torch.float32), torch.tensor(self.detections_per_image)


def warn_if_nms_differs(path, cfg):
    """Log one line when the predictor exported at ``path`` applies another NMS_THRESH_TEST than ``cfg``'s: the
    per-class NMS is traced into the graph with its export-time value (read from ``config.yaml`` next to it)."""
    config = os.path.join(os.path.dirname(os.path.abspath(path)), "config.yaml")
    want = cfg.MODEL.ROI_HEADS.NMS_THRESH_TEST
    try:
        with open(config) as f:
            exported = yaml.safe_load(f)["MODEL"]["ROI_HEADS"]["NMS_THRESH_TEST"]
    except (OSError, KeyError, TypeError, yaml.YAMLError):
        logger.warning("MODEL.EXPORTED %s: no readable config.yaml next to it, so MODEL.ROI_HEADS.NMS_THRESH_TEST %s "
                       "cannot be checked (the exported graph applies its export-time value)", path, want)
        return
    if float(exported) != float(want):
        logger.warning("MODEL.ROI_HEADS.NMS_THRESH_TEST %s is not honoured: MODEL.EXPORTED %s applies %s (NMS is "
                       "traced into the graph); re-export, or leave MODEL.EXPORTED empty", want, path, exported)
